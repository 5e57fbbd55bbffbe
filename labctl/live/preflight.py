"""What must hold on this engine and machine before a lab is created, so nothing is half-made and no neighbour is
touched: the lab's name is not another stack's, its zone networks overlap no existing Docker network, and the ports
it publishes are free. Each refusal is bad input (exit 2) naming the setting and, where known, the owner.
"""
from __future__ import annotations

import ipaddress
import socket
from typing import Iterable

from abiquo_lab import contract
from abiquo_lab.contract import InputError
from abiquo_lab.plan import Plan


def check(client, plan: Plan, stack: str, publish_address: str) -> None:
    """Refuses (InputError, every problem listed) a pool or a published port that collides with the machine."""
    problems = pool_problems(client, plan) + port_problems(client, plan, publish_address)
    if problems:
        raise InputError(f"lab {plan.lab!r} (stack {stack}) cannot be created on this engine:\n"
                         + "\n".join(f"  - {p}" for p in problems))


def foreign_stacks(labels: Iterable[dict], stack: str) -> list[str]:
    """The stacks other than `stack` that a lab's objects (their labels) say made them."""
    return sorted({(found or {}).get(contract.STACK, "?") for found in labels} - {stack})


def refuse_foreign_owner(client, plan: Plan, stack: str) -> None:
    """A lab name belongs to one stack: objects of this lab name labelled with another stack refuse it."""
    flt = {"label": [f"{contract.MANAGED}=true", f"{contract.LAB}={plan.lab}"]}
    labels = [c.labels for c in client.containers.list(all=True, filters=flt)]
    labels += [n.attrs.get("Labels") or {} for n in client.networks.list(filters=flt)]
    owners = foreign_stacks(labels, stack)
    if owners:                                     # never offer to tear another stack's lab down
        raise InputError(f"lab.name: lab {plan.lab!r} belongs to stack {', '.join(owners)} on this engine; give this "
                         f"stack another name (lab.name), or remove that lab first (labctl teardown --stack {owners[0]})")


def pool_problems(client, plan: Plan) -> list[str]:
    """Zone networks overlapping an existing Docker network (another lab's, or anything else)."""
    problems = []
    ours = {f"{plan.lab}-{z.name}" for z in plan.zones}
    for net in client.networks.list():
        if net.name in ours and (net.attrs.get("Labels") or {}).get(contract.LAB) == plan.lab:
            continue                                    # this lab's own network, left by an interrupted run
        for config in (net.attrs.get("IPAM") or {}).get("Config") or []:
            try:
                subnet = ipaddress.ip_network(config.get("Subnet", ""))
            except ValueError:
                continue
            for zone in plan.zones:
                if ipaddress.ip_network(zone.cidr).overlaps(subnet):
                    owner = (net.attrs.get("Labels") or {}).get(contract.LAB)
                    problems.append(f"lab.address_pool: zone network {zone.name} ({zone.cidr}) overlaps Docker network "
                                    f"{net.name} ({subnet}{f', lab {owner}' if owner else ''}); choose another "
                                    "lab.address_pool (or lab.subnets)")
    return problems


def port_problems(client, plan: Plan, publish_address: str) -> list[str]:
    """Published ports already taken on the machine (by a container, or by anything else)."""
    problems = []
    for host in plan.hosts:
        for item in host.published:
            if _free(publish_address, item.external, item.protocol):
                continue
            setting = f"lab.docker.{item.setting}" if item.setting else "lab.docker"
            owner = _publisher(client, item.external, item.protocol)
            problems.append(f"{setting}: {host.name} would publish {item.internal}/{item.protocol} on "
                            f"{publish_address}:{item.external}, which is in use"
                            f"{f' by container {owner}' if owner else ''}; choose another port")
    return problems


def _free(address: str, port: int, protocol: str) -> bool:
    kind = socket.SOCK_STREAM if protocol == "tcp" else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, kind) as sock:
        try:
            sock.bind((address, port))
            return True
        except OSError:
            return False


def _publisher(client, port: int, protocol: str):
    for container in client.containers.list():
        for bindings in ((container.attrs.get("HostConfig") or {}).get("PortBindings") or {}).items():
            key, values = bindings
            if key.endswith(f"/{protocol}") and any(str(v.get("HostPort")) == str(port) for v in values or []):
                return container.name
    return None
