"""What a lab node is, whatever the backend renders it as: its labels, inbound allowlist rows, listen ports and
proxy routes, all from the plan. The Docker and AWS renderers (and the node image's entrypoint, through the
environment these become) read them; nothing here knows Pulumi.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from abiquo_lab import contract
from abiquo_lab.catalog.model import AGENT_CLIENTS
from abiquo_lab.labspec import CheckedSpec
from abiquo_lab.plan import AllowEntry, Host, Plan, allowlist


NODE_IMAGE_DIR = Path(__file__).resolve().parents[1] / "images" / "node"   # the node software, on every backend
AJP_CLIENT = AGENT_CLIENTS["ajp"]  # where the role agent answers AJP13 (LAB_AJP)
TRANSIENT_CLIENT = "reach"       # a port whose listener comes and goes (Galera IST/SST): health does not wait for it
NODE_PACKAGES = NODE_IMAGE_DIR.joinpath("packages.txt").read_text().split()  # its Debian packages (image and user data)


@dataclass(frozen=True)
class LabArgs:
    """Typed arguments of the Lab component (and of every renderer)."""
    plan: Plan
    spec: CheckedSpec
    stack: str
    expires_at: str = contract.UNSET
    managed_by: str = contract.MANAGED_BY_PULUMI


def lab_labels(args: LabArgs) -> dict[str, str]:
    """The labels (Docker) or tags (AWS) every object of the lab carries: ownership and lifecycle."""
    return {contract.MANAGED: "true", contract.LAB: args.plan.lab, contract.STACK: args.stack,
            contract.OWNER: args.plan.owner, contract.EXPIRES_AT: args.expires_at, contract.TTL: args.spec.spec.ttl,
            contract.MANAGED_BY: args.managed_by}


def host_labels(host: Host) -> dict[str, str]:
    """What one host adds to the lab's labels: its roles and where it lives."""
    return {contract.ROLE: host.primary, contract.ROLES: " ".join(host.roles), contract.HOST: host.name,
            contract.DATACENTER: host.datacenter or "", contract.REGION: host.region or ""}


def allow_rules(entries: list[AllowEntry]) -> list[list[str]]:
    """The allowlist as compact rows [protocol, source, port span, ids] (+ destination address when the entry admits a
    VIP's address only): read by the entrypoint and by policies."""
    return [[e.protocol, e.source, contract.port_span(e.port, e.port_end), ",".join(e.ids)]
            + ([e.destination] if e.destination else []) for e in entries]


def host_allow_rules(plan: Plan, host: Host) -> list[list[str]]:
    return allow_rules(allowlist(plan, host.name))


def listen_ports(plan: Plan, host: Host) -> list[str]:
    """Ports the host serves ('tcp/8009', 'tcp/5900-5999'): every flow that ends on it or on a VIP it carries, but
    the VIP's proxy listeners (the proxy binds those on the VIP's address alone)."""
    proxied = {(vip.name, "tcp", lst.port) for vip in plan.vips_of(host.name) for lst in vip.listeners}
    ports = set()
    for f in plan.inbound(host.name):
        if f.port is not None and (f.dst, f.protocol, f.port) not in proxied:
            ports.add((f.protocol, f.port, contract.port_span(f.port, f.port_end)))
    return [f"{proto}/{span}" for proto, _, span in sorted(ports)]


def ajp_ports(plan: Plan, host: Host) -> list[str]:
    """The ports it serves where the role agent speaks AJP13 (a service that speaks ajp, no software holding it)."""
    ajp = {port for ports in host.runtime.services.values() for port, client in ports.items() if client == AJP_CLIENT}
    return [port for port in listen_ports(plan, host) if port in ajp]


def cluster_env(plan: Plan, host: Host) -> dict[str, str]:
    """What the node's clustered software needs to find its peers (empty for a host outside any cluster):
    LAB_PEERS    {role: [[host, address], ...]} for each of its roles carried by more than one host
    LAB_VIPS     [[name, address, prefix length, router id, [[member, address], ...]], ...]: the VIPs it may hold
    LAB_VIP_PROXY  [[vip address, port, backend port, check, [[member, address], ...]], ...]: what the proxy forwards"""
    zones = {z.name: z for z in plan.zones}
    carriers = {role: plan.hosts_with(role) for role in host.roles}
    peers = {role: [[h.name, h.address] for h in found] for role, found in carriers.items() if len(found) > 1}
    vips, proxy = [], []
    for vip in plan.vips_of(host.name):
        members = [[m, plan.host(m).interfaces.get(vip.zone, plan.host(m).address)] for m in vip.members]
        prefix = int(zones[vip.zone].cidr.rpartition("/")[2]) if vip.zone in zones else 32
        vips.append([vip.name, vip.address, prefix, vip.router_id, members])
        proxy += [[vip.address, lst.port, lst.backend_port, lst.check, members] for lst in vip.listeners]
    if not (peers or vips):
        return {}
    return {"LAB_PEERS": compact(peers), "LAB_VIPS": compact(vips), "LAB_VIP_PROXY": compact(proxy)}


def compact(value) -> str:
    return json.dumps(value, separators=(",", ":"))


def node_env(plan: Plan, host: Host, allow_rows: list[list[str]]) -> dict[str, str]:
    """The node software's settings (images/node/entrypoint.sh reads them), the same on every backend:
    LAB_ALLOW the inbound allowlist rows, LAB_LISTEN the ports served, LAB_START the start hooks of the real
    software and LAB_REAL the ports it holds (the role agent answers the rest), LAB_TRANSIENT those held only at
    times, LAB_AJP those where the agent speaks AJP13, LAB_ROUTES the proxy routes, LAB_ADDRESS(ES) its home (all) addresses; and cluster_env."""
    return {"LAB_HOST": host.name, "LAB_ROLES": " ".join(host.roles), "LAB_ADDRESS": host.address,
            "LAB_ADDRESSES": " ".join(host.interfaces.values()),
            contract.ALLOW_ENV: compact(allow_rows),
            "LAB_LISTEN": " ".join(listen_ports(plan, host)),
            "LAB_START": " ".join(host.runtime.start), "LAB_REAL": " ".join(host.runtime.holds),
            "LAB_TRANSIENT": " ".join(port for port, client in host.runtime.clients.items() if client == TRANSIENT_CLIENT),
            "LAB_AJP": " ".join(ajp_ports(plan, host)),
            "LAB_ROUTES": compact(plan.route_rows(host.name)), **cluster_env(plan, host)}
