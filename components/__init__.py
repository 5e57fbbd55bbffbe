"""Stage 4, render: Pulumi components. A Lab, one component per server role, and the Docker / AWS renderers."""
from .lab import RENDERERS, Lab, LabArgs
from .roles import RoleArgs, RoleComponent, component_class

__all__ = ["Lab", "LabArgs", "RENDERERS", "RoleArgs", "RoleComponent", "component_class"]
