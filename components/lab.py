"""The top-level Lab component: picks the backend renderer and creates one component per role of the plan."""
from __future__ import annotations

import json
from typing import Callable, Optional

import pulumi

from abiquo_lab.contract import LAB_TYPE

from .aws_backend import AwsBackend
from .docker_backend import DockerBackend
from .nodes import LabArgs
from .renderer import Renderer
from .roles import RoleArgs, component_class

RENDERERS: dict[str, Callable[[str, LabArgs, pulumi.ResourceOptions], Renderer]] = {"docker": DockerBackend, "aws": AwsBackend}

__all__ = ["Lab", "LabArgs", "RENDERERS"]


class Lab(pulumi.ComponentResource):
    """One Abiquo lab: its zone networks and a component per server role (type abiquo:lab:Lab)."""

    def __init__(self, name: str, args: LabArgs, opts: Optional[pulumi.ResourceOptions] = None):
        # The lab's spec rides on the component (as input and as output: the engine hands analyzers a component's
        # registered outputs) so policies re-derive the intent from the same catalog.
        intent = {"spec": json.dumps(args.spec.spec.model_dump(mode="json"), sort_keys=True), "stack": args.stack,
                  "backend": args.plan.backend}
        super().__init__(LAB_TYPE, name, intent, opts)
        plan = args.plan
        backend: Renderer = RENDERERS[plan.backend](f"{name}", args, pulumi.ResourceOptions(parent=self))
        self.roles = {}
        for role in plan.roles:
            cls = component_class(role)
            if cls is None:
                continue
            role_args = RoleArgs(role=role, plan=plan, hosts=[h for h in plan.hosts if h.primary == role],
                                 runs_on=plan.hosts_with(role), backend=backend)
            self.roles[role] = cls(f"{name}-{role}", role_args, pulumi.ResourceOptions(parent=self))
        backend.finish()                         # what needs every host (e.g. the AWS load balancer's targets)
        self.host_addresses = backend.host_addresses()
        self.endpoints = backend.endpoints()
        self.register_outputs({**intent, "hosts": self.host_addresses, "endpoints": self.endpoints})
