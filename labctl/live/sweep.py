"""Sweep Docker leftovers from labels alone: objects of expired labs, and of Pulumi labs whose stack is gone.

Only objects with the project's label (contract.MANAGED = true) are ever looked at. A lab's objects go when:
  - its expires-at label is in the past, or
  - it was made by Pulumi (managed-by=pulumi) and the list of existing stacks is known and lacks its stack.
Labs made by `labctl realize` without a TTL, and labs whose stack existence is unknown, are kept and reported.
Images left alone by their lab (no container or network of it remains) are removed as leftovers.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable, Optional

from abiquo_lab.contract import EXPIRES_AT as EXPIRES
from abiquo_lab.contract import LAB, MANAGED, MANAGED_BY, MANAGED_BY_PULUMI, OWNER, STACK, UNSET, parse_stamp

from .engine import remove_objects


@dataclass
class LabObjects:
    lab: str
    stack: str = ""
    owner: str = ""
    expires: str = ""
    managed_by: str = ""
    containers: list = field(default_factory=list)
    networks: list = field(default_factory=list)
    volumes: list = field(default_factory=list)
    images: list = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.containers) + len(self.networks) + len(self.volumes) + len(self.images)


@dataclass
class Decision:
    lab: str
    action: str              # remove | keep
    reason: str
    objects: int
    owner: str = ""
    done: bool = False


def _labels(obj) -> dict:
    attrs = obj.attrs
    return (attrs.get("Config") or {}).get("Labels") or attrs.get("Labels") or {}


def gather(client) -> dict[str, LabObjects]:
    flt = {"label": [f"{MANAGED}=true"]}
    labs: dict[str, LabObjects] = {}
    for kind, items in (("containers", client.containers.list(all=True, filters=flt)),
                        ("networks", client.networks.list(filters=flt)), ("volumes", client.volumes.list(filters=flt)),
                        ("images", client.images.list(filters=flt))):
        for obj in items:
            labels = _labels(obj)
            lab = labs.setdefault(labels.get(LAB, "?"), LabObjects(labels.get(LAB, "?")))
            getattr(lab, kind).append(obj)
            if kind != "images":                      # images carry lab/stack only; the rest carry the lifecycle labels
                lab.stack = lab.stack or labels.get(STACK, "")
                lab.owner = lab.owner or labels.get(OWNER, "")
                lab.managed_by = lab.managed_by or labels.get(MANAGED_BY, MANAGED_BY_PULUMI)
                lab.expires = max(lab.expires, labels.get(EXPIRES, "")) if labels.get(EXPIRES, UNSET) != UNSET else lab.expires
    return labs


def decide(lab: LabObjects, at: datetime, stacks: Optional[set[str]]) -> Decision:
    if lab.count == len(lab.images):
        return Decision(lab.lab, "remove", "leftover image(s): no container or network of the lab remains", lab.count, lab.owner)
    expires = parse_stamp(lab.expires)
    if expires and expires <= at:
        return Decision(lab.lab, "remove", f"expired at {lab.expires}", lab.count, lab.owner)
    if lab.managed_by == MANAGED_BY_PULUMI and stacks is not None and lab.stack not in stacks:
        return Decision(lab.lab, "remove", f"orphan: stack {lab.stack!r} no longer exists", lab.count, lab.owner)
    if not expires:
        why = "no expiry label" + ("" if stacks is not None or lab.managed_by != MANAGED_BY_PULUMI else "; stack list unknown (no Pulumi CLI)")
        return Decision(lab.lab, "keep", why, lab.count, lab.owner)
    return Decision(lab.lab, "keep", f"expires {lab.expires}", lab.count, lab.owner)


def remove(client, lab: LabObjects) -> None:
    remove_objects(client, {"containers": lab.containers, "networks": lab.networks, "volumes": lab.volumes,
                            "images": lab.images})


def sweep(client, at: datetime, stacks: Optional[set[str]] = None, dry_run: bool = False, owner: Optional[str] = None,
          out: Callable[[str], None] = print) -> list[Decision]:
    decisions = []
    for lab in sorted(gather(client).values(), key=lambda x: x.lab):
        if owner and lab.owner != owner:
            continue
        decision = decide(lab, at, stacks)
        if decision.action == "remove" and not dry_run:
            remove(client, lab)
            decision.done = True
        verb = {("remove", True): "would remove", ("remove", False): "removed", ("keep", True): "keep",
                ("keep", False): "keep"}[(decision.action, dry_run)]
        out(f"docker lab {lab.lab}: {verb} {decision.objects} object(s) -- {decision.reason}")
        decisions.append(decision)
    return decisions
