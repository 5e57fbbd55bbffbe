"""Stage 2, the lab spec: what a stack asks for, read from Pulumi stack config and checked."""
from .errors import LabConfigError, Problem
from .load import PROJECT_DIR, STACKS_DIR, load_stack, read_stack_config, stack_file, stack_names
from .model import LabSpec
from .validate import CheckedSpec, check_spec

__all__ = ["LabConfigError", "Problem", "LabSpec", "CheckedSpec", "check_spec", "load_stack",
           "read_stack_config", "stack_file", "stack_names", "PROJECT_DIR", "STACKS_DIR"]
