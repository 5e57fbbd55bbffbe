"""Stack policies: the whole stack against the documented intent, in both directions.

Each check is a plain function (inventory, config, report) so it runs the same in-process and behind gRPC.
`report(message, urn)` is the SDK's report_violation.
"""
from __future__ import annotations

from typing import Callable, Optional

from abiquo_lab.contract import FRONTEND_PORTS, HTTPS_PORT, LIFECYCLE, port_span

from .inventory import A_ALB, A_EGRESS, A_INSTANCE, A_LISTENER, A_RULE, D_CONTAINER, D_NETWORK, Inventory

Report = Callable[[str, Optional[str]], None]
LISTENER_PORTS = tuple(FRONTEND_PORTS)


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
    hosts = inv.docker_hosts
    for member in _members(inv, flow):
        dst = hosts.get(member)
        what = f"{_arrow(flow)} ({flow.src} → {member}) is not allowed"
        if dst is None:
            report(f"{what}: no container for host '{member}'; the lab must create it (role {flow.dst_role})", None)
            continue
        if flow.public:
            published = [p for p in dst.res.get("ports", []) if int(p.get("internal", 0)) == flow.port]
            if not published:
                report(f"{what}: container '{dst.res.name}' does not publish port {flow.port}; publish it on the frontend", dst.res.urn)
            if not any(a[0] == flow.protocol and a[1] == "any" and _covers(a[2], a[3], flow) for a in dst.allow):
                report(f"{what}: the allowlist of container '{dst.res.name}' does not admit the world on "
                       f"{flow.protocol}/{flow.ports_text}; add the plan's public entry", dst.res.urn)
            continue
        src = hosts.get(flow.src)
        if src is None:
            report(f"{what}: no container for host '{flow.src}' (role {flow.src_role})", None)
            continue
        shared = set(src.addresses) & set(dst.addresses)
        if not shared:
            report(f"{what}: containers '{src.res.name}' and '{dst.res.name}' share no network; attach "
                   f"'{src.res.name}' to the network of zone {inv.plan.host(member).zone}", dst.res.urn)
            continue
        sources = {src.addresses[n] for n in shared}
        destination = inv.plan.vip(flow.dst).address if flow.dst_kind == "vip" else None
        if not any(a[0] == flow.protocol and (a[1] in sources or a[1] == "any") and _covers(a[2], a[3], flow)
                   and a[5] in (None, destination) for a in dst.allow):
            report(f"{what}: the allowlist of container '{dst.res.name}' does not admit {'/'.join(sorted(sources))} on "
                   f"{flow.protocol}/{flow.ports_text}; add the entry the plan gives for {flow.id}", dst.res.urn)


def aws_rule_of(flow, balancers: set[str]) -> Optional[tuple]:
    """(group role, peer role or 'world', protocol, port, port_end) that must admit the flow on AWS; None if none
    (same host, leaving the lab, or between the hosts the ALB stands for)."""
    if flow.local or flow.egress or flow.from_outside or (flow.src_role == flow.dst_role and flow.src_role in balancers):
        return None
    return (flow.dst_role, "world" if flow.public else flow.src_role, flow.protocol, flow.port, flow.port_end or flow.port)


def _required_aws(inv: Inventory, flow, report: Report) -> None:
    key = aws_rule_of(flow, inv.balancers)
    if key is None:
        return
    group_of = {role: urn for urn, role in inv.groups().items()}
    dst_role, peer, protocol, *_ = key
    found = [r for r in inv.ingress_index().get((dst_role, peer, protocol), []) if _covers(r["port"], r["port_end"], flow)]
    if not found:
        source = "the world" if peer == "world" else f"sg '{peer}'"
        report(f"{_arrow(flow)} is not allowed: no ingress rule on sg '{dst_role}' from {source} for "
               f"{protocol}/{flow.ports_text}; add an aws.vpc.SecurityGroupIngressRule on sg '{dst_role}' "
               f"referencing {source}", group_of.get(dst_role))
        return
    carriers = inv.role_hosts()
    for role in {dst_role, peer} - {"world"}:
        urn = group_of.get(role)
        for res in carriers.get(role, []):
            attached = res.deps.get("vpcSecurityGroupIds", []) + res.deps.get("securityGroups", [])
            if urn not in attached:
                report(f"{_arrow(flow)} is not allowed: sg '{role}' is not attached to '{res.name}', which carries "
                       f"role {role}; add it to its security groups", res.urn)
        if not carriers.get(role):
            report(f"{_arrow(flow)} is not allowed: nothing in the stack carries role {role}", None)


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
    hosts = inv.docker_hosts
    address_host = {addr: h.name for h in hosts.values() for addr in h.addresses.values()}
    for host in hosts.values():
        vip_address = {v.address: v.name for v in inv.plan.vips_of(host.name)}
        targets = {host.name, *vip_address.values()}
        inbound = [f for t in targets for f in inv.flows_to(t) if not f.local]
        by_source: dict[tuple, list] = {}   # (source host or "any", protocol, where) -> flows: no scan per entry
        for f in inbound:                   # where: the VIP for a flow to it (public ones arrive on the host itself)
            where = f.dst if f.dst_kind == "vip" and not f.public else host.name
            by_source.setdefault(("any" if f.public else f.src, f.protocol, where), []).append(f)
        for proto, source, port, port_end, ids, destination in host.allow:
            src_name = "@user" if source == "any" else address_host.get(source, source)
            # an entry without a destination admits the host's own address: only flows to the host itself justify it
            where = vip_address.get(destination, f"unknown address {destination}") if destination else host.name
            candidates = by_source.get(("any" if source == "any" else src_name, proto, where), [])
            ok = any(port is None or f.port is not None and f.port <= port and (port_end or port) <= (f.port_end or f.port)
                     for f in candidates)
            src_roles = hosts[src_name].roles if src_name in hosts else []
            src_role = "world" if source == "any" else (src_roles[0] if src_roles else "?")
            if not ok and not _exception(config, src_role, host.roles[0] if host.roles else "?", proto, port):
                report(f"allowlist entry {proto}/{port_span(port, port_end)} from {source} ({src_name}) on container '{host.res.name}' maps to "
                       f"no catalog flow (claimed: {ids or '-'}); remove it or allow it in the pack config "
                       f"(nothing-beyond-intent.extraAllowedFlows)", host.res.urn)
            public_ports = sorted({f.port for f in inbound if f.public and f.port is not None})
            if source == "any" and not (port is not None and (proto, port) in {(f.protocol, f.port) for f in inbound if f.public}):
                report(f"container '{host.res.name}' admits the world on {proto}/{port_span(port, port_end)}: world ingress "
                       f"is only for the documented public flows to this host "
                       f"({', '.join(map(str, public_ports)) or 'none'})", host.res.urn)
        for p in host.res.get("ports", []) or []:
            internal = int(p.get("internal", 0))
            if not any(f.public and f.port == internal for f in inbound):
                report(f"container '{host.res.name}' publishes port {internal}, which no documented public flow "
                       f"needs; remove the published port", host.res.urn)


def _beyond_aws(inv: Inventory, config: dict, report: Report) -> None:
    expected = {aws_rule_of(f, inv.balancers) for f in inv.plan.flows} - {None}
    groups = inv.groups()
    for view in inv.ingress_views():
        rule = view["res"]
        key = (view["on"], view["peer"], view["protocol"], view["port"], view["port_end"])
        if view["peer"] == "world" and not (view["on"] in inv.balancers and view["port"] in LISTENER_PORTS):
            report(f"ingress rule '{rule.name}' opens sg '{view['on']}' {view['protocol']}/{view['port']} to the world: "
                   f"world ingress is only for the frontend load balancer's listener ports {LISTENER_PORTS}", rule.urn)
            continue
        if key not in expected and not _exception(config, view["peer"], view["on"], view["protocol"], view["port"]):
            report(f"ingress rule '{rule.name}' (sg '{view['on']}' from {view['peer']} {view['protocol']}/{view['port']}) "
                   f"maps to no catalog flow; remove it or allow it in the pack config "
                   f"(nothing-beyond-intent.extraAllowedFlows)", rule.urn)
    for rule in inv.of_type(A_EGRESS):
        view = inv.rule_view(rule, groups)
        if view["protocol"] == "all" or (view["peer"] not in groups.values() and view["port"] is None):
            report(f"egress rule '{rule.name}' on sg '{view['on']}' allows all ports to {view['peer']}; "
                   f"egress must name the port the plan needs", rule.urn)


# ---- layout-completeness ------------------------------------------------------------------------------------
def layout_completeness(inv: Inventory, config: dict, report: Report) -> None:
    """Each container (Docker) or instance (AWS) is a host of the plan with the plan's roles and site; together
    they carry every (role, datacenter, region) the plan places and no more; the catalog's constraints hold for
    the nodes counted in the stack; every planned proxy route exists, and no other."""
    lab = inv.lab.urn
    _hosts_are_planned(inv, report)
    present = _present(inv)
    planned: dict[tuple, list[str]] = {}
    for host in inv.plan.hosts:
        for role in host.roles:
            if role not in inv.balancers:                     # on AWS the ALB stands for those hosts
                planned.setdefault((role, host.datacenter or "", host.region or ""), []).append(host.name)
    for key in sorted(set(planned) | set(present)):
        want, have = planned.get(key, []), present.get(key, [])
        role, where = key[0], _where(*key[1:])
        if len(have) < len(want):
            report(f"{where} has {'no' if not have else len(have)} {role} host{'s' if len(have) > 1 else ''}"
                   f"{' (' + ', '.join(have) + ')' if have else ''}; the plan places {role} on {', '.join(want)}", lab)
        elif len(have) > len(want):
            report(f"{where} has {len(have)} resources carrying role {role} ({', '.join(have)}); the plan places "
                   f"{len(want)}{' (' + ', '.join(want) + ')' if want else ''}: change the stack's lab settings, not "
                   "the resources", lab)
    _constraints_on_present(inv, present, report)
    _routes_present(inv, report)


def _machines(inv: Inventory) -> list:
    return inv.of_type(D_CONTAINER if inv.backend == "docker" else A_INSTANCE)


def _hosts_are_planned(inv: Inventory, report: Report) -> None:
    """Every container or instance names a host of the plan (label/tag host) and carries that host's roles and
    site; on AWS the load-balancer roles are the ALB, never an instance."""
    for res in _machines(inv):
        name = res.label("host")
        try:
            host = inv.plan.host(name) if name else None
        except KeyError:
            host = None
        if host is None or host.primary in inv.balancers:
            what = "no host label" if not name else f"host label {name!r}, which is not a host of the plan" + (
                " (the ALB stands for it)" if host is not None else "")
            report(f"'{res.name}' has {what}: every machine of the lab is one of the plan's hosts "
                   f"({', '.join(h.name for h in inv.plan.hosts if h.primary not in inv.balancers)})", res.urn)
            continue
        seen = (res.label("roles").split(), res.label("datacenter"), res.label("region"))
        wanted = (host.roles, host.datacenter or "", host.region or "")
        if seen != wanted:
            report(f"'{res.name}' is host {name} with roles {' '.join(seen[0]) or '-'}, datacenter {seen[1] or '-'}, region "
                   f"{seen[2] or '-'}; the plan gives it roles {' '.join(wanted[0])}, datacenter {wanted[1] or '-'}, region "
                   f"{wanted[2] or '-'}", res.urn)


def _where(datacenter: str, region: str) -> str:
    return f"datacenter '{datacenter}'" if datacenter else f"region '{region}'" if region else "the lab"


def _present(inv: Inventory) -> dict[tuple, list[str]]:
    """(role, datacenter, region) -> names of the resources carrying it, by their labels/tags: every container or
    instance counts, so a second one claiming a planned host's name is one too many, not a duplicate overlooked."""
    found: dict[tuple, list[str]] = {}
    for res in _machines(inv):
        for role in res.label("roles").split():
            found.setdefault((role, res.label("datacenter"), res.label("region")), []).append(res.name)
    return found


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
    path, port, targets = row
    return path, int(port), tuple(sorted(tuple(t) for t in targets))


def _docker_routes(inv: Inventory, report: Report) -> None:
    hosts = inv.docker_hosts
    for host in inv.docker_hosts.values():
        for problem in host.malformed:
            report(f"container '{host.res.name}': {problem}; the program writes it from the plan", host.res.urn)
    for host in inv.plan.hosts:
        container = hosts.get(host.name)
        if container is None:
            continue                                          # a missing host is reported above
        try:
            have = {_route_key(row) for row in container.routes}
        except (TypeError, ValueError):
            report(f"container '{container.res.name}': its routes are not [path, port, [[target, address], ...]]", container.res.urn)
            continue
        want = {_route_key(row) for row in inv.plan.route_rows(host.name)}
        for path, port, targets in sorted(want - have):
            report(f"no route {path} on '{host.name}' to {', '.join(f'{t} ({a})' for t, a in targets)} port {port}; "
                   f"the host must proxy {path} there (catalog: frontend_path)", container.res.urn)
        for path, port, targets in sorted(have - want):
            report(f"route {path} on '{host.name}' to {', '.join(f'{t} ({a})' for t, a in targets)} port {port} is not "
                   "in the plan; remove it", container.res.urn)


def _alb_routes(inv: Inventory, report: Report) -> None:
    lab = inv.lab.urn
    paths = {route.path: route.role for host in inv.plan.hosts if host.primary in inv.balancers for route in host.routes}
    if not paths:
        return
    https = [l for l in inv.of_type(A_LISTENER) if l.get("port") == HTTPS_PORT and l.get("protocol") == "HTTPS"]
    if not inv.of_type(A_ALB) or not https:
        report(f"no HTTPS listener on port {HTTPS_PORT} on the load balancer; the plan routes {', '.join(sorted(paths))} through it", lab)
        return
    https_urns = {l.urn for l in https}
    for path, role in sorted(paths.items()):
        if path == "/":
            ok = any(_forwards(l.get("defaultActions", [])) for l in https)
        else:
            ok = any(path in c.get("pathPattern", {}).get("values", []) and _forwards(r.get("actions", []))
                     and set(r.deps.get("listenerArn", [])) & https_urns
                     for r in inv.of_type(A_RULE) for c in r.get("conditions", []))
        if not ok:
            report(f"no load balancer route {path} for the {role} nodes: the HTTPS listener must forward {path} to "
                   f"the {role} target group (catalog: role {role}, frontend_path)", lab)


def _forwards(actions) -> bool:
    return any(a.get("type") == "forward" for a in actions or [])


# ---- lifecycle-labels ---------------------------------------------------------------------------------------
TAGGABLE_DOCKER = {D_NETWORK, D_CONTAINER, "docker:index/volume:Volume"}
TAGGABLE_AWS_PREFIXES = ("aws:ec2/vpc:", "aws:ec2/subnet:", "aws:ec2/internetGateway:", "aws:ec2/natGateway:", "aws:ec2/eip:",
                         "aws:ec2/routeTable:", "aws:ec2/securityGroup:", "aws:vpc/securityGroup", "aws:ec2/instance:",
                         "aws:lb/loadBalancer:", "aws:lb/targetGroup:", "aws:lb/listener:", "aws:lb/listenerRule:",
                         "aws:iam/role:", "aws:iam/instanceProfile:")


def lifecycle_labels(inv: Inventory, config: dict, report: Report) -> None:
    for res in inv.resources:
        taggable = res.type in TAGGABLE_DOCKER or res.type.startswith(TAGGABLE_AWS_PREFIXES)
        if not taggable:
            continue
        missing = [key for key in LIFECYCLE if not res.labels.get(key)]
        if missing:
            kind = "labels" if res.type.startswith("docker:") else "tags"
            report(f"'{res.name}' ({res.type.split(':')[-1]}) lacks the lifecycle {kind} "
                   f"{', '.join(missing)}; the reaper cannot find it", res.urn)
