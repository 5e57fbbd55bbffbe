"""From raw stack config to a checked request: every problem collected, each with its field path."""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

from pydantic import BaseModel, ValidationError

from ..catalog import Catalog, default_catalog, expr
from .addressing import zone_networks
from .errors import LabConfigError, Problem
from ..contract import parse_ttl
from .model import MAX_EXTRA_FLOWS, PATTERN_WORDS, LabSpec

ROOT = "lab"
MAX_SITES = 128


@dataclass(frozen=True)
class CheckedSpec:
    """A spec that passed every check, with node counts, switch values and facts resolved."""
    spec: LabSpec
    nodes: Mapping[str, int]
    switches: Mapping[str, Any]
    facts: Mapping[str, Any]
    zone_cidrs: Mapping[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.spec.name


def check_spec(raw: Any, catalog: Optional[Catalog] = None, source: str = "lab config") -> CheckedSpec:
    """Validate raw stack config (a mapping) into a CheckedSpec, or raise LabConfigError listing every problem."""
    catalog = catalog or default_catalog()
    if not isinstance(raw, Mapping):
        raise LabConfigError([Problem(ROOT, f"must be a mapping of settings (got {_kind(raw)})")], source)
    version = raw.get("version")
    if isinstance(version, (int, float)) and not isinstance(version, bool):
        raise LabConfigError([Problem(f"{ROOT}.version", f"write the version in quotes, version: '{version}' (YAML reads "
                                                         f"an unquoted 6.10 as the number 6.1) (got the number {version})")], source)
    try:
        spec = LabSpec.model_validate(dict(raw))
    except ValidationError as exc:
        raise LabConfigError(_pydantic_problems(exc, LabSpec), source) from None
    problems: list[Problem] = []
    spec = _with_catalog_defaults(spec, catalog, problems)
    nodes = _node_counts(spec, catalog, problems)
    _check_sites(spec, problems)
    _check_ttl(spec, problems)
    _check_extra_flow_count(spec, problems)
    _check_backend_blocks(spec, catalog, problems)
    base_facts = _facts(spec, nodes)
    switches = _switches(spec, catalog, base_facts, problems)
    _check_constraints(catalog, {**base_facts, **switches}, problems)
    _check_exposure(spec, catalog, {**base_facts, **switches}, problems)
    zone_cidrs = zone_networks(spec, catalog, problems)
    if spec.backend == "aws":
        _check_aws_subnets(spec, zone_cidrs, problems)
    if problems:
        raise LabConfigError(problems, source)
    return CheckedSpec(spec=spec, nodes=nodes, switches=switches, facts={**base_facts, **switches},
                       zone_cidrs={k: str(v) for k, v in zone_cidrs.items()})


# ---- pydantic errors, rephrased with the field path and the allowed values ----------------------
def _pydantic_problems(exc: ValidationError, model: type[BaseModel]) -> list[Problem]:
    problems = []
    for err in exc.errors(include_url=False):
        loc = [str(p) for p in err["loc"]]
        path = ROOT + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"])   # lab.extra_flows[0].port
        if err["type"] == "extra_forbidden":
            parent = _model_at(model, loc[:-1])
            allowed = ", ".join(parent.model_fields) if parent else "see README"
            problems.append(Problem(path, f"unknown setting; allowed here: {allowed}"))
        elif err["type"] == "missing":
            problems.append(Problem(path, "required setting is missing"))
        elif err["type"] == "string_pattern_mismatch" and (err.get("ctx") or {}).get("pattern") in PATTERN_WORDS:
            words = PATTERN_WORDS[err["ctx"]["pattern"]]
            problems.append(Problem(path, f"must be {words} (got {_show(err.get('input'))})"))
        else:
            msg = err["msg"].removeprefix("Value error, ")
            problems.append(Problem(path, f"{msg} (got {_show(err.get('input'))})"))
    return problems


def _model_at(model: type[BaseModel], loc: list[str]) -> Optional[type[BaseModel]]:
    current: Any = model
    for part in loc:
        if part.isdigit():                  # an item of a list: its model is the list's (already unwrapped)
            continue
        info = current.model_fields.get(part) if isinstance(current, type) and issubclass(current, BaseModel) else None
        if info is None:
            return None
        current = _unwrap(info.annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    for arg in getattr(annotation, "__args__", ()) or ():
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    return annotation


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _kind(value: Any) -> str:
    return type(value).__name__


# ---- meaning -------------------------------------------------------------------------------
def _with_catalog_defaults(spec: LabSpec, catalog: Catalog, problems: list[Problem]) -> LabSpec:
    """Node kinds and co-location choices are the catalog's: unknown names are problems, unset ones are filled in
    (so the spec the program puts on the Lab component names every kind and choice, as the catalog has them)."""
    kinds = catalog.node_kinds
    choices = {c.name: c.default for c in catalog.colocations}
    for field_name, allowed in (("nodes", kinds), ("colocate", list(choices))):
        for name in getattr(spec, field_name):
            if name not in allowed:
                problems.append(Problem(f"{ROOT}.{field_name}.{name}", f"unknown setting; allowed here: {', '.join(allowed)}"))
    return spec.model_copy(update={"nodes": {k: spec.nodes.get(k) for k in kinds},
                                   "colocate": {name: spec.colocate.get(name, default) for name, default in choices.items()}})


def _node_counts(spec: LabSpec, catalog: Catalog, problems: list[Problem]) -> dict[str, int]:
    counts = {}
    bounds = catalog.layouts[spec.layout].nodes
    for kind, bound in bounds.items():
        given = spec.nodes.get(kind)
        path = f"{ROOT}.nodes.{kind}"
        if given is None:
            counts[kind] = bound.default
            continue
        top = bound.max or catalog.max_nodes
        if bound.fixed and given != bound.default:
            problems.append(Problem(path, f"layout {spec.layout!r} has exactly {bound.default} {kind} node(s); "
                                          f"use layout 'ha' for more (got {given})"))
        elif not 1 <= given <= top:
            problems.append(Problem(path, f"must be between 1 and {top} (got {given})"))
        elif given < bound.min:
            hint = f"; {bound.below_min}" if bound.below_min else ""
            problems.append(Problem(path, f"layout {spec.layout!r} needs at least {bound.min} {kind} nodes{hint} (got {given})"))
        elif bound.quorum and given > 1 and given % 2 == 0:
            allowed = ", ".join(str(n) for n in range(1, top + 1) if n == 1 or n % 2)
            problems.append(Problem(path, f"{given} {kind} nodes cannot keep a majority when half of them fail or are cut "
                                          f"off (the cluster has no arbitrator); allowed: {allowed} (got {given})"))
        counts[kind] = given
    for colocation in catalog.colocations:
        if not spec.colocate.get(colocation.name):
            continue
        for kind, leader in colocation.follows.items():
            if bounds[kind].fixed or bounds[leader].fixed:
                continue                                   # both fixed by the layout: nothing to follow
            given = spec.nodes.get(kind)
            if given is not None and given != counts[leader]:
                problems.append(Problem(f"{ROOT}.nodes.{kind}", f"with colocate.{colocation.name} every {leader} node "
                                        f"carries {kind} too, so nodes.{kind} must equal nodes.{leader} ({counts[leader]}) "
                                        f"or be unset (got {given})"))
            elif counts[leader] < bounds[kind].min:
                problems.append(Problem(f"{ROOT}.nodes.{leader}", f"with colocate.{colocation.name} the {leader} nodes are "
                                        f"the {kind} nodes, and layout {spec.layout!r} needs at least {bounds[kind].min} "
                                        f"{kind} nodes (got {counts[leader]})"))
            counts[kind] = counts[leader]
    return counts


def _check_sites(spec: LabSpec, problems: list[Problem]) -> None:
    if not spec.datacenters:
        problems.append(Problem(f"{ROOT}.datacenters", "needs at least one datacenter (each gets RS, BPM and NFS) (got [])"))
    for field_name in ("datacenters", "regions"):
        names = getattr(spec, field_name)
        if len(names) > MAX_SITES:
            problems.append(Problem(f"{ROOT}.{field_name}", f"at most {MAX_SITES} (got {len(names)})"))
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            problems.append(Problem(f"{ROOT}.{field_name}", f"duplicate name(s): {', '.join(dupes)}"))
    clash = sorted(set(spec.datacenters) & set(spec.regions))
    if clash:
        problems.append(Problem(f"{ROOT}.regions", f"name(s) also used by a datacenter: {', '.join(clash)}"))


def _check_extra_flow_count(spec: LabSpec, problems: list[Problem]) -> None:
    """Each entry becomes rules on every host it names (and one per role pair on AWS, whose groups hold few)."""
    if len(spec.extra_flows) > MAX_EXTRA_FLOWS:
        problems.append(Problem(f"{ROOT}.extra_flows", f"at most {MAX_EXTRA_FLOWS} entries (got {len(spec.extra_flows)}): "
                                                       "a stack declares a few vendor ports; a flow many labs need is a catalog row"))


def _check_ttl(spec: LabSpec, problems: list[Problem]) -> None:
    try:
        parse_ttl(spec.ttl)
    except ValueError as exc:
        problems.append(Problem(f"{ROOT}.ttl", str(exc)))


def _check_backend_blocks(spec: LabSpec, catalog: Catalog, problems: list[Problem]) -> None:
    other = "aws" if spec.backend == "docker" else "docker"
    if getattr(spec, other) is not None:
        problems.append(Problem(f"{ROOT}.{other}", f"settings for backend {other!r} but backend is {spec.backend!r}"))
    if spec.backend == "aws":
        _check_aws(spec.aws_settings, problems)
    roles = {r.name for r in catalog.internal_roles}
    for block, mapping in (("docker.images", spec.docker_settings.images), ("aws.instance_types", spec.aws_settings.instance_types)):
        for role in mapping:
            if role not in roles:
                problems.append(Problem(f"{ROOT}.{block}.{role}", f"unknown role; valid roles: {', '.join(sorted(roles))}"))


ACM_ARN = re.compile(r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[A-Za-z0-9-]+$")
BOOTSTRAP = re.compile(r"^(?P<cidr>[0-9a-fA-F.:/]+):(?P<port>\d{1,5})$")


def _check_aws(aws, problems: list[Problem]) -> None:
    path = f"{ROOT}.aws"
    if not aws.certificate_arn:
        problems.append(Problem(f"{path}.certificate_arn", "required setting is missing: the frontend load balancer's "
                                "HTTPS listener needs an ACM certificate ARN (arn:aws:acm:<region>:<account>:certificate/<id>)"))
    elif not ACM_ARN.match(aws.certificate_arn):
        problems.append(Problem(f"{path}.certificate_arn", f"not an ACM certificate ARN (got {_show(aws.certificate_arn)}); "
                                "expected arn:aws:acm:<region>:<account>:certificate/<id>"))
    for i, entry in enumerate(aws.bootstrap_egress):
        match = BOOTSTRAP.match(entry)
        ok = bool(match) and 1 <= int(match["port"]) <= 65535
        if ok:
            try:
                ipaddress.ip_network(match["cidr"])
            except ValueError:
                ok = False
        if not ok:
            problems.append(Problem(f"{path}.bootstrap_egress[{i}]", f"must be CIDR:PORT like '0.0.0.0/0:443' (got {_show(entry)})"))


AWS_SMALLEST_SUBNET = 28


def _check_aws_subnets(spec: LabSpec, zone_cidrs: Mapping[str, Any], problems: list[Problem]) -> None:
    """On AWS each zone network is split across the availability zones; AWS subnets are /28 at the smallest."""
    import math
    zones = spec.aws_settings.availability_zones
    bits = math.ceil(math.log2(zones))
    for name, cidr in zone_cidrs.items():
        net = ipaddress.ip_network(str(cidr))
        if net.prefixlen + bits > AWS_SMALLEST_SUBNET:
            field_name = f"subnets.{name}" if name in spec.subnets else "zone_prefix"
            problems.append(Problem(f"{ROOT}.{field_name}", f"zone network {name} ({net}) split over {zones} availability "
                                    f"zones gives /{net.prefixlen + bits} subnets; AWS allows /{AWS_SMALLEST_SUBNET} at the "
                                    f"smallest: use at most /{AWS_SMALLEST_SUBNET - bits} or fewer availability zones"))
            return


def _facts(spec: LabSpec, nodes: Mapping[str, int]) -> dict[str, Any]:
    facts: dict[str, Any] = {"layout": spec.layout, "backend": spec.backend, "version": spec.version,
                             "datacenters": len(spec.datacenters), "regions": len(spec.regions)}
    for kind, count in nodes.items():
        facts[f"{kind}_nodes"] = count
        facts[f"{kind}_cluster"] = count > 1
    facts.update(spec.colocate)
    return facts


def _switches(spec: LabSpec, catalog: Catalog, facts: Mapping[str, Any], problems: list[Problem]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    known = {s.name: s for s in catalog.switches}
    for name, value in spec.switches.items():
        path = f"{ROOT}.switches.{name}"
        sw = known.get(name)
        if sw is None:
            problems.append(Problem(path, f"unknown switch; valid switches: {', '.join(sorted(known))}"))
        elif sw.type == "bool" and not isinstance(value, bool):
            problems.append(Problem(path, f"must be true or false (got {_show(value)})"))
        elif sw.type == "int" and (isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535):
            problems.append(Problem(path, f"must be a port number 1-65535 (got {_show(value)})"))
        elif sw.type == "enum" and value not in sw.allowed:
            problems.append(Problem(path, f"must be one of {', '.join(sw.allowed)} (got {_show(value)})"))
    for sw in catalog.switches:
        if sw.name in spec.switches:
            values[sw.name] = spec.switches[sw.name]
        elif sw.default_is_expression:
            values[sw.name] = bool(expr.evaluate(str(sw.default), facts))
        else:
            values[sw.name] = sw.default
    return values


def _check_constraints(catalog: Catalog, facts: Mapping[str, Any], problems: list[Problem]) -> None:
    """The catalog's rules over the resolved settings (e.g. more than one API needs ZooKeeper)."""
    problems += [Problem(f"{ROOT}.{field_name}", message) for field_name, message in catalog.broken_constraints(facts)]


def _check_exposure(spec: LabSpec, catalog: Catalog, facts: Mapping[str, Any], problems: list[Problem]) -> None:
    """Whatever users reach must be exposable on the lab's backend (catalog: exposure): a public role the lab
    places, and the destination of every public flow (a row from the world, e.g. A05 with am_direct to RS)."""
    placed = {role for _, roles in catalog.placed(spec.layout, facts) for role in roles}
    switch_names = {s.name for s in catalog.switches}

    def refuse(role, why: str, conditions: list) -> None:
        named = {n for text in conditions if text for n in expr.names(text)} & switch_names
        turned_on = sorted(n for n in named if facts.get(n) is True)       # the bool switch that asks for it, first
        because = turned_on or sorted(named)
        field_name = f"switches.{because[0]}" if because else "backend"
        problems.append(Problem(f"{ROOT}.{field_name}", f"{why}, and backend {spec.backend!r} cannot expose role "
                                f"{role.name} (it can on: {', '.join(role.exposure) or 'none'}); turn it off or use one of those backends"))
    for role in catalog.internal_roles:
        if role.public and role.name in placed and spec.backend not in role.exposure:
            refuse(role, f"role {role.name} is public", [role.enabled_when])
    for row in catalog.encoded:
        for edge in row.edges:
            role = catalog.role(edge.to)
            if (catalog.role(edge.from_).world and role.name in placed and spec.backend not in role.exposure
                    and not role.public and (not edge.when or expr.evaluate(edge.when, facts))):
                refuse(role, f"{row.id} lets users reach role {role.name} directly", [edge.when])
