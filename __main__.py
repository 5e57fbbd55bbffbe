"""Pulumi entry point: read the stack's lab config, plan it, and build the lab's components."""
from components.program import main

main()
