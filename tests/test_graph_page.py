"""`labctl graph -f html` looked at as a person would: opened in Debian's headless Chromium, every host and flow of
the stack must be drawn (the page's own script measures each drawn element), and a screenshot is kept under the
test's tmp path. The --diff and --verify overlays, and the SVG/PNG path through Graphviz.

Chromium and Graphviz come from scripts/ensure-tools.sh; without them these tests skip, unless LAB_REQUIRE_TOOLS=1
(scripts/test.sh, CI) makes that a failure."""
import json
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest

from abiquo_lab.labspec import load_stack
from abiquo_lab.plan import build_plan
from labctl.cli import main
from labctl.views import page

ROOT = Path(__file__).resolve().parents[1]


def tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        if os.environ.get("LAB_REQUIRE_TOOLS") == "1":
            pytest.fail(f"{name} required (LAB_REQUIRE_TOOLS=1) but not installed: run bash scripts/ensure-tools.sh")
        pytest.skip(f"{name} not installed (bash scripts/ensure-tools.sh)")
    return found


class Elements(HTMLParser):
    """Every element with its attributes, in document order."""
    def __init__(self, text: str):
        super().__init__()
        self.found: list[tuple[str, dict]] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, dict(attrs)))

    def with_class(self, name: str) -> list[dict]:
        return [a for tag, a in self.found if tag == "g" and name in (a.get("class") or "").split()]

    def svg(self) -> dict:
        return next(a for tag, a in self.found if tag == "svg")


def chromium(*args: str) -> subprocess.CompletedProcess:
    command = [tool("chromium"), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               "--no-first-run", "--virtual-time-budget=3000", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def write_page(tmp_path: Path, capsys, *argv: str) -> Path:
    out = tmp_path / "page.html"
    code = main([*argv, "-f", "html", "-o", str(out)])
    assert code == 0, capsys.readouterr().err
    return out


def expected(plan, level: str):
    data = plan.model_dump(mode="json")
    return page.nodes(data, level), page.edges(data, level), data


def test_the_page_shows_every_host_and_flow_in_chromium(tmp_path, capsys):
    out = write_page(tmp_path, capsys, "graph", "--stack", "docker-ha", "--level", "host")
    html = out.read_text()
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", html), "the page loads nothing"
    assert not re.findall(r"https?://(?!www\.w3\.org/2000/svg)", html), "the page names no network address"
    dom = chromium("--dump-dom", out.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    seen = Elements(dom.stdout)
    plan = build_plan(load_stack("docker-ha"))
    nodes, edges, _ = expected(plan, "host")
    drawn_nodes = {a["data-name"] for a in seen.with_class("node")}
    assert {h.name for h in plan.hosts} <= drawn_nodes and drawn_nodes == set(nodes)
    drawn_edges = {(a["data-src"], a["data-dst"]): a["data-flows"] for a in seen.with_class("edge")}
    assert set(drawn_edges) == set(edges)
    for flow in plan.network_flows:                       # every flow: its port label on the arrow of its two ends
        labels = drawn_edges[(flow.src, flow.dst)].split(";")
        assert any(l.endswith(" " + page.flow_label(flow.model_dump())) and flow.id in l.split() for l in labels), flow
    svg = seen.svg()                                      # what the browser laid out with a non-empty box
    assert int(svg["data-drawn-nodes"]) == len(drawn_nodes)
    assert int(svg["data-drawn-edges"]) == int(svg["data-drawn-labels"]) == len(drawn_edges)
    shot = tmp_path / "docker-ha.host.png"
    width, height = int(svg["width"]) + 40, int(svg["height"]) + 120
    done = chromium(f"--screenshot={shot}", f"--window-size={width},{height}", out.as_uri())
    assert done.returncode == 0 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 20_000                   # a drawing, not a blank page


def test_the_kind_level_page_draws_each_kind_once(tmp_path, capsys):
    out = write_page(tmp_path, capsys, "graph", "--stack", "aws-ha")
    seen = Elements(chromium("--dump-dom", out.as_uri()).stdout)
    nodes, edges, _ = expected(build_plan(load_stack("aws-ha")), "kind")
    assert sorted(a["data-name"] for a in seen.with_class("node")) == sorted(nodes)
    assert int(seen.svg()["data-drawn-edges"]) == len(edges) > 10


def test_diff_colours_added_and_removed_flows(tmp_path, capsys):
    stacks = tmp_path / "stacks"
    shutil.copytree(ROOT / "stacks", stacks)
    path = stacks / "Pulumi.docker-ha.yaml"
    path.write_text(path.read_text().replace("datacenters: [dc1, dc2]", "datacenters: [dc1, dc3]"))
    out = write_page(tmp_path, capsys, "--stacks-dir", str(stacks), "graph", "--stack", "docker-ha", "--diff", str(ROOT))
    seen = Elements(out.read_text())
    classes = {a["data-name"]: a["class"].split() for a in seen.with_class("node")}
    assert "added" in classes["rs-dc3"] and "removed" in classes["rs-dc2"] and "added" not in classes["api"]
    edges = {(a["data-src"], a["data-dst"]): a["class"].split() for a in seen.with_class("edge")}
    assert "added" in edges[("api", "rs-dc3")] and "removed" in edges[("api", "rs-dc2")]
    assert not {"added", "removed"} & set(edges[("api", "rs-dc1")])
    assert "stroke: #2e7d32" in out.read_text() and "stroke: #c62828" in out.read_text()


def test_verify_overlay_marks_answered_failed_and_forbidden_answers(tmp_path, capsys):
    """A verify result written by hand in `labctl verify -f json`'s shape (a live one needs a running lab): one
    documented probe failed, one forbidden probe answered."""
    plan = build_plan(load_stack("docker-ha"))
    probed = [f for f in plan.network_flows if not f.src.startswith("@") and not f.dst.startswith("@") and f.port]
    outcomes = [{"ids": [f.id], "src": f.src, "dst": f.dst, "port": f.port, "protocol": f.protocol, "client": "tcp",
                 "expect": "open", "result": "pass", "detail": ""} for f in probed]
    broken = probed[0]
    outcomes[0]["result"] = "FAIL"
    outcomes.append({"ids": ["-"], "src": "nfs-dc1", "dst": "ui-1", "port": 22, "protocol": "tcp", "client": "tcp",
                     "expect": "closed", "result": "FAIL", "detail": "answered"})
    outcomes.append({"ids": ["-"], "src": "nfs-dc2", "dst": "ui-2", "port": 22, "protocol": "tcp", "client": "tcp",
                     "expect": "closed", "result": "pass", "detail": ""})
    saved = tmp_path / "verify.json"
    saved.write_text(json.dumps({"lab": plan.lab, "summary": {}, "outcomes": outcomes}))
    out = write_page(tmp_path, capsys, "graph", "--stack", "docker-ha", "--level", "host", "--verify", str(saved))
    edges = {(a["data-src"], a["data-dst"]): a for a in Elements(out.read_text()).with_class("edge")}
    assert edges[(broken.src, broken.dst)]["data-verify"] == "failed"
    assert edges[("nfs-dc1", "ui-1")]["data-verify"] == "failed"          # forbidden, answered: drawn though unplanned
    assert edges[("nfs-dc2", "ui-2")]["data-verify"] == "silent"
    answered = [p for p, a in edges.items() if a.get("data-verify") == "answered"]
    assert len(answered) == len({(f.src, f.dst) for f in probed}) - 1


def test_svg_and_png_through_graphviz(tmp_path, capsys):
    tool("dot")
    svg, png = tmp_path / "t.svg", tmp_path / "t.png"
    assert main(["graph", "--stack", "docker-ha", "-f", "svg", "-o", str(svg)]) == 0
    assert main(["graph", "--stack", "docker-ha", "-f", "png", "-o", str(png)]) == 0
    tree = ET.parse(svg)
    ns = {"s": "http://www.w3.org/2000/svg"}
    titles = {t.text for g in tree.getroot().iterfind(".//s:g[@class='node']", ns) for t in g.iterfind("s:title", ns)}
    nodes, _, _ = expected(build_plan(load_stack("docker-ha")), "kind")
    assert set(nodes) <= titles
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
