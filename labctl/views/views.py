"""Read-only views of the catalog and of a plan, shared by the CLI, the docs and the checks."""
from __future__ import annotations

from typing import Any

from abiquo_lab.catalog import Catalog, UnknownNameError
from abiquo_lab.catalog.model import Connection, Edge
from abiquo_lab.plan import Plan

FLOW_COLUMNS = ["id", "from", "to", "port", "protocol", "service", "required", "kind", "evidence"]
CATALOG_COLUMNS = ["id", "from", "to", "ports", "protocols", "required", "when", "evidence", "sources", "purpose"]


def flow_rows(plan: Plan) -> list[dict[str, Any]]:
    return [{"id": f.id, "from": f.src, "to": f.dst, "port": f.ports_text, "protocol": f.protocol, "service": f.service,
             "required": f.required, "kind": _flow_kind(f), "evidence": f.evidence,
             "from_role": f.src_role, "to_role": f.dst_role} for f in plan.flows]


def _flow_kind(flow) -> str:
    if flow.local:
        return "local"
    if flow.from_outside:
        return "from-outside"          # tenant VMs: no source in a lab, so no rule, not probed
    if flow.public:
        return "public"
    if flow.egress:
        return "egress"
    return "vip" if flow.dst_kind == "vip" else "network"


def edge_text(edge: Edge) -> dict[str, Any]:
    ports = ", ".join(str(p) for p in edge.ports) or "-"
    if edge.realized:
        ports += f" (lab: {', '.join(str(p) for p in edge.realized.ports)})"
    return {"from": edge.from_, "to": edge.to, "ports": ports,
            "protocols": ", ".join(edge.protocols), "when": edge.when or "always", "placement": edge.placement,
            "via_when": edge.via_when, "service": edge.service, "note": edge.note}


def catalog_rows(catalog: Catalog) -> list[dict[str, Any]]:
    rows = []
    for row in catalog.connections:
        base = {"id": row.id, "evidence": row.evidence_class, "sources": row.sources, "purpose": row.purpose}
        if row.excluded:
            rows.append({**base, "from": row.doc.from_, "to": row.doc.to, "ports": row.doc.port, "protocols": row.doc.proto,
                         "required": None, "when": f"excluded: {row.excluded}"})
            continue
        for edge in row.edges:
            rows.append({**base, **edge_text(edge), "required": row.required})
    return rows


SWITCH_COLUMNS = ["name", "kind", "type", "default", "allowed", "question", "evidence", "rows", "description"]


def switch_rows(catalog: Catalog) -> list[dict[str, Any]]:
    """Every named switch and co-location choice a stack may set: its default, the open question it answers, the
    documentation it rests on and the catalog rows it changes (none: it changes only which hosts carry the roles)."""
    rows = [{"name": s.name, "kind": "switch", "type": s.type, "default": s.default, "allowed": s.allowed or "",
             "question": s.question, "evidence": s.evidence, "rows": catalog.rows_changed_by(s.name),
             "description": s.description} for s in catalog.switches]
    rows += [{"name": c.name, "kind": "colocation", "type": "bool", "default": c.default, "allowed": "",
              "question": c.question, "evidence": c.evidence, "rows": catalog.rows_changed_by(c.name),
              "description": c.description} for c in catalog.colocations]
    return rows


def explain_id(catalog: Catalog, row_id: str, plan: Plan | None = None) -> str:
    """A catalog row (see explain), or a flow the stack declares (extra_flows: X1, X2, ...) with its reason."""
    wanted = row_id.strip().upper()
    declared = [f for f in plan.flows if f.declared and f.id == wanted] if plan is not None else []
    if declared:
        return explain_declared(declared, plan)
    try:
        return explain(catalog, catalog.connection(row_id), plan)
    except UnknownNameError as exc:
        ids = sorted({f.id for f in plan.flows if f.declared}) if plan is not None else []
        err = UnknownNameError(exc.what, exc.name, [*exc.valid, *ids])
        if plan is None:
            err.args = (err.args[0] + "; a flow a stack declares (extra_flows: X1, X2, ...) is explained with --stack S",)
        raise err from None


def explain_declared(flows: list, plan: Plan) -> str:
    first = flows[0]
    lines = [f"{first.id}  stack-declared in lab {plan.lab!r} (extra_flows), not a catalog row", "",
             f"  reason    {first.reason}",
             f"  port      {first.ports_text}/{first.protocol}",
             "  required  yes: rendered, enforced and checked like a catalog flow", "",
             f"In lab {plan.lab!r}: {len(flows)} flow(s)"]
    lines += [f"  {f.src} -> {f.dst}  {f.ports_text}/{f.protocol}  {_flow_kind(f)}" for f in flows]
    return "\n".join(lines) + "\n"


def explain(catalog: Catalog, row: Connection, plan: Plan | None = None) -> str:
    lines = [f"{row.id}  {row.purpose}", "",
             "The spec says:",
             f"  from      {row.doc.from_}",
             f"  to        {row.doc.to}",
             f"  port      {row.doc.port}",
             f"  protocol  {row.doc.proto}",
             f"  req/opt   {row.doc.req_opt}",
             f"  condition {row.doc.condition}",
             f"  evidence  {row.evidence}  (class {row.evidence_class})", ""]
    if row.excluded:
        lines += [f"Not encoded: {row.excluded}", ""]
    else:
        lines.append(f"Encoded as ({'required' if row.required else 'optional'}):")
        for edge in row.edges:
            e = edge_text(edge)
            lines.append(f"  {e['from']} -> {e['to']}  {', '.join(str(p) for p in edge.ports) or '-'}/{e['protocols']}  when: {e['when']}"
                         + (f"  placement: {e['placement']}" if e["placement"] != "any" else "")
                         + (f"  via VIP when: {e['via_when']}" if e["via_when"] else "")
                         + (f"  ({e['note']})" if e["note"] else ""))
            if edge.realized:
                lines.append(f"    the lab uses {', '.join(str(p) for p in edge.realized.ports)}/{e['protocols']} "
                             f"({edge.realized.service}) instead: {edge.realized.why}")
        lines.append("")
    lines.append("Sources:")
    lines += [f"  {key}  {catalog.sources.get(key, '(unknown source key)')}" for key in row.sources]
    if plan is not None:
        flows = [f for f in plan.flows if f.id == row.id]
        lines += ["", f"In lab {plan.lab!r}: {len(flows)} flow(s)"]
        lines += [f"  {f.src} -> {f.dst}  {f.ports_text}/{f.protocol}  {_flow_kind(f)}" + _documented(f) for f in flows]
        routes = [(h.name, r) for h in plan.hosts for r in h.routes
                  if any(f.src == h.name and f.dst in r.targets and f.port == r.port and f.dst_role == r.role for f in flows)]
        if routes:
            lines += ["", "Proxy routes these flows carry:"]
            lines += [f"  {name}: {r.path} -> {', '.join(r.targets)} :{r.port}" + (f"  timeout {r.timeout} s" if r.timeout else "")
                      + (f"  ({r.site} only)" if r.site else "") for name, r in routes]
    return "\n".join(lines) + "\n"


def _documented(flow) -> str:
    """' (documented 8010)' where the lab uses another port than the row's (the catalog's realized); else ''."""
    return f"  (documented {flow.documented})" if flow.documented else ""


def plan_text(plan: Plan) -> str:
    """A stable, line-per-item text of a plan: the golden-file format, so changes read as diffs."""
    out = [f"lab {plan.lab}: {plan.layout} on {plan.backend}, version {plan.version}, owner {plan.owner}",
           "switches: " + ", ".join(f"{k}={v}" for k, v in sorted(plan.switches.items())), "", "zones:"]
    out += [f"  {z.name:<12} {z.cidr:<16} {z.kind}{' ' + z.site if z.site else ''}" for z in plan.zones]
    out += ["", "hosts:"]
    for h in plan.hosts:
        site = h.datacenter or h.region or "-"
        nets = " ".join(f"{zone}={addr}" for zone, addr in h.interfaces.items())
        out.append(f"  {h.name:<12} [{' '.join(h.roles)}] site={site} {'public ' if h.public else ''}{nets}")
        out += [f"    route {r.path} -> {' '.join(r.targets)} :{r.port} ({r.role})" for r in h.routes]
    out += ["", "vips:"]
    out += [f"  {v.name:<16} {v.address:<14} {v.zone} members={' '.join(v.members)}" for v in plan.vips]
    out += ["", "flows:"]
    out += [f"  {f.id} {f.src} -> {f.dst} {f.ports_text}/{f.protocol} {_flow_kind(f)}{'' if f.required else ' optional'}"
            + _documented(f)
            + (f" stack-declared: {f.reason}" if f.declared else "") for f in plan.flows]
    return "\n".join(out) + "\n"
