"""labctl: the commands over the lab's stages, and what they drive.

preview/  the Pulumi program run offline under mocks (the recording every command below reads)
views/    output formats, catalog and plan views, topology pictures, generated docs
check/    the policy pack driven as the Pulumi CLI drives it (over the Analyzer gRPC protocol)
live/     a lab on a real Docker engine: realize, verify and probes, teardown, sweeps (Docker and AWS)
lifecycle.py  ephemeral labs on the Pulumi Automation API;  cli.py  the thin commands over all of it
"""
