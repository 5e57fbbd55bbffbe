"""What a stack's resources say, joined without IDs: labels/tags, parents and property dependencies.

`Inventory` reads the resources the Pulumi engine (or `labctl check`) hands to the pack, and re-derives the
intent (the plan) from the lab spec on the `abiquo:lab:Lab` component with the project's own catalog. Policies
then compare the two. Unknown values (preview) are never read: only labels, tags, ports, CIDRs and addresses,
which are plain inputs.
"""
from __future__ import annotations

import functools
import ipaddress
import json
from dataclasses import dataclass, field
from typing import Any, Optional

from abiquo_lab.catalog import LOAD_BALANCER
from abiquo_lab.contract import LAB_TYPE, WORLD, label, parse_span

D_NETWORK, D_CONTAINER = "docker:index/network:Network", "docker:index/container:Container"
A_SG = "aws:ec2/securityGroup:SecurityGroup"
A_INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
A_EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
A_INSTANCE, A_ALB = "aws:ec2/instance:Instance", "aws:lb/loadBalancer:LoadBalancer"
A_LISTENER, A_RULE = "aws:lb/listener:Listener", "aws:lb/listenerRule:ListenerRule"


@dataclass
class Res:
    """One resource, as the pack sees it: plain type/name/urn, props (maybe an unknown-checking proxy), joins."""
    type: str
    name: str
    urn: str
    props: Any
    parent: Optional[str] = None
    deps: dict[str, list[str]] = field(default_factory=dict)

    def get(self, key: str, default: Any = None) -> Any:
        value = self.props.get(key) if hasattr(self.props, "get") else None
        return default if value is None else value

    @property
    def labels(self) -> dict[str, str]:
        """Docker labels (list of {label, value}) or AWS tags (map), as one dict."""
        if self.type.startswith("docker:"):
            return {item.get("label"): item.get("value") for item in self.get("labels", [])}
        return dict(self.get("tags", {}) or {})

    def label(self, suffix: str, default: str = "") -> str:
        return self.labels.get(label(suffix), default) or default


def from_policy_resources(resources) -> list[Res]:
    """PolicyResource objects (pulumi_policy) -> Res."""
    return [Res(r.resource_type, r.name, r.urn, r.props, r.parent.urn if r.parent else None,
                {k: [d.urn for d in v] for k, v in (r.property_dependencies or {}).items()}) for r in resources]


def _intent_of(spec_text: str, lab_name: str):
    """The intent: the lab spec re-checked and planned with the project's catalog (cached per catalog and spec)."""
    from abiquo_lab.catalog import catalog_path
    return _intent(catalog_path(), spec_text, lab_name)


@functools.lru_cache(maxsize=16)
def _intent(catalog: str, spec_text: str, lab_name: str):
    from abiquo_lab.catalog import default_catalog
    from abiquo_lab.labspec import check_spec
    from abiquo_lab.plan import build_plan
    checked = check_spec(json.loads(spec_text), default_catalog(), source=f"lab component {lab_name!r}")
    return checked, build_plan(checked, default_catalog())


def _json_list(res: Res, suffix: str, malformed: list[str]) -> list:
    """A label holding a JSON list; anything else is noted in `malformed` and read as empty."""
    try:
        value = json.loads(res.label(suffix, "[]"))
    except (TypeError, ValueError):
        value = None
    if not isinstance(value, list):
        malformed.append(f"label {label(suffix)} is not a JSON list")
        return []
    return value


@dataclass
class DockerHost:
    res: Res
    name: str
    roles: list[str]
    datacenter: str
    region: str
    addresses: dict[str, str]          # network urn -> address
    allow: list[tuple]                 # (protocol, source, port, port_end, ids)
    routes: list
    malformed: list[str] = field(default_factory=list)   # labels that could not be read (reported, never a crash)


class Inventory:
    def __init__(self, resources: list[Res]):
        self.resources = resources
        self.by_urn = {r.urn: r for r in resources}
        self.lab = next((r for r in resources if r.type == LAB_TYPE), None)
        self.checked, self.plan = _intent_of(self.lab.get("spec"), self.lab.name) if self.lab else (None, None)
        self.backend = self.plan.backend if self.plan else None
        self.balancers = self.plan.exposed_roles(LOAD_BALANCER) if self.backend == "aws" else set()
        self._docker: Optional[dict[str, DockerHost]] = None

    def of_type(self, type_: str) -> list[Res]:
        if not hasattr(self, "_by_type"):
            self._by_type: dict[str, list[Res]] = {}
            for r in self.resources:
                self._by_type.setdefault(r.type, []).append(r)
        return self._by_type.get(type_, [])

    # ---- the intent --------------------------------------------------------------------------------------
    def flows_to(self, target: str) -> list:
        """Plan flows ending on a host or VIP name (indexed once: no scan per host)."""
        if not hasattr(self, "_flows_to"):
            self._flows_to: dict[str, list] = {}
            for flow in self.plan.flows:
                self._flows_to.setdefault(flow.dst, []).append(flow)
        return self._flows_to.get(target, [])

    # ---- Docker view ---------------------------------------------------------------------------------------
    @property
    def docker_hosts(self) -> dict[str, DockerHost]:
        if self._docker is None:
            self._docker = {h.name: h for h in map(self._docker_host, self.of_type(D_CONTAINER)) if h}
        return self._docker

    def _docker_host(self, res: Res) -> Optional[DockerHost]:
        name = res.label("host")
        if not name:
            return None
        malformed: list[str] = []
        allow = []
        for row in _json_list(res, "allowlist", malformed):
            try:
                proto, source, port, ids, *destination = row
                if len(destination) > 1:
                    raise ValueError(row)
                allow.append((proto, source, *parse_span(port), ids, destination[0] if destination else None))
            except (TypeError, ValueError):
                malformed.append(f"allowlist row {row!r} is not [protocol, source, port, ids] or [..., VIP address]")
        return DockerHost(res, name, res.label("roles").split(), res.label("datacenter"), res.label("region"),
                          self._attached(res), allow, _json_list(res, "routes", malformed), malformed)

    def _attached(self, res: Res) -> dict[str, str]:
        """network urn -> the container's address on it: property dependencies give the networks, subnets the match."""
        nets = [u for u in res.deps.get("networksAdvanced", []) if u in self.by_urn]
        found = {}
        for entry in res.get("networksAdvanced", []):
            if not entry.get("ipv4Address"):
                continue
            address = ipaddress.ip_address(entry["ipv4Address"])
            for urn in nets:
                if any(address in subnet for subnet in self._subnets(urn)):
                    found[urn] = entry["ipv4Address"]
        return found

    def _subnets(self, network_urn: str) -> list:
        """A network's parsed subnets, once per network (not once per container and address)."""
        if not hasattr(self, "_parsed"):
            self._parsed: dict[str, list] = {}
        if network_urn not in self._parsed:
            net = self.by_urn[network_urn]
            self._parsed[network_urn] = [ipaddress.ip_network(c.get("subnet")) for c in net.get("ipamConfigs", [])
                                         if c.get("subnet")]
        return self._parsed[network_urn]

    def network_zone(self, urn: str) -> str:
        net = self.by_urn.get(urn)
        return net.label("zone", "?") if net else "?"

    # ---- AWS view ------------------------------------------------------------------------------------------
    def groups(self) -> dict[str, str]:
        """security group urn -> role tag (or 'bootstrap')."""
        if not hasattr(self, "_groups"):
            self._groups = {r.urn: r.label("role", "bootstrap") for r in self.of_type(A_SG)}
        return self._groups

    def ingress_views(self) -> list[dict]:
        if not hasattr(self, "_ingress"):
            groups = self.groups()
            self._ingress = [{**self.rule_view(r, groups), "res": r} for r in self.of_type(A_INGRESS)]
        return self._ingress

    def ingress_index(self) -> dict[tuple, list[dict]]:
        """(group role, peer, protocol) -> rule views: each flow looks up its rule without scanning all rules."""
        if not hasattr(self, "_ingress_index"):
            self._ingress_index: dict[tuple, list[dict]] = {}
            for view in self.ingress_views():
                self._ingress_index.setdefault((view["on"], view["peer"], view["protocol"]), []).append(view)
        return self._ingress_index

    def role_hosts(self) -> dict[str, list[Res]]:
        """role -> the AWS resources that carry it (instances by their roles tag; the load-balancer roles: the ALB)."""
        if not hasattr(self, "_role_hosts"):
            self._role_hosts = self._carriers()
        return self._role_hosts

    def _carriers(self) -> dict[str, list[Res]]:
        found: dict[str, list[Res]] = {}
        for inst in self.of_type(A_INSTANCE):
            for role in inst.label("roles").split():
                found.setdefault(role, []).append(inst)
        for alb in self.of_type(A_ALB):
            for role in sorted(self.balancers):
                found.setdefault(role, []).append(alb)
        return found

    def rule_view(self, rule: Res, groups: dict[str, str]) -> dict:
        """An ingress/egress rule as roles: the group it is on, the group or CIDR it admits, protocol and ports."""
        on = [groups.get(u, "?") for u in rule.deps.get("securityGroupId", [])]
        peer = [groups.get(u, "?") for u in rule.deps.get("referencedSecurityGroupId", [])]
        cidr = rule.get("cidrIpv4") or rule.get("cidrIpv6")
        protocol = {"112": "vrrp", "-1": "all"}.get(str(rule.get("ipProtocol")), str(rule.get("ipProtocol")))
        port, end = rule.get("fromPort"), rule.get("toPort")
        return {"on": on[0] if on else "?", "peer": peer[0] if peer else ("world" if cidr in WORLD else cidr or "?"),
                "protocol": protocol, "port": int(port) if port is not None else None,
                "port_end": int(end) if end is not None else None, "description": rule.get("description", "")}
