"""The Pulumi program for the Docker stacks, run under mocks: the recorded resource graph matches the plan."""
import json

import pytest

from abiquo_lab.plan import allowlist, build_plan
from labctl.preview import record_stack
from abiquo_lab.labspec import load_stack
from abiquo_lab import contract as labels
from components.nodes import allow_rules

DOCKER_STACKS = ["docker-monolithic", "docker-distributed", "docker-ha"]
NETWORK = "docker:index/network:Network"
CONTAINER = "docker:index/container:Container"
IMAGE = "docker:index/image:Image"


@pytest.fixture(scope="module", params=DOCKER_STACKS)
def recorded(request):
    stack = request.param
    return stack, build_plan(load_stack(stack)), record_stack(stack, preview=False)


def _labels(record):
    return {item["label"]: item["value"] for item in record.inputs.get("labels", [])}


def test_one_network_per_zone_with_the_planned_subnet(recorded):
    _, plan, rec = recorded
    nets = {r.inputs["name"]: r.inputs for r in rec.by_type(NETWORK)}
    assert nets.keys() == {f"{plan.lab}-{z.name}" for z in plan.zones}
    for zone in plan.zones:
        net = nets[f"{plan.lab}-{zone.name}"]
        assert net["ipamConfigs"][0]["subnet"] == zone.cidr
        assert net["internal"] is (zone.zone != "frontend")


def test_containers_join_only_the_networks_their_flows_need(recorded):
    _, plan, rec = recorded
    containers = {r.inputs["hostname"]: r for r in rec.by_type(CONTAINER)}
    assert containers.keys() == {h.name for h in plan.hosts}
    for host in plan.hosts:
        attached = {(n["name"], n["ipv4Address"]) for n in containers[host.name].inputs["networksAdvanced"]}
        assert attached == {(f"{plan.lab}-{zone}", addr) for zone, addr in host.interfaces.items()}
        needed = {host.zone}
        for f in plan.network_flows:
            if f.src == host.name and f.dst_kind != "external":
                needed.add(plan.vip(f.dst).zone if f.dst_kind == "vip" else plan.host(f.dst).zone)
            if f.public and f.dst == host.name:            # public ingress arrives on the frontend network
                needed.add("frontend")
        assert set(host.interfaces) == needed, host.name


def test_allowlists_equal_the_plan_in_env_and_label(recorded):
    _, plan, rec = recorded
    for r in rec.by_type(CONTAINER):
        host = r.inputs["hostname"]
        allowed = allow_rules(allowlist(plan, host))
        env = dict(e.split("=", 1) for e in r.inputs["envs"] if "=" in e)
        assert json.loads(env["LAB_ALLOW"]) == allowed
        assert json.loads(_labels(r)[labels.ALLOWLIST]) == allowed
        routes = [[x.path, x.port, [[t, plan.host(t).address] for t in x.targets]] + ([x.timeout] if x.timeout else [])
                  for x in plan.host(host).routes]
        assert json.loads(env["LAB_ROUTES"]) == routes == json.loads(_labels(r)[labels.ROUTES])
        if "any" in {row[1] for row in allowed}:   # public ingress only on the frontends' listener ports
            assert "frontend" in plan.host(host).roles
            assert {row[2] for row in allowed if row[1] == "any"} <= {"80", "443"}


def test_every_docker_object_carries_the_lab_labels(recorded):
    stack, plan, rec = recorded
    for r in rec.by_type(NETWORK) + rec.by_type(CONTAINER):
        found = _labels(r)
        assert found[labels.LAB] == plan.lab and found[labels.STACK] == stack
        assert found[labels.OWNER] == plan.owner and labels.EXPIRES_AT in found
    for r in rec.by_type(CONTAINER):
        assert {labels.ROLE, labels.DATACENTER, labels.HOST} <= _labels(r).keys()
    sites = {f"{plan.lab}-{z.name}": z for z in plan.zones}
    for r in rec.by_type(NETWORK):
        zone = sites[r.inputs["name"]]
        assert _labels(r)[labels.DATACENTER] == (zone.site if zone.kind == "datacenter" else "")
    assert rec.by_type(IMAGE)[0].inputs["build"]["args"]["LAB"] == plan.lab


def test_least_privilege_container_settings(recorded):
    _, plan, rec = recorded
    for r in rec.by_type(CONTAINER):
        inputs = r.inputs
        assert inputs.get("privileged") in (None, False) and "networkMode" not in inputs
        assert inputs["init"] is True and inputs["wait"] is True
        caps = set(inputs["capabilities"]["adds"])
        roles = set(plan.host(inputs["hostname"]).roles)
        assert caps == ({"NET_ADMIN"} | ({"DAC_READ_SEARCH", "SYS_ADMIN"} if "nfs" in roles else set()))
        for port in inputs.get("ports", []):
            assert port["ip"] == "127.0.0.1" and port["internal"] in (80, 443)
            assert "frontend" in roles


def test_components_are_parented_and_typed(recorded):
    _, plan, rec = recorded
    by_urn = rec.by_urn()
    lab = rec.by_type("abiquo:lab:Lab")[0]
    for r in rec.records:
        if r is lab:
            continue
        assert r.parent in by_urn, r.name                                   # nothing hangs off the stack directly
        assert r.name.startswith(plan.lab)                                   # child names derive from the parent
    for r in rec.by_type(CONTAINER):
        parent = by_urn[r.parent]
        host = plan.host(r.inputs["hostname"])
        assert parent.type.startswith("abiquo:lab:") and by_urn[parent.parent] is lab
        assert parent.name == f"{plan.lab}-{host.primary}"
        assert any(d.endswith(f"::{plan.lab}-node-image") for d in r.dependencies)


@pytest.mark.parametrize("stack", DOCKER_STACKS)
def test_preview_registers_the_same_resources_as_update(stack):
    preview, update = record_stack(stack, preview=True), record_stack(stack, preview=False)
    shape = lambda rec: sorted((r.type, r.name, r.parent, tuple(sorted(r.property_dependencies))) for r in rec.records)
    assert shape(preview) == shape(update)
    assert len(preview.records) == len(update.records)


def test_bad_config_registers_nothing(tmp_path):
    from labctl.preview import record_program
    from abiquo_lab.labspec import LabConfigError
    from components.program import main
    with pytest.raises(LabConfigError) as err:
        record_program("bad", {"name": "b", "backend": "docker", "layout": "ha", "nodes": {"api": 0}}, main)
    assert "lab.nodes.api: must be between 1 and 16 (got 0)" in str(err.value)
    assert err.value.records == []                 # nothing half-created


def test_labctl_preview_json_lists_every_resource_with_its_graph_fields(capsys):
    from labctl.cli import main
    assert main(["preview", "--stack", "docker-distributed", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    types = [r["type"] for r in data["resources"]]
    assert types.count(CONTAINER) == len(build_plan(load_stack("docker-distributed")).hosts)
    assert all({"type", "name", "parent", "inputs", "dependencies", "property_dependencies"} <= r.keys() for r in data["resources"])


@pytest.mark.parametrize("preview", [False, True])
def test_database_password_is_generated_and_stays_secret(preview):
    rec = record_stack("docker-distributed", preview=preview)
    assert len(rec.by_type("random:index/randomPassword:RandomPassword")) == 1
    for r in rec.by_type(CONTAINER):
        secret = [i for i, e in enumerate(r.inputs["envs"]) if e == "[secret]"]
        assert len(secret) == 1 and r.secret_paths == [f"envs[{secret[0]}]"], r.name
        assert not any(e.startswith("LAB_DB_PASSWORD=") for e in r.inputs["envs"])
        assert "mock-" not in json.dumps(r.inputs)


@pytest.mark.parametrize("preview", [False, True])
def test_the_rabbitmq_cluster_cookie_is_a_secret_on_the_brokers_alone(preview):
    """HA: one Erlang cookie (a generated Pulumi secret) for the RabbitMQ cluster, on the datanodes only."""
    rec = record_stack("docker-ha", preview=preview)
    cookies = [r for r in rec.by_type("random:index/randomPassword:RandomPassword") if "erlang-cookie" in r.name]
    assert len(cookies) == 1
    plan = build_plan(load_stack("docker-ha"))
    for r in rec.by_type(CONTAINER):
        brokers = "rabbitmq" in plan.host(r.inputs["hostname"]).runtime.start
        assert len(r.secret_paths) == (2 if brokers else 1), r.name
        assert not any(str(e).startswith("LAB_ERLANG_COOKIE=") for e in r.inputs["envs"])
        assert r.secret_paths == [f"envs[{i}]" for i, e in enumerate(r.inputs["envs"]) if e == "[secret]"]



def test_a_published_role_publishes_its_own_public_ports_and_checks_clean():
    """websockify (noVNC, 5.x) is public on 41337: published at its own number on the publish address; the pack
    accepts world ingress there because the plan has that public flow (A45), and nowhere else."""
    from components.program import main as program
    from labctl.check.analyzer import analyze_in_process
    from labctl.preview import record_program
    from abiquo_lab.labspec import read_stack_config
    config = {**read_stack_config("docker-ha"), "version": "5.4", "switches": {"novnc": True}}
    recording = record_program("docker-ha", config, program, preview=True)
    ws = next(r for r in recording.by_type("docker:index/container:Container") if r.inputs["hostname"] == "ws")
    assert ws.inputs["ports"] == [{"internal": 41337, "external": 41337, "ip": "127.0.0.1", "protocol": "tcp"}]
    assert [v for v in analyze_in_process(recording) if v.level == "mandatory"] == []
