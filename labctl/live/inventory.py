"""Every Docker lab on this engine, from its labels alone (no stack file, no Pulumi CLI): `labctl ls` and
`labctl inspect LAB`."""
from __future__ import annotations

from typing import Optional

from abiquo_lab import contract

LS_COLUMNS = ["name", "stack", "instance", "backend", "made_by", "owner", "created", "expires", "state", "faults",
              "frontend"]
HOST_COLUMNS = ["host", "roles", "zone", "addresses", "state", "health"]


def _health(container) -> str:
    return ((container.attrs.get("State") or {}).get("Health") or {}).get("Status", "none")


def _ready(container) -> bool:
    return container.status == "running" and _health(container) in ("healthy", "none")


def docker_labs(client) -> list[dict]:
    """One row per lab with the project's labels: stack, who made it, owner, expiry, containers ready/total, faults
    recorded, and the frontend's published HTTPS address."""
    flt = {"label": [f"{contract.MANAGED}=true"]}
    by_lab: dict[str, list] = {}
    for container in client.containers.list(all=True, filters=flt):
        lab = container.labels.get(contract.LAB)
        if lab:
            by_lab.setdefault(lab, []).append(container)
    faults: dict[str, int] = {}
    for volume in client.volumes.list(filters={"label": [f"{contract.MANAGED}=true", contract.FAULT]}):
        lab = (volume.attrs.get("Labels") or {}).get(contract.LAB)
        faults[lab] = faults.get(lab, 0) + 1
    rows = []
    for lab, containers in sorted(by_lab.items()):
        labels = containers[0].labels
        rows.append({"name": lab, "stack": ", ".join(sorted({c.labels.get(contract.STACK, "?") for c in containers})),
                     "instance": ", ".join(sorted({c.labels.get(contract.INSTANCE, "-") for c in containers})),
                     "backend": "docker", "made_by": labels.get(contract.MANAGED_BY, contract.MANAGED_BY_PULUMI),
                     "owner": labels.get(contract.OWNER, ""),
                     "created": min(c.attrs.get("Created", "")[:19] for c in containers) + "Z",
                     "expires": labels.get(contract.EXPIRES_AT, contract.UNSET),
                     "state": f"{sum(_ready(c) for c in containers)}/{len(containers)} ready",
                     "faults": faults.get(lab, 0), "frontend": _frontend(containers) or "-"})
    return rows


def _frontend(containers) -> Optional[str]:
    key = f"{contract.HTTPS_PORT}/tcp"
    for container in sorted(containers, key=lambda c: c.name):
        live = ((container.attrs.get("NetworkSettings") or {}).get("Ports") or {}).get(key)       # running: the real port
        planned = ((container.attrs.get("HostConfig") or {}).get("PortBindings") or {}).get(key)
        for binding in live or planned or []:
            return f"https://{binding.get('HostIp') or '127.0.0.1'}:{binding['HostPort']}/"
    return None


def lab_hosts(client, lab: str) -> list[dict]:
    """A lab's hosts from its containers' labels and the engine: roles, zone, addresses per network, state, health."""
    flt = {"label": [f"{contract.MANAGED}=true", f"{contract.LAB}={lab}"]}
    rows = []
    for container in sorted(client.containers.list(all=True, filters=flt), key=lambda c: c.name):
        networks = (container.attrs.get("NetworkSettings") or {}).get("Networks") or {}
        addresses = {name: (net.get("IPAMConfig") or {}).get("IPv4Address") or net.get("IPAddress", "")
                     for name, net in sorted(networks.items())}
        rows.append({"host": container.labels.get(contract.HOST, container.name), "roles": container.labels.get(contract.ROLES, ""),
                     "zone": container.labels.get(contract.ZONE, ""),
                     "addresses": " ".join(f"{n}={a}" for n, a in addresses.items()),
                     "state": container.status, "health": _health(container)})
    return rows
