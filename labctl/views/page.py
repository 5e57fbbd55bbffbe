"""`labctl graph -f html`: one self-contained page (inline SVG drawn here, a few lines of inline script; no network)
with the zones as boxes, the hosts and VIPs in them, and the flows as labelled arrows. With a base plan the flows
and hosts the change adds are green and those it removes red; with a saved `labctl verify -f json` result each
edge shows what the probes found (answered, failed; pairs whose forbidden probes stayed silent as dotted lines).

It works on plans as plain data (`Plan.model_dump(mode="json")`), so a base plan made by another revision's code
(`labctl diff`'s snapshot) is drawn the same way."""
from __future__ import annotations

from collections import defaultdict
from html import escape
from typing import Optional

NODE_W, NODE_H, ROW_GAP, COL_GAP, TOP, LEFT = 210, 30, 34, 190, 60, 30
LABELS_PER_LINE = 3
STYLE = """
body { font-family: Helvetica, Arial, sans-serif; margin: 16px; color: #222; background: #fff; }
h1 { font-size: 18px; margin: 0 0 4px; } p.legend { font-size: 13px; margin: 0 0 8px; }
.zone rect { fill: #f4f6f8; stroke: #9aa5b1; rx: 8; } .zone text { font-size: 13px; font-weight: bold; fill: #334; }
.node rect { fill: #fff; stroke: #445; stroke-width: 1.2; rx: 5; } .node text { font-size: 12px; }
.node.vip rect { stroke-dasharray: 4 2; fill: #fffbea; } .node.external rect { fill: #eef3ff; rx: 14; }
.node.added rect { stroke: #2e7d32; stroke-width: 3; fill: #e8f5e9; } .node.removed rect { stroke: #c62828; stroke-width: 3; fill: #ffebee; }
.edge path { fill: none; stroke: #607080; stroke-width: 1.3; } .flows text { font-size: 10px; paint-order: stroke;
  stroke: #fff; stroke-width: 3px; fill: #333; }
.edge.added path { stroke: #2e7d32; stroke-width: 2.4; } .edge.removed path { stroke: #c62828; stroke-width: 2.4; stroke-dasharray: 6 3; }
tspan.added { fill: #2e7d32; font-weight: bold; } tspan.removed { fill: #c62828; text-decoration: line-through; }
.edge.answered path { stroke: #1565c0; stroke-width: 2.2; } .edge.failed path { stroke: #c62828; stroke-width: 3; }
.edge.silent path { stroke: #b0b8c0; stroke-dasharray: 2 3; } .flows.silent text { fill: #8a949e; }
.flows.failed text { fill: #c62828; font-weight: bold; } .edge:hover path { stroke-width: 4; } .flows:hover text { font-weight: bold; }
"""
SCRIPT = """
(function () {
  var svg = document.querySelector('svg.topology');
  function drawn(selector, line) {   // laid out with a box (a horizontal arrow is a line: one extent is enough)
    var n = 0;
    svg.querySelectorAll(selector).forEach(function (el) {
      var b = el.getBBox(); if (line ? (b.width > 0 || b.height > 0) : (b.width > 0 && b.height > 0)) n++;
    });
    return n;
  }
  svg.setAttribute('data-drawn-nodes', drawn('g.node', false));
  svg.setAttribute('data-drawn-edges', drawn('g.edge', true));
  svg.setAttribute('data-drawn-labels', drawn('g.flows', false));
})();
"""
MARKERS = {"plain": "#607080", "added": "#2e7d32", "removed": "#c62828", "answered": "#1565c0", "failed": "#c62828",
           "silent": "#b0b8c0"}


def load_outcomes(path: str) -> list[dict]:
    """The outcomes of a saved `labctl verify -f json`; anything else is bad input naming --verify."""
    import json
    from pathlib import Path
    from abiquo_lab.contract import InputError
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"--verify {path}: cannot read it ({exc.strerror})") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"--verify {path}: not valid JSON ({exc})") from None
    outcomes = data.get("outcomes") if isinstance(data, dict) else None
    if not isinstance(outcomes, list) or not all(isinstance(o, dict) and {"src", "dst", "expect", "result"} <= set(o)
                                                 for o in outcomes):
        raise InputError(f"--verify {path}: not a `labctl verify -f json` result (needs outcomes: [{{src, dst, "
                         "expect, result, ...}}])")
    return outcomes


# ---- the picture as data --------------------------------------------------------------------------------------
def node_of(plan: dict, name: str, level: str) -> str:
    """The node a host, VIP or outside party is drawn as: itself, or (level kind) its kind, per site if per site."""
    if level != "kind" or name.startswith("@"):
        return name
    hosts = {h["name"]: h for h in plan["hosts"]}
    host = hosts.get(name)
    if host is None:
        return name                                   # a VIP
    site = (host.get("datacenter") or host.get("region")) if host.get("per") else None
    return f"{host['kind']}-{site}" if site else host["kind"]


def nodes(plan: dict, level: str) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for host in plan["hosts"]:
        name = node_of(plan, host["name"], level)
        entry = out.setdefault(name, {"zone": host["zone"], "kind": "host", "roles": host["roles"], "count": 0})
        entry["count"] += 1
    for vip in plan.get("vips", []):
        out[vip["name"]] = {"zone": vip["zone"], "kind": "vip", "roles": [vip["role"]], "count": 1}
    for flow in network_flows(plan):
        for end in (flow["src"], flow["dst"]):
            if end.startswith("@"):
                out.setdefault(end, {"zone": None, "kind": "external", "roles": [], "count": 1})
    return out


def network_flows(plan: dict) -> list[dict]:
    return [f for f in plan["flows"] if not f.get("local")]


def flow_label(flow: dict) -> str:
    port, end = flow.get("port"), flow.get("port_end")
    if port is None:
        return flow["protocol"]
    return f"{port}/{flow['protocol']}" if end in (None, port) else f"{port}-{end}/{flow['protocol']}"


def edges(plan: dict, level: str) -> dict[tuple[str, str], dict[str, set[str]]]:
    """(src node, dst node) -> port label -> catalog ids."""
    out: dict[tuple[str, str], dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for flow in network_flows(plan):
        out[(node_of(plan, flow["src"], level), node_of(plan, flow["dst"], level))][flow_label(flow)].add(flow["id"])
    return out


def verify_states(plan: dict, level: str, outcomes: list[dict]) -> dict[tuple[str, str], dict]:
    """What the probes of each pair found: documented probes answered / failed, forbidden probes silent / answered."""
    found: dict[tuple[str, str], dict] = defaultdict(lambda: {"answered": 0, "failed": 0, "silent": 0, "probes": []})
    for row in outcomes:
        if row.get("result") == "not probed":
            continue
        pair = (node_of(plan, str(row["src"]), level), node_of(plan, str(row["dst"]), level))
        failed = row.get("result") == "FAIL"
        state = "failed" if failed else ("answered" if row.get("expect") == "open" else "silent")
        found[pair][state] += 1
        found[pair]["probes"].append(f"{row.get('expect')} {row.get('port')}/{row.get('protocol')}: {row.get('result')}")
    return found


def _state(counts: Optional[dict]) -> Optional[str]:
    if not counts:
        return None
    return "failed" if counts["failed"] else "answered" if counts["answered"] else "silent"


# ---- layout and drawing ---------------------------------------------------------------------------------------
def _columns(plan: dict, all_nodes: dict[str, dict], pairs) -> list[list[tuple[str, str, list[str]]]]:
    """Columns left to right, each a list of boxes (key, title, node names): outside sources; then the zone networks
    grouped by catalog zone in plan order (the datacenters' networks stacked in one column, the regions' in another);
    then outside targets."""
    sources = {s for s, _ in pairs if s.startswith("@")}
    by_zone: dict[str, list[tuple[str, str]]] = {}
    for z in plan["zones"]:
        by_zone.setdefault(z.get("zone", z["name"]), []).append((z["name"], f"{z['name']}  {z['cidr']}"))
    known = {z["name"] for z in plan["zones"]}
    for extra in sorted({n["zone"] for n in all_nodes.values() if n["zone"] and n["zone"] not in known}):
        by_zone.setdefault(extra, []).append((extra, extra))
    outside = lambda inbound: [("@in" if inbound else "@out", "outside",
                                sorted(n for n, v in all_nodes.items() if v["kind"] == "external" and (n in sources) == inbound))]
    columns = [outside(True)]
    columns += [[(key, title, [n for n, v in all_nodes.items() if v["zone"] == key]) for key, title in boxes]
                for boxes in by_zone.values()]
    columns.append(outside(False))
    columns = [[box for box in column if box[2]] for column in columns]
    return [column for column in columns if column]


def _node_label(name: str, node: dict) -> str:
    if node["kind"] == "external":
        return name[1:].upper()
    count = f" x{node['count']}" if node["count"] > 1 else ""
    roles = " + ".join(node["roles"])
    return f"{name}{count}: {roles}" if roles and roles != name else f"{name}{count}"


def _short(text: str, limit: int = 31) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def render(plan: dict, level: str = "kind", base: Optional[dict] = None, outcomes: Optional[list[dict]] = None,
           title: str = "") -> str:
    head_nodes, head_edges = nodes(plan, level), edges(plan, level)
    base_nodes, base_edges = (nodes(base, level), edges(base, level)) if base is not None else (head_nodes, head_edges)
    all_nodes = {**base_nodes, **head_nodes}
    pairs = sorted(set(head_edges) | set(base_edges))
    probes = verify_states(plan, level, outcomes) if outcomes is not None else {}
    extra = [p for p in sorted(probes) if p not in set(pairs) and p[0] in all_nodes and p[1] in all_nodes]
    columns = _columns(plan if base is None else {**base, **plan, "zones": _zones(base, plan)}, all_nodes, pairs + extra)
    place: dict[str, tuple[int, float]] = {}
    parts, height = [], TOP
    for i, column in enumerate(columns):
        x, top = LEFT + i * (NODE_W + 20 + COL_GAP), TOP + (i % 2) * 24
        for key, heading, members in column:
            box_h = 34 + len(members) * (NODE_H + ROW_GAP)
            parts.append(f'<g class="zone" data-zone="{escape(key)}"><rect x="{x}" y="{top - 30}" width="{NODE_W + 20}" '
                         f'height="{box_h}"/><text x="{x + 10}" y="{top - 10}">{escape(heading)}</text></g>')
            for j, name in enumerate(members):
                y = top + 8 + j * (NODE_H + ROW_GAP)
                place[name] = (i, y + NODE_H / 2)
                node = all_nodes[name]
                change = "added" if name not in base_nodes else "removed" if name not in head_nodes else ""
                label = _node_label(name, node)
                classes = " ".join(c for c in ("node", node["kind"], change) if c)
                parts.append(f'<g class="{classes}" data-name="{escape(name)}" data-kind="{node["kind"]}">'
                             f'<title>{escape(label)}</title><rect x="{x + 10}" y="{y}" width="{NODE_W}" height="{NODE_H}"/>'
                             f'<text x="{x + 18}" y="{y + 19}">{escape(_short(label))}</text></g>')
            top += box_h + 50
        height = max(height, top + 20)
    lines, drawn_pairs = [], set(pairs + extra)
    for k, pair in enumerate(pairs + extra):
        if pair[0] not in place or pair[1] not in place:
            continue
        lines.append(_edge(pair, k, place, head_edges.get(pair, {}), base_edges.get(pair, {}), probes.get(pair),
                           planned=pair in head_edges or pair in base_edges,
                           shift=(5 if pair[0] < pair[1] else -5) if (pair[1], pair[0]) in drawn_pairs else 0))
    zones_svg = [p for p in parts if p.startswith('<g class="zone"')]
    nodes_svg = [p for p in parts if not p.startswith('<g class="zone"')]
    drawing = zones_svg + [path for path, _ in lines] + nodes_svg + [label for _, label in lines]   # lines under boxes
    width = LEFT * 2 + len(columns) * (NODE_W + 20 + COL_GAP) - COL_GAP
    markers = "".join(f'<marker id="arrow-{n}" viewBox="0 0 10 10" refX="9" refY="5" markerUnits="userSpaceOnUse" markerWidth="10" markerHeight="10" '
                      f'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{c}"/></marker>'
                      for n, c in MARKERS.items())
    legend = _legend(base is not None, outcomes is not None, probes)
    svg = (f'<svg class="topology" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}"><defs>{markers}</defs>{"".join(drawing)}</svg>')
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title or plan["lab"])}</title>'
            f'<style>{STYLE}</style></head><body><h1>{escape(title or "lab " + plan["lab"])}</h1>'
            f'<p class="legend">{legend}</p>\n{svg}\n<script>{SCRIPT}</script></body></html>\n')


def _zones(base: dict, head: dict) -> list[dict]:
    seen, out = set(), []
    for zone in head["zones"] + base["zones"]:
        if zone["name"] not in seen:
            seen.add(zone["name"])
            out.append(zone)
    return out


def _legend(diff: bool, verify: bool, probes: dict) -> str:
    text = "Boxes: zone networks; dashed boxes: virtual IPs; arrows: flows (port/protocol; hover for the catalog rows)."
    if diff:
        text += ' <span style="color:#2e7d32">Green: added by the change.</span> <span style="color:#c62828">Red: removed.</span>'
    if verify:
        counts = {s: sum(c[s] for c in probes.values()) for s in ("answered", "failed", "silent")}
        text += (f' Probes: <span style="color:#1565c0">{counts["answered"]} documented answered (blue)</span>, '
                 f'<span style="color:#c62828">{counts["failed"]} failed (red)</span>, '
                 f'{counts["silent"]} forbidden silent (dotted grey).')
    return text


def _bezier(a, b, c, d, t: float) -> tuple[float, float]:
    u = 1 - t
    return tuple(u ** 3 * a[i] + 3 * u * u * t * b[i] + 3 * u * t * t * c[i] + t ** 3 * d[i] for i in (0, 1))


def _edge(pair, k, place, head: dict, base: dict, probe: Optional[dict], planned: bool, shift: float = 0):
    (c1, y1), (c2, y2) = place[pair[0]], place[pair[1]]
    y1, y2 = y1 + shift, y2 + shift                   # a pair talking both ways: two arrows side by side
    x_of = lambda col: LEFT + col * (NODE_W + 20 + COL_GAP) + 10
    if c2 > c1:
        x1, x2, bend = x_of(c1) + NODE_W, x_of(c2), max(60, (c2 - c1) * 50)
        p1, p2 = (x1 + bend, y1), (x2 - bend, y2)
    elif c2 < c1:
        x1, x2, bend = x_of(c1), x_of(c2) + NODE_W, max(60, (c1 - c2) * 50)
        p1, p2 = (x1 - bend, y1), (x2 + bend, y2)
    elif pair[0] == pair[1]:                          # a kind talking to itself (a cluster): a loop on its right
        x1 = x2 = x_of(c1) + NODE_W
        y1, y2 = y1 - 7, y2 + 7
        p1, p2 = (x1 + 45, y1 - 30), (x2 + 45, y2 + 30)
    else:
        x1 = x2 = x_of(c1) + NODE_W
        bend = 50 + abs(y2 - y1) / 4
        p1, p2 = (x1 + bend, y1), (x2 + bend, y2)
    if c1 == c2:
        mid_x, mid_y = (x1 + 3 * p1[0] + 3 * p2[0] + x2) / 8 + 6, (y1 + 3 * p1[1] + 3 * p2[1] + y2) / 8
    else:                                             # in a gap between columns, never over a box: gaps taken in turn
        gaps = range(min(c1, c2), max(c1, c2))
        gap = gaps[k % len(gaps)]
        spread = 0.2 + 0.6 * ((k * 3) % 5) / 4        # labels sharing a gap stand at five depths in it
        target = LEFT + gap * (NODE_W + 20 + COL_GAP) + NODE_W + 20 + COL_GAP * spread
        mid_x, mid_y = min((_bezier((x1, y1), p1, p2, (x2, y2), t / 64) for t in range(65)), key=lambda p: abs(p[0] - target))
    anchor = "start" if c1 == c2 else "middle"
    labels = sorted(set(head) | set(base), key=lambda s: (len(s.split("/")[0]), s))
    changes = {label: "added" if label not in base else "removed" if label not in head else "" for label in labels}
    state = "added" if labels and all(v == "added" for v in changes.values()) else \
        "removed" if labels and all(v == "removed" for v in changes.values()) else ""
    verify = _state(probe)
    classes = " ".join(c for c in ("edge", state, verify if (verify != "silent" or not planned) else "") if c)
    marker = state or (verify if verify and (verify != "silent" or not planned) else "plain")
    ids = {label: sorted(head.get(label, set()) | base.get(label, set())) for label in labels}
    flows = ";".join(f"{' '.join(ids[l])} {l}" for l in labels)
    shown = labels or sorted({p.split(" ", 1)[1].split(":")[0] for p in (probe or {}).get("probes", [])})
    rows = [shown[i:i + LABELS_PER_LINE] for i in range(0, len(shown), LABELS_PER_LINE)]
    mid_y -= (len(rows) - 1) * 5.5
    tspans = "".join(f'<tspan x="{mid_x:.0f}" dy="{0 if n == 0 else 11}">'
                     + ", ".join(f'<tspan class="{changes[l]}">{escape(l)}</tspan>' if changes.get(l) else escape(l)
                                 for l in row) + ("," if n < len(rows) - 1 else "") + "</tspan>"
                     for n, row in enumerate(rows))
    title = f"{pair[0]} -> {pair[1]}: " + "; ".join(f"{l} ({' '.join(ids[l])}){' ' + changes[l] if changes[l] else ''}"
                                                     for l in labels)
    if probe:
        title += " | probes: " + "; ".join(probe["probes"])
    ends = f'data-src="{escape(pair[0])}" data-dst="{escape(pair[1])}"'
    path = (f'<g class="{classes}" {ends} data-flows="{escape(flows)}"'
            f'{f" data-verify={chr(34)}{verify}{chr(34)}" if verify else ""}><title>{escape(title)}</title>'
            f'<path d="M{x1:.0f},{y1:.0f} C{p1[0]:.0f},{p1[1]:.0f} {p2[0]:.0f},{p2[1]:.0f} {x2:.0f},{y2:.0f}" '
            f'marker-end="url(#arrow-{marker})"/></g>')
    label = (f'<g class="{classes.replace("edge", "flows", 1)}" {ends}><title>{escape(title)}</title>'
             f'<text x="{mid_x:.0f}" y="{mid_y:.0f}" text-anchor="{anchor}">{tspans}</text></g>')
    return path, label
