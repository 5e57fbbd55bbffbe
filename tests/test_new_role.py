"""A role is data first: a new optional role, added to a copy of the catalog and nothing else, goes through every
stage -- validated, planned, rendered on both backends, checked clean by the policy pack over gRPC, probed by
verify's plan and drawn in its datacenter -- with no code change. ABIQUO_LAB_CATALOG points every stage (the
program under mocks, the pack's own process, the commands) at the copy.

The role: a template cache in every datacenter, a scalable number of hosts per datacenter (a node kind of its
own), running real software through an existing start hook (Redis), with the protocol client verify speaks, a
capability of its own, a switch that turns it on, and a documented connection from the datacenter's RS.
"""
import copy

import pytest
import yaml

from abiquo_lab.catalog import CATALOG_ENV, CATALOG_FILE, default_catalog
from abiquo_lab.labspec import check_spec, read_stack_config
from abiquo_lab.plan import build_plan
from components.program import main as program
from labctl.check.analyzer import analyze_grpc
from labctl.live.verify import ProbePlan
from labctl.preview import record_program
from labctl.views.graph import mermaid

CONTAINER, INSTANCE = "docker:index/container:Container", "aws:ec2/instance:Instance"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"

NEW_ROLE = {
    "name": "cache", "title": "Template cache", "aliases": ["template-cache"], "scope": "datacenter", "zone": "dc",
    "description": "A per-datacenter cache in front of the template repository (a test role).",
    "component": "TemplateCache", "enabled_when": "template_cache", "capabilities": ["IPC_LOCK"], "sources": ["S1"],
    "services": [{"name": "cache", "ports": ["6379/tcp"], "software": "Redis as a cache", "start": "redis",
                  "holds": ["6379/tcp"], "clients": {"6379/tcp": "redis"}}],
}
NEW_ROW = {
    "id": "X01", "purpose": "RS reads templates through its datacenter's cache (a test row)", "evidence": "INF (test)",
    "sources": ["S1"], "required": True,
    "doc": {"from": "RS", "to": "Template cache", "port": "6379", "proto": "TCP", "req_opt": "required",
            "condition": "per DC, with the cache"},
    "edges": [{"from": "rs", "to": "cache", "service": "cache", "ports": [6379], "protocols": ["tcp"],
               "when": "template_cache"}],
}


@pytest.fixture(scope="module")
def catalog_copy(tmp_path_factory):
    data = yaml.safe_load(CATALOG_FILE.read_text())
    data["roles"].insert(next(i for i, r in enumerate(data["roles"]) if r.get("external")), NEW_ROLE)
    data["switches"].append({"name": "template_cache", "type": "bool", "default": False,
                             "description": "Build a template cache per datacenter (a test switch)"})
    for name, layout in data["layouts"].items():
        layout["nodes"]["cache"] = {"default": 2 if name == "ha" else 1}
        layout["hosts"].append({"kind": "cache", "zone": "dc", "per": "datacenter", "count": "cache_nodes",
                                "roles": ["cache"]})
    data["connections"].append(NEW_ROW)
    path = tmp_path_factory.mktemp("catalog") / "catalog.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture
def new_catalog(catalog_copy, monkeypatch):
    monkeypatch.setenv(CATALOG_ENV, str(catalog_copy))
    catalog = default_catalog()
    assert catalog.role("template-cache").name == "cache"
    return catalog


def _config(stack, **extra):
    config = copy.deepcopy(read_stack_config(stack))
    config["switches"] = {**config.get("switches", {}), "template_cache": True}
    config.update(extra)
    return config


def test_the_shipped_catalog_does_not_know_the_role():
    with pytest.raises(Exception, match="unknown switch; valid switches"):
        check_spec(_config("docker-ha"))


def test_validated_with_its_node_count_and_planned_in_each_datacenter(new_catalog):
    checked = check_spec(_config("docker-ha", nodes={"cache": 3}))
    assert checked.nodes["cache"] == 3
    with pytest.raises(Exception, match=r"lab.nodes.cache: must be between 1 and 16 \(got 17\)"):
        check_spec(_config("docker-ha", nodes={"cache": 17}))
    plan = build_plan(check_spec(_config("docker-ha")))                 # the layout's default: 2 per datacenter
    caches = plan.hosts_with("cache")
    assert [(h.name, h.datacenter, h.zone) for h in caches] == [
        ("cache-dc1-1", "dc1", "dc-dc1"), ("cache-dc1-2", "dc1", "dc-dc1"),
        ("cache-dc2-1", "dc2", "dc-dc2"), ("cache-dc2-2", "dc2", "dc-dc2")]
    assert caches[0].runtime.start == ["redis"] and caches[0].runtime.clients == {"tcp/6379": "redis"}
    flows = {(f.src, f.dst) for f in plan.flows if f.id == "X01"}
    assert flows == {("rs-dc1", "cache-dc1-1"), ("rs-dc1", "cache-dc1-2"), ("rs-dc2", "cache-dc2-1"),
                     ("rs-dc2", "cache-dc2-2")}                        # per-datacenter rows stay in their datacenter


def test_rendered_on_docker_with_its_runtime(new_catalog):
    recording = record_program("docker-ha", _config("docker-ha"), program, preview=True)
    components = [r for r in recording.records if r.type == "abiquo:lab:TemplateCache"]
    assert len(components) == 1
    containers = [r for r in recording.by_type(CONTAINER) if r.parent == components[0].urn]
    assert sorted(r.inputs["hostname"] for r in containers) == ["cache-dc1-1", "cache-dc1-2", "cache-dc2-1", "cache-dc2-2"]
    env = dict(item.split("=", 1) for item in containers[0].inputs["envs"] if isinstance(item, str) and "=" in item)
    assert env["LAB_START"] == "redis" and env["LAB_REAL"] == "tcp/6379" and env["LAB_LISTEN"] == "tcp/6379"
    assert containers[0].inputs["capabilities"]["adds"] == ["IPC_LOCK", "NET_ADMIN"]
    assert analyze_grpc(recording) == []


def test_rendered_on_aws_and_checked_clean(new_catalog):
    recording = record_program("aws-ha", _config("aws-ha"), program, preview=True)
    instances = [r for r in recording.by_type(INSTANCE) if "cache" in r.inputs["tags"]["abiquo-lab.roles"].split()]
    assert len(instances) == 4
    rules = [r for r in recording.by_type(INGRESS) if r.inputs.get("description", "").startswith("X01")]
    assert len(rules) == 1 and rules[0].inputs["fromPort"] == 6379
    assert analyze_grpc(recording) == []
    broken = copy.deepcopy(recording)
    broken.records = [r for r in broken.records if r.urn != rules[0].urn]
    found = analyze_grpc(broken)
    assert any(v.policy == "required-connections" and v.message.startswith("X01 rs → cache tcp/6379 is not allowed")
               for v in found)


def test_probed_by_verify_with_its_client(new_catalog):
    plan = build_plan(check_spec(_config("docker-ha")))
    probes = ProbePlan(plan).probes.values()
    documented = [p for p in probes if p.dst == "cache-dc1-1" and p.expect == "open"]
    assert [(p.src, p.port, p.client) for p in documented] == [("rs-dc1", 6379, "redis")]
    forbidden = {p.src for p in probes if p.dst == "cache-dc1-1" and p.expect == "closed"}
    assert {"rs-dc2", "api-1", "datanode-1"} <= forbidden


def test_drawn_in_its_datacenter(new_catalog):
    picture = mermaid(build_plan(check_spec(_config("docker-ha"))))
    block = picture.split('subgraph zone_dc_dc1["dc-dc1')[1].split("end")[0]
    assert 'cache_dc1["cache-dc1 x2: cache"]' in block
    assert 'cache_dc2["cache-dc2 x2: cache"]' in picture.split('subgraph zone_dc_dc2["dc-dc2')[1].split("end")[0]
