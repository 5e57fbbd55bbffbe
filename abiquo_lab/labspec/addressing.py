"""The address plan: one subnet per zone network, carved from the lab's address pool in a fixed order."""
from __future__ import annotations

import ipaddress
from typing import Optional

from ..catalog import Catalog
from .errors import Problem
from .model import LabSpec

DOCKER_DEFAULT_BRIDGE = ipaddress.ip_network("172.17.0.0/16")


def zone_network_names(spec: LabSpec, catalog: Catalog) -> list[str]:
    """Zone networks in carving order: global zones, then one per datacenter, then one per region."""
    names: list[str] = []
    for zone in catalog.zones:
        if zone.kind == "global":
            names.append(zone.name)
        elif zone.kind == "datacenter":
            names += [f"{zone.name}-{dc}" for dc in spec.datacenters]
        else:
            names += [f"{zone.name}-{region}" for region in spec.regions]
    return names


def zone_networks(spec: LabSpec, catalog: Catalog, problems: Optional[list[Problem]] = None) -> dict[str, ipaddress.IPv4Network]:
    problems = problems if problems is not None else []
    try:
        pool = ipaddress.ip_network(spec.address_pool)
    except ValueError as exc:
        problems.append(Problem("lab.address_pool", f"{exc}; give an IPv4 network like 10.90.0.0/16"))
        return {}
    if pool.version != 4 or not pool.is_private:
        problems.append(Problem("lab.address_pool", f"must be a private IPv4 range (10/8, 172.16/12, 192.168/16) (got {spec.address_pool})"))
        return {}
    if spec.backend == "docker" and pool.overlaps(DOCKER_DEFAULT_BRIDGE):
        problems.append(Problem("lab.address_pool", f"overlaps Docker's default bridge {DOCKER_DEFAULT_BRIDGE} (got {pool})"))
    names = zone_network_names(spec, catalog)
    explicit = _explicit_subnets(spec, names, pool, problems)
    if spec.zone_prefix < pool.prefixlen:
        problems.append(Problem("lab.zone_prefix", f"/{spec.zone_prefix} is larger than the pool {pool}"))
        return {}
    free = (s for s in pool.subnets(new_prefix=spec.zone_prefix) if not any(s.overlaps(e) for e in explicit.values()))
    result: dict[str, ipaddress.IPv4Network] = {}
    for name in names:
        if name in explicit:
            result[name] = explicit[name]
            continue
        subnet = next(free, None)
        if subnet is None:
            capacity = 2 ** (spec.zone_prefix - pool.prefixlen)
            problems.append(Problem("lab.address_pool", f"{pool} holds {capacity} zone networks of /{spec.zone_prefix}; "
                                                        f"this lab needs {len(names)} (use a larger pool or a longer zone_prefix)"))
            return {}
        result[name] = subnet
    return result


def _explicit_subnets(spec: LabSpec, names: list[str], pool, problems: list[Problem]) -> dict[str, ipaddress.IPv4Network]:
    explicit: dict[str, ipaddress.IPv4Network] = {}
    for name, text in spec.subnets.items():
        path = f"lab.subnets.{name}"
        if name not in names:
            problems.append(Problem(path, f"unknown zone network; this lab's zone networks: {', '.join(names)}"))
            continue
        try:
            net = ipaddress.ip_network(text)
        except ValueError as exc:
            problems.append(Problem(path, f"{exc}"))
            continue
        if net.version != pool.version or not net.subnet_of(pool):
            problems.append(Problem(path, f"{net} is outside the address pool {pool}"))
            continue
        if net.num_addresses < 16:
            problems.append(Problem(path, f"{net} is too small; at least /28"))
            continue
        for other, other_net in explicit.items():
            if net.overlaps(other_net):
                problems.append(Problem(path, f"{net} overlaps subnets.{other} ({other_net})"))
        explicit[name] = net
    return explicit
