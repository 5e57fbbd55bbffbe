"""The renderer protocol: what the Lab and the role components ask of a backend (Docker or AWS)."""
from __future__ import annotations

from typing import Any, Protocol

import pulumi

from abiquo_lab.plan import Host


class Renderer(Protocol):
    """Turns the plan's hosts into backend resources. Created once per lab, before any role component."""

    def host(self, resource_name: str, host: Host, opts: pulumi.ResourceOptions) -> pulumi.CustomResource:
        """Create the resource(s) of one host, as children of its role component (`opts.parent`)."""

    def finish(self) -> None:
        """Whatever needs every host (the AWS load balancer's targets); called after the role components."""

    def endpoints(self) -> dict[str, Any]:
        """Where users reach the lab (frontend URLs), for the stack's outputs."""

    def host_addresses(self) -> dict[str, str]:
        """Host name -> the address it has on this backend, for the stack's outputs."""
