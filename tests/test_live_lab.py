"""Realization on a real Docker engine: the Docker resources recorded from the mocked program are created as
pulumi-docker would create them, then `verify` probes the running labs (docker-distributed and docker-ha, side by
side), the HA fault test stops one API, and teardown leaves nothing labelled. The labs use test-only names,
address pools and published ports, so they never collide with a user's labs."""
import ssl
import time
import urllib.request

import pytest
import yaml

from labctl.live import cluster, engine, verify
from abiquo_lab.plan import build_plan
from abiquo_lab.labspec import load_stack, read_stack_config
from abiquo_lab.labspec import STACKS_DIR

pytestmark = [pytest.mark.docker, pytest.mark.slow]
LABS = {  # test stack -> (shipped stack, overrides)
    "t-dist": ("docker-distributed", {"name": "tdist", "address_pool": "10.181.0.0/16",
                                      "docker": {"https_port": 18443, "http_port": 18080}}),
    "t-ha": ("docker-ha", {"name": "tha", "address_pool": "10.182.0.0/16",
                           "docker": {"https_port": 19443, "http_port": 19080}}),
}


@pytest.fixture(scope="module")
def stacks_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stacks")
    for stack, (shipped, overrides) in LABS.items():
        config = {**read_stack_config(shipped, STACKS_DIR), **overrides}
        (folder / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump({"config": {"abiquo-lab:lab": config}}))
    return folder


@pytest.fixture(scope="module")
def labs(docker_client, stacks_dir):
    made = {}
    try:
        for stack in LABS:
            plan = build_plan(load_stack(stack, stacks_dir=stacks_dir))
            engine.teardown(docker_client, lab=plan.lab)                 # leftovers of an interrupted run
            recording = engine.record_for_engine(stack, stacks_dir=stacks_dir)
            realized = engine.Engine(docker_client).realize(recording)
            made[stack] = (plan, recording, realized)
        for plan, _, _ in made.values():                                   # as `labctl verify` does: clusters whole first
            checks = cluster.settle(docker_client, plan, timeout=120)
            assert all(c.ok for c in checks), [c.line() for c in checks]
        yield made
    finally:
        for stack in LABS:
            engine.teardown(docker_client, lab=LABS[stack][1]["name"])


def _inspect(client, name):
    return client.api.inspect_container(name)


def test_realized_containers_are_the_recorded_ones(docker_client, labs):
    for plan, recording, _ in labs.values():
        records = recording.by_type(engine.CONTAINER)
        assert len(records) == len(plan.hosts)
        for record in records:
            raw = record.raw_inputs
            info = _inspect(docker_client, raw["name"])
            host = plan.host(raw["hostname"])
            attached = {n: v["IPAMConfig"]["IPv4Address"] for n, v in info["NetworkSettings"]["Networks"].items()}
            assert attached == {f"{plan.lab}-{zone}": address for zone, address in host.interfaces.items()}
            assert info["HostConfig"]["Init"] is True and not info["HostConfig"]["Privileged"]
            assert sorted(info["HostConfig"]["CapAdd"]) == sorted(raw["capabilities"]["adds"])
            assert info["HostConfig"]["NetworkMode"] != "host"
            assert engine._labels(raw["labels"]).items() <= info["Config"]["Labels"].items()
            assert set(raw["envs"]) <= set(info["Config"]["Env"])
            assert info["Config"]["Healthcheck"]["Interval"] == engine._duration_ns(raw["healthcheck"]["interval"])
            assert info["State"]["Health"]["Status"] == "healthy"
            for binding in (info["HostConfig"]["PortBindings"] or {}).values():
                assert binding[0]["HostIp"] == "127.0.0.1"                # published on loopback only


def test_every_object_of_one_realization_carries_its_instance_id(docker_client, labs):
    """A lab belongs to one stack and one realization: its networks and containers carry the stack and the same
    instance id, and two labs' ids differ."""
    from abiquo_lab import contract
    ids = {}
    for stack, (plan, _, _) in labs.items():
        flt = {"label": engine.label_filter(lab=plan.lab)}
        found = [c.labels for c in docker_client.containers.list(all=True, filters=flt)]
        found += [n.attrs["Labels"] for n in docker_client.networks.list(filters=flt)]
        assert {f[contract.STACK] for f in found} == {stack}
        ids[stack] = {f.get(contract.INSTANCE) for f in found}
        assert len(ids[stack]) == 1 and None not in ids[stack]
    assert ids["t-dist"] != ids["t-ha"]


def test_two_labs_run_side_by_side_on_disjoint_networks(docker_client, labs):
    subnets = {}
    for plan, _, _ in labs.values():
        running = docker_client.containers.list(filters={"label": engine.label_filter(lab=plan.lab)})
        assert len(running) == len(plan.hosts)
        for net in docker_client.networks.list(filters={"label": engine.label_filter(lab=plan.lab)}):
            subnets[net.name] = net.attrs["IPAM"]["Config"][0]["Subnet"]
    import ipaddress
    nets = [ipaddress.ip_network(s) for s in subnets.values()]
    assert len(nets) == sum(len(p.zones) for p, _, _ in labs.values())
    assert not any(a.overlaps(b) for i, a in enumerate(nets) for b in nets[i + 1:])


@pytest.mark.parametrize("stack", list(LABS))
def test_verify_every_documented_flow_answers_and_nothing_else(docker_client, labs, stack):
    plan = labs[stack][0]
    outcomes = verify.Verifier(docker_client, plan).run()
    failures = [o for o in outcomes if o.failed]
    assert not failures, "\n".join(f"{o.ids} {o.src}->{o.dst} {o.protocol}/{o.port} {o.expect}: {o.detail}" for o in failures)
    counts = verify.summary(outcomes)
    probes = verify.ProbePlan(plan).probes.values()
    assert counts["open_pass"] == sum(p.expect == "open" for p in probes) > 0
    assert counts["closed_pass"] == sum(p.expect == "closed" for p in probes) > 0
    real = {o.client for o in outcomes if o.expect == "open" and o.result == "pass"}
    assert {"redis", "mysql", "amqp", "nfs", "rpcbind", "https"} <= real
    if plan.layout == "ha":
        assert "zk" in real
    assert not any("!" in line for line in verify.matrix(outcomes).splitlines()[:-1])   # the last line is the legend


@pytest.mark.parametrize("stack", list(LABS))
def test_ajp_flows_answer_a_cping_and_the_frontend_speaks_http_to_8009(docker_client, labs, stack):
    """8010 is Tomcat's AJP connector: every documented flow to it (A22) answered an AJP13 CPing with a CPong; the
    frontend's /api goes over HTTP to 8009, and 8010 is closed to the frontend."""
    plan = labs[stack][0]
    outcomes = verify.Verifier(docker_client, plan).run()
    ajp = [o for o in outcomes if o.port == "8010" and o.expect == "open"]
    assert all(o.client == "ajp" and o.result == "pass" and o.detail == "AJP CPong" for o in ajp), ajp
    planned_to_8010 = {f.id for f in plan.flows if f.port == 8010}
    assert {o.ids for o in ajp} == planned_to_8010                   # A22, planned by default in distributed only
    if plan.layout == "distributed":
        assert ajp, "A22 reaches the server's AJP port in the distributed layout"
    frontends = {h.name for h in plan.hosts_with("frontend")}
    to_8010 = [o for o in outcomes if o.port == "8010" and o.src in frontends]
    assert all(o.expect == "closed" and o.result == "pass" for o in to_8010), to_8010
    if plan.layout == "ha" and planned_to_8010:      # separate frontends, and an API serving its AJP port (A22 asked for)
        assert to_8010, "the frontends are probed closed on the APIs' AJP port"
    https = LABS[stack][1]["docker"]["https_port"]
    assert {_frontend(https) for _ in range(4)} <= {f"ok {h.name} 8009" for h in plan.hosts_with("api")}


def test_every_node_enforces_its_planned_allowlist_and_drift_is_named(docker_client, labs):
    """What each node's nftables enforces equals the plan's allowlist, on every host (a VIP's non-holders too); a
    rule added by hand on one container is named, and nothing else."""
    from components.nodes import host_allow_rules
    for plan, _, _ in labs.values():
        assert verify.allowlist_drift(docker_client, plan, lambda host, p=plan: host_allow_rules(p, host)) == []
    plan = labs["t-ha"][0]
    victim = plan.hosts_with("datanode")[-1]
    container = docker_client.containers.get(f"{plan.lab}-{victim.name}")
    code, _ = container.exec_run(["nft", "add", "rule", "inet", "abiquo_lab", "input", "tcp", "dport", "6379", "accept"])
    assert code == 0
    try:
        drift = verify.allowlist_drift(docker_client, plan, lambda host: host_allow_rules(plan, host))
        assert drift == [f"{victim.name}: enforces tcp/6379 from any, which the plan does not give"], drift
    finally:
        handle = [line.split("# handle ")[1] for line in container.exec_run(
            ["nft", "-a", "list", "chain", "inet", "abiquo_lab", "input"]).output.decode().splitlines()
            if line.strip().startswith("tcp dport 6379 accept")]
        container.exec_run(["nft", "delete", "rule", "inet", "abiquo_lab", "input", "handle", handle[0]])
    assert verify.allowlist_drift(docker_client, plan, lambda host: host_allow_rules(plan, host)) == []


def _frontend(port, path="/api/"):
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    try:
        with urllib.request.urlopen(f"https://127.0.0.1:{port}{path}", context=context, timeout=3) as response:
            return response.read().decode().strip()
    except OSError as exc:
        return f"error {exc}"


def test_each_datacenters_am_path_reaches_its_own_rs(labs):
    """A06: /am goes to the first datacenter's RS, /am-<dc> to that datacenter's RS, and never to another's."""
    https = LABS["t-ha"][1]["docker"]["https_port"]
    plan = labs["t-ha"][0]
    for route in plan.host("lb-1").routes:
        if route.role == "rs":
            answers = {_frontend(https, f"{route.path}/upload") for _ in range(4)}
            assert answers == {f"ok {route.targets[0]} 8009"}, (route.path, answers)     # HTTP, on 8009


def test_http_redirects_to_the_published_https_port(labs):
    import http.client
    ports = LABS["t-ha"][1]["docker"]
    conn = http.client.HTTPConnection("127.0.0.1", ports["http_port"], timeout=5)
    conn.request("GET", "/api/x?y=1")
    response = conn.getresponse()
    assert response.status == 301
    assert response.getheader("Location") == f"https://127.0.0.1:{ports['https_port']}/api/x?y=1"


def test_ha_fault_one_api_down(docker_client, labs):
    plan = labs["t-ha"][0]
    https = LABS["t-ha"][1]["docker"]["https_port"]
    answers = {_frontend(https) for _ in range(6)}
    assert answers == {"ok api-1 8009", "ok api-2 8009"}              # both APIs serve /api behind the frontends
    dead = docker_client.containers.get(f"{plan.lab}-api-1")
    dead.stop(timeout=1)
    try:
        deadline, streak = time.monotonic() + 30, 0
        while streak < 6 and time.monotonic() < deadline:               # the frontend notices and uses the other API
            streak = streak + 1 if _frontend(https) == "ok api-2 8009" else 0
            time.sleep(0.3)
        assert streak >= 6
        outcomes = verify.Verifier(docker_client, plan).run()
        failed = [o for o in outcomes if o.failed]
        involves = lambda o: o.src == "api-1" or o.dst.split(" ")[0] == "api-1"   # noqa: E731
        assert failed and all(involves(o) and o.expect == "open" for o in failed)
        expected = {(f.src, f.dst, f.port) for f in plan.network_flows
                    if f.port is not None and f.dst_kind != "external" and "api-1" in (f.src, f.dst)}
        assert {(o.src, o.dst.split(" ")[0], int(o.port)) for o in failed} == expected
        lines = verify.matrix(outcomes).splitlines()
        column = lines[0].index(" api-1 ") + 1                       # where the api-1 column's cells start
        marked = [line for line in lines[1:-1] if "!" in line]
        assert any(line.startswith("api-1 ") for line in marked)
        assert all(line.startswith("api-1 ") or (line[column] == "!" and line.count("!") == 1) for line in marked)
    finally:
        dead.start()
        engine.Engine(docker_client).wait_healthy([r for r in labs["t-ha"][1].by_type(engine.CONTAINER)
                                                   if r.raw_inputs["hostname"] == "api-1"], timeout=120)
    assert not [o for o in verify.Verifier(docker_client, plan).run() if o.failed]   # back to a clean bill


def test_teardown_leaves_nothing_labelled(docker_client, labs):
    for stack, (plan, _, _) in labs.items():
        counts = engine.teardown(docker_client, lab=plan.lab)
        assert counts["containers"] == len(plan.hosts) and counts["networks"] == len(plan.zones)
        left = engine.labelled(docker_client, lab=plan.lab)
        assert not any(left.values()), left
