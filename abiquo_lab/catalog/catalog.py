"""The Catalog: the loaded, cross-checked platform data and its registry look-ups."""
from __future__ import annotations

from functools import cached_property
from typing import Iterable, Optional

from pydantic import Field, model_validator

from ..contract import InputError
from . import expr
from .model import (FACT_NAMES, LAYOUTS, Connection, Layout, Role, Strict, Switch, Vip, Zone, parse_port)


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
        known = FACT_NAMES | switch_names
        overlap = FACT_NAMES & switch_names
        if overlap:
            problems.append(f"switches: {', '.join(sorted(overlap))} shadow facts of the same name")
        check_expr = _expression_checker(known, problems)
        for role in self.roles:
            where = f"roles[{role.name}]"
            if role.zone is not None and role.zone not in zone_names:
                problems.append(f"{where}.zone: unknown zone {role.zone!r}; valid: {', '.join(sorted(zone_names))}")
            check_expr(f"{where}.enabled_when", role.enabled_when)
            problems += _unknown_sources(where, role.sources, self.sources)
            for svc in role.services:
                check_expr(f"{where}.services[{svc.name}].enabled_when", svc.enabled_when)
                for item in svc.ports:
                    _, _, ref = parse_port(item.partition("/")[0])
                    if ref and ref not in int_switches:
                        problems.append(f"{where}.services[{svc.name}].ports: ${ref} is not an int switch")
        for name, layout in self.layouts.items():
            for i, host in enumerate(layout.hosts):
                where = f"layouts.{name}.hosts[{host.kind}]"
                if host.zone not in zone_names:
                    problems.append(f"{where}.zone: unknown zone {host.zone!r}; valid: {', '.join(sorted(zone_names))}")
                check_expr(f"{where}.when", host.when)
                if host.count is not None and not host.count.isdigit() and host.count not in FACT_NAMES:
                    problems.append(f"{where}.count: {host.count!r} is neither a number nor a *_nodes fact")
                if host.primary is not None and host.primary not in [hr.role for hr in host.host_roles()]:
                    problems.append(f"{where}.primary: {host.primary!r} is not one of the host's roles")
                for hr in host.host_roles():
                    if hr.role not in role_names:
                        problems.append(f"{where}.roles: unknown role {hr.role!r}; valid roles: {', '.join(sorted(role_names))}")
                    check_expr(f"{where}.roles[{hr.role}].when", hr.when)
        for vip in self.vips:
            if vip.role not in role_names:
                problems.append(f"vips[{vip.name}].role: unknown role {vip.role!r}")
            check_expr(f"vips[{vip.name}].when", vip.when)
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
                check_expr(f"{where}.when", edge.when)
                check_expr(f"{where}.via_when", edge.via_when)
                for item in edge.ports:
                    _, _, ref = parse_port(item)
                    if ref and ref not in int_switches:
                        problems.append(f"{where}.ports: ${ref} is not an int switch; int switches: {', '.join(sorted(int_switches))}")
        if problems:
            raise ValueError("\n".join(problems))
        return self


def _unique(what: str, names: list[str]) -> list[str]:
    seen, dupes = set(), []
    for name in names:
        if name in seen:
            dupes.append(name)
        seen.add(name)
    return [f"{what}: duplicate {d!r}" for d in dupes]


def _unknown_sources(where: str, keys: list[str], sources: dict[str, str]) -> list[str]:
    return [f"{where}.sources: unknown source key {k!r}" for k in keys if k not in sources]


def _expression_checker(known: set[str], problems: list[str]):
    def check(where: str, text: Optional[str], allow_switches: bool = True) -> None:
        if text is None:
            return
        allowed = known if allow_switches else FACT_NAMES
        try:
            unknown = expr.names(text) - allowed
        except expr.ExpressionError as exc:
            problems.append(f"{where}: {exc}")
            return
        if unknown:
            problems.append(f"{where}: unknown name(s) {', '.join(sorted(unknown))} in {text!r}")
    return check
