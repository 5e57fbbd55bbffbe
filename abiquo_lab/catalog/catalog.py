"""The Catalog: the loaded, cross-checked platform data and its registry look-ups."""
from __future__ import annotations

import re
import string
from functools import cached_property
from typing import Any, Iterable, Mapping, Optional

from pydantic import Field, model_validator

from ..contract import InputError
from . import expr
from .model import (BASE_FACTS, LAYOUTS, PROXY_SPEAKS, Colocation, Connection, Constraint, HostTemplate, Layout, Role, Strict,
                    Switch, Vip, Zone, parse_port)


class UnknownNameError(InputError, KeyError):
    """An unknown role, row, layout or switch; the message lists the valid names."""

    def __init__(self, what: str, name: str, valid: Iterable[str]):
        self.what, self.name, self.valid = what, name, sorted(valid)
        super().__init__(f"unknown {what} {name!r}; valid {what}s: {', '.join(self.valid)}")

    def __str__(self) -> str:
        return self.args[0]


class Catalog(Strict):
    schema_: int = Field(alias="schema")
    zones: list[Zone]
    roles: list[Role]
    layouts: dict[str, Layout]
    colocations: list[Colocation]
    constraints: list[Constraint] = []
    max_nodes: int = 16
    vips: list[Vip]
    switches: list[Switch]
    connections: list[Connection]
    sources: dict[str, str]

    # ---- look-ups -------------------------------------------------------------------------
    @cached_property
    def _role_index(self) -> dict[str, Role]:
        index: dict[str, Role] = {}
        for role in self.roles:
            for key in (role.name, *role.aliases):
                index[key.lower()] = role
        return index

    def role(self, name: str) -> Role:
        """A role by name or alias (any case); unknown names list the valid ones."""
        try:
            return self._role_index[name.strip().lower()]
        except KeyError:
            raise UnknownNameError("role", name, (r.name for r in self.roles)) from None

    def connection(self, row_id: str) -> Connection:
        for row in self.connections:
            if row.id == row_id.strip().upper():
                return row
        raise UnknownNameError("row", row_id, (r.id for r in self.connections))

    def switch(self, name: str) -> Switch:
        for sw in self.switches:
            if sw.name == name:
                return sw
        raise UnknownNameError("switch", name, (s.name for s in self.switches))

    def zone(self, name: str) -> Zone:
        for zone in self.zones:
            if zone.name == name:
                return zone
        raise UnknownNameError("zone", name, (z.name for z in self.zones))

    @property
    def encoded(self) -> list[Connection]:
        return [c for c in self.connections if c.excluded is None]

    @property
    def excluded(self) -> list[Connection]:
        return [c for c in self.connections if c.excluded is not None]

    @property
    def internal_roles(self) -> list[Role]:
        return [r for r in self.roles if not r.external]

    @property
    def node_kinds(self) -> list[str]:
        """The scalable host kinds, in the catalog's order (every layout gives each a count)."""
        first = next(iter(self.layouts.values()), None)
        return list(first.nodes) if first else []

    def placed(self, layout: str, facts: Mapping[str, Any]) -> list[tuple["HostTemplate", list[str]]]:
        """The layout's host templates that apply, each with the roles it places (template, host-role and role
        conditions evaluated with the lab's facts); templates that place no role are left out."""
        found = []
        for template in self.layouts[layout].hosts:
            if template.when and not expr.evaluate(template.when, facts):
                continue
            roles = [hr.role for hr in template.host_roles()
                     if (not hr.when or expr.evaluate(hr.when, facts))
                     and not (self.role(hr.role).enabled_when and not expr.evaluate(self.role(hr.role).enabled_when, facts))]
            if roles:
                found.append((template, roles))
        return found

    def rows_changed_by(self, name: str) -> list[str]:
        """The encoded rows a switch or co-location choice changes: an edge's condition, VIP condition or port names it,
        or an edge touches a role whose presence it decides (the role's enabled_when names it)."""
        decided = {r.name for r in self.roles if r.enabled_when and name in expr.names(r.enabled_when)}
        return [row.id for row in self.encoded if any(
            name in _edge_names(edge) or decided & {edge.from_, edge.to} for edge in row.edges)]

    def broken_constraints(self, facts: Mapping[str, Any]) -> list[tuple[str, str]]:
        """(field, message) of every constraint the facts break (the lab spec and the policy pack both ask)."""
        return [(rule.field, rule.message.format_map(dict(facts))) for rule in self.constraints
                if expr.evaluate(rule.when, facts)]

    def node_roles(self) -> dict[str, str]:
        """node kind -> the role its hosts carry first (from the layouts whose hosts are counted by that kind)."""
        found: dict[str, str] = {}
        for layout in self.layouts.values():
            for template in layout.hosts:
                kind = (template.count or "").removesuffix("_nodes")
                if kind in self.node_kinds:
                    found.setdefault(kind, template.primary or template.host_roles()[0].role)
        return found

    def fact_types(self) -> dict:
        """The type of every fact (see expr.check_types): the base facts, the colocations, each node kind's count."""
        types: dict = {**BASE_FACTS, **{c.name: "bool" for c in self.colocations}}
        for kind in self.node_kinds:
            types[f"{kind}_nodes"], types[f"{kind}_cluster"] = "int", "bool"
        return types

    def name_types(self) -> dict:
        """The type of every name a condition may use: the facts, then the switches."""
        return {**self.fact_types(), **{sw.name: tuple(sw.allowed) if sw.type == "enum" else sw.type for sw in self.switches}}

    @property
    def fact_names(self) -> frozenset[str]:
        """Facts a condition may use besides the switches."""
        return frozenset(self.fact_types())

    def datastore_ports(self) -> dict[tuple[str, int], str]:
        """(protocol, port) -> service, of every datastore service (port switches at their defaults)."""
        return self._datastore_ports

    @cached_property
    def _datastore_ports(self) -> dict[tuple[str, int], str]:
        found: dict[tuple[str, int], str] = {}
        for role in self.internal_roles:
            for svc in role.services:
                if svc.datastore:
                    for item in svc.ports:
                        start, end, ref = parse_port(item.partition("/")[0])
                        if ref:
                            start = end = int(self.switch(ref).default)
                        for port in range(start, end + 1):
                            found.setdefault((item.partition("/")[2], port), svc.name)
        return found

    # ---- cross-checks at load -------------------------------------------------------------
    @model_validator(mode="after")
    def _cross_check(self) -> "Catalog":
        problems: list[str] = []
        problems += _unique("roles", [r.name for r in self.roles])
        problems += _unique("role aliases", [a.lower() for r in self.roles for a in (r.name, *r.aliases)])
        problems += _unique("connections", [c.id for c in self.connections])
        problems += _unique("switches", [s.name for s in self.switches])
        if set(self.layouts) != set(LAYOUTS):
            problems.append(f"layouts: must define exactly {', '.join(LAYOUTS)} (got {', '.join(sorted(self.layouts))})")
        role_names = {r.name for r in self.roles}
        zone_names = {z.name for z in self.zones}
        switch_names = {s.name for s in self.switches}
        int_switches = {s.name for s in self.switches if s.type == "int"}
        facts = self.fact_names
        known = facts | switch_names
        overlap = facts & switch_names
        if overlap:
            problems.append(f"switches: {', '.join(sorted(overlap))} shadow facts of the same name")
        check_expr = _expression_checker(known, facts, self.name_types(), problems)
        problems += _check_node_counts(self)
        problems += _unique("zones", [z.name for z in self.zones])
        problems += _unique("colocations", [c.name for c in self.colocations])
        problems += _unique("vips", [v.name for v in self.vips])
        problems += _unique("frontend paths", [p for r in self.roles for p in [r.frontend_path, *r.frontend_also] if p])
        problems += [f"roles[{r.name}].frontend_path: {p!r} must start with '/'"
                     for r in self.roles for p in [r.frontend_path, *r.frontend_also] if p and not p.startswith("/")]
        problems += [f"roles[{r.name}].frontend_also: needs frontend_path" for r in self.roles
                     if r.frontend_also and not r.frontend_path]
        problems += _check_switch_defaults(self.switches)
        for colocation in self.colocations:
            for kind, leader in colocation.follows.items():
                for name in (kind, leader):
                    if name not in self.node_kinds:
                        problems.append(f"colocations[{colocation.name}].follows: unknown node kind {name!r}; "
                                        f"node kinds: {', '.join(self.node_kinds)}")
        for i, rule in enumerate(self.constraints):
            check_expr(f"constraints[{i}].when", rule.when)
            named = {field for _, field, _, _ in string.Formatter().parse(rule.message) if field}
            if named - known:
                problems.append(f"constraints[{i}].message: unknown name(s) {', '.join(sorted(named - known))} in braces")
        for role in self.roles:
            where = f"roles[{role.name}]"
            if role.zone is not None and role.zone not in zone_names:
                problems.append(f"{where}.zone: unknown zone {role.zone!r}; valid: {', '.join(sorted(zone_names))}")
            check_expr(f"{where}.enabled_when", role.enabled_when)
            problems += _unknown_sources(where, role.sources, self.sources)
            problems += _unique(f"{where}.services", [svc.name for svc in role.services])
            for svc in role.services:
                check_expr(f"{where}.services[{svc.name}].enabled_when", svc.enabled_when)
                for item in svc.ports:
                    _, _, ref = parse_port(item.partition("/")[0])
                    if ref and ref not in int_switches:
                        problems.append(f"{where}.services[{svc.name}].ports: ${ref} is not an int switch")
        external = {r.name for r in self.roles if r.external}
        zone_kinds = {z.name: z.kind for z in self.zones}
        for name, layout in self.layouts.items():
            problems += _unknown_sources(f"layouts.{name}", layout.sources, self.sources)
            problems += _unique(f"layouts.{name}.hosts", [host.kind for host in layout.hosts])
            for i, host in enumerate(layout.hosts):
                where = f"layouts.{name}.hosts[{host.kind}]"
                if host.zone not in zone_names:
                    problems.append(f"{where}.zone: unknown zone {host.zone!r}; valid: {', '.join(sorted(zone_names))}")
                elif zone_kinds[host.zone] != (host.per or "global"):
                    problems.append(f"{where}.zone: zone {host.zone!r} is {zone_kinds[host.zone]}, so the hosts must be "
                                    + (f"per: {zone_kinds[host.zone]}" if zone_kinds[host.zone] != "global" else "global (no per)"))
                check_expr(f"{where}.when", host.when)
                problems += _bad_count(where, host.count, {f"{kind}_nodes" for kind in layout.nodes}, self.max_nodes)
                if host.primary is not None and host.primary not in [hr.role for hr in host.host_roles()]:
                    problems.append(f"{where}.primary: {host.primary!r} is not one of the host's roles")
                for hr in host.host_roles():
                    if hr.role in external:
                        problems.append(f"{where}.roles: {hr.role!r} is outside the lab; hosts carry the lab's roles only")
                    elif hr.role not in role_names:
                        problems.append(f"{where}.roles: unknown role {hr.role!r}; valid roles: {', '.join(sorted(role_names))}")
                    check_expr(f"{where}.roles[{hr.role}].when", hr.when)
        for vip in self.vips:
            if vip.role not in role_names:
                problems.append(f"vips[{vip.name}].role: unknown role {vip.role!r}")
            check_expr(f"vips[{vip.name}].when", vip.when)
            problems += _unknown_sources(f"vips[{vip.name}]", vip.sources, self.sources)
        for sw in self.switches:
            if sw.default_is_expression:
                check_expr(f"switches[{sw.name}].default", sw.default, allow_switches=False)
        for row in self.connections:
            problems += _unknown_sources(f"connections[{row.id}]", row.sources, self.sources)
            for i, edge in enumerate(row.edges):
                where = f"connections[{row.id}].edges[{i}]"
                for end in ("from_", "to"):
                    name = getattr(edge, end)
                    if name not in role_names:
                        problems.append(f"{where}.{end.rstrip('_')}: unknown role {name!r}; valid roles: {', '.join(sorted(role_names))}")
                if edge.to in role_names:
                    problems += _unserved_ports(where, edge, self.role(edge.to))
                if edge.to in role_names and edge.from_ in role_names:
                    problems += _unrealizable(where, edge, self.role(edge.from_), self.role(edge.to))
                check_expr(f"{where}.when", edge.when)
                check_expr(f"{where}.via_when", edge.via_when)
                for item in edge.ports:
                    _, _, ref = parse_port(item)
                    if ref and ref not in int_switches:
                        problems.append(f"{where}.ports: ${ref} is not an int switch; int switches: {', '.join(sorted(int_switches))}")
        if problems:
            raise ValueError("\n".join(problems))
        return self


def _edge_names(edge) -> set[str]:
    """The switches and facts an edge's conditions and port references name."""
    names = {parse_port(item)[2] for item in edge.ports} - {None}
    for text in (edge.when, edge.via_when):
        names |= expr.names(text) if text else set()
    return names


def _bad_count(where: str, count: Optional[str], node_facts: set[str], max_nodes: int) -> list[str]:
    """A host template's count: a whole number from 1 to max_nodes, or one of the layout's node facts."""
    if count is None or count in node_facts:
        return []
    if re.fullmatch(r"[1-9][0-9]*", count) and int(count) <= max_nodes:
        return []
    return [f"{where}.count: {count!r} is neither a number from 1 to {max_nodes} nor one of {', '.join(sorted(node_facts))}"]


def _check_switch_defaults(switches: list) -> list[str]:
    """A switch's default is a value of its type: int a port 1-65535, bool true/false (or a condition)."""
    problems = []
    for sw in switches:
        where = f"switches[{sw.name}].default"
        if sw.type == "int" and (isinstance(sw.default, bool) or not isinstance(sw.default, int) or not 1 <= sw.default <= 65535):
            problems.append(f"{where}: {sw.default!r} is not a port number 1-65535")
        if sw.type == "bool" and not isinstance(sw.default, (bool, str)):
            problems.append(f"{where}: {sw.default!r} is neither true, false nor a condition")
    return problems


def _check_node_counts(catalog: "Catalog") -> list[str]:
    """Every layout counts the same node kinds, within the catalog's bound."""
    problems = []
    kinds = catalog.node_kinds
    for name, layout in catalog.layouts.items():
        if list(layout.nodes) != kinds:
            problems.append(f"layouts.{name}.nodes: must count the same node kinds as the other layouts, in the same "
                            f"order ({', '.join(kinds)}; got {', '.join(layout.nodes)})")
        for kind, count in layout.nodes.items():
            if (count.max or catalog.max_nodes) > catalog.max_nodes or count.default > catalog.max_nodes:
                problems.append(f"layouts.{name}.nodes.{kind}: beyond max_nodes {catalog.max_nodes}")
    return problems


def _unserved_ports(where: str, edge, role: Role) -> list[str]:
    """An edge's ports must be served by its destination role (a service that lists the port, as written)."""
    if role.external or not edge.ports:
        return []
    served = set(role.served())
    missing = [f"{p}/{proto}" for p in edge.ports for proto in edge.protocols if (proto, str(p)) not in served]
    if not missing:
        return []
    offered = ", ".join(f"{port}/{proto}" for proto, port in sorted(served)) or "nothing"
    return [f"{where}.ports: {', '.join(missing)} not served by role {role.name!r}; add it to a service of the "
            f"role (it serves {offered})"]


def _unrealizable(where: str, edge, src: Role, dst: Role) -> list[str]:
    """The lab's proxies speak HTTP only (PROXY_SPEAKS): an edge from a proxying role that reaches a service speaking
    another protocol (Tomcat's AJP) -- the service it names, or any service of the destination serving one of its
    ports -- says which service of the destination the lab uses instead (realized), and that service serves the
    realized ports, where nothing speaks anything but HTTP."""
    if edge.realized is None:
        speaks = _speaks(dst, edge.service, edge.ports, edge.protocols)
        if src.proxy and speaks:
            return [f"{where}.realized: {src.name} proxies in {', '.join(PROXY_SPEAKS)} only, and {speaks[0]} speaks "
                    f"{speaks[1]}; name the service (and ports) of {dst.name} the lab uses instead, and why"]
        return []
    realized = next((svc for svc in dst.services if svc.name == edge.realized.service), None)
    if realized is None:
        return [f"{where}.realized.service: {edge.realized.service!r} is not a service of role {dst.name!r}; its services: "
                f"{', '.join(svc.name for svc in dst.services) or 'none'}"]
    problems = []
    missing = [f"{p}/{proto}" for p in edge.realized.ports for proto in edge.protocols
               if f"{p}/{proto}" not in realized.ports]
    if missing:
        problems.append(f"{where}.realized.ports: {', '.join(missing)} not served by {dst.name}'s {realized.name} "
                        f"(it serves {', '.join(realized.ports)})")
    speaks = _speaks(dst, realized.name, edge.realized.ports, edge.protocols)
    if src.proxy and speaks:
        problems.append(f"{where}.realized.service: {speaks[0]} speaks {speaks[1]}; {src.name} proxies in "
                        f"{', '.join(PROXY_SPEAKS)} only")
    return problems


def _speaks(role: Role, service: Optional[str], ports: list, protocols: list[str]) -> Optional[tuple[str, str]]:
    """(service, protocol) of the first service the edge reaches that speaks what the lab's proxies cannot: the service
    it names, or one of the role's services serving one of its ports (as written); None when all speak HTTP."""
    items = {f"{p}/{proto}" for p in ports for proto in protocols}
    for svc in role.services:
        if (svc.name == service or items & set(svc.ports)) and svc.speaks not in PROXY_SPEAKS:
            return svc.name, svc.speaks
    return None


def _unique(what: str, names: list[str]) -> list[str]:
    seen, dupes = set(), []
    for name in names:
        if name in seen:
            dupes.append(name)
        seen.add(name)
    return [f"{what}: duplicate {d!r}" for d in dupes]


def _unknown_sources(where: str, keys: list[str], sources: dict[str, str]) -> list[str]:
    return [f"{where}.sources: unknown source key {k!r}" for k in keys if k not in sources]


def _expression_checker(known: set[str], facts: frozenset[str], types: dict, problems: list[str]):
    def check(where: str, text: Optional[str], allow_switches: bool = True) -> None:
        if text is None:
            return
        allowed = known if allow_switches else facts
        try:
            unknown = expr.names(text) - allowed
            if not unknown:
                expr.check_types(text, types)
        except expr.ExpressionError as exc:
            problems.append(f"{where}: {exc}")
            return
        if unknown:
            problems.append(f"{where}: unknown name(s) {', '.join(sorted(unknown))} in {text!r}")
    return check
