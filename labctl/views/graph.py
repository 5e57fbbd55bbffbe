"""The topology of a plan as Mermaid or Graphviz DOT (and SVG/PNG through Graphviz's `dot` when installed); the
self-contained HTML page is `page.py`."""
from __future__ import annotations

import shutil
import subprocess
from collections import defaultdict

from abiquo_lab.contract import LabError
from abiquo_lab.plan import Plan

GRAPH_FORMATS = ("mermaid", "dot", "svg", "png", "html")


def _edges(plan: Plan, level: str) -> dict[tuple[str, str], set[str]]:
    node = (lambda name: _kind_of(plan, name)) if level == "kind" else (lambda name: name)
    edges: dict[tuple[str, str], set[str]] = defaultdict(set)
    for flow in plan.flows:
        if flow.local:
            continue
        label = f"{flow.ports_text}/{flow.protocol}" if flow.port is not None else flow.protocol
        edges[(node(flow.src), node(flow.dst))].add(label)
    return edges


def _kind_of(plan: Plan, name: str) -> str:
    if name.startswith("@"):
        return name
    vip = plan.vip(name)
    if vip is not None:
        return vip.name
    host = plan.host(name)
    site = host.site if host.per else None          # one host of the kind per datacenter / region: drawn there
    return f"{host.kind}-{site}" if site else host.kind


def _groups(plan: Plan, level: str) -> dict[str, list[tuple[str, str]]]:
    groups: dict[str, list[tuple[str, str]]] = defaultdict(list)
    seen = set()
    for host in plan.hosts:
        name = _kind_of(plan, host.name) if level == "kind" else host.name
        if name in seen:
            continue
        seen.add(name)
        count = sum(1 for h in plan.hosts if _kind_of(plan, h.name) == name) if level == "kind" else 1
        label = f"{name}{f' x{count}' if count > 1 else ''}: {' + '.join(host.roles)}"
        groups[host.zone].append((name, label))
    for vip in plan.vips:
        groups[vip.zone].append((vip.name, f"{vip.name} (virtual IP)"))
    return groups


def _externals(edges) -> list[str]:
    return sorted({n for pair in edges for n in pair if n.startswith("@")})


def _key(name: str) -> str:
    return name.replace("@", "ext_").replace("-", "_")


def _sorted_labels(labels: set[str]) -> str:
    return ", ".join(sorted(labels, key=lambda s: (len(s.split("/")[0]), s)))


def mermaid(plan: Plan, level: str = "kind") -> str:
    lines = ["flowchart LR"]
    zones = {z.name: z for z in plan.zones}
    for zone, members in _groups(plan, level).items():
        lines.append(f'  subgraph {_key("zone_" + zone)}["{zone} {zones[zone].cidr}"]')
        lines += [f'    {_key(n)}["{label}"]' for n, label in members]
        lines.append("  end")
    edges = _edges(plan, level)
    lines += [f'  {_key(n)}(("{n[1:].upper()}"))' for n in _externals(edges)]
    for (src, dst), labels in sorted(edges.items()):
        lines.append(f'  {_key(src)} -->|"{_sorted_labels(labels)}"| {_key(dst)}')
    return "\n".join(lines) + "\n"


def dot(plan: Plan, level: str = "kind") -> str:
    lines = [f'digraph "{plan.lab}" {{', "  rankdir=LR;", '  node [shape=box, fontname="Helvetica", fontsize=10];',
             '  edge [fontname="Helvetica", fontsize=8];']
    zones = {z.name: z for z in plan.zones}
    for zone, members in _groups(plan, level).items():
        lines.append(f'  subgraph "cluster_{zone}" {{ label="{zone} {zones[zone].cidr}"; style=rounded;')
        lines += [f'    "{n}" [label="{label}"];' for n, label in members]
        lines.append("  }")
    edges = _edges(plan, level)
    lines += [f'  "{n}" [label="{n[1:].upper()}", shape=ellipse];' for n in _externals(edges)]
    for (src, dst), labels in sorted(edges.items()):
        lines.append(f'  "{src}" -> "{dst}" [label="{_sorted_labels(labels)}"];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def picture(plan: Plan, fmt: str, level: str = "kind") -> bytes:
    """SVG or PNG through Graphviz; a missing `dot` is an error naming the package."""
    exe = shutil.which("dot")
    if exe is None:
        raise LabError("Graphviz is not installed (apt-get install graphviz); use --format mermaid or dot")
    return subprocess.run([exe, f"-T{fmt}"], input=dot(plan, level).encode(), capture_output=True, check=True).stdout
