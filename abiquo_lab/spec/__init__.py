"""Stage 2, the spec: what a stack asks for, read from Pulumi stack config and checked."""
from .errors import LabConfigError, Problem
from .load import CONFIG_KEY, load_stack, read_stack_config, stack_names, STACKS_DIR
from .model import LabSpec
from .validate import CheckedSpec, check_spec

__all__ = ["LabConfigError", "Problem", "LabSpec", "CheckedSpec", "check_spec", "load_stack",
           "read_stack_config", "stack_names", "CONFIG_KEY", "STACKS_DIR"]
