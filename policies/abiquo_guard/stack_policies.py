"""Stack policies: the whole stack against the documented intent, in both directions.

Each check is a plain function (inventory, config, report) so it runs the same in-process and behind gRPC.
`report(message, urn)` is the SDK's report_violation.
"""
from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from typing import Callable, Optional

from abiquo_lab.contract import ALLOWLIST, FRONTEND_ZONE, HOST, HTTPS_PORT, LIFECYCLE, label, port_span

from .resource_policies import AWS_CHECKS as RESOURCE_CHECKS_AWS
from .aws_checks import attachments, ingress_of, judge_rules, network_acls, private_routes, public_subnets, vip_hops
from .aws_view import (LOAD_BALANCERS, alb_groups, shown, group_roles, ingress_index, internet_facing_albs, is_network_lb,
                       maybe_frontend_albs)
from .inventory import (A_ATTACHMENTS, A_INSTANCE, A_LISTENERS, A_RULES, ALLOW_ENV, ALLOWLIST_CAPABILITIES, D_CONTAINER,
                        D_NETWORK, Inventory, normalize_capability)

Report = Callable[[str, Optional[str]], None]


def _arrow(flow) -> str:
    return f"{flow.id} {flow.src_role} → {flow.dst_role} {flow.protocol}/{flow.ports_text}"


def _covers(port: Optional[int], port_end: Optional[int], flow) -> bool:
    if flow.port is None:
        return port is None
    return port is not None and port <= flow.port and (port_end or port) >= (flow.port_end or flow.port)


def required_flows(inv: Inventory, config: dict) -> list:
    extra = set(config.get("requireRows", []))
    return [f for f in inv.plan.flows if (f.required or f.id in extra) and not f.local and not f.egress and not f.from_outside]


def _members(inv: Inventory, flow) -> list[str]:
    vip = inv.plan.vip(flow.dst)
    return list(vip.members) if vip else [flow.dst]


# ---- required-connections -----------------------------------------------------------------------------------
def required_connections(inv: Inventory, config: dict, report: Report) -> None:
    check = _required_docker if inv.backend == "docker" else _required_aws
    seen: set[tuple] = set()

    def once(message: str, urn: Optional[str]) -> None:     # one report per distinct finding (AWS rules are per role)
        if (message, urn) not in seen:
            seen.add((message, urn))
            report(message, urn)
    for flow in required_flows(inv, config):
        check(inv, flow, once)


def _required_docker(inv: Inventory, flow, report: Report) -> None:
    """Judged on what is known: a container whose identity, networks, ports or allowlist are not known in preview
    is skipped for the flows that need that item (the advisory policy judged-at-update names it)."""
    hosts = inv.docker_hosts
    for member in _members(inv, flow):
        dst = hosts.get(member)
        what = f"{_arrow(flow)} ({flow.src} → {member}) is not allowed"
        if dst is None:
            if inv.identities_known:
                report(f"{what}: no container for host '{member}'; the lab must create it (role {flow.dst_role})", None)
            continue
        if flow.public:
            ports = dst.settings
            if ports.ports_complete and not any(p[1] == flow.port for p in ports.ports):
                report(f"{what}: container '{dst.res.name}' does not publish port {flow.port}; publish it on the frontend", dst.res.urn)
            # published ports arrive on the container's own address (DNAT): a public entry limited to any one
            # destination (the VIP's included) does not carry them
            if dst.allow is not None and not any(_covers(a[2], a[3], flow) and a[5] is None
                                                 for a in dst.allow_by.get((flow.protocol, "any"), ())):
                report(f"{what}: the allowlist of container '{dst.res.name}' does not admit the world on "
                       f"{flow.protocol}/{flow.ports_text} on its own address (published ports arrive there); add the "
                       "plan's public entry, without a destination", dst.res.urn)
            continue
        src = hosts.get(flow.src)
        if src is None:
            if inv.identities_known:
                report(f"{what}: no container for host '{flow.src}' (role {flow.src_role})", None)
            continue
        complete = src.entries_complete and dst.entries_complete      # an unknown entry may be the shared one
        shared = set(src.addresses) & set(dst.addresses)
        if not shared:
            if complete:
                report(f"{what}: containers '{src.res.name}' and '{dst.res.name}' share no network; attach "
                       f"'{src.res.name}' to the network of zone {inv.plan.host(member).zone}", dst.res.urn)
            continue
        if dst.allow is None:
            continue
        sources = {src.addresses[n] for n in shared}
        destination = inv.plan.vip(flow.dst).address if flow.dst_kind == "vip" else None
        admitted = (a for source in (*sources, "any") for a in dst.allow_by.get((flow.protocol, source), ()))
        if not any(_covers(a[2], a[3], flow) and a[5] in (None, destination) for a in admitted) and complete:
            report(f"{what}: the allowlist of container '{dst.res.name}' does not admit {'/'.join(sorted(sources))} on "
                   f"{flow.protocol}/{flow.ports_text}; add the entry the plan gives for {flow.id}", dst.res.urn)


def _vip_balancer(inv: Inventory, flow, report: Report) -> None:
    """A flow to a services VIP on AWS needs an internal NLB carrying the VIP's role tag, listening (TCP) on the flow's
    port and forwarding to every member's proxy address, and the members' group admitting the VIP's group there
    (the NLB -> member hop)."""
    vip = inv.plan.vip(flow.dst)
    hops = ingress_index(inv).get((vip.role, vip.name, "tcp"), [])
    uncertain = getattr(inv, "uncertain_groups", set())
    if not any(_covers(r.port, r.port_end, flow) for r in hops) and not ({"*", vip.role} & uncertain):
        report(f"{_arrow(flow)} is not allowed: sg '{vip.role}' does not admit sg '{vip.name}' on tcp/{flow.ports_text} "
               f"(the load balancer's hop to the members); add an aws.vpc.SecurityGroupIngressRule on sg '{vip.role}' "
               f"referencing sg '{vip.name}'", next((u for u, r in group_roles(inv).items() if r == vip.role), None))
    readings = [(lb, inv.read(lb, lambda r=lb: r.get("loadBalancerType"), "loadBalancerType", default=...),
                 inv.read(lb, lambda r=lb: r.label("role"), default=...)) for t in LOAD_BALANCERS for lb in inv.of_type(t)]
    nlbs = [lb for lb, kind, role in readings if kind == "network" and role == vip.name]
    maybe = any(... in (kind, role) and kind in ("network", ...) and role in (vip.name, ...) for _, kind, role in readings)
    if not nlbs and not maybe:                               # one whose type or tag is not known: judged at update
        report(f"{_arrow(flow)} is not allowed: no network load balancer carries role tag '{vip.name}', the services VIP "
               "on AWS; add the internal NLB the program builds (components/aws_backend.py)", None)
    for nlb in nlbs:
        if inv.read(nlb, lambda r=nlb: r.get("internal"), "internal", default=True) is not True:
            report(f"{_arrow(flow)} via {flow.dst}: load balancer '{nlb.name}' is internet-facing; the services VIP "
                   "is for the lab only: set internal: true", nlb.urn)
        listeners = [l for l in inv.listeners_of(nlb)
                     if inv.read(l, lambda r=l: r.get("protocol") == "TCP" and r.get("port") == flow.port, "port", default=True)]
        if not listeners:
            report(f"{_arrow(flow)} is not allowed: load balancer '{nlb.name}' ({flow.dst}) has no TCP listener on "
                   f"port {flow.port}; add an aws.lb.Listener forwarding it to the members", nlb.urn)
        for listener in listeners:
            _vip_targets(inv, vip, listener, flow, report)


def _vip_targets(inv: Inventory, vip, listener, flow, report: Report) -> None:
    """The listener forwards to the VIP's members only, every one of them: its target group's targets are the
    secondary (proxy) addresses of the instances carrying the VIP's role, one at least on each."""
    groups = set(listener.deps.get("defaultActions", []))
    attached = [a for t in A_ATTACHMENTS for a in inv.of_type(t) if groups & set(a.deps.get("targetGroupArn", []))]
    instances = {r.urn for r in inv.of_type(A_INSTANCE)}
    for a in attached:
        by_id = sorted(inv.by_urn[u].name for u in a.deps.get("targetId", []) if u in instances)
        if by_id:
            report(f"{_arrow(flow)} via {vip.name}: attachment '{a.name}' targets instance {', '.join(by_id)} by its ID "
                   f"(targetId): the VIP forwards to the members' proxy (secondary) addresses, an IP target group",
                   a.urn)
        port = inv.read(a, lambda r=a: r.get("port"), "port", default=...)
        if port is None:                                     # unset: the target group's port
            port = next((inv.read(inv.by_urn[u], lambda u=u: inv.by_urn[u].get("port"), "port", default=None)
                         for u in a.deps.get("targetGroupArn", []) if u in inv.by_urn), None)
        if port is ...:
            port = None                                      # not known in preview: judged at update
        if port is not None and port != flow.port:
            report(f"{_arrow(flow)} via {vip.name}: attachment '{a.name}' forwards listener port {flow.port} to port "
                   f"{shown(port)} (port): the proxy serves each VIP port on the same port; remove port or set it to "
                   f"{flow.port}", a.urn)
    targets = [str(t) for a in attached for t in [inv.read(a, lambda r=a: r.get("targetId"), "targetId", default=None)]
               if t is not None and not any(u in instances for u in a.deps.get("targetId", []))]
    members = {inv.read(m, lambda r=m: r.label("host"), default=None) or m.name:
               {str(a) for a in (inv.read(m, lambda r=m: r.get("secondaryPrivateIps"), "secondaryPrivateIps", default=None) or [])}
               for m in role_hosts(inv).get(vip.role, [])}
    proxies = set().union(*members.values()) if members else set()
    strangers = sorted(t for t in targets if t not in proxies)
    if strangers:
        report(f"{_arrow(flow)} via {vip.name}: listener '{listener.name}' forwards to {', '.join(strangers)}, not a "
               f"{vip.role} member's proxy address; its targets must be the members' secondary addresses", listener.urn)
    if len(targets) < len(attached):
        return                     # a target not known in preview (judged at update) or an instance ID (reported)
    missing = sorted(name for name, mine in members.items() if not mine & set(targets))
    if missing:
        report(f"{_arrow(flow)} via {vip.name}: listener '{listener.name}' does not forward to member(s) "
               f"{', '.join(missing)}; attach each member's proxy address (its secondary address) to the target group",
               listener.urn)


def _required_aws(inv: Inventory, flow, report: Report) -> None:
    """A required flow is allowed when a rule in any form (aws_view) names exactly the destination's group and the
    source's group (or the world, on the frontend's group) and covers the flow's ports; which machine carries which
    group is layout-completeness's (aws_checks.attachments)."""
    if flow.public and not internet_facing_albs(inv) and not maybe_frontend_albs(inv):   # users reach the lab only
        # through the frontend ALB (one whose role, type or scheme is not known yet is judged at update)
        balancers = [lb for t in LOAD_BALANCERS for lb in inv.of_type(t)
                     if inv.read(lb, lambda r=lb: r.label("role"), default=None) in inv.balancers]
        for lb in balancers:
            kind = inv.read(lb, lambda r=lb: r.get("loadBalancerType"), "loadBalancerType", default=None)
            why = (f"is a {kind} load balancer (loadBalancerType), so users cannot reach the lab through it; set "
                   "loadBalancerType: application" if kind not in (None, "application") else
                   "is internal (internal: true), so users cannot reach it; set internal: false")
            report(f"{_arrow(flow)} is not allowed: load balancer '{lb.name}' carries the frontend role but {why}", lb.urn)
        if not balancers:
            report(f"{_arrow(flow)} is not allowed: no internet-facing application load balancer carries the "
                   f"load-balancer role ({', '.join(sorted(inv.balancers))}); the lab's frontend is one", None)
    key = ingress_of(flow, inv.balancers, inv.balanced)
    if key is None:
        return
    if key[0] in inv.balanced:
        _vip_balancer(inv, flow, report)
    dst_role, peer, protocol, *_ = key
    found = [r for r in ingress_index(inv).get((dst_role, peer, protocol), []) if _covers(r.port, r.port_end, flow)]
    if peer == "world":
        found = [r for r in found if r.on_urn in alb_groups(inv)]
    uncertain = getattr(inv, "uncertain_groups", set())     # set by sg_rules (ingress_index reads them)
    if not found and not ({"*", dst_role} & uncertain):
        group_of = {role: urn for urn, role in group_roles(inv).items()}
        source = "the world" if peer == "world" else f"sg '{peer}'"
        report(f"{_arrow(flow)} is not allowed: no ingress rule on sg '{dst_role}' from {source} for "
               f"{protocol}/{flow.ports_text}; add an aws.vpc.SecurityGroupIngressRule on sg '{dst_role}' "
               f"referencing {source} (or the same rule in another form, naming exactly those groups)",
               group_of.get(dst_role))
    for role in {dst_role, peer} - {"world"} - set(inv.balancers) - inv.balanced:
        if not role_hosts(inv).get(role) and not inv._roles_unknown:
            report(f"{_arrow(flow)} is not allowed: nothing in the stack carries role {role}", None)


def role_hosts(inv: Inventory) -> dict[str, list]:
    """role -> the instances that carry it (by their roles tag)."""
    if not hasattr(inv, "_role_hosts"):
        found: dict[str, list] = {}
        inv._roles_unknown = False                            # some instance's roles not known in preview
        for inst in inv.of_type(A_INSTANCE):
            roles = inv.read(inst, lambda r=inst: r.label("roles"), default=...)
            inv._roles_unknown |= roles is ...
            for role in ("" if roles is ... else roles).split():
                found.setdefault(role, []).append(inst)
        inv._role_hosts = found
    return inv._role_hosts


# ---- nothing-beyond-intent ---------------------------------------------------------------------------------
def _exception(config: dict, src_role: str, dst_role: str, protocol: str, port: Optional[int]) -> bool:
    for allowed in config.get("extraAllowedFlows", []):
        if (allowed.get("from") in (src_role, "*") and allowed.get("to") in (dst_role, "*")
                and allowed.get("protocol", "tcp") == protocol and int(allowed.get("port", -1)) == (port or -1)):
            return True
    return False


def nothing_beyond_intent(inv: Inventory, config: dict, report: Report) -> None:
    (_beyond_docker if inv.backend == "docker" else _beyond_aws)(inv, config, report)


def _beyond_docker(inv: Inventory, config: dict, report: Report) -> None:
    """Every container (labelled or not, copies included): each allowlist entry maps to a flow the plan gives its
    host, world entries only for public flows, published ports only for public flows. Sources are named by the
    plan's addresses, so an unknown address elsewhere hides nothing here."""
    address_host = inv.plan_address_host()
    for host in inv.containers:
        name = host.res.name
        for where, problem in host.malformed:
            if where == ALLOWLIST:                 # a published port that is no number: docker-no-datastore-published
                report(f"container '{name}': {problem}; the program writes it from the plan (components/nodes.py)", host.res.urn)
        if host.name is None:
            continue                                # which host it is, is not known in preview
        if inv.plan_host(host.name) is None:
            if host.allow:
                report(f"container '{name}' has no planned host identity (label {HOST} "
                       f"{repr(host.name) + ', not a host of the plan' if host.name else 'missing'}), so none of its "
                       f"{len(host.allow)} allowlist entries ({ALLOWLIST}) maps to a catalog flow: remove the container",
                       host.res.urn)
            continue
        vip_address = {v.address: v.name for v in inv.plan.vips_of(host.name)}
        targets = {host.name, *vip_address.values()}
        inbound = [f for t in targets for f in inv.flows_to(t) if not f.local]
        by_source: dict[tuple, list] = {}   # (source host or "any", protocol, where) -> flows: no scan per entry
        for f in inbound:                   # where: the VIP for a flow to it (public ones arrive on the host itself)
            where = f.dst if f.dst_kind == "vip" and not f.public else host.name
            by_source.setdefault(("any" if f.public else f.src, f.protocol, where), []).append(f)
        own_role = inv.plan_host(host.name).roles[0]
        public = {(f.protocol, f.port) for f in inbound if f.public}
        public_ports = sorted({f.port for f in inbound if f.public and f.port is not None})
        for proto, source, port, port_end, ids, destination in host.allow or []:
            src_name = "@user" if source == "any" else address_host.get(source, source)
            # an entry without a destination admits the host's own address: only flows to the host itself justify it
            where = vip_address.get(destination, f"unknown address {destination}") if destination else host.name
            candidates = by_source.get(("any" if source == "any" else src_name, proto, where), [])
            ok = any((port is None and f.port is None) or (port is not None and f.port is not None and f.port <= port
                     and (port_end or port) <= (f.port_end or f.port)) for f in candidates)
            src_host = inv.plan_host(src_name)
            src_role = "world" if source == "any" else (src_host.roles[0] if src_host else "?")
            if not ok and not _exception(config, src_role, own_role, proto, port):
                report(f"allowlist entry {proto}/{port_span(port, port_end)} from {source} ({src_name}) on container '{name}' maps to "
                       f"no catalog flow (claimed: {ids or '-'}); remove it or allow it in the pack config "
                       f"(nothing-beyond-intent.extraAllowedFlows)", host.res.urn)
            if source == "any" and not (port is not None and (proto, port) in public):
                report(f"container '{name}' admits the world on {proto}/{port_span(port, port_end)}: world ingress "
                       f"is only for the documented public flows to this host "
                       f"({', '.join(map(str, public_ports)) or 'none'})", host.res.urn)
        for where, internal, _, _ in host.settings.ports:
            if not any(f.public and f.port == internal for f in inbound):
                report(f"container '{name}' publishes port {internal} ({where}), which no documented public flow "
                       f"needs; remove the published port", host.res.urn)


def _beyond_aws(inv: Inventory, config: dict, report: Report) -> None:
    """Every security-group rule in every form maps to a plan flow (or the bootstrap egress); nothing routes a
    private subnet to the internet gateway or lets the world through a network ACL (aws_checks)."""
    judge_rules(inv, config, report, _exception)
    _http_listener_rules(inv, report)
    private_routes(inv, report)
    public_subnets(inv, report)
    network_acls(inv, report)


# ---- layout-completeness ------------------------------------------------------------------------------------
def layout_completeness(inv: Inventory, config: dict, report: Report) -> None:
    """Each container (Docker) or instance (AWS) is a host of the plan with the plan's roles and site, and no two
    claim the same host; together they carry every (role, datacenter, region) the plan places and no more; the
    catalog's constraints hold for the nodes counted in the stack; every planned proxy route exists, and no other.
    Docker: each container is on exactly its planned networks with its planned addresses, enforces the allowlist
    its label shows (env LAB_ALLOW), adds no capability beyond its roles' runtime; each network is internal as
    planned. Counts a machine whose roles are not known in preview could change are left to update.
    First of all, the intent: exactly one abiquo:lab:Lab component whose spec plans (else nothing else is judged)."""
    for message, urn in inv.intent_problems:
        report(message, urn)
    if inv.plan is None:
        return
    lab = inv.lab.urn
    _hosts_are_planned(inv, report)
    present, complete = _present(inv)
    planned: dict[tuple, list[str]] = {}
    for host in inv.plan.hosts:
        for role in host.roles:
            if role not in inv.balancers:                     # on AWS the ALB stands for those hosts
                planned.setdefault((role, host.datacenter or "", host.region or ""), []).append(host.name)
    for key in sorted(set(planned) | set(present)):
        want, have = planned.get(key, []), present.get(key, [])
        role, where = key[0], _where(*key[1:])
        if len(have) < len(want) and complete:
            report(f"{where} has {'no' if not have else len(have)} {role} host{'s' if len(have) > 1 else ''}"
                   f"{' (' + ', '.join(have) + ')' if have else ''}; the plan places {role} on {', '.join(want)}", lab)
        elif len(have) > len(want):
            report(f"{where} has {len(have)} resources carrying role {role} ({', '.join(have)}); the plan places "
                   f"{len(want)}{' (' + ', '.join(want) + ')' if want else ''}: change the stack's lab settings, not "
                   "the resources", lab)
    if complete:
        _constraints_on_present(inv, present, report)
    _routes_present(inv, report)
    if inv.backend == "docker":
        _docker_nodes(inv, report)
    else:
        attachments(inv, report)


layout_completeness.without_plan = True         # it says why there is none


def _machines(inv: Inventory) -> list:
    return inv.of_type(D_CONTAINER if inv.backend == "docker" else A_INSTANCE)


def _hosts_are_planned(inv: Inventory, report: Report) -> None:
    """Every container or instance names a host of the plan (label/tag host), no other machine names the same
    one, and it carries that host's roles and site; on AWS the load-balancer roles are the ALB, never an instance."""
    claimed: dict[str, list] = {}
    for res in _machines(inv):
        seen = inv.read(res, lambda r=res: (r.label("host"), r.label("roles").split(), r.label("datacenter"),
                                            r.label("region")))
        if seen is None:
            continue                                          # noted: judged at update
        name = seen[0]
        host = inv.plan_host(name)
        if host is None or host.primary in inv.balancers:
            what = "no host label" if not name else f"host label {name!r}, which is not a host of the plan" + (
                " (the ALB stands for it)" if host is not None else "")
            report(f"'{res.name}' has {what}: every machine of the lab is one of the plan's hosts "
                   f"({', '.join(h.name for h in inv.plan.hosts if h.primary not in inv.balancers)})", res.urn)
            continue
        claimed.setdefault(name, []).append(res)
        wanted = (host.roles, host.datacenter or "", host.region or "")
        if tuple(seen[1:]) != wanted:
            report(f"'{res.name}' is host {name} with roles {' '.join(seen[1]) or '-'}, datacenter {seen[2] or '-'}, region "
                   f"{seen[3] or '-'}; the plan gives it roles {' '.join(wanted[0])}, datacenter {wanted[1] or '-'}, region "
                   f"{wanted[2] or '-'}", res.urn)
    for name, machines in claimed.items():
        for twin in machines[1:]:
            report(f"'{twin.name}' and '{machines[0].name}' both carry host label {HOST} = {name!r}: each planned host is "
                   f"one machine; remove '{twin.name}' or give it a host of its own through the lab settings", twin.urn)


def _where(datacenter: str, region: str) -> str:
    return f"datacenter '{datacenter}'" if datacenter else f"region '{region}'" if region else "the lab"


def _present(inv: Inventory) -> tuple[dict[tuple, list[str]], bool]:
    """(role, datacenter, region) -> names of the resources carrying it, by their labels/tags: every container or
    instance counts, so a second one claiming a planned host's name is one too many, not a duplicate overlooked.
    Also whether every machine's roles and site were known (else the counts are only lower bounds)."""
    found: dict[tuple, list[str]] = {}
    complete = True
    for res in _machines(inv):
        seen = inv.read(res, lambda r=res: (r.label("roles").split(), r.label("datacenter"), r.label("region")))
        if seen is None:
            complete = False
            continue
        for role in seen[0]:
            found.setdefault((role, seen[1], seen[2]), []).append(res.name)
    return found, complete


def _constraints_on_present(inv: Inventory, present: dict[tuple, list[str]], report: Report) -> None:
    """The catalog's constraints (e.g. more than one API needs ZooKeeper) with the node counts the resources show."""
    from abiquo_lab.catalog import default_catalog
    catalog = default_catalog()
    facts = dict(inv.checked.facts)
    for kind, role in catalog.node_roles().items():
        if role not in inv.balancers:
            count = sum(len(names) for (r, _, _), names in present.items() if r == role)
            facts[f"{kind}_nodes"], facts[f"{kind}_cluster"] = count, count > 1
    for field_name, message in catalog.broken_constraints(facts):
        report(f"lab.{field_name}: {message} (counted from the stack's resources)", inv.lab.urn)


def _routes_present(inv: Inventory, report: Report) -> None:
    """Every proxy route of the plan, and no other: on Docker the proxying container's routes label (path, port and
    target addresses), on AWS the ALB's HTTPS listener (default action: forward) and its forwarding path rules."""
    if inv.backend == "docker":
        _docker_routes(inv, report)
    else:
        _alb_routes(inv, report)


def _route_key(row) -> tuple:
    path, port, targets, *timeout = row
    if len(timeout) > 1:
        raise ValueError(row)
    return path, int(port), tuple(sorted(tuple(t) for t in targets)), int(timeout[0]) if timeout else None


def _docker_routes(inv: Inventory, report: Report) -> None:
    hosts = inv.docker_hosts
    for host in inv.containers:
        for where, problem in host.malformed:
            if where == label("routes") or where.startswith("networksAdvanced"):
                report(f"container '{host.res.name}': {problem}; the program writes it from the plan", host.res.urn)
    for host in inv.plan.hosts:
        container = hosts.get(host.name)
        if container is None or container.routes is None:
            continue                                          # a missing host is reported above; unknown: at update
        try:
            have = {_route_key(row) for row in container.routes}
        except (TypeError, ValueError):
            report(f"container '{container.res.name}': its routes (label {label('routes')}) are not "
                   "[path, port, [[target, address], ...]]; the program writes them from the plan", container.res.urn)
            continue
        want = {_route_key(row) for row in inv.plan.route_rows(host.name)}
        for path, port, targets, timeout in sorted(want - have, key=str):
            report(f"no route {path} on '{host.name}' to {', '.join(f'{t} ({a})' for t, a in targets)} port {port}"
                   f"{f' with a {timeout} s timeout' if timeout else ''}; the host must proxy {path} there (catalog: "
                   "frontend_path, proxy_timeout)", container.res.urn)
        for path, port, targets, timeout in sorted(have - want, key=str):
            report(f"route {path} on '{host.name}' to {', '.join(f'{t} ({a})' for t, a in targets)} port {port}"
                   f"{f' with a {timeout} s timeout' if timeout else ''} is not in the plan; remove it", container.res.urn)


# ---- layout-completeness, Docker: what each node is and enforces ---------------------------------------------
def _docker_nodes(inv: Inventory, report: Report) -> None:
    zones = {z.name: z for z in inv.plan.zones}
    net_of_zone = {n.zone: n for n in inv.networks.values() if n.zone}
    for host in inv.containers:
        _docker_membership(inv, host, zones, net_of_zone, report)
        _docker_enforced_allowlist(host, report)
        _docker_capabilities(inv, host, report)
        _docker_vips(inv, host, zones, report)
    for net in inv.networks.values():
        for _, problem in net.malformed:
            report(f"network '{net.name or net.res.name}': {problem}; the program writes the zone's CIDR from the plan",
                   net.res.urn)
        zone = zones.get(net.zone)
        if zone is None or net.internal is None:
            continue                          # not a zone network (containers on it are reported); unknown: at update
        internal = zone.zone != FRONTEND_ZONE                 # as components/docker_backend.py plans it
        if net.internal != internal and internal:
            report(f"network '{net.name}' (zone {zone.name}) is not internal (property internal): only the frontend "
                   "network reaches the Docker host's published ports; this one would give its containers a route to "
                   "the host and the internet; set internal = True", net.res.urn)
        elif net.internal != internal:
            flows = sorted({f.id for f in inv.plan.flows if f.public})
            report(f"network '{net.name}' (zone {zone.name}) is internal (property internal): the frontend network is "
                   f"the one the host's published ports reach, so every public flow ({', '.join(flows) or 'none'}) "
                   "breaks; set internal = False", net.res.urn)


def _docker_membership(inv: Inventory, host, zones: dict, net_of_zone: dict, report: Report) -> None:
    """The container's networks equal its planned host's interfaces (zone network -> address); a container
    without a planned host identity belongs on no lab network."""
    res = host.res
    if host.name is None:
        return                                                # which host it is, is not known in preview
    planned_host = inv.plan_host(host.name)
    planned = dict(planned_host.interfaces) if planned_host else {}
    who = f"container '{res.name}'" + (f" (host {host.name})" if planned_host else "")
    seen: dict[str, object] = {}
    stray: list[str] = []
    for entry in host.entries:
        where = f"networksAdvanced[{entry.index}]"
        net = inv.networks.get(entry.network.urn) if entry.network else None
        if net is None:
            report(f"{who} joins network {entry.name!r} ({where}), which is not one of the lab's networks: a container "
                   "joins only its planned zone networks; remove that entry", res.urn)
            continue
        if net.zone is None:
            continue                                          # the network's zone is not known in preview
        if net.zone not in zones:
            report(f"{who} joins network '{net.name}' ({where}), which is not a zone network of the plan (zone label "
                   f"{net.zone or 'missing'}); remove that entry", res.urn)
            continue
        if net.zone in seen:
            report(f"{who} joins network '{net.name}' twice ({where}); remove the second entry", res.urn)
            continue
        seen[net.zone] = entry
        if net.zone not in planned:
            if planned_host:
                report(f"{who} is on network '{net.name}' (zone {net.zone}, {where}), which the plan does not give host "
                       f"{host.name} (its networks: {', '.join(planned)}); remove that entry", res.urn)
            else:
                stray.append(f"'{net.name}' ({where})")
            continue
        if entry.address != planned[net.zone]:
            report(f"{who} is on network '{net.name}' with {where}.ipv4Address "
                   f"{entry.address or 'unset (Docker picks one)'}; the plan gives host {host.name} {planned[net.zone]} "
                   f"there: set ipv4Address = {planned[net.zone]}", res.urn)
    if stray:
        identity = f"label {HOST} " + (f"= {host.name!r}, not a host of the plan" if host.name else "missing")
        report(f"container '{res.name}' is on lab network{'s' if len(stray) > 1 else ''} {', '.join(stray)} without a "
               f"planned host identity ({identity}): nothing the plan says admits it there; remove the container or "
               "those networksAdvanced entries", res.urn)
    if not host.entries_complete:
        return                                                # an unknown entry may be the missing one
    for zone, address in planned.items():
        if zone not in seen:
            net = net_of_zone.get(zone)
            report(f"{who} is not on the network of zone {zone} (networksAdvanced); the plan gives host {host.name} "
                   f"address {address} there: add {{name: {net.name if net else inv.plan.lab + '-' + zone!r}, "
                   f"ipv4Address: {address!r}}}", res.urn)


VIP_ENVS = ("LAB_VIPS", "LAB_VIP_PROXY")        # what the node's VIP holder and proxy read (components/nodes.py)


def planned_vip_env(inv: Inventory, host_name: str, zones: dict) -> dict[str, Counter]:
    """What the plan says the host's VIP holder and proxy must be told, as comparable rows: LAB_VIPS [name,
    address, prefix length, router id, members] and LAB_VIP_PROXY [address, port, backend port, check, members],
    members [[host, address on the VIP's zone]] (a test holds this equal to components.nodes.cluster_env)."""
    vips, proxy = [], []
    for vip in inv.plan.vips_of(host_name):
        members = [[m, inv.plan.host(m).interfaces.get(vip.zone, inv.plan.host(m).address)] for m in vip.members]
        prefix = int(zones[vip.zone].cidr.rpartition("/")[2]) if vip.zone in zones else 32
        vips.append([vip.name, vip.address, prefix, vip.router_id, members])
        proxy += [[vip.address, lst.port, lst.backend_port, lst.check, members] for lst in vip.listeners]
    return {"LAB_VIPS": _vip_rows(vips), "LAB_VIP_PROXY": _vip_rows(proxy)}


def _vip_rows(rows) -> Optional[Counter]:
    """Rows as comparable text (member lists in any order; numbers as integers)."""
    if not isinstance(rows, list) or not all(isinstance(r, list) and r and isinstance(r[-1], list) for r in rows):
        return None
    try:
        return Counter(json.dumps([*(int(x) if isinstance(x, float) else x for x in r[:-1]),
                                   sorted(map(tuple, r[-1]))], sort_keys=True) for r in rows)
    except TypeError:
        return None


def _docker_vips(inv: Inventory, host, zones: dict, report: Report) -> None:
    """The VIPs the node may hold and proxy (envs LAB_VIPS, LAB_VIP_PROXY) are the plan's for its host, and its
    hosts file (input hosts) maps each VIP name of the plan to its one address and names nothing else."""
    planned = inv.plan_host(host.name) if host.name else None
    if planned is None:
        return                                                # unknown identity, or reported as outside the plan
    res = host.res
    want = planned_vip_env(inv, host.name, zones)
    for key in VIP_ENVS:
        values = inv.env_values(res, key)
        if values is None:
            continue                                          # not known in preview: at update
        if len(values) > 1:
            report(f"container '{res.name}' sets {key} {len(values)} times in envs (Docker keeps the last): set it "
                   "once, from the plan", res.urn)
        try:
            have = _vip_rows(json.loads(values[-1])) if values else Counter()
        except ValueError:
            have = None
        if have is None:
            report(f"container '{res.name}': envs {key} is not a JSON list of rows [..., [[member, address], ...]], so "
                   "its node cannot apply it; write it from the plan (components/nodes.py cluster_env)", res.urn)
        elif have != want[key]:
            extra, missing = sorted((have - want[key]).elements()), sorted((want[key] - have).elements())
            report(f"container '{res.name}' (host {host.name}): envs {key} differs from the plan -- only in the "
                   f"container: {_some(extra)}; only in the plan: {_some(missing)}; write it from the plan "
                   "(components/nodes.py cluster_env)", res.urn)
    entries = inv.host_entries(res)
    if entries is None:
        return
    vips = {v.name: v.address for v in inv.plan.vips}
    seen: dict[str, int] = {}
    for where, name, ip in entries:
        if ... in (name, ip):
            continue
        if name in vips and ip == vips[name]:
            seen[name] = seen.get(name, 0) + 1
            if seen[name] > 1:
                report(f"container '{res.name}' maps {name} twice in its hosts file ({where}); keep one entry", res.urn)
            continue
        planned_address = f"; the plan gives it {vips[name]}" if name in vips else ""
        report(f"container '{res.name}' maps {name!r} to {ip!r} in its hosts file ({where}){planned_address}: the "
               "hosts file holds each VIP name of the plan with its one address and nothing else; remove or correct "
               "the entry", res.urn)
    for name in sorted(set(vips) - set(seen)):
        report(f"container '{res.name}' lacks the hosts entry {name} -> {vips[name]} (hosts): clients resolve the VIP "
               f"by name; add {{host: {name!r}, ip: {vips[name]!r}}}", res.urn)


def _rows(text) -> Optional[Counter]:
    try:
        rows = json.loads(text)
    except (TypeError, ValueError):
        return None
    return Counter(json.dumps(row, sort_keys=True) for row in rows) if isinstance(rows, list) else None


def _docker_enforced_allowlist(host, report: Report) -> None:
    """What the node enforces (env LAB_ALLOW, read by its entrypoint) is what the pack judges (the label)."""
    res = host.res
    if host.env_allow is None or host.allow_text is None:
        return                                                # not known in preview: at update
    label_rows = _rows(host.allow_text or "[]")
    if not host.env_allow:
        report(f"container '{res.name}' has no {ALLOW_ENV} in envs: its node enforces an empty allowlist while its label "
               f"{ALLOWLIST} (which the pack judges) shows {sum(label_rows.values()) if label_rows else '?'} entries; set "
               f"envs {ALLOW_ENV}=<the label's rows> (components/nodes.py node_env)", res.urn)
        return
    if len(host.env_allow) > 1:
        report(f"container '{res.name}' sets {ALLOW_ENV} {len(host.env_allow)} times in envs (Docker keeps the last): "
               f"set it once, equal to its label {ALLOWLIST}", res.urn)
    env_rows = _rows(host.env_allow[-1])
    if env_rows is None:
        report(f"container '{res.name}': envs {ALLOW_ENV} is not a JSON list of allowlist rows, so the node cannot "
               f"apply it; set it to its label {ALLOWLIST}'s rows", res.urn)
    elif label_rows is not None and env_rows != label_rows:
        only_env, only_label = sorted((env_rows - label_rows).elements()), sorted((label_rows - env_rows).elements())
        report(f"container '{res.name}': the allowlist its node enforces (envs {ALLOW_ENV}) differs from its label "
               f"{ALLOWLIST}, which the pack judges -- only in {ALLOW_ENV}: {_some(only_env)}; only in the label: "
               f"{_some(only_label)}; write both from the plan (components/nodes.py)", res.urn)


def _some(rows: list[str]) -> str:
    return "; ".join(rows[:3]) + (f"; ... ({len(rows)})" if len(rows) > 3 else "") if rows else "none"


def _docker_capabilities(inv: Inventory, host, report: Report) -> None:
    """capabilities.adds within NET_ADMIN (the allowlist) and what the host's roles' runtime declares. A container
    whose identity is not known is held to what any host of the plan may add."""
    planned_host = inv.plan_host(host.name) if host.name is not None else None
    declared = ([c for h in inv.plan.hosts for c in h.runtime.capabilities] if host.name is None
                else planned_host.runtime.capabilities if planned_host else [])
    allowed = set(ALLOWLIST_CAPABILITIES) | {normalize_capability(c) for c in declared}
    extra = [(where, cap) for where, cap in host.settings.capabilities if cap not in allowed]
    if extra:
        whose = (f"host {host.name}'s roles ({' '.join(planned_host.roles)}) declare" if planned_host
                 else "any host of the plan may add" if host.name is None else "a container outside the plan may add")
        report(f"container '{host.res.name}' adds {', '.join(c for _, c in extra)} "
               f"({', '.join(w for w, _ in extra)}) beyond what {whose}: {', '.join(sorted(allowed))}; remove "
               f"{'them' if len(extra) > 1 else 'it'} from capabilities.adds, or declare it on the role in the catalog "
               "(roles[].capabilities)", host.res.urn)


def _alb_routes(inv: Inventory, report: Report) -> None:
    """The internet-facing ALB's HTTPS listener forwards / and each planned path (read per item: an unknown value
    is noted, and the routes it could hold are judged at update)."""
    lab = inv.lab.urn
    paths = {route.path: route.role for host in inv.plan.hosts if host.primary in inv.balancers for route in host.routes}
    if not paths:
        return
    albs = {lb.urn for lb in internet_facing_albs(inv) + maybe_frontend_albs(inv)}
    https, unknown = [], bool(maybe_frontend_albs(inv))
    for listener in (l for t in A_LISTENERS for l in inv.of_type(t)):
        seen = inv.read(listener, lambda l=listener: (l.get("port"), l.get("protocol")), default=None)
        if seen is None:
            unknown = True
        elif seen[0] == HTTPS_PORT and seen[1] == "HTTPS" and set(listener.deps.get("loadBalancerArn", [])) & albs:
            https.append(listener)
    if not https:
        if not unknown:
            report(f"no HTTPS listener on port {HTTPS_PORT} on the internet-facing load balancer; the plan routes "
                   f"{', '.join(sorted(paths))} through it", lab)
        return
    https_urns = {l.urn for l in https}
    forwarded: set = set()                                   # paths some forwarding rule serves (read once each)
    for rule in (r for t in A_RULES for r in inv.of_type(t)):
        forwarded |= inv.read(rule, lambda r=rule: _forwarded_paths(r, https_urns), default={...})
    root = any(inv.read(l, lambda l=l: _forwards(l.get("defaultActions", [])), default=True) for l in https)
    for path, role in sorted(paths.items()):
        ok = root if path == "/" else (path in forwarded or ... in forwarded)
        if not ok:
            report(f"no load balancer route {path} for the {role} nodes: the HTTPS listener must forward {path} to "
                   f"the {role} target group (catalog: role {role}, frontend_path)", lab)


def _http_listener_rules(inv: Inventory, report: Report) -> None:
    """A plain HTTP listener only redirects (the resource policy judges its default action): a listener rule
    on it that forwards would serve those paths over plain HTTP."""
    http = {l.urn for t in A_LISTENERS for l in inv.of_type(t)
            if inv.read(l, lambda r=l: str(r.get("protocol", "")).upper() == "HTTP", "protocol", default=False)}
    for rule in (r for t in A_RULES for r in inv.of_type(t)):
        if set(rule.deps.get("listenerArn", [])) & http and inv.read(rule, lambda r=rule: _forwards(r.get("actions", [])),
                                                                      "actions", default=False):
            report(f"listener rule '{rule.name}' forwards on a plain HTTP listener (listenerArn, actions): those paths "
                   "are served without TLS; put the rule on the HTTPS listener", rule.urn)


def _forwarded_paths(rule, listeners: set) -> set:
    """The path patterns a listener rule forwards on the HTTPS listener (none when it is on another or redirects)."""
    if not (set(rule.deps.get("listenerArn", [])) & listeners) or not _forwards(rule.get("actions", [])):
        return set()
    return {v for c in rule.get("conditions", []) or [] if isinstance(c, Mapping)
            for v in ((c.get("pathPattern") or {}).get("values") or []) if isinstance(v, str)}


def _forwards(actions) -> bool:
    return any(isinstance(a, Mapping) and a.get("type") == "forward" for a in actions or [])


# ---- lifecycle-labels ---------------------------------------------------------------------------------------
TAGGABLE_DOCKER = {D_NETWORK, D_CONTAINER, "docker:index/volume:Volume"}
TAGGABLE_AWS_PREFIXES = ("aws:ec2/vpc:", "aws:ec2/subnet:", "aws:ec2/internetGateway:", "aws:ec2/natGateway:", "aws:ec2/eip:",
                         "aws:ec2/routeTable:", "aws:ec2/securityGroup:", "aws:vpc/securityGroup", "aws:ec2/instance:",
                         "aws:lb/loadBalancer:", "aws:lb/targetGroup:", "aws:lb/listener:", "aws:lb/listenerRule:",
                         "aws:iam/role:", "aws:iam/instanceProfile:")


def _taggable(res) -> bool:
    return res.type in TAGGABLE_DOCKER or res.type.startswith(TAGGABLE_AWS_PREFIXES)


def lifecycle_labels(inv: Inventory, config: dict, report: Report) -> None:
    for res in inv.resources:
        if not _taggable(res):
            continue
        unknown = _unknown_lifecycle(res)
        missing = [key for key in LIFECYCLE if key not in unknown and not res.labels.get(key)]
        if missing:
            kind = "labels" if res.type.startswith("docker:") else "tags"
            report(f"'{res.name}' ({res.type.split(':')[-1]}) lacks the lifecycle {kind} "
                   f"{', '.join(missing)}; the reaper cannot find it", res.urn)


def _unknown_lifecycle(res) -> list[str]:
    """The lifecycle keys whose value is not known in preview."""
    unknown = res.unknown_labels()
    return [key for key in LIFECYCLE if key in unknown or ("*" in unknown and key not in res.labels)] if unknown else []


# ---- judged-at-update (advisory) -----------------------------------------------------------------------------
def judged_at_update(inv: Inventory, config: dict, report: Report) -> None:
    """Each item a policy could not judge in preview because its value is not known yet: the resource and the
    property (everything known was judged, and is mandatory)."""
    if inv.plan is not None:
        inv.containers, inv.networks                          # every Docker read the policies make, noted per item
        for host in inv.containers if inv.backend == "docker" else ():
            inv.host_entries(host.res)
            for key in VIP_ENVS:
                inv.env_values(host.res, key)
        if inv.backend == "aws":                              # every AWS read the stack policies make, noted per item
            quiet = lambda message, urn=None: None            # noqa: E731
            for check in (required_connections, nothing_beyond_intent, layout_completeness):
                check(inv, {}, quiet)
        for res in inv.resources:                             # the resource policies' reads (AWS hardening)
            if res.type.startswith("aws:"):
                for _, policy in RESOURCE_CHECKS_AWS:
                    policy(res.type, res.props, res.name, lambda message, urn=None: None,
                           unknown=lambda path, r=res: inv.unknown(r, path))
        for res in inv.resources:
            if _taggable(res):
                for key in _unknown_lifecycle(res):
                    inv.unknown(res, f"{'labels' if res.type.startswith('docker:') else 'tags'}.{key}")
    seen = set()
    for res, path in inv.unknowns:
        if (res.urn, path) not in seen:
            seen.add((res.urn, path))
            report(f"'{res.name}' ({res.type.split(':')[-1]}): {path} is not known in preview, so what depends on it "
                   "is judged at update (pulumi up); make it a plain value to have it judged in preview", res.urn)


judged_at_update.without_plan = True
