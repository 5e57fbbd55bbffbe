"""The HA lab behaves like an HA cluster, on a real Docker engine: its clusters form by themselves; each VIP is one
address, reserved in Docker's IPAM; for every datastore and the frontend VIP, data put in survives the loss of the
member that serves it (the VIP holder, the master, the leader), the VIP answers again, writes go on, and the member
rejoins and catches up; requests through the published frontend port survive the loss of an API and a UI node; an
isolated datanode takes no writes (no split brain) while the majority goes on, and catches up after heal.
The lab has a test-only name, address pool and published ports; only its own containers are probed."""
import time

import pytest
import yaml

from abiquo_lab.labspec import STACKS_DIR, load_stack, read_stack_config
from abiquo_lab.plan import build_plan
from labctl.live import cluster, engine
from labctl.live.drill import Drill, RequestLoop, vip_holder

pytestmark = [pytest.mark.docker, pytest.mark.slow]
STACK, LAB, HTTPS_PORT = "t-hb", "thb", 21443
STACKS_FOLDER = []                       # the fixture's stack folder, for the CLI tests
OVERRIDES = {"name": LAB, "address_pool": "10.183.0.0/16", "docker": {"https_port": HTTPS_PORT, "http_port": 21080}}


@pytest.fixture(scope="module")
def ha(docker_client, tmp_path_factory):
    folder = tmp_path_factory.mktemp("stacks")
    config = {**read_stack_config("docker-ha", STACKS_DIR), **OVERRIDES}
    (folder / f"Pulumi.{STACK}.yaml").write_text(yaml.safe_dump({"config": {"abiquo-lab:lab": config}}))
    STACKS_FOLDER.append(str(folder))
    plan = build_plan(load_stack(STACK, stacks_dir=folder))
    engine.teardown(docker_client, lab=LAB)
    try:
        recording = engine.record_for_engine(STACK, stacks_dir=folder)
        engine.Engine(docker_client).realize(recording)
        checks = cluster.settle(docker_client, plan, timeout=120)
        assert all(c.ok for c in checks), "\n".join(c.line() for c in checks)
        yield plan, recording, Drill(docker_client, plan)
    finally:
        engine.teardown(docker_client, lab=LAB)
        assert not any(engine.labelled(docker_client, lab=LAB).values())


def _container(client, plan, host):
    return client.containers.get(f"{plan.lab}-{host}")


def _restart_and_settle(client, plan, recording, host):
    _container(client, plan, host).start()
    engine.Engine(client).wait_healthy([r for r in recording.by_type(engine.CONTAINER) if r.raw_inputs["hostname"] == host],
                                       timeout=180)
    checks = cluster.settle(client, plan, timeout=120)
    assert all(c.ok for c in checks), "\n".join(c.line() for c in checks)


def _views(client, plan):
    return cluster.member_views(client, plan)


def _local(client, plan, host, command):
    code, out = _container(client, plan, host).exec_run(["bash", "-c", command])
    return code, out.decode(errors="replace").strip()


# ---- the clusters and their addresses ----------------------------------------------------------------------------
def test_the_clusters_form_by_themselves(docker_client, ha):
    plan, _, _ = ha
    checks = {c.service: c for c in cluster.judge(plan, _views(docker_client, plan))}
    assert {"vip:services-vip", "vip:frontend-vip", "galera", "redis", "sentinel", "rabbitmq", "zookeeper"} <= set(checks)
    assert all(c.ok for c in checks.values()), [c.line() for c in checks.values()]


def test_every_vip_name_is_one_address_from_every_container(docker_client, ha):
    plan, _, _ = ha
    for host in plan.hosts:
        for vip in plan.vips:
            code, out = _local(docker_client, plan, host.name, f"getent ahostsv4 {vip.name} | awk '{{print $1}}' | sort -u")
            assert code == 0 and out.split() == [vip.address], (host.name, vip.name, out)


def test_vip_addresses_are_reserved_in_docker_ipam(docker_client, ha):
    plan, _, _ = ha
    import docker
    for vip in plan.vips:
        net = docker_client.networks.get(f"{plan.lab}-{vip.zone}")
        assert vip.address in (net.attrs["IPAM"]["Config"][0].get("AuxiliaryAddresses") or {}).values()
        probe = docker_client.containers.create("debian:bookworm-slim", ["true"], labels={"abiquo-lab.lab": plan.lab})
        try:
            net.disconnect(probe)
        except docker.errors.APIError:
            pass
        try:
            with pytest.raises(docker.errors.APIError):      # Docker refuses to hand the VIP to a container
                net.connect(probe, ipv4_address=vip.address)
                probe.start()
        finally:
            probe.remove(force=True)


# ---- failover with data intact, per service ----------------------------------------------------------------------
def _redis_master(client, plan):
    return cluster.member_in_role(client, plan, "redis", "master")


def _zk_leader(client, plan):
    return cluster.member_in_role(client, plan, "zookeeper", "leader")


SERVICES = {
    # service: (who to stop, put, read back -> list of values, check on the rejoined member)
    "mysql": (lambda c, p: vip_holder(c, p, "services-vip"),
              lambda d, tag: d.db_write(tag), lambda d: d.db_read().value or [],
              "mariadb -uroot -N -B -e 'SELECT v FROM kinton.lab_drill ORDER BY id'"),
    "redis": (_redis_master, lambda d, tag: d.redis_set(tag, tag), lambda d: [d.redis_get(k).value for k in d.keys],
              None),
    "rabbitmq": (lambda c, p: vip_holder(c, p, "services-vip"), lambda d, tag: d.amqp_publish("lab-drill", tag),
                 None, "rabbitmqctl -q list_queues name messages | grep lab-drill"),
    "zookeeper": (_zk_leader, lambda d, tag: d.zk_create(tag, tag), lambda d: [d.zk_get(k).value for k in d.keys], None),
}


@pytest.mark.parametrize("service", list(SERVICES))
def test_failover_keeps_what_was_committed(docker_client, ha, service):
    plan, recording, drill = ha
    victim_of, put, read, rejoined_check = SERVICES[service]
    drill.keys = [f"{service}-before-{i}-{time.time_ns()}" for i in range(3)]
    for key in drill.keys:
        answer = put(drill, key)
        assert answer.ok, answer
    victim = victim_of(docker_client, plan)
    _container(docker_client, plan, victim).stop(timeout=10)
    try:
        after = f"{service}-after-{time.time_ns()}"
        answer, seconds = drill.until_ok(lambda: put(drill, after), timeout=30)
        assert answer.ok, f"{service}: no write through the VIP within 30 s after {victim} stopped: {answer}"
        if service == "rabbitmq":                                  # the queue holds before and after, in order
            got = [drill.amqp_get("lab-drill").value for _ in range(len(drill.keys) + 1)]
            assert got == drill.keys + [after], got
            assert put(drill, after).ok                            # one left in the queue for the rejoined member
        else:
            drill.keys.append(after)
            values = read(drill)
            assert all(k in values for k in drill.keys), (service, values)
    finally:
        _restart_and_settle(docker_client, plan, recording, victim)
    if rejoined_check:                                              # the rejoined member caught up by itself
        code, out = _local(docker_client, plan, victim, rejoined_check)
        expected = drill.keys if service == "mysql" else ["lab-drill", "1"]
        assert code == 0 and all(k in out.split() for k in expected), out
    if service == "redis":
        code, out = _local(docker_client, plan, victim, f"redis-cli -h $LAB_ADDRESS GET {drill.keys[-1]}")
        assert out == drill.keys[-1], out                           # a replica now, with the data
    if service == "zookeeper":
        address = plan.host(victim).address
        answer = Drill(docker_client, plan).run("zk_get", hosts=f"{address}:2181", key=drill.keys[-1])
        assert answer.ok and answer.value == drill.keys[-1], answer


def test_frontend_vip_moves_when_its_holder_stops(docker_client, ha):
    plan, recording, _ = ha
    holder = vip_holder(docker_client, plan, "frontend-vip")
    assert holder in plan.vip("frontend-vip").members
    request = ("python3 -c \"import ssl,urllib.request as u; c=ssl._create_unverified_context(); "
               "print(u.urlopen('https://frontend-vip/', context=c, timeout=2).status)\"")
    assert _local(docker_client, plan, "api-1", request) == (0, "200")
    _container(docker_client, plan, holder).stop(timeout=10)
    try:
        deadline = time.monotonic() + 15
        while _local(docker_client, plan, "api-1", request) != (0, "200") and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _local(docker_client, plan, "api-1", request) == (0, "200")
        assert vip_holder(docker_client, plan, "frontend-vip") not in (None, holder)
    finally:
        _restart_and_settle(docker_client, plan, recording, holder)


def test_no_request_lost_through_the_frontend_when_an_api_and_a_ui_die(docker_client, ha):
    plan, recording, _ = ha
    lb = next(h for h in plan.hosts_with("frontend") if any(p.internal == 443 for p in h.published))
    port = next(p.external for p in lb.published if p.internal == 443)
    try:
        with RequestLoop(port, timeout=3) as loop:
            time.sleep(1)
            _container(docker_client, plan, "api-1").stop(timeout=10)
            time.sleep(2)
            _container(docker_client, plan, "ui-1").kill()
            time.sleep(3)
    finally:
        for host in ("api-1", "ui-1"):
            _restart_and_settle(docker_client, plan, recording, host)
    assert len(loop.results) > 20 and not loop.lost, f"{len(loop.lost)} of {len(loop.results)} requests lost: {loop.lost[:3]}"


def test_isolated_datanode_takes_no_writes_and_catches_up_after_heal(docker_client, ha):
    """`fault isolate` on the services VIP's holder: the majority elects and goes on through the VIP (which moves),
    the isolated member refuses writes itself (Galera non-Primary; Redis read-only or NOREPLICAS), and after `heal`
    it rejoins with everything written meanwhile."""
    from labctl.live import faults
    plan, recording, drill = ha
    victim = vip_holder(docker_client, plan, "services-vip")
    tag = f"iso-{time.time_ns()}"
    assert drill.db_write(tag + "-before").ok and drill.redis_set(tag + "-before", "1").ok
    faults.inject(docker_client, plan, faults.request(plan, "isolate", [victim]))
    try:
        answer, _ = drill.until_ok(lambda: drill.db_write(tag + "-during"), timeout=40)
        assert answer.ok, f"the majority took no write through the VIP: {answer}"
        answer, _ = drill.until_ok(lambda: drill.redis_set(tag + "-during", "1"), timeout=40)
        assert answer.ok, f"the majority took no Redis write through the VIP: {answer}"
        deadline, refused = time.monotonic() + 30, (False, False)
        while time.monotonic() < deadline and not all(refused):
            db = _local(docker_client, plan, victim, f"mariadb -uroot -e \"INSERT INTO kinton.lab_drill (v) VALUES ('{tag}-split')\"")
            kv = _local(docker_client, plan, victim, f"redis-cli -h $LAB_ADDRESS SET {tag}-split 1")
            refused = (db[0] != 0, kv[1] != "OK")
            time.sleep(1)
        assert all(refused), f"the isolated {victim} still takes writes: mysql refused {refused[0]}, redis refused {refused[1]}"
    finally:
        faults.heal(docker_client, plan, faults.heal_target(plan, [victim], False))
    checks = cluster.settle(docker_client, plan, timeout=120)
    assert all(c.ok for c in checks), "\n".join(c.line() for c in checks)
    code, rows = _local(docker_client, plan, victim, "mariadb -uroot -N -B -e 'SELECT v FROM kinton.lab_drill'")
    assert code == 0 and {tag + "-before", tag + "-during"} <= set(rows.split()) and tag + "-split" not in rows.split()
    deadline = time.monotonic() + 20
    while _local(docker_client, plan, victim, f"redis-cli -h $LAB_ADDRESS GET {tag}-during")[1] != "1":
        assert time.monotonic() < deadline, "the healed Redis did not catch up"
        time.sleep(0.5)
    assert not faults.faults_in_force(docker_client, plan.lab)


def test_verify_names_the_faults_in_force_and_passes_after_heal(docker_client, ha, capsys):
    """`labctl fault` then `labctl verify`: the fault is named first, the paused host's flows fail (exit 1); after
    `heal` the lab verifies clean again (exit 0), clusters and allowlists included."""
    from labctl.cli import main
    cli = ["--stacks-dir", STACKS_FOLDER[-1]]
    assert main(cli + ["fault", "--stack", STACK, "pause", "ui-2"]) == 0
    try:
        assert main(cli + ["verify", "--stack", STACK, "--failures-only", "--settle", "30"]) == 1
        captured = capsys.readouterr()
        assert "faults in force: pause ui-2" in captured.err and "faults in force: 1" in captured.out
    finally:
        assert main(cli + ["fault", "--stack", STACK, "heal", "ui-2"]) == 0
    assert main(cli + ["verify", "--stack", STACK, "--failures-only"]) == 0
    out = capsys.readouterr().out
    assert "clusters: 8 whole, 0 not" in out and "allowlists: as planned" in out and "faults in force" not in out
