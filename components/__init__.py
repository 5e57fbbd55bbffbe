"""Stage 4, render: Pulumi components. A Lab, one component per server role, and the Docker / AWS renderers."""
from .lab import Lab, LabArgs
from .roles import ROLE_COMPONENTS, RoleArgs, RoleComponent

__all__ = ["Lab", "LabArgs", "ROLE_COMPONENTS", "RoleArgs", "RoleComponent"]
