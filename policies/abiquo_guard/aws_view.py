"""What an AWS stack's resources say about network access, in every form it can be written, as one list of rules.

Security-group rules arrive as `aws.vpc.SecurityGroupIngressRule`/`EgressRule` (what the program writes), the
legacy `aws.ec2.SecurityGroupRule` (type ingress/egress; a source group, `self`, CIDR lists, prefix lists), inline
`ingress`/`egress` entries on `aws.ec2.SecurityGroup`, and the VPC's default group (`aws.ec2.DefaultSecurityGroup`).
Each is read into `SgRule`s: one per group it is on and peer it admits, with the field it came from, so every
policy judges all forms alike. Groups are joined through property dependencies, never IDs; a reference that no
dependency explains is a literal ID (named as such), one that depends on several groups is `ambiguous` (never
"the first one": that order varies between runs).

Reads are per resource and per entry (`Inventory.read`): a value not known in preview is noted and that item alone
is skipped; malformed input is kept as a problem naming the resource and field.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Optional

from pulumi_policy.proxy import UnknownValueError

from abiquo_lab.contract import WORLD, port_span

A_SG = "aws:ec2/securityGroup:SecurityGroup"
A_DEFAULT_SG = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
A_INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
A_EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
A_LEGACY_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
A_INSTANCE = "aws:ec2/instance:Instance"
LOAD_BALANCERS = ("aws:lb/loadBalancer:LoadBalancer", "aws:alb/loadBalancer:LoadBalancer")
PROTOCOLS = {"-1": "all", "all": "all", "6": "tcp", "17": "udp", "112": "vrrp", "1": "icmp", "58": "icmpv6",
             "icmpv6": "icmpv6", "tcp": "tcp", "udp": "udp", "vrrp": "vrrp", "icmp": "icmp"}
PORTED = ("tcp", "udp")


@dataclass(eq=False)
class SgRule:
    """One (group, peer) pair a rule admits. peer_kind: group (peer is a role), world, cidr, prefix (a prefix
    list ID), sgid (a literal security-group ID no group of the stack explains), ambiguous (several groups)."""
    res: Any
    where: str                 # the field it came from ('' for a standalone rule resource)
    direction: str             # ingress | egress
    on: str                    # role of the group it is on ('bootstrap', 'default', or '?' for no group known)
    on_urn: Optional[str]
    peer_kind: str
    peer: str
    protocol: str              # tcp, udp, vrrp, icmp, icmpv6, all, or what was written
    port: Optional[int]
    port_end: Optional[int]

    @property
    def ports(self) -> str:
        """'tcp/8000-8100', 'all protocols and ports', 'vrrp'."""
        if self.protocol == "all":
            return "all protocols and ports"
        if self.protocol not in PORTED:
            return self.protocol
        return f"{self.protocol}/{port_span(self.port, self.port_end, 'all ports')}"

    @property
    def peer_text(self) -> str:
        return {"group": f"sg '{self.peer}'", "world": f"the world ({self.peer})", "cidr": f"CIDR {self.peer}",
                "prefix": f"prefix list {self.peer}", "sgid": f"security-group ID {self.peer} (a literal ID, no group "
                "of the stack)", "ambiguous": f"a group reference that depends on several groups ({self.peer})"
                }.get(self.peer_kind, self.peer)

    @property
    def source(self) -> str:
        """'rule X' or 'sg X ingress[2]': the resource and the field."""
        return f"'{self.res.name}'" + (f" ({self.where})" if self.where else "")


def group_roles(inv) -> dict[str, str]:
    """security group urn -> role tag; the lab's bootstrap group (name '<lab>-bootstrap') -> 'bootstrap'; a
    default group -> 'default'; any other group -> '?<name>' (no role: nothing the plan says admits it)."""
    if hasattr(inv, "_aws_groups"):
        return inv._aws_groups
    found = {}
    bootstrap = f"{inv.plan.lab}-bootstrap" if inv.plan else None
    known = ({r for h in inv.plan.hosts for r in h.roles} | {v.name for v in inv.plan.vips} | {"bootstrap"}
             if inv.plan else set())
    for res in inv.of_type(A_SG):
        role = inv.read(res, lambda r=res: r.label("role"), default=...)
        if role is ...:
            found[res.urn] = "*"                             # not known in preview: whatever it is, judged at update
            continue
        if role:                                             # a tag the plan does not know ('world', say) is no role
            found[res.urn] = role if role in known else f"?{res.name}"
            continue
        name = inv.read(res, lambda r=res: r.get("name"), "name", default=None)
        found[res.urn] = "bootstrap" if name == bootstrap else f"?{res.name}"
    for res in inv.of_type(A_DEFAULT_SG):
        found[res.urn] = "default"
    inv._aws_groups = found
    return found


def is_network_lb(lb) -> bool:
    """An NLB (on AWS the services VIP is one: internal, with a group of its own); raises when not known in preview."""
    return lb.get("loadBalancerType") == "network"


def alb_groups(inv) -> set[str]:
    """The groups attached to an internet-facing application load balancer that carries a load-balancer role tag
    (the frontend), or to one that may be it once a value not known in preview is: the only groups the world may
    reach (on the listener ports)."""
    urns = set()
    for lb in internet_facing_albs(inv) + maybe_frontend_albs(inv):
        urns |= set(lb.deps.get("securityGroups", []))
    return urns


def internet_facing_albs(inv) -> list:
    return [lb for lb, verdict in _frontend_verdicts(inv) if verdict is True]


def maybe_frontend_albs(inv) -> list:
    """Load balancers that are the frontend unless a value not known in preview (role tag, type, internal) says
    otherwise: what depends on them is judged at update."""
    return [lb for lb, verdict in _frontend_verdicts(inv) if verdict is None]


def _frontend_verdicts(inv) -> list[tuple]:
    found = []
    for lb in (r for t in LOAD_BALANCERS for r in inv.of_type(t)):
        role = inv.read(lb, lambda r=lb: r.label("role"), default=...)
        kind = inv.read(lb, lambda r=lb: r.get("loadBalancerType"), "loadBalancerType", default=...)
        internal = inv.read(lb, lambda r=lb: r.get("internal"), "internal", default=...)
        if (role is not ... and role not in inv.balancers) or (kind is not ... and kind not in (None, "application")) \
                or internal is True:
            found.append((lb, False))
        else:
            found.append((lb, None if ... in (role, kind, internal) else True))
    return found


def _num(value: Any) -> Optional[int]:
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(value)
    number = float(value)
    if not number.is_integer():                  # 8009.5 is no port (int() would quietly make it 8009)
        raise ValueError(value)
    return int(number)


def shown(value: Any) -> str:
    """A value as written, numbers as the user wrote them (gRPC hands every number as a float)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return repr(value)


def _protocol(value: Any) -> str:
    text = str(value).strip().lower()
    return PROTOCOLS.get(text, text)


class _Reader:
    """Reads one resource's rules, noting unknowns and problems on the inventory."""

    def __init__(self, inv, res, problems: list):
        self.inv, self.res, self.problems = inv, res, problems
        self.groups = group_roles(inv)

    def get(self, item: Any, key: str, path: str, default: Any = None) -> Any:
        return self.inv.read(self.res, lambda: item.get(key) if isinstance(item, Mapping) else None, path, default)

    def items(self, item: Any, key: str, path: str) -> list[tuple[int, Any]]:
        raw = self.get(item, key, path, default=...)
        if raw is ... or raw is None:
            return []
        if isinstance(raw, str):
            return [(0, raw)]
        if not isinstance(raw, Sequence):
            self.problems.append((self.res, path, f"{path} is not a list"))
            return []
        found = []
        for i in range(len(raw)):
            value = self.inv.read(self.res, lambda i=i: raw[i], f"{path}[{i}]", default=...)
            if value is not ...:
                found.append((i, value))
        return found

    def groups_of(self, key: str) -> list[str]:
        """The security groups a property depends on (urns, sorted for a stable order)."""
        return sorted(u for u in self.res.deps.get(key, []) if u in self.groups)

    def on(self, key: str) -> tuple[str, Optional[str]]:
        urns = self.groups_of(key)
        if len(urns) == 1:
            return self.groups[urns[0]], urns[0]
        if len(urns) > 1:
            return "?" + "|".join(sorted(self.groups[u] for u in urns)), None
        return "?", None

    def ports(self, item: Any, where: str, key: str = "protocol") -> Optional[tuple[str, Optional[int], Optional[int]]]:
        prefix = f"{where}." if where else ""
        proto = self.get(item, key, f"{prefix}{key}", default=...)
        start = self.get(item, "fromPort", f"{prefix}fromPort", default=...)
        end = self.get(item, "toPort", f"{prefix}toPort", default=...)
        if ... in (proto, start, end):
            return None
        if proto is None:
            self.problems.append((self.res, f"{prefix}{key}", f"{prefix}{key} is missing"))
            return None
        protocol = _protocol(proto)
        try:
            start, end = _num(start), _num(end)
        except (TypeError, ValueError):
            self.problems.append((self.res, f"{prefix}fromPort", f"{prefix}fromPort/toPort {shown(start)}-{shown(end)} is not a "
                                  "port number"))
            return None
        if protocol not in PORTED:
            return protocol, None, None
        if start is None and end is None:
            return protocol, None, None
        start = end if start is None else start
        end = start if end is None else end
        if -1 in (start, end) or (start == 0 and end == 0) or (start <= 1 and end >= 65535):
            return protocol, None, None                      # every port (-1, 0-0, 0-65535, 1-65535)
        return protocol, start, end

    def rule(self, where, direction, on, on_urn, kind, peer, ports) -> SgRule:
        return SgRule(self.res, where, direction, on, on_urn, kind, peer, *ports)


def _cidr_peer(cidr: str) -> tuple[str, str]:
    return ("world", cidr) if cidr in WORLD else ("cidr", cidr)


def _vpc_rule(inv, res, direction: str, problems: list) -> list[SgRule]:
    r = _Reader(inv, res, problems)
    on, on_urn = r.on("securityGroupId")
    ports = r.ports(res.props, "", "ipProtocol")
    if ports is None:
        return []
    peers = []
    urns = r.groups_of("referencedSecurityGroupId")
    if len(urns) == 1:
        peers.append(("group", r.groups[urns[0]]))
    elif len(urns) > 1:
        peers.append(("ambiguous", ", ".join(sorted(r.groups[u] for u in urns))))
    else:                                    # no group explains it: a literal ID, if one is written
        ref = r.get(res.props, "referencedSecurityGroupId", "referencedSecurityGroupId", default=...)
        if ref not in (None, ...):
            peers.append(("sgid", str(ref)))
    for key in ("cidrIpv4", "cidrIpv6"):
        cidr = r.get(res.props, key, key, default=...)
        if cidr not in (None, ...):
            peers.append(_cidr_peer(str(cidr)))
    prefix = r.get(res.props, "prefixListId", "prefixListId", default=...)
    if prefix not in (None, ...):
        peers.append(("prefix", str(prefix)))
    return [r.rule("", direction, on, on_urn, kind, peer, ports) for kind, peer in peers]


def _entry_peers(r: _Reader, entry: Any, where: str, own: tuple[str, Optional[str]], group_key: str,
                 dep_key: str) -> list[tuple[str, str]]:
    """The peers one legacy rule or inline entry admits: CIDRs (IPv4/IPv6), prefix lists, groups, itself."""
    peers = []
    prefix = f"{where}." if where else ""
    for key in ("cidrBlocks", "ipv6CidrBlocks"):
        for i, cidr in r.items(entry, key, f"{prefix}{key}"):
            peers.append(_cidr_peer(str(cidr)))
    for i, pl in r.items(entry, "prefixListIds", f"{prefix}prefixListIds"):
        peers.append(("prefix", str(pl)))
    if r.get(entry, "self", f"{prefix}self") is True:
        peers.append(("group", own[0]) if own[1] else ("ambiguous", own[0]))
    urns = r.groups_of(dep_key)               # a group reference is joined by its dependencies, never its ID
    written = True if urns else r.get(entry, group_key, f"{prefix}{group_key}", default=None)
    if not written:
        return peers
    if len(urns) == 1:
        peers.append(("group", r.groups[urns[0]]))
    elif len(urns) > 1:
        peers.append(("ambiguous", ", ".join(sorted(r.groups[u] for u in urns))))
    else:                                    # no group explains it: literal IDs
        refs = r.items(entry, group_key, f"{prefix}{group_key}") if group_key == "securityGroups" else [(0, written)]
        peers += [("sgid", str(v)) for _, v in refs]
    return peers


def _legacy_rule(inv, res, problems: list) -> list[SgRule]:
    r = _Reader(inv, res, problems)
    kind = r.get(res.props, "type", "type", default=...)
    if kind is ...:
        return []
    if kind not in ("ingress", "egress"):
        problems.append((res, "type", f"type {kind!r} is not ingress or egress"))
        return []
    on, on_urn = r.on("securityGroupId")
    ports = r.ports(res.props, "")
    if ports is None:
        return []
    peers = _entry_peers(r, res.props, "", (on, on_urn), "sourceSecurityGroupId", "sourceSecurityGroupId")
    return [r.rule("", kind, on, on_urn, k, p, ports) for k, p in peers]


def _inline_rules(inv, res, problems: list) -> list[SgRule]:
    r = _Reader(inv, res, problems)
    own = (r.groups.get(res.urn, "?"), res.urn)
    found = []
    for direction in ("ingress", "egress"):
        entries = r.items(res.props, direction, direction)
        for i, entry in entries:
            where = f"{direction}[{i}]"
            if not isinstance(entry, Mapping):
                problems.append((res, where, f"{where} is not a rule {{protocol, fromPort, toPort, cidrBlocks, ...}}"))
                continue
            ports = r.ports(entry, where)
            if ports is None:
                continue
            for k, p in _entry_peers(r, entry, where, own, "securityGroups", direction):
                found.append(r.rule(where, direction, *own, k, p, ports))
        _literal_beside_references(r, direction, [e for _, e in entries])
    return found


def _literal_beside_references(r: "_Reader", direction: str, entries: list) -> None:
    """Inline entries share one dependency list per direction, so a literal ID written in one entry beside a group
    referenced in another would be read as that group. Counted instead: more distinct IDs than groups depended on
    (in preview a reference is not known and a literal is) means a literal is among them."""
    known, referenced = set(), False
    for entry in entries:
        for value in _quiet_items(entry, "securityGroups"):
            if value is ...:
                referenced = True
            else:
                known.add(str(value))
    depended = len(r.groups_of(direction))
    if known and len(known) + referenced > depended:
        r.problems.append((r.res, f"{direction}[*].securityGroups", f"{direction} entries name {len(known) + referenced} "
                           f"distinct security groups in securityGroups but depend on {depended} group(s) of the stack, so "
                           "a literal ID (no group of the stack) is among them; reference the lab's groups (their .id)"))


def _quiet_items(entry: Any, key: str) -> list:
    """A list's items, `...` for each not known in preview (not noted: a reference is joined by its dependency)."""
    try:
        raw = entry.get(key) if isinstance(entry, Mapping) else None
    except UnknownValueError:
        return []
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        return []
    found = []
    for i in range(len(raw)):
        try:
            found.append(raw[i])
        except UnknownValueError:
            found.append(...)
    return found


def sg_rules(inv) -> tuple[list[SgRule], list[tuple]]:
    """Every security-group rule of the stack in every form, and the malformed ones (res, field, problem)."""
    if hasattr(inv, "_sg_rules"):
        return inv._sg_rules
    rules, problems = [], []
    inv.uncertain_groups = set()         # groups a rule not fully known in preview may open ('*': any group)
    if "*" in group_roles(inv).values():
        inv.uncertain_groups.add("*")    # a group whose role is not known may be any role's
    readers = [(t, lambda res, t=t: _vpc_rule(inv, res, t, problems)) for t in ("ingress", "egress")]
    for type_, read_one in ((A_INGRESS, readers[0][1]), (A_EGRESS, readers[1][1]),
                            (A_LEGACY_RULE, lambda res: _legacy_rule(inv, res, problems)),
                            (A_SG, lambda res: _inline_rules(inv, res, problems)),
                            (A_DEFAULT_SG, lambda res: _inline_rules(inv, res, problems))):
        for res in inv.of_type(type_):
            before = len(inv.unknowns)
            rules += read_one(res)
            if len(inv.unknowns) > before:
                on = _Reader(inv, res, problems).on("securityGroupId")[0] if type_ not in (A_SG, A_DEFAULT_SG) \
                    else group_roles(inv).get(res.urn, "?")
                inv.uncertain_groups.add("*" if on.startswith("?") else on)
    inv._sg_rules = (rules, problems)
    return inv._sg_rules


def ingress_index(inv) -> dict[tuple, list[SgRule]]:
    """(group role, peer role or 'world', protocol) -> exact ingress rules (one group on, one peer)."""
    if not hasattr(inv, "_aws_ingress_index"):
        index: dict[tuple, list[SgRule]] = {}
        for rule in sg_rules(inv)[0]:
            if rule.direction == "ingress" and rule.on_urn and rule.peer_kind in ("group", "world"):
                index.setdefault((rule.on, "world" if rule.peer_kind == "world" else rule.peer, rule.protocol),
                                 []).append(rule)
        inv._aws_ingress_index = index
    return inv._aws_ingress_index
