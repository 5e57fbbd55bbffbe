"""One ComponentResource per server role, made from the catalog: a role is data first, code only where it must be.

Each role component owns the hosts whose primary role it is and hands the backend-specific part (containers or
instances) to the backend renderer. Type tokens are `abiquo:lab:<Component>` with the component name from the
catalog (ApiServer, Datanode, RemoteServices, ...).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Optional

import pulumi

from abiquo_lab.catalog import default_catalog
from abiquo_lab.contract import COMPONENT_PREFIX
from abiquo_lab.plan import Host, Plan

from .renderer import Renderer


@dataclass(frozen=True)
class RoleArgs:
    """Typed arguments of a role component."""
    role: str
    plan: Plan
    hosts: list[Host]              # hosts whose primary role this is (the component creates them)
    runs_on: list[Host]            # every host carrying the role (co-located ones too)
    backend: Renderer              # the backend renderer (Docker or AWS)


class RoleComponent(pulumi.ComponentResource):
    TYPE = f"{COMPONENT_PREFIX}Role"

    def __init__(self, name: str, args: RoleArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(self.TYPE, name, None, opts)
        self.role = args.role
        child = pulumi.ResourceOptions(parent=self)
        self.nodes = {host.name: args.backend.host(f"{name}-{host.name}", host, child) for host in args.hosts}
        self.addresses = {h.name: h.address for h in args.runs_on}
        self.register_outputs({"role": args.role, "addresses": self.addresses,
                               "nodes": sorted(self.nodes)})


@lru_cache(maxsize=None)
def _component_class(component: str) -> type[RoleComponent]:
    token = f"{COMPONENT_PREFIX}{component}"
    return type(component, (RoleComponent,), {"TYPE": token, "__module__": __name__,
                                              "__doc__": f"The {component} role (type {token})."})


def component_class(role: str) -> Optional[type[RoleComponent]]:
    """The component class of a role (the catalog's `component`, made once per name), or None for a role that
    rides on another's hosts without a component of its own (guacd on RS)."""
    component = default_catalog().role(role).component
    return _component_class(component) if component else None
