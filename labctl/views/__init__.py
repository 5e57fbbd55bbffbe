"""What labctl shows: output formats (report), catalog and plan views, topology pictures (graph), generated docs."""
