"""The Pulumi program: stack config -> checked spec -> plan -> Lab component. Checks run before any resource."""
from __future__ import annotations

import pulumi

from abiquo_lab.plan import build_plan
from abiquo_lab.spec import check_spec

from .lab import Lab, LabArgs


def main() -> None:
    config = pulumi.Config()
    raw = config.get_object("lab")
    if raw is None:
        raise pulumi.RunError("stack config 'abiquo-lab:lab' is missing; see stacks/ for examples")
    checked = check_spec(raw, source=f"stack {pulumi.get_stack()!r}")   # raises before anything is registered
    plan = build_plan(checked)
    lab = Lab(plan.lab, LabArgs(plan=plan, spec=checked, stack=pulumi.get_stack(),
                                expires_at=config.get("expiresAt") or "unset",
                                managed_by=config.get("managedBy") or "pulumi"))
    pulumi.export("lab", plan.lab)
    pulumi.export("hosts", lab.host_addresses)
    pulumi.export("endpoints", lab.endpoints)
