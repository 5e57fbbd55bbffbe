"""The Appliance Manager per datacenter (A06): one frontend path per datacenter, to that datacenter's RS only, with
the docs' 1800 s timeout, on the Docker frontend and on the ALB; the pack holds the routes to the plan."""
import copy
import json
import os
import subprocess
import sys

import pytest

from abiquo_lab.labspec import load_stack
from abiquo_lab.plan import build_plan
from labctl.preview import record_stack

AGENT = os.path.join(os.path.dirname(__file__), "..", "images", "node", "lab-agent")


@pytest.mark.parametrize("stack", ["docker-ha", "aws-ha"])
def test_one_am_path_per_datacenter_to_its_own_rs(stack):
    plan = build_plan(load_stack(stack))
    datacenters = load_stack(stack).spec.datacenters
    for lb in plan.hosts_with("frontend"):
        am = {r.path: r for r in lb.routes if r.role == "rs"}
        expected = {"/am" if i == 0 else f"/am-{dc}": dc for i, dc in enumerate(datacenters)}
        assert set(am) == set(expected)
        for path, dc in expected.items():
            assert [plan.host(t).datacenter for t in am[path].targets] == [dc] and am[path].timeout == 1800


def test_the_docker_frontend_routes_each_path_exactly_with_its_timeout():
    plan = build_plan(load_stack("docker-ha"))
    env = dict(os.environ, LAB_ROUTES=json.dumps(plan.route_rows("lb-1")))
    config = subprocess.run([sys.executable, AGENT, "--haproxy-config"], env=env, capture_output=True, text=True,
                            check=True).stdout
    assert "use_backend be_am-dc2 if { path /am-dc2 } or { path_beg /am-dc2/ }" in config
    assert "use_backend be_am if { path /am } or { path_beg /am/ }" in config       # /am does not catch /am-dc2
    section = config.split("backend be_am-dc2\n")[1].split("backend ")[0]
    assert "timeout server 1800s" in section and f"{plan.host('rs-dc2').address}:8009" in section
    assert plan.host("rs-dc1").address not in section
    assert "timeout server 1800s" not in config.split("backend be_api\n")[1].split("backend ")[0]


def test_the_alb_forwards_each_am_path_to_its_datacenter_and_waits_1800_s():
    rec = record_stack("aws-ha", preview=False)
    alb = rec.by_type("aws:lb/loadBalancer:LoadBalancer")[0]
    assert alb.inputs["idleTimeout"] == 1800
    rules = {tuple(c["pathPattern"]["values"]): r for r in rec.by_type("aws:lb/listenerRule:ListenerRule")
             for c in r.inputs["conditions"]}
    assert ("/am-dc2", "/am-dc2/*") in rules and ("/am", "/am/*") in rules
    attachments = [a.name for a in rec.by_type("aws:lb/targetGroupAttachment:TargetGroupAttachment")]
    assert any(n.endswith("tg-am-dc2-rs-dc2") for n in attachments) and not any(n.endswith("tg-am-dc2-rs-dc1") for n in attachments)
    assert any(n.endswith("tg-am-rs-dc1") for n in attachments) and not any(n.endswith("tg-am-rs-dc2") for n in attachments)


def test_the_pack_names_a_route_to_every_datacenter_or_without_its_timeout():
    from abiquo_lab.contract import ROUTES
    from labctl.check.analyzer import analyze_in_process
    base = record_stack("docker-ha", preview=False)
    for change, words in [
        (lambda rows: [r[:2] + [r[2]] for r in rows], "with a 1800 s timeout; the host must proxy /am"),
        (lambda rows: [r if r[0] != "/am" else [r[0], r[1], r[2] + [["rs-dc2", "10.93.5.10"]], r[3]] for r in rows],
         "route /am on 'lb-1' to rs-dc1"),
    ]:
        rec = copy.deepcopy(base)
        lb = next(r for r in rec.records if r.type.endswith("container:Container") and r.inputs["hostname"] == "lb-1")
        for item in lb.inputs["labels"]:
            if item["label"] == ROUTES:
                item["value"] = json.dumps(change(json.loads(item["value"])))
        found = [v.message for v in analyze_in_process(rec) if v.policy == "layout-completeness"]
        assert any(words in m for m in found), found


def test_explain_a06_shows_the_per_datacenter_paths(capsys):
    from labctl.cli import main
    assert main(["explain", "A06", "--stack", "docker-ha"]) == 0
    out = capsys.readouterr().out
    assert "lb-1: /am -> rs-dc1 :8009  timeout 1800 s  (dc1 only)" in out
    assert "lb-1: /am-dc2 -> rs-dc2 :8009  timeout 1800 s  (dc2 only)" in out


@pytest.mark.parametrize("stack", ["docker-ha", "docker-distributed", "aws-ha"])
def test_legal_is_routed_like_api(stack):
    """A09: `/api` and `/legal` go to the API's Tomcat the same way, wherever a proxy routes /api."""
    plan = build_plan(load_stack(stack))
    for host in plan.hosts:
        routes = {r.path: r for r in host.routes}
        if "/api" in routes:
            legal = routes["/legal"]
            assert (legal.role, legal.port, legal.targets) == (routes["/api"].role, routes["/api"].port, routes["/api"].targets)
    if stack == "aws-ha":
        rec = record_stack(stack, preview=False)
        paths = {tuple(c["pathPattern"]["values"]) for r in rec.by_type("aws:lb/listenerRule:ListenerRule")
                 for c in r.inputs["conditions"]}
        assert ("/legal", "/legal/*") in paths
