"""The AWS side of the stack policies: network access in every form (aws_view), which groups each machine carries,
and what else opens the lab (machines outside the plan, public routes from private subnets, network ACLs).

Decisions (README, Policies):
- Security-group rules in any form (vpc rule resources, legacy SecurityGroupRule, inline ingress/egress) are judged
  alike, and a required flow is satisfied by any form that names exactly one group on each side. The VPC's default
  group carries no rule at all. Peers are the plan's groups; a CIDR other than the world, a prefix list or a literal
  group ID is never a plan peer; a reference that depends on several groups is reported, never guessed.
- World ingress only on the groups attached to the internet-facing application load balancer that carries the
  load-balancer role tag (the frontend), on its listener ports.
- Egress: each rule maps to a plan flow's egress (to the destination's group, or to the world for flows leaving the
  lab) or to the configured bootstrap egress on the bootstrap group.
- Network ACLs (stateless): an allow entry from the world (any CIDR holding a public address) into a subnet is a
  violation unless it is tcp/udp within the ephemeral range 1024-65535 (return traffic of the NAT'd egress) or, on
  the frontend zone's subnets, tcp on the listener ports. A private subnet routes nothing to the internet gateway.
- Load balancers: only the frontend ALB and the services VIPs' NLBs carry lab groups; a VIP's NLB listens in TCP on
  the VIP's ports only, and its target groups serve no other listener or rule.
- Preview: a group whose role tag is not known is judged against every role of the plan (reported when none would
  allow the rule); a load balancer whose role tag, type or scheme is not known may be the frontend or a VIP's NLB.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Callable, Optional

from abiquo_lab.contract import FRONTEND_PORTS, FRONTEND_ZONE, WORLD, port_span

from .inventory import A_LISTENERS, A_RULES
from .aws_view import (A_INSTANCE, LOAD_BALANCERS, SgRule, _num, _protocol, alb_groups, group_roles, internet_facing_albs, is_network_lb,
                       maybe_frontend_albs, sg_rules,
                       shown)

Report = Callable[[str, Optional[str]], None]
LISTENER_PORTS = tuple(sorted(FRONTEND_PORTS))
EPHEMERAL = 1024
OUTSIDE_PLAN = {"aws:ec2/spotInstanceRequest:SpotInstanceRequest": "a spot instance",
                "aws:autoscaling/group:Group": "an auto-scaling group",
                "aws:ec2/fleet:Fleet": "an EC2 fleet", "aws:ec2/spotFleetRequest:SpotFleetRequest": "a spot fleet",
                "aws:ec2/networkInterface:NetworkInterface": "a network interface (it carries groups of its own)",
                "aws:ec2/networkInterfaceSecurityGroupAttachment:NetworkInterfaceSecurityGroupAttachment":
                    "a group attached to a network interface"}
CLASSIC_ELB = "aws:elb/loadBalancer:LoadBalancer"
A_SUBNET, A_IGW = "aws:ec2/subnet:Subnet", "aws:ec2/internetGateway:InternetGateway"
A_RT, A_ROUTE, A_RTA = "aws:ec2/routeTable:RouteTable", "aws:ec2/route:Route", "aws:ec2/routeTableAssociation:RouteTableAssociation"
A_NACL, A_DEFAULT_NACL = "aws:ec2/networkAcl:NetworkAcl", "aws:ec2/defaultNetworkAcl:DefaultNetworkAcl"
A_NACL_RULE, A_NACL_ASSOC = "aws:ec2/networkAclRule:NetworkAclRule", "aws:ec2/networkAclAssociation:NetworkAclAssociation"


def _no_rule(flow, balancers: set[str]) -> bool:
    """Flows with no AWS rule: same host, from outside, between the hosts the ALB stands for, or VRRP (on AWS the load
    balancers hold the VIPs; keepalived does not run)."""
    return (flow.local or flow.from_outside or flow.protocol == "vrrp"
            or (flow.src_role == flow.dst_role and flow.src_role in balancers))


def _group_of_destination(flow, balanced: set[str]) -> str:
    """The destination's group: its role's, or for a flow to a services VIP (an internal NLB) the VIP's own."""
    return flow.dst if flow.dst_kind == "vip" and flow.dst in balanced else flow.dst_role


def ingress_of(flow, balancers: set[str], balanced: set[str] = frozenset()) -> Optional[tuple]:
    """(group, peer role or 'world', protocol, port, port_end) that must admit the flow on AWS; None if none."""
    if _no_rule(flow, balancers) or flow.egress:
        return None
    return (_group_of_destination(flow, balanced), "world" if flow.public else flow.src_role, flow.protocol, flow.port,
            flow.port_end or flow.port)


def egress_of(flow, balancers: set[str], balanced: set[str] = frozenset()) -> Optional[tuple]:
    """(group role, destination group or 'world', protocol, port, port_end) the flow's source may send."""
    if _no_rule(flow, balancers) or flow.public:
        return None
    return (flow.src_role, "world" if flow.egress else _group_of_destination(flow, balanced), flow.protocol, flow.port,
            flow.port_end or flow.port)


def vip_hops(inv) -> set[tuple]:
    """The NLB -> member hop of each services VIP, as ingress keys: the members' group admits the VIP's group on each
    listener port (the VIP's group sends there: the same keys, read the other way, are its egress)."""
    return {(v.role, v.name, "tcp", l.port, l.port) for v in inv.plan.vips if v.name in inv.balanced for l in v.listeners}


def bootstrap_egress(inv) -> set[tuple]:
    """The configured bootstrap egress (aws.bootstrap_egress 'CIDR:PORT'), on the bootstrap group."""
    found = set()
    for entry in inv.checked.spec.aws_settings.bootstrap_egress:
        cidr, _, port = entry.rpartition(":")
        found.add(("bootstrap", "world" if cidr in WORLD else cidr, "tcp", int(port), int(port)))
    return found


def _key(rule: SgRule) -> tuple:
    return (rule.on, "world" if rule.peer_kind == "world" else rule.peer, rule.protocol, rule.port, rule.port_end)


def judge_rules(inv, config: dict, report: Report, exception) -> None:
    """Every security-group rule in every form against the plan (ingress and egress)."""
    rules, problems = sg_rules(inv)
    for res, where, problem in problems:
        report(f"'{res.name}': {problem} ({where}); write the rule as the program does (components/aws_backend.py)", res.urn)
    hops = vip_hops(inv)
    ingress = ({ingress_of(f, inv.balancers, inv.balanced) for f in inv.plan.flows} - {None}) | hops
    egress = (({egress_of(f, inv.balancers, inv.balanced) for f in inv.plan.flows} - {None}) | bootstrap_egress(inv)
              | {(vip, members, *ports) for members, vip, *ports in hops})
    front = alb_groups(inv)
    roles = ({k[0] for k in ingress | egress} | {k[1] for k in ingress | egress} | {"bootstrap"}) - {"world"}
    for rule in rules:
        problem = _rule_problem(inv, rule, ingress, egress, front, config, exception)
        if problem and "*" in (rule.on, rule.peer):          # a group whose role is not known in preview: judged at
            if _fine_as_some_role(inv, rule, roles, ingress, egress, front, config, exception):   # update if some
                continue                                     # role would allow it, else wrong whichever it is
            problem += " (its group's role is not known yet; no role of the plan would allow this rule)"
        if problem:
            report(problem, rule.res.urn)


def _fine_as_some_role(inv, rule: SgRule, roles: set, ingress: set, egress: set, front: set, config, exception) -> bool:
    ons = roles if rule.on == "*" else {rule.on}
    peers = roles if rule.peer == "*" else {rule.peer}
    return any(_rule_problem(inv, replace(rule, on=on, peer=peer), ingress, egress, front, config, exception) is None
               for on in ons for peer in peers)


def _rule_problem(inv, rule: SgRule, ingress: set, egress: set, front: set, config, exception) -> Optional[str]:
    what = f"{rule.direction} rule {rule.source} (sg '{rule.on}' {'from' if rule.direction == 'ingress' else 'to'} " \
           f"{rule.peer_text}, {rule.ports})"
    if rule.on == "default":
        return (f"{what} is on the VPC's default security group: the lab uses none of it; declare "
                f"aws.ec2.DefaultSecurityGroup with no ingress and no egress")
    if rule.on_urn is None:
        several = "|" in rule.on
        return (f"{what}: its securityGroupId {'depends on several groups' if several else 'names no group of the stack'}"
                f", so the pack cannot tell which group it opens; reference exactly one of the lab's groups")
    if rule.peer_kind == "ambiguous":
        return f"{what}: the pack cannot tell which group it admits; reference exactly one of the lab's groups per rule"
    if rule.peer_kind in ("cidr", "prefix", "sgid"):
        return (f"{what} admits {rule.peer_text}: the plan's peers are the lab's groups "
                f"{'(and the world for the frontend)' if rule.direction == 'ingress' else '(and the world for flows leaving the lab)'}; "
                "remove it or reference the peer's group")
    if rule.direction == "ingress":
        if rule.peer_kind == "world" and not (rule.on_urn in front and rule.protocol == "tcp"
                                              and rule.port == rule.port_end and rule.port in LISTENER_PORTS):
            albs = ", ".join(f"'{a.name}'" for a in internet_facing_albs(inv)) or "none"
            return (f"{what} opens sg '{rule.on}' to the world: world ingress is only for the group attached to the "
                    f"internet-facing load balancer ({albs}) on tcp/{', tcp/'.join(map(str, LISTENER_PORTS))}; remove it")
        if _key(rule) not in ingress and not exception(config, _key(rule)[1], rule.on, rule.protocol, rule.port):
            return (f"{what} maps to no catalog flow; remove it or allow it in the pack config "
                    "(nothing-beyond-intent.extraAllowedFlows)")
        return None
    if _key(rule) in egress or exception(config, rule.on, _key(rule)[1], rule.protocol, rule.port):
        return None
    if rule.protocol == "all" or (rule.protocol in ("tcp", "udp") and rule.port is None):
        return f"{what} allows all ports: egress must name the port the plan needs; remove it"
    return (f"{what} maps to no flow of the plan nor the configured bootstrap egress (aws.bootstrap_egress); "
            "remove it")


# ---- which groups each machine carries --------------------------------------------------------------------
def attachments(inv, report: Report) -> None:
    """Each instance carries exactly its host's roles' groups and the bootstrap group, referenced (not literal
    IDs); the internet-facing ALB carries exactly the load-balancer role's group; nothing launches machines or
    attaches groups outside the plan."""
    groups = group_roles(inv)
    for res in inv.of_type(A_INSTANCE):
        host = inv.read(res, lambda r=res: r.label("host"), default=None)
        planned = inv.plan_host(host)
        if planned is None or planned.primary in inv.balancers:
            continue                                  # reported by _hosts_are_planned (or unknown: at update)
        want = set(planned.roles) | {"bootstrap"}
        _carries(inv, res, ("vpcSecurityGroupIds", "securityGroups"), want, groups,
                 f"host {host}'s roles ({' '.join(planned.roles)}) and the bootstrap group", report)
    for lb in internet_facing_albs(inv):
        _carries(inv, lb, ("securityGroups",), set(inv.balancers), groups, "the load-balancer role", report)
    vip_nlbs = {}
    for lb in (r for t in LOAD_BALANCERS for r in inv.of_type(t)):     # a services VIP's NLB: exactly the VIP's group
        vip = inv.read(lb, lambda r=lb: r.label("role") if is_network_lb(r) else None, "loadBalancerType", default=None)
        if vip in inv.balanced:
            vip_nlbs[lb.urn] = vip
            _carries(inv, lb, ("securityGroups",), {vip}, groups, f"the services VIP {vip}", report)
    frontend = {lb.urn for lb in internet_facing_albs(inv) + maybe_frontend_albs(inv)}
    _vip_listeners_only(inv, vip_nlbs, report)
    _no_other_lb_carries_groups(inv, frontend | set(vip_nlbs), groups, report)
    for lb in (r for t in (*LOAD_BALANCERS, CLASSIC_ELB) for r in inv.of_type(t)):
        internal = inv.read(lb, lambda r=lb: r.get("internal"), "internal", default=...)
        if lb.urn not in frontend and internal is not ... and internal is not True:
            report(f"load balancer '{lb.name}' is internet-facing (internal: {'unset' if internal is None else internal}) "
                   "but is not the lab's frontend (the application load balancer carrying the load-balancer role "
                   "tag): the world reaches the lab only there; set internal: true", lb.urn)
    for type_, what in OUTSIDE_PLAN.items():
        for res in inv.of_type(type_):
            report(f"'{res.name}' is {what}, outside the plan: every machine of the lab is one aws.ec2.Instance per "
                   "planned host, carrying its groups through vpcSecurityGroupIds; remove it", res.urn)


def _vip_listeners_only(inv, vip_nlbs: dict, report: Report) -> None:
    """A services VIP's NLB listens on the VIP's ports only, in TCP, and its target groups serve no other listener
    or rule (another load balancer forwarding there would reach the members' proxies on its own terms)."""
    vip_groups: dict[str, str] = {}
    for urn, name in vip_nlbs.items():
        ports = sorted(l.port for l in inv.plan.vip(name).listeners)
        for listener in inv.listeners_of(inv.by_urn[urn]):
            vip_groups.update({tg: name for tg in listener.deps.get("defaultActions", [])})
            seen = inv.read(listener, lambda l=listener: (l.get("protocol"), l.get("port")), default=None)
            if seen is None:
                continue                                     # not known in preview: judged at update
            protocol, port = seen
            if protocol != "TCP" or port not in ports:
                report(f"listener '{listener.name}' on the services VIP {name}'s load balancer listens on "
                       f"{protocol}/port {shown(port)} (protocol/port): the VIP serves TCP on port "
                       f"{', '.join(map(str, ports))} only; remove it", listener.urn)
    users = [(l, "defaultActions") for t in A_LISTENERS for l in inv.of_type(t)
             if not set(l.deps.get("loadBalancerArn", [])) & set(vip_nlbs)]
    users += [(r, "actions") for t in A_RULES for r in inv.of_type(t)]
    for res, key in users:
        for tg in sorted(set(res.deps.get(key, [])) & set(vip_groups)):
            report(f"'{res.name}' forwards to target group '{inv.by_urn[tg].name}' of the services VIP "
                   f"{vip_groups[tg]} ({key}): only the VIP's own load balancer forwards there; remove it", res.urn)


def _no_other_lb_carries_groups(inv, allowed: set, groups: dict, report: Report) -> None:
    """Only the frontend ALB and the services VIPs' NLBs carry the lab's groups: another load balancer carrying a
    role's group would relay whatever that role is admitted to, wherever that role may send."""
    for lb in (r for t in (*LOAD_BALANCERS, CLASSIC_ELB) for r in inv.of_type(t)):
        if lb.urn in allowed:
            continue
        role = inv.read(lb, lambda r=lb: r.label("role"), default=...)
        kind = inv.read(lb, lambda r=lb: r.get("loadBalancerType"), "loadBalancerType", default=...)
        if ... in (role, kind):
            continue                                         # may be a services VIP's NLB: judged at update
        for role in sorted({groups[u] for u in lb.deps.get("securityGroups", []) if u in groups} - {"*"}):
            report(f"load balancer '{lb.name}' carries sg '{role}' (securityGroups): only the frontend's "
                   "internet-facing ALB and the services VIPs' internal NLBs carry the lab's groups; remove it",
                   lb.urn)


def _carries(inv, res, keys: tuple, want: set, groups: dict, whose: str, report: Report) -> None:
    urns = sorted({u for k in keys for u in res.deps.get(k, []) if u in groups})
    have = {groups[u] for u in urns}
    unknown = sum(1 for u in urns if groups[u] == "*")     # a group whose role is not known in preview: it may be
    field = "/".join(keys)                                 # any one missing role, and nothing else is hidden
    for role in sorted(have - want - {"*"}):
        report(f"'{res.name}' carries sg '{role}' ({field}), beyond what {whose} give it: remove it from {keys[0]}",
               res.urn)
    missing = sorted(want - have)
    if not unknown:
        for role in missing:
            report(f"'{res.name}' lacks sg '{role}' ({field}), which {whose} give it: add it to {keys[0]}", res.urn)
    elif len(missing) > unknown:
        report(f"'{res.name}' lacks {len(missing) - unknown} of sg {', '.join(repr(r) for r in missing)} ({field}), which "
               f"{whose} give it (its {unknown} group(s) whose role is not known yet can stand for no more): add them "
               f"to {keys[0]}", res.urn)
    written = 0
    for key in keys:
        count = inv.read(res, lambda k=key: _count(res.get(k)), key, default=None)
        if count is None:
            return
        written += count
    if written > len(urns):
        report(f"'{res.name}' names {written - len(urns)} security group(s) in {field} by a literal ID that no group "
               f"of the stack explains: reference the lab's groups (their .id) and remove the literal IDs", res.urn)


def _count(value) -> int:
    """How many entries a list property holds (one written without its list counts once)."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        return len(value)
    return 1 if value else 0


# ---- routes and network ACLs --------------------------------------------------------------------------------
def _subnet_zones(inv) -> dict[str, Optional[str]]:
    return {s.urn: inv.read(s, lambda r=s: r.label("zone"), default=None) for s in inv.of_type(A_SUBNET)}


def private_routes(inv, report: Report) -> None:
    """No route table associated with a subnet outside the frontend zone sends anything to the internet gateway (the
    default route, or any part of it: 0.0.0.0/1 and 128.0.0.0/1 are the default route too): those subnets go out
    through the NAT gateway only."""
    zones = _subnet_zones(inv)
    igws = {r.urn for r in inv.of_type(A_IGW)}
    private: dict[str, list[str]] = {}
    for assoc in inv.of_type(A_RTA):
        for table in assoc.deps.get("routeTableId", []):
            for subnet in assoc.deps.get("subnetId", []):
                if zones.get(subnet) not in (None, FRONTEND_ZONE):
                    private.setdefault(table, []).append(inv.by_urn[subnet].name)
    for table in inv.of_type(A_RT):
        if table.urn not in private:
            continue
        for i, route in inv_items(inv, table, "routes"):
            cidr = _first(inv, table, route, (("cidrBlock", f"routes[{i}].cidrBlock"),
                                              ("ipv6CidrBlock", f"routes[{i}].ipv6CidrBlock")))
            gateway = inv.read(table, lambda r=route: r.get("gatewayId") if isinstance(r, Mapping) else None,
                               f"routes[{i}].gatewayId", default=...)     # unknown: the gateway's ID in preview
            to_igw = (gateway is ... or bool(gateway)) and bool(set(table.deps.get("routes", [])) & igws) \
                or str(gateway).startswith("igw-")
            if to_igw:
                _report_route(table, f"routes[{i}]", cidr, private[table.urn], report)
    for route in inv.of_type(A_ROUTE):
        tables = [t for t in route.deps.get("routeTableId", []) if t in private]
        if not tables:
            continue
        cidr = _first(inv, route, route.props, (("destinationCidrBlock", "destinationCidrBlock"),
                                                 ("destinationIpv6CidrBlock", "destinationIpv6CidrBlock")))
        gateway = inv.read(route, lambda: route.get("gatewayId"), "gatewayId", default=None)
        to_igw = bool(set(route.deps.get("gatewayId", [])) & igws) or str(gateway).startswith("igw-")
        if to_igw:
            _report_route(route, "gatewayId", cidr, private[tables[0]], report)


def public_subnets(inv, report: Report) -> None:
    """No subnet outside the frontend zone gives instances a public IP on launch (mapPublicIpOnLaunch)."""
    for subnet in inv.of_type(A_SUBNET):
        zone = inv.read(subnet, lambda s=subnet: s.label("zone"), default=None)
        value = inv.read(subnet, lambda s=subnet: s.get("mapPublicIpOnLaunch"), "mapPublicIpOnLaunch", default=None)
        if zone not in (None, FRONTEND_ZONE) and value is True:
            report(f"subnet '{subnet.name}' (zone {zone}) gives every instance a public IP (mapPublicIpOnLaunch): "
                   "only the frontend zone is public; set map_public_ip_on_launch = False", subnet.urn)


def _report_route(res, where: str, cidr: Optional[str], subnets: list[str], report: Report) -> None:
    report(f"'{res.name}' ({where}) sends {cidr or 'traffic'} to the internet gateway from private subnets "
           f"({', '.join(sorted(subnets))}): only the frontend zone's subnets route to the internet gateway; route "
           "the default through the NAT gateway (natGatewayId)", res.urn)


def _first(inv, res, item, keys) -> Optional[str]:
    for key, path in keys:
        value = inv.read(res, lambda k=key: item.get(k) if isinstance(item, Mapping) else None, path, default=None)
        if value:
            return str(value)
    return None


def inv_items(inv, res, key: str) -> list:
    raw = inv.read(res, lambda: res.get(key), key, default=None)
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        return []
    found = []
    for i in range(len(raw)):
        item = inv.read(res, lambda i=i: raw[i], f"{key}[{i}]", default=...)
        if isinstance(item, Mapping):
            found.append((i, item))
    return found


def network_acls(inv, report: Report) -> None:
    """Network ACL allow entries from the world: see the module's decisions."""
    zones = _subnet_zones(inv)
    covered: dict[str, set] = {}
    for acl in inv.of_type(A_NACL):
        covered.setdefault(acl.urn, set()).update(acl.deps.get("subnetIds", []))
    for acl in inv.of_type(A_DEFAULT_NACL):
        covered.setdefault(acl.urn, set()).update(zones)            # every subnet not associated elsewhere
    for assoc in inv.of_type(A_NACL_ASSOC):
        for acl in assoc.deps.get("networkAclId", []):
            covered.setdefault(acl, set()).update(assoc.deps.get("subnetId", []))
    for acl in inv.of_type(A_NACL) + inv.of_type(A_DEFAULT_NACL):
        for i, entry in inv_items(inv, acl, "ingress"):
            _judge_acl_entry(inv, acl, entry, f"ingress[{i}]", "action", covered.get(acl.urn, set()), zones, report)
    for rule in inv.of_type(A_NACL_RULE):
        egress = inv.read(rule, lambda: rule.get("egress"), "egress", default=...)
        if egress is ... or egress is True:
            continue
        subnets = {s for acl in rule.deps.get("networkAclId", []) for s in covered.get(acl, set())}
        _judge_acl_entry(inv, rule, rule.props, "", "ruleAction", subnets, zones, report)


PRIVATE_RANGES = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
                                                            "100.64.0.0/10", "fc00::/7"))


def _reaches_internet(cidr: str) -> bool:
    """A CIDR holding any public address: the world, or a piece of it (0.0.0.0/1 and 128.0.0.0/1 are the world in
    two entries). One that is no CIDR is judged as the world (and named as written)."""
    try:
        net = ipaddress.ip_network(cidr.strip(), strict=False)
    except ValueError:
        return True
    return not any(net.version == p.version and net.subnet_of(p) for p in PRIVATE_RANGES)


def _judge_acl_entry(inv, res, entry, where: str, action_key: str, subnets: set, zones: dict, report: Report) -> None:
    prefix = f"{where}." if where else ""
    get = lambda key: inv.read(res, lambda: entry.get(key) if isinstance(entry, Mapping) else None,  # noqa: E731
                               f"{prefix}{key}", default=...)
    action, cidr, cidr6 = get(action_key), get("cidrBlock"), get("ipv6CidrBlock")
    proto, start, end = get("protocol"), get("fromPort"), get("toPort")
    if ... in (action, cidr, cidr6, proto, start, end) or str(action).lower() != "allow":
        return
    world = next((str(c) for c in (cidr, cidr6) if c and _reaches_internet(str(c))), None)
    if world is None or not subnets:
        return
    protocol = _protocol(proto)
    try:
        start, end = _num(start), _num(end)
    except (TypeError, ValueError):
        report(f"'{res.name}': {prefix}fromPort/toPort {shown(start)}-{shown(end)} is not a port number; write numbers", res.urn)
        return
    ported = protocol in ("tcp", "udp") and start is not None and end is not None and 0 < start <= end
    ephemeral = ported and start >= EPHEMERAL
    names = sorted(inv.by_urn[s].name for s in subnets if s in inv.by_urn)
    front_only = all(zones.get(s) == FRONTEND_ZONE for s in subnets)
    listener = ported and protocol == "tcp" and start == end and start in LISTENER_PORTS and front_only
    if not (ephemeral or listener):
        span = "all protocols and ports" if protocol == "all" else f"{protocol}/{port_span(start, end, 'all ports')}"
        report(f"network ACL '{res.name}' ({where or 'rule'}) allows {'the world' if world in WORLD else 'public addresses'} ({world}) in on {span} to subnets "
               f"{', '.join(names)}: the world reaches only the frontend subnets on tcp/{', tcp/'.join(map(str, LISTENER_PORTS))}, "
               f"and return traffic on tcp/udp {EPHEMERAL}-65535; narrow or remove the entry", res.urn)
