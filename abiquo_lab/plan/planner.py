"""Stage 3, the planner: CheckedSpec + Catalog -> Plan. Pure, deterministic, no Pulumi."""
from __future__ import annotations

import ipaddress
from collections import defaultdict
from typing import Any, Iterable, Mapping, Optional

from ..catalog import Catalog, UnknownNameError, default_catalog, expr, parse_port
from ..catalog.model import AGENT_CLIENTS, Connection, Edge, HostTemplate, Role
from ..labspec import CheckedSpec, LabConfigError, Problem
from ..catalog import LOAD_BALANCER, PUBLISHED
from ..contract import FRONTEND_PORTS, FRONTEND_ZONE, port_span
from .model import EXTERNAL_PREFIX, AllowEntry, Flow, Host, Plan, Published, Route, Runtime, Vip, VipListener, ZoneNet

FIRST_HOST_OFFSET = 10     # .1 is the gateway; .2-.9 are kept for virtual addresses
FIRST_VIP_OFFSET = 5


def build_plan(checked: CheckedSpec, catalog: Optional[Catalog] = None) -> Plan:
    catalog = catalog or default_catalog()
    facts = checked.facts
    zones = _zones(checked, catalog)
    drafts = _hosts(checked, catalog, facts)
    vips = _vips(catalog, facts, drafts, zones)
    catalog_flows = _flows(catalog, facts, drafts, vips)
    served = _served_ports(drafts, catalog_flows, vips, catalog, facts)
    on_frontend = _on_frontend_network(drafts, catalog_flows, vips, catalog)
    flows = sorted(catalog_flows + _declared_flows(checked, catalog, drafts, served, on_frontend), key=_flow_key)
    _refuse_port_clashes(flows, catalog, checked)
    vip_models = [Vip(**v, listeners=_vip_listeners(v, flows, catalog)) for v in vips.values()]
    _add_vip_hooks(drafts, vip_models)
    hosts = _addressed_hosts(drafts, flows, vips, zones, catalog, checked)
    used = {zone for h in hosts for zone in h.interfaces} | {v["zone"] for v in vips.values()}
    zones = [z for z in zones if z.name in used]          # carving stays stable; unused networks are not built
    plan = Plan(lab=checked.name, backend=checked.spec.backend, layout=checked.spec.layout, version=checked.spec.version,
                owner=checked.spec.owner, switches=dict(checked.switches), zones=zones, hosts=hosts, vips=vip_models, flows=flows)
    return _with_publications(plan, checked) if checked.spec.backend == "docker" else plan


# ---- zones -------------------------------------------------------------------------------------
def _zones(checked: CheckedSpec, catalog: Catalog) -> list[ZoneNet]:
    result = []
    for name, cidr in checked.zone_cidrs.items():
        zone_name, _, site = name.partition("-")
        zone = catalog.zone(zone_name)
        result.append(ZoneNet(name=name, zone=zone.name, kind=zone.kind, site=site or None, cidr=cidr))
    return result


def zone_network(zone: str, kind: str, site: Optional[str]) -> str:
    return zone if kind == "global" else f"{zone}-{site}"


# ---- hosts -------------------------------------------------------------------------------------
def _hosts(checked: CheckedSpec, catalog: Catalog, facts: Mapping[str, Any]) -> list[dict]:
    drafts: list[dict] = []
    for template, roles in catalog.placed(checked.spec.layout, facts):
        zone_kind = catalog.zone(template.zone).kind
        runtime = host_runtime(roles, catalog, facts)
        for name, site in _instances(template, checked, facts):
            drafts.append({**_draft(name, template, roles, site, zone_kind, checked, catalog), "runtime": runtime})
    return drafts


def _enabled_services(roles: list[str], catalog: Catalog, facts: Mapping[str, Any]):
    """(role, service) for every service of the roles that the lab's facts and switches turn on."""
    for name in roles:
        for svc in catalog.role(name).services:
            if not svc.enabled_when or expr.evaluate(svc.enabled_when, facts):
                yield name, svc


def _service_port(item: str, facts: Mapping[str, Any]) -> tuple[str, int, int]:
    """A service's port item ('8009/tcp', '5900-5999/tcp', '$redis_port/tcp') as (protocol, start, end), switches resolved."""
    span, _, protocol = item.partition("/")
    start, end, ref = parse_port(span)
    if ref:
        start = end = int(facts[ref])
    return protocol, start, end


def host_runtime(roles: list[str], catalog: Catalog, facts: Mapping[str, Any]) -> Runtime:
    """A host's runtime: its roles' enabled services with a start hook, the ports they hold and the clients that
    speak to them, the roles' capabilities and tmpfs mounts, and how the lab's backend exposes it (if public)."""
    start, holds, clients, caps, tmpfs, exposure = [], [], {}, [], {}, None
    for name in roles:
        role = catalog.role(name)
        caps += [c for c in role.capabilities if c not in caps]
        tmpfs.update(role.tmpfs)
        exposure = exposure or role.exposure.get(facts["backend"])
    for _, svc in _enabled_services(roles, catalog, facts):
        if not svc.start:
            continue
        start += [svc.start] if svc.start not in start else []
        for item in svc.holds:
            port, _, protocol = item.partition("/")
            key = f"{protocol}/{port}"
            holds += [key] if key not in holds else []
            if item in svc.clients:
                clients[key] = svc.clients[item]
    return Runtime(start=start, holds=holds, clients=clients, capabilities=caps, tmpfs=tmpfs, exposure=exposure,
                   services=_service_clients(roles, catalog, facts, holds))


def _service_clients(roles: list[str], catalog: Catalog, facts: Mapping[str, Any], holds: list[str]) -> dict[str, dict[str, str]]:
    """Per enabled service of the host's roles, the client that speaks to it on each of its ports: its software's
    (services[].clients) where that software holds the port, the role agent's answer in the service's protocol
    (speaks: agent for http, ajp) or its UDP echo where nothing holds it. A port another service's software holds
    is not this service's: left out, so verify never takes that software's answer for this service."""
    found: dict[str, dict[str, str]] = {}
    for _, svc in _enabled_services(roles, catalog, facts):
        ports = found.setdefault(svc.name, {})
        for item in svc.ports:
            protocol, start, end = _service_port(item, facts)
            key = f"{protocol}/{port_span(start, end)}"
            if svc.start and item in svc.holds:
                ports[key] = svc.clients.get(item, "tcp" if protocol == "tcp" else "echo")
            elif key not in holds:
                ports.setdefault(key, AGENT_CLIENTS[svc.speaks] if protocol == "tcp" else "echo")
    return {name: ports for name, ports in found.items() if ports}


def _instances(template: HostTemplate, checked: CheckedSpec, facts: Mapping[str, Any]) -> Iterable[tuple[str, Optional[str]]]:
    """(host name, site) of every host a template makes: `count` hosts (a number or a node fact), in every
    datacenter or region when `per` is given. Counted by a fact, hosts are always numbered (api-1, cache-dc1-1)."""
    sites = {"datacenter": checked.spec.datacenters, "region": checked.spec.regions}.get(template.per or "", [None])
    by_fact = template.count is not None and not template.count.isdigit()
    count = int(facts[template.count]) if by_fact else int(template.count or 1)
    found = []
    for site in sites:
        base = template.kind if site is None else f"{template.kind}-{site}"
        found += [(base, site)] if count == 1 and not by_fact else [(f"{base}-{i}", site) for i in range(1, count + 1)]
    return found


def _draft(name: str, template: HostTemplate, roles: list[str], site: Optional[str], zone_kind: str,
           checked: CheckedSpec, catalog: Catalog) -> dict:
    datacenter = site if template.per == "datacenter" else None
    region = site if template.per == "region" else None
    if datacenter is None and any(catalog.role(r).scope == "datacenter" for r in roles):
        datacenter = checked.spec.datacenters[0]      # monolithic server: its one datacenter
    primary = template.primary if template.primary in roles else roles[0]
    return {"name": name, "kind": template.kind, "roles": roles, "primary": primary, "datacenter": datacenter, "region": region,
            "per": template.per,
            "zone": zone_network(template.zone, zone_kind, site),
            "public": any(catalog.role(r).public for r in roles)}


# ---- virtual addresses ---------------------------------------------------------------------------
def _vips(catalog: Catalog, facts: Mapping[str, Any], drafts: list[dict], zones: list[ZoneNet]) -> dict[str, dict]:
    vips: dict[str, dict] = {}
    cidrs = {z.name: ipaddress.ip_network(z.cidr) for z in zones}
    used: dict[str, int] = defaultdict(int)
    for vip in catalog.vips:
        members = [d for d in drafts if vip.role in d["roles"]]
        if not members or not expr.evaluate(vip.when, facts):
            continue
        zone = members[0]["zone"]
        address = str(cidrs[zone].network_address + FIRST_VIP_OFFSET + used[zone])
        used[zone] += 1
        vips[vip.role] = {"name": vip.name, "role": vip.role, "zone": zone, "address": address,
                          "members": [m["name"] for m in members], "holder": vip.holder, "proxy": vip.proxy}
    return vips


def _vip_listeners(vip: dict, flows: list[Flow], catalog: Catalog) -> list[VipListener]:
    """The VIP's proxy listeners: every port a flow reaches on the VIP whose service the catalog sends to a backend
    (vip_backend). Other ports on the VIP are served on every member by what serves them there."""
    found: dict[int, VipListener] = {}
    services = {svc.name: svc for svc in catalog.role(vip["role"]).services}
    for flow in flows:
        svc = services.get(flow.service or "")
        if flow.dst != vip["name"] or flow.port is None or svc is None or svc.vip_backend is None:
            continue
        backend_port = int(svc.vip_backend.port.partition("/")[0])
        found.setdefault(flow.port, VipListener(port=flow.port, backend_port=backend_port, check=svc.vip_backend.check))
    return [found[port] for port in sorted(found)]


def _add_vip_hooks(drafts: list[dict], vips: list[Vip]) -> None:
    """A VIP's members start its proxy (when it has listeners) and then its holder, after their own software."""
    for draft in drafts:
        hooks = []
        for vip in vips:
            if draft["name"] in vip.members:
                hooks += ([vip.proxy] if vip.listeners else []) + [vip.holder]
        if hooks:
            runtime = draft["runtime"]
            start = runtime.start + [h for h in dict.fromkeys(hooks) if h not in runtime.start]
            draft["runtime"] = runtime.model_copy(update={"start": start})


# ---- flows -------------------------------------------------------------------------------------
def _flows(catalog: Catalog, facts: Mapping[str, Any], drafts: list[dict], vips: dict[str, dict]) -> list[Flow]:
    by_role: dict[str, list[dict]] = defaultdict(list)
    for d in drafts:
        for role in d["roles"]:
            by_role[role].append(d)
    flows: dict[tuple, Flow] = {}
    for row in catalog.encoded:
        for edge in row.edges:
            if edge.when and not expr.evaluate(edge.when, facts):
                continue
            for flow in _edge_flows(row, edge, catalog, facts, by_role, vips):
                flows.setdefault(_flow_key(flow), flow)
    return sorted(flows.values(), key=_flow_key)


def _flow_key(flow: Flow) -> tuple:
    return (flow.id, flow.src, flow.dst, flow.protocol, flow.port or 0, flow.port_end or 0)


def _edge_flows(row: Connection, edge: Edge, catalog: Catalog, facts: Mapping[str, Any],
                by_role: Mapping[str, list[dict]], vips: Mapping[str, dict]) -> Iterable[Flow]:
    src_role, dst_role = catalog.role(edge.from_), catalog.role(edge.to)
    sources = [None] if src_role.external else by_role.get(src_role.name, [])
    targets = [None] if dst_role.external else by_role.get(dst_role.name, [])
    if not sources or not targets:
        return
    use_vip = bool(edge.via_when) and bool(expr.evaluate(edge.via_when, facts)) and dst_role.name in vips
    ports, service, realized = _ports(edge.ports, facts), edge.service, {}
    if edge.realized:        # the lab cannot speak the documented protocol: it uses another service of the role
        realized = {"documented": ", ".join(port_span(*p) for p in ports), "realized_why": edge.realized.why}
        ports, service = _ports(edge.realized.ports, facts), edge.realized.service
    base = {"id": row.id, "src_role": src_role.name, "dst_role": dst_role.name, "service": service,
            "required": bool(row.required), "evidence": row.evidence_class}
    for src in sources:
        for dst in ([vips[dst_role.name]] if use_vip else targets):
            if not _paired(edge, src, dst, src_role, dst_role, use_vip):
                continue
            endpoints = _endpoints(src, dst, src_role, dst_role, use_vip)
            for protocol in edge.protocols:
                for start, end in ports:
                    yield Flow(**base, **endpoints, protocol=protocol, port=start, port_end=end, **realized)


def _paired(edge: Edge, src: Optional[dict], dst: Optional[dict], src_role: Role, dst_role: Role, use_vip: bool) -> bool:
    if src is None or dst is None:
        return True
    same_host = not use_vip and src["name"] == dst["name"]
    if edge.placement == "same_host" and not same_host:
        return False
    if edge.placement == "cross_host" and same_host:
        return False
    return use_vip or _within_site(src, dst, src_role, dst_role)


def _within_site(src: dict, dst: dict, src_role: Role, dst_role: Role) -> bool:
    """Per-site rows stay inside their datacenter / region."""
    return not any(src_role.scope == site and dst_role.scope == site and src[site] != dst[site]
                   for site in ("datacenter", "region"))


def _endpoints(src: Optional[dict], dst: Optional[dict], src_role: Role, dst_role: Role, use_vip: bool) -> dict:
    src_name = src["name"] if src else EXTERNAL_PREFIX + src_role.name
    if dst is None:
        dst_name, kind = EXTERNAL_PREFIX + dst_role.name, "external"
    else:
        dst_name, kind = dst["name"], ("vip" if use_vip else "host")
    return {"src": src_name, "dst": dst_name, "dst_kind": kind,
            "local": src is not None and kind == "host" and src_name == dst_name,
            "public": src is None and src_role.world,
            "egress": dst is None}


def _ports(items: list, facts: Mapping[str, Any]) -> list[tuple[Optional[int], Optional[int]]]:
    if not items:
        return [(None, None)]
    result = []
    for item in items:
        start, end, ref = parse_port(item)
        if ref:
            start = end = int(facts[ref])
        result.append((start, end))
    return result


# ---- flows the stack declares (extra_flows) -------------------------------------------------------------------
DECLARED_PREFIX = "X"                  # ids X1, X2, ...: the n-th entry of extra_flows
DECLARED = "stack-declared"            # their service and evidence, in every output


def _declared_flows(checked: CheckedSpec, catalog: Catalog, drafts: list[dict],
                    served: Mapping[str, list[tuple[str, int, int, str]]], on_frontend: set[str]) -> list[Flow]:
    """The stack's extra_flows as flows between the hosts they name (a role: every host carrying it; a host: that
    host), like a catalog row: same-host pairs need no rule and role-to-role pairs stay within their site. Refused,
    naming the field: a name that is neither a role nor a host of this lab, the cloud's load balancer as an end, an
    entry that joins no two hosts, a port a catalog service serves on the destination (the entry would make an
    undocumented client of it), a port an earlier entry already opens between the same two hosts, and a flow that
    would attach its source to the frontend network (the one that reaches outside the lab)."""
    problems: list[Problem] = []
    flows: list[Flow] = []
    opened: dict[tuple[str, str, str], list[tuple[int, int, int]]] = defaultdict(list)   # (src, dst, proto) -> spans
    for index, extra in enumerate(checked.spec.extra_flows):
        where = f"lab.extra_flows[{index}]"
        sources = _declared_end(extra.source, drafts, catalog, f"{where}.source", problems)
        targets = _declared_end(extra.destination, drafts, catalog, f"{where}.destination", problems)
        if sources is None or targets is None:
            continue
        start, end = extra.ports
        pairs = [(src, src_role, dst, dst_role) for src, src_role in sources for dst, dst_role in targets
                 if src["name"] != dst["name"] and _within_site(src, dst, catalog.role(src_role), catalog.role(dst_role))]
        if not pairs:
            problems.append(Problem(where, f"{extra.source} -> {extra.destination} joins no two hosts of this lab (both "
                                           f"ends are the same host, or in different sites); a flow within one host needs no rule"))
        clashes = sorted({f"{port}/{protocol} on {dst['name']} is {what}" for _, _, dst, _ in pairs
                          for protocol, port, port_end, what in served.get(dst["name"], [])
                          if protocol == extra.protocol and port <= end and start <= port_end})
        if clashes:
            problems.append(Problem(f"{where}.port", f"{'; '.join(clashes[:3])}{'; ...' if len(clashes) > 3 else ''}; "
                                    "a stack declares only ports no catalog service serves on the destination (a client "
                                    "of a documented service is a catalog row or a switch: labctl switches)"))
            continue
        outside = sorted({(dst["name"], src["name"]) for src, _, dst, _ in pairs
                          if dst["zone"] == FRONTEND_ZONE and src["name"] not in on_frontend})
        if outside:
            dst_name, src_name = outside[0]
            problems.append(Problem(f"{where}.destination", f"{dst_name} is on the {FRONTEND_ZONE} network, the one network "
                                    f"that reaches outside the lab; the flow would attach {src_name} to it, which no catalog flow does"))
            continue
        problems += _overlaps(index, extra.protocol, start, end, pairs, opened)
        for src, src_role, dst, dst_role in pairs:
            flows.append(Flow(id=f"{DECLARED_PREFIX}{index + 1}", src=src["name"], dst=dst["name"], src_role=src_role,
                              dst_role=dst_role, dst_kind="host", port=start, port_end=end, protocol=extra.protocol,
                              service=DECLARED, required=True, evidence=DECLARED, reason=extra.reason.strip()))
    if problems:
        raise LabConfigError(problems, f"lab {checked.name!r}")
    return flows


def _declared_end(name: str, drafts: list[dict], catalog: Catalog, where: str,
                  problems: list[Problem]) -> Optional[list[tuple[dict, str]]]:
    """(host draft, role) pairs an extra flow's end names: a role of the lab's hosts, else a host (its primary role).
    The cloud's load balancer (the AWS frontend) is no end: it only takes users' HTTPS and forwards its routes."""
    carriers = [(d, name) for d in drafts if name in d["roles"]]
    host = next((d for d in drafts if d["name"] == name), None)
    found = carriers or ([(host, host["primary"])] if host is not None else None)
    if found and any(d["runtime"].exposure == LOAD_BALANCER for d, _ in found):
        problems.append(Problem(where, f"{name!r} is the cloud's load balancer on aws (it takes users' HTTPS and forwards "
                                       "its routes, nothing else); a declared flow cannot start or end on it"))
        return None
    if found:
        return found
    roles = sorted({r for d in drafts for r in d["roles"]})
    problems.append(Problem(where, f"{name!r} is neither a role nor a host of this lab; roles: {', '.join(roles)}; "
                                   f"hosts: {', '.join(d['name'] for d in drafts)}{_name_hint(name, roles, catalog)}"))
    return None


def _name_hint(name: str, roles: list[str], catalog: Catalog) -> str:
    """What an unknown end most likely meant: a role in another case or by an alias (names are exact), or a role
    outside the lab (never an end: no public ingress or egress through extra_flows)."""
    try:
        role = catalog.role(name)
    except UnknownNameError:
        return ""
    if role.external:
        return (f"; {name!r} is outside the lab (role {role.name}): extra_flows join hosts of the lab, never users, "
                "providers or the internet")
    if role.name in roles:
        return f"; {name!r} names role {role.name} in another case or by an alias; write {role.name}"
    return f"; role {role.name} has no host in this lab"


def _served_ports(drafts: list[dict], flows: list[Flow], vips: Mapping[str, dict], catalog: Catalog,
                  facts: Mapping[str, Any]) -> dict[str, list[tuple[str, int, int, str]]]:
    """host -> (protocol, port, port_end, "service's (rows or roles)") a catalog service serves there: every catalog
    flow's port on the host or on a VIP it is a member of, and every port its roles' enabled services name."""
    members = {v["name"]: v["members"] for v in vips.values()}
    served: dict[str, dict[tuple, set[str]]] = defaultdict(lambda: defaultdict(set))
    for flow in flows:
        if flow.port is None or flow.dst_kind == "external":
            continue
        for host in members.get(flow.dst, []) if flow.dst_kind == "vip" else [flow.dst]:
            served[host][(flow.protocol, flow.port, flow.port_end or flow.port, flow.service or flow.protocol)].add(flow.id)
    for draft in drafts:
        for role, svc in _enabled_services(draft["roles"], catalog, facts):
            for item in svc.ports:
                protocol, start, end = _service_port(item, facts)
                served[draft["name"]][(protocol, start, end, svc.name)].add(f"role {role}")
    return {host: sorted((protocol, start, end, f"{service}'s ({', '.join(sorted(refs))})")
                         for (protocol, start, end, service), refs in items.items())
            for host, items in served.items()}


def _on_frontend_network(drafts: list[dict], flows: list[Flow], vips: Mapping[str, dict], catalog: Catalog) -> set[str]:
    """Hosts the catalog's flows put on the frontend network (their home, or a network they join)."""
    joins = _joins(drafts, flows, vips, catalog)
    return {d["name"] for d in drafts if FRONTEND_ZONE in (d["zone"], *joins[d["name"]])}


def _overlaps(index: int, protocol: str, start: int, end: int, pairs: list[tuple], opened: dict) -> list[Problem]:
    """A port an earlier entry already opens between the same two hosts: one problem naming both entries."""
    problems = []
    for src, _, dst, _ in pairs:
        key = (src["name"], dst["name"], protocol)
        earlier = next(((i, a, b) for i, a, b in opened[key] if a <= end and start <= b), None)
        if earlier is not None:
            i, a, b = earlier
            problems.append(Problem(f"lab.extra_flows[{index}]", f"{port_span(start, end)}/{protocol} {src['name']} -> "
                                    f"{dst['name']} overlaps lab.extra_flows[{i}] ({port_span(a, b)}/{protocol}); declare each port once"))
            break
        opened[key].append((index, start, end))
    return problems


def _refuse_port_clashes(flows: list[Flow], catalog: Catalog, checked: CheckedSpec) -> None:
    """A switch that puts a service on a port another service already serves at the same destination (a host or a
    VIP) would make one answer for the other: refused at validate, naming the switch and both services."""
    switched = {(row.id, edge.to, edge.service): parse_port(item)[2] for row in catalog.encoded for edge in row.edges
                for item in edge.ports if parse_port(item)[2]}
    served: dict[tuple, dict[tuple, str]] = defaultdict(dict)       # (dst, protocol, port) -> (service, switch) -> row
    for flow in flows:
        if flow.port is not None and flow.dst_kind != "external" and not flow.local:
            switch = switched.get((flow.id, flow.dst_role, flow.service))
            served[(flow.dst, flow.protocol, flow.port)].setdefault((flow.service or "", switch), flow.id)
    problems = set()
    for (dst, protocol, port), entries in served.items():
        for (service, switch), row in entries.items():
            others = sorted({s for s, other in entries if s != service and other != switch})
            if switch and others:
                problems.add(Problem(f"lab.switches.{switch}", f"{port}/{protocol} puts {service} ({row}) on the port "
                                     f"{', '.join(others)} already serves on {dst}; choose another port"))
    if problems:
        raise LabConfigError(sorted(problems, key=str), f"lab {checked.name!r}")


# ---- addresses and interfaces -------------------------------------------------------------------
def _addressed_hosts(drafts: list[dict], flows: list[Flow], vips: dict[str, dict], zones: list[ZoneNet],
                     catalog: Catalog, checked: CheckedSpec) -> list[Host]:
    cidrs = {z.name: ipaddress.ip_network(z.cidr) for z in zones}
    explicit, lab = checked.spec.subnets, checked.name
    joins = _joins(drafts, flows, vips, catalog)
    next_free: dict[str, int] = defaultdict(lambda: FIRST_HOST_OFFSET)
    interfaces: dict[str, dict[str, str]] = {d["name"]: {} for d in drafts}

    def assign(host: str, zone: str) -> None:
        if next_free[zone] >= cidrs[zone].num_addresses - 1:            # the last address is the broadcast
            field_name = f"lab.subnets.{zone}" if zone in explicit else "lab.zone_prefix"
            raise LabConfigError([Problem(field_name, f"zone network {zone} ({cidrs[zone]}) has no free address for "
                                          f"{host} ({FIRST_HOST_OFFSET - 1} are kept for the gateway and virtual IPs); "
                                          "give it a larger subnet (a shorter zone_prefix)")], f"lab {lab!r}")
        interfaces[host][zone] = str(cidrs[zone].network_address + next_free[zone])
        next_free[zone] += 1

    for d in drafts:                                    # home addresses first, in host order
        assign(d["name"], d["zone"])
    for d in drafts:                                    # then the networks each host joins
        for zone in sorted(joins[d["name"]]):
            assign(d["name"], zone)
    routes = _routes(drafts, flows, catalog)
    return [Host(name=d["name"], kind=d["kind"], roles=d["roles"], primary=d["primary"], zone=d["zone"], datacenter=d["datacenter"],
                 region=d["region"], per=d["per"], address=interfaces[d["name"]][d["zone"]], interfaces=interfaces[d["name"]],
                 public=d["public"], routes=routes.get(d["name"], []), runtime=d["runtime"]) for d in drafts]


def _joins(drafts: list[dict], flows: list[Flow], vips: Mapping[str, dict], catalog: Catalog) -> dict[str, set[str]]:
    """host -> the zone networks it joins beyond its own: the destination's of every flow it sends to another zone,
    and the public role's zone where users' flows arrive."""
    by_name = {d["name"]: d for d in drafts}
    vip_zone = {v["name"]: v["zone"] for v in vips.values()}
    joins: dict[str, set[str]] = defaultdict(set)
    for flow in flows:
        if flow.public and flow.dst_kind == "host":         # public ingress arrives on the public role's own zone
            joins[flow.dst].add(_public_zone(catalog, flow.dst_role, by_name[flow.dst]))
        if flow.local or flow.src not in by_name or flow.dst_kind == "external":
            continue
        dst_zone = vip_zone[flow.dst] if flow.dst_kind == "vip" else by_name[flow.dst]["zone"]
        if dst_zone != by_name[flow.src]["zone"]:
            joins[flow.src].add(dst_zone)
    return joins


def _public_zone(catalog: Catalog, role: str, draft: dict) -> str:
    zone = catalog.zone(catalog.role(role).zone)
    return zone_network(zone.name, zone.kind, draft["datacenter"] if zone.kind == "datacenter" else draft["region"])


def _routes(drafts: list[dict], flows: list[Flow], catalog: Catalog) -> dict[str, list[Route]]:
    """Proxy routes of hosts carrying a proxying role (catalog: proxy), from their flows to roles with a frontend path;
    a per-site role gets one path per datacenter/region, to that site's hosts only."""
    proxy_roles = {r.name for r in catalog.roles if r.proxy}
    proxies = {d["name"] for d in drafts if proxy_roles & set(d["roles"])}
    by_name = {d["name"]: d for d in drafts}
    grouped: dict[tuple, list[str]] = defaultdict(list)
    for flow in flows:
        if (flow.src not in proxies or flow.src_role not in proxy_roles or flow.protocol != "tcp" or flow.port is None
                or flow.declared):                        # a declared flow opens a port, it adds no proxy route
            continue
        role = catalog.role(flow.dst_role)
        if role.frontend_path is None or flow.dst_kind == "external":
            continue
        site = _site_of(by_name.get(flow.dst), role) if role.frontend_path_per_site else None
        targets = grouped[(flow.src, flow.dst_role, flow.port, site or "")]
        if flow.dst not in targets:
            targets.append(flow.dst)
    sites = {role: [s for (_, r, _, s) in grouped if r == role] for role in {k[1] for k in grouped}}
    result: dict[str, list[Route]] = defaultdict(list)
    for (src, role_name, port, site), targets in sorted(grouped.items()):
        role = catalog.role(role_name)
        order = _ordered_sites(drafts, role_name, sites[role_name])
        for base in [role.frontend_path, *role.frontend_also]:
            result[src].append(Route(path=_site_path(base, site, order), role=role_name, port=port, targets=targets,
                                     timeout=role.proxy_timeout, site=site or None))
    return result


def _site_of(draft: Optional[dict], role: Role) -> Optional[str]:
    if draft is None:
        return None
    return draft["datacenter"] if role.scope == "datacenter" else draft["region"]


def _ordered_sites(drafts: list[dict], role: str, present: list[str]) -> list[str]:
    """The sites in the lab's order (the spec's datacenters/regions list, as the hosts were made)."""
    order = []
    for d in drafts:
        site = d["datacenter"] or d["region"] or ""
        if role in d["roles"] and site in present and site not in order:
            order.append(site)
    return order


def _site_path(path: str, site: Optional[str], order: list[str]) -> str:
    """The first site keeps the role's path (/am); the others get path-<site> (/am-barcelona)."""
    if not site or not order or site == order[0]:
        return path
    return f"{path}-{site}"


# ---- what Docker publishes on the machine ----------------------------------------------------------------------
def _with_publications(plan: Plan, checked: CheckedSpec) -> Plan:
    """Every port the plan's public flows reach on a host the catalog exposes as published: the frontend's
    listener ports on the https_port/http_port settings, any other (websockify's 41337) on its own number; the n-th
    host publishing a port adds n-1, in plan order. Two publications on one external port, or one past 65535,
    are refused naming the setting: they would collide on the machine."""
    settings = checked.spec.docker_settings
    ports = {h.name: _public_ports(plan, h) for h in plan.hosts}
    published: dict[str, list[Published]] = {}
    for host in plan.hosts:
        for protocol, internal in ports[host.name]:
            setting = FRONTEND_PORTS.get(internal)
            index = [h.name for h in plan.hosts if (protocol, internal) in ports[h.name]].index(host.name)
            external = (getattr(settings, setting) if setting else internal) + index
            published.setdefault(host.name, []).append(Published(protocol=protocol, internal=internal, external=external,
                                                                 setting=setting))
    _refuse_collisions(published, checked)
    return plan.model_copy(update={"hosts": [h.model_copy(update={"published": published.get(h.name, [])}) for h in plan.hosts]})


def _public_ports(plan: Plan, host: Host) -> list[tuple[str, int]]:
    """(protocol, port) of the public flows ending on a published host: the frontend's listener ports first."""
    if host.runtime.exposure != PUBLISHED:
        return []
    found = {(f.protocol, f.port) for f in plan.inbound(host.name) if f.public and f.port is not None}
    order = list(FRONTEND_PORTS)
    return sorted(found, key=lambda item: (order.index(item[1]) if item[1] in order else len(order), item))


def _refuse_collisions(published: dict[str, list[Published]], checked: CheckedSpec) -> None:
    problems, taken = [], {}
    for host, items in published.items():
        for item in items:
            where = f"lab.docker.{item.setting}" if item.setting else "lab.docker"
            key = (item.protocol, item.external)
            if item.external > 65535:
                problems.append(Problem(where, f"{host} would publish {item.internal}/{item.protocol} on {item.external}, "
                                               "past 65535; choose a lower port"))
            elif key in taken:
                problems.append(Problem(where, f"{host} would publish {item.internal}/{item.protocol} on {item.external}, "
                                               f"which {taken[key]} already publishes; published ports must not overlap "
                                               "(several frontends take consecutive ports from https_port and http_port)"))
            taken.setdefault(key, f"{host} ({item.internal}/{item.protocol})")
    if problems:
        raise LabConfigError(problems, f"lab {checked.name!r}")


# ---- allowlists ------------------------------------------------------------------------------------
def allowlist(plan: Plan, host_name: str) -> list[AllowEntry]:
    """The inbound allowlist of one host: every network flow that ends on it (or on a VIP it is a member of)."""
    host = plan.host(host_name)
    vips = {v.name for v in plan.vips_of(host_name)}
    hosts = {h.name: h for h in plan.hosts}
    grouped: dict[tuple, list[str]] = defaultdict(list)
    for flow in plan.inbound(host_name):
        if flow.local or flow.from_outside:  # same host: no rule; from tenant VMs: no lab source
            continue
        if flow.public:
            source, source_host = "any", flow.src
        else:
            src = hosts[flow.src]
            arrival = plan.vip(flow.dst).zone if flow.dst in vips else host.zone
            source, source_host = src.interfaces.get(arrival, src.address), src.name
        # to a VIP: only to its address (the member's own address stays closed); public ingress arrives through the
        # published port on the member's own address
        destination = plan.vip(flow.dst).address if flow.dst in vips and not flow.public else None
        key = (source, source_host, flow.port, flow.port_end, flow.protocol, destination)
        if flow.id not in grouped[key]:
            grouped[key].append(flow.id)
    return [AllowEntry(source=k[0], source_host=k[1], port=k[2], port_end=k[3], protocol=k[4], destination=k[5], ids=ids)
            for k, ids in sorted(grouped.items(), key=lambda kv: (kv[0][4], kv[0][2] or 0, kv[0][1], kv[0][5] or ""))]
