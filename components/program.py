"""The Pulumi program: stack config -> checked spec -> plan -> Lab component. Checks run before any resource."""
from __future__ import annotations

import pulumi

from abiquo_lab.contract import CONFIG_EXPIRES_AT, CONFIG_KEY, CONFIG_LAB, CONFIG_MANAGED_BY, MANAGED_BY_PULUMI, UNSET
from abiquo_lab.labspec import check_spec
from abiquo_lab.plan import build_plan

from .lab import Lab, LabArgs


def main() -> None:
    config = pulumi.Config()
    raw = config.get_object(CONFIG_LAB)
    if raw is None:
        raise pulumi.RunError(f"stack config '{CONFIG_KEY}' is missing; see stacks/ for examples")
    checked = check_spec(raw, source=f"stack {pulumi.get_stack()!r}")   # raises before anything is registered
    plan = build_plan(checked)
    lab = Lab(plan.lab, LabArgs(plan=plan, spec=checked, stack=pulumi.get_stack(),
                                expires_at=config.get(CONFIG_EXPIRES_AT) or UNSET,
                                managed_by=config.get(CONFIG_MANAGED_BY) or MANAGED_BY_PULUMI))
    pulumi.export("lab", plan.lab)
    pulumi.export("hosts", lab.host_addresses)
    pulumi.export("endpoints", lab.endpoints)
