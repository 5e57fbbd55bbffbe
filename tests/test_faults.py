"""labctl fault: bad arguments are refused before the engine is touched (exit 2, naming the argument and the allowed
values); the nft scripts and the partition's address sets follow the plan; and on a real engine, on containers this
test creates (its own internal network 10.250.9.0/24), each fault does what it says, is recorded as a labelled
volume while in force, and heal undoes it and removes the record. Teardown removes fault records with the lab."""
import json
import re
import time
import uuid

import pytest

from abiquo_lab import contract
from abiquo_lab.contract import EXIT_FAIL, EXIT_OK, EXIT_USAGE, InputError, LabError
from abiquo_lab.labspec import load_stack
from abiquo_lab.plan import Host, Plan, Vip, ZoneNet, build_plan
from labctl import cli
from labctl.cli import main
from labctl.live import faults

LABEL = "abiquo-lab.test-run"


@pytest.fixture(scope="module")
def ha():
    return build_plan(load_stack("docker-ha"))


@pytest.fixture
def no_engine(monkeypatch):
    """Bad input must be refused before any engine is reached: reaching it fails the test."""
    def refuse():
        raise AssertionError("the Docker engine was reached before the arguments were checked")
    monkeypatch.setattr(cli, "_docker", refuse)


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# ---- bad input: exit 2, a message naming the argument and what is allowed, no engine --------------------------------
BAD = {  # name: (argv after `fault --stack docker-ha`, words the message must hold, formatted with the plan's names)
    "unknown host": (["isolate", "nosuch"], "HOST: no host 'nosuch' in lab {lab!r}; hosts: {hosts}"),
    "unknown host, stop": (["stop", "api-9"], "HOST: no host 'api-9'"),
    "unknown host, loss": (["loss", "api-9", "10"], "HOST: no host 'api-9'"),
    "unknown host, heal": (["heal", "api-9"], "HOST: no host 'api-9'"),
    "unknown zone A": (["partition", "nope", "core"], "ZONE_A: unknown zone 'nope' in lab {lab!r}; zones: {zones}"),
    "unknown zone B": (["partition", "core", "nope"], "ZONE_B: unknown zone 'nope'"),
    "a zone with itself": (["partition", "core", "core"], "ZONE_B: must differ from ZONE_A"),
    "unknown zone, heal": (["heal", "core", "nope"], "ZONE_B: unknown zone 'nope'"),
    "PCT zero": (["loss", "api-1", "0"], "PCT: must be a whole number from 1 to 100"),
    "PCT over 100": (["loss", "api-1", "101"], "PCT: must be a whole number from 1 to 100 (the share of packets dropped), got '101'"),
    "PCT not a number": (["loss", "api-1", "lots"], "PCT: must be a whole number from 1 to 100"),
    "PCT a fraction": (["loss", "api-1", "2.5"], "PCT: must be a whole number from 1 to 100"),
    "heal with nothing": (["heal"], "heal: needs HOST (its faults), ZONE_A ZONE_B (that partition) or --all"),
    "heal with both": (["heal", "api-1", "--all"], "heal: give HOST, ZONE_A ZONE_B or --all, not both"),
    "heal with three": (["heal", "core", "data", "api-1"], "heal: takes HOST or ZONE_A ZONE_B (got 3 arguments"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_arguments_exit_2_naming_the_field_before_the_engine(case, ha, capsys, no_engine):
    argv, words = BAD[case]
    code, _, err = run(capsys, "fault", "--stack", "docker-ha", *argv)
    assert code == EXIT_USAGE, err
    words = words.format(lab=ha.lab, hosts=", ".join(h.name for h in ha.hosts), zones=", ".join(z.name for z in ha.zones))
    assert words in err and "Traceback" not in err


def test_fault_needs_a_stack(capsys, no_engine):
    code, _, err = run(capsys, "fault", "isolate", "api-1")
    assert code == EXIT_USAGE and "fault: --stack S is required" in err


def test_the_stack_may_follow_the_action(capsys, no_engine):
    code, _, err = run(capsys, "fault", "loss", "api-1", "0", "--stack", "docker-ha")
    assert code == EXIT_USAGE and "PCT:" in err          # parsed through to the PCT check


def test_pct_accepts_whole_numbers_1_to_100():
    assert faults.check_pct("1") == 1 and faults.check_pct("100") == 100 and faults.check_pct("30%") == 30
    for bad in ("0", "101", "-5", "", "x", "1e2"):
        with pytest.raises(InputError, match="^PCT: "):
            faults.check_pct(bad)


class _NoContainers:
    """An engine with nothing of the lab on it."""
    class containers:
        @staticmethod
        def list(**kwargs):
            return []

    class volumes:
        @staticmethod
        def list(**kwargs):
            return []


def test_a_lab_that_is_not_running_is_a_failure_with_a_hint(ha, capsys, monkeypatch):
    monkeypatch.setattr(cli, "_docker", lambda: _NoContainers)
    code, _, err = run(capsys, "fault", "--stack", "docker-ha", "isolate", "api-1")
    assert code == EXIT_FAIL and f"lab {ha.lab!r} is not running: no containers on this engine; build it first: " \
                                 "labctl realize --stack docker-ha" in err
    code, out, _ = run(capsys, "fault", "--stack", "docker-ha", "ls")
    assert code == EXIT_OK and out == f"lab {ha.lab}: no faults recorded\n"
    code, out, _ = run(capsys, "fault", "--stack", "docker-ha", "heal", "--all")
    assert code == EXIT_OK and out == f"no faults recorded in lab {ha.lab}\n"


# ---- what a fault is made of (pure) ---------------------------------------------------------------------------------
def test_requests_are_normalized_and_named(ha):
    part = faults.request(ha, "partition", ["data", "core"])
    assert part.target == ("core", "data") and faults.record_name("ha", part) == "ha.fault.partition.core_data"
    assert faults.request(ha, "partition", ["core", "data"]) == part
    loss = faults.request(ha, "loss", ["api-1", "30"])
    assert loss.target == ("api-1", 30) and faults.record_name("ha", loss) == "ha.fault.loss.api-1"
    assert faults.table_name("partition", part.target) == "abiquo_fault_partition_core_data"
    with pytest.raises(InputError, match="fault kind 'melt' is unknown; kinds: stop, kill, pause, isolate, loss, partition"):
        faults.request(ha, "melt", ["api-1"])


def test_isolate_drops_all_but_loopback_both_ways_before_the_allowlist_and_established_too():
    script = faults.isolate_script()
    assert "table inet abiquo_fault_isolate {" in script and "delete table inet abiquo_fault_isolate" in script
    assert "type filter hook input priority -10; policy drop;" in script
    assert "type filter hook output priority -10; policy drop;" in script
    assert 'iif "lo" accept' in script and 'oif "lo" accept' in script
    assert "established" not in script and "abiquo_lab" not in script


def test_loss_drops_a_random_share_in_both_chains():
    script = faults.loss_script(30)
    assert script.count("numgen random mod 100 < 30 drop") == 2
    assert "hook input priority -10; policy accept;" in script and "hook output priority -10; policy accept;" in script
    everything = faults.loss_script(100)                                 # nft takes 0-99 after `mod 100`: 100 is all
    assert "numgen" not in everything and everything.count('accept\n    drop\n') == 2


def test_partition_cuts_every_address_of_the_other_zone_and_its_vips(ha):
    drops = faults.partition_drops(ha, "core", "data")
    core = [h for h in ha.hosts if h.zone == "core"]
    data = [h for h in ha.hosts if h.zone == "data"]
    assert set(drops) == {h.name for h in core + data}                   # nobody else is touched
    data_addresses = {a for h in data for a in h.interfaces.values()} | {v.address for v in ha.vips if v.zone == "data"}
    core_addresses = {a for h in core for a in h.interfaces.values()} | {v.address for v in ha.vips if v.zone == "core"}
    assert any(v.zone == "data" for v in ha.vips)                        # the services VIP is in the set
    for host in core:
        assert set(drops[host.name]) == data_addresses
    for host in data:
        assert set(drops[host.name]) == core_addresses
    script = faults.partition_script("abiquo_fault_partition_core_data", drops["api-1"])
    assert f"ip saddr {{ {', '.join(drops['api-1'])} }} drop" in script
    assert f"ip daddr {{ {', '.join(drops['api-1'])} }} drop" in script


def test_heal_targets(ha):
    assert faults.heal_target(ha, [], True).all
    assert faults.heal_target(ha, ["api-1"], False).host == "api-1"
    zones = faults.heal_target(ha, ["data", "core"], False)
    assert zones.zones == ("core", "data")
    on_api = faults.heal_target(ha, ["api-1"], False)
    part = faults.Fault("partition", ["core", "data"], "2025-01-01T00:00:00Z")
    isolate = faults.Fault("isolate", ["api-1"], "2025-01-01T00:00:00Z")
    assert zones.matches(part) and not zones.matches(isolate)
    assert on_api.matches(isolate) and not on_api.matches(part)       # heal HOST leaves its zone's partitions alone


def test_describe_is_one_line():
    fault = faults.Fault("loss", ["api-1", 30], "2025-01-01T00:00:00Z", state=faults.IN_FORCE)
    assert fault.describe() == "loss api-1 30% since 2025-01-01T00:00:00Z (in force)"
    assert faults.Fault("partition", ["core", "data"], "x", state=faults.NOT_IN_FORCE).describe() == \
        "partition core | data since x (recorded, not in force)"


# ---- on a real engine ---------------------------------------------------------------------------------------------------
SUBNET, GATEWAY = "10.250.9.0/24", "10.250.9.1"
ADDR = {"a1": "10.250.9.10", "b1": "10.250.9.20", "c1": "10.250.9.30"}
VIP = "10.250.9.25"          # held by b1 (a secondary address), in zone zb
ECHO_PORT = 7000


def small_plan(lab: str) -> Plan:
    """Three hosts in three zones (all on one test network: a partition cuts by address), a VIP in zone zb."""
    zones = [ZoneNet(name=f"z{x}", zone="core", kind="global", cidr=SUBNET) for x in "abc"]
    hosts = [Host(name=name, kind="rs", roles=["rs"], primary="rs", zone=f"z{name[0]}", address=ip,
                  interfaces={f"z{name[0]}": ip}) for name, ip in ADDR.items()]
    vips = [Vip(name="b-vip", role="rs", zone="zb", address=VIP, members=["b1"], holder="keepalived", proxy="haproxy")]
    return Plan(lab=lab, backend="docker", layout="distributed", version="6.1", owner="fault-test", switches={},
                zones=zones, hosts=hosts, vips=vips, flows=[])


def _cleanup(client, run):
    flt = {"label": f"{LABEL}={run}"}
    for c in client.containers.list(all=True, filters=flt):
        c.remove(force=True)
    for n in client.networks.list(filters=flt):
        n.remove()
    for v in client.volumes.list(filters=flt):
        v.remove(force=True)


def _lab_labels(lab, run):
    return {contract.MANAGED: "true", contract.LAB: lab, contract.STACK: "fault-test", contract.OWNER: "fault-test",
            contract.EXPIRES_AT: contract.expiry("1h"), contract.TTL: "1h", contract.MANAGED_BY: contract.MANAGED_BY_REALIZE,
            LABEL: run}


def _start_node(client, image, lab, run, host, zone, network=None, ip=None):
    labels = {**_lab_labels(lab, run), contract.HOST: host, contract.ZONE: zone}
    allow = [["tcp", "any", "8009", "T"], ["tcp", "any", str(ECHO_PORT), "E"]]
    kwargs = {"network": network.name} if network else {"network_mode": "none"}
    container = client.containers.create(
        image, name=faults.container_name(lab, host), hostname=host, labels=labels, init=True, cap_add=["NET_ADMIN"],
        restart_policy={"Name": "unless-stopped"},
        environment={"LAB_HOST": host, "LAB_ROLES": "rs", "LAB_START": "", "LAB_REAL": "", "LAB_ALLOW": json.dumps(allow),
                     "LAB_LISTEN": "tcp/8009"}, **kwargs)
    if network:
        network.disconnect(container)
        network.connect(container, ipv4_address=ip)
    container.start()
    return container


@pytest.fixture(scope="module")
def lab(docker_client, node_image):
    import docker
    run = uuid.uuid4().hex[:8]
    name = f"tf{run}"
    try:
        net = docker_client.networks.create(f"{name}-net", internal=True, labels=_lab_labels(name, run),
                                            ipam=docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=SUBNET, gateway=GATEWAY)]))
        nodes = {host: _start_node(docker_client, node_image, name, run, host, f"z{host[0]}", net, ip) for host, ip in ADDR.items()}
        _run(nodes["b1"], f"ip addr add {VIP}/24 dev eth0")
        deadline = time.time() + 60
        while not all(_connects(nodes[s], ADDR[d]) for s, d in (("a1", "b1"), ("b1", "c1"), ("c1", "a1"))):
            assert time.time() < deadline, "the test nodes did not answer on 8009"
            time.sleep(0.3)
        yield {"client": docker_client, "plan": small_plan(name), "nodes": nodes, "run": run, "image": node_image}
    finally:
        _cleanup(docker_client, run)
        assert not docker_client.containers.list(all=True, filters={"label": f"{LABEL}={run}"})


@pytest.fixture
def healed(lab):
    """Every test starts and ends with no fault in force."""
    yield lab
    faults.heal(lab["client"], lab["plan"], faults.HealTarget(all=True))
    assert not faults.faults_in_force(lab["client"], lab["plan"].lab)


def _run(container, script):
    result = container.exec_run(["sh", "-c", script])
    assert result.exit_code == 0, result.output
    return result.output.decode()


def _connects(src, address, port=8009, wait=1):
    return src.exec_run(["nc", "-z", "-w", str(wait), address, str(port)]).exit_code == 0


def _watch(dst, src_address):
    """Counts, on `dst`, the packets that arrive from `src_address` (priority -300: before any other table there), so a
    drop on the sender's way out is told apart from one on the receiver's way in."""
    script = ("table inet fault_test_probe\ndelete table inet fault_test_probe\ntable inet fault_test_probe {\n"
              "  chain input {\n    type filter hook input priority -300; policy accept;\n"
              f"    ip saddr {src_address} counter\n  }}\n}}\n")
    result = dst.exec_run(["sh", "-c", 'printf "%s" "$SCRIPT" | nft -f -'], environment={"SCRIPT": script})
    assert result.exit_code == 0, result.output


def _arrived(dst) -> int:
    return int(re.search(r"packets (\d+)", _run(dst, "nft list table inet fault_test_probe")).group(1))


def _inject(lab, kind, *args):
    return faults.inject(lab["client"], lab["plan"], faults.request(lab["plan"], kind, [str(a) for a in args]), stack="fault-test")


def _heal(lab, *target, all_=False):
    return faults.heal(lab["client"], lab["plan"], faults.heal_target(lab["plan"], list(target), all_))


def _volumes(lab):
    return {v.name: v.attrs["Labels"] for v in lab["client"].volumes.list(
        filters={"label": [f"{contract.LAB}={lab['plan'].lab}", contract.FAULT]})}


def _states(lab):
    return {f.text(): f.state for f in faults.faults_in_force(lab["client"], lab["plan"].lab)}


ECHO = ("import socket\ns=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('0.0.0.0', %d)); "
        "s.listen()\nwhile True:\n    c,_=s.accept()\n    while True:\n        d=c.recv(64)\n        if not d: break\n"
        "        c.sendall(d)\n" % ECHO_PORT)
# An open connection: echo 'a' before the fault; after /tmp/go, 'b' must get no answer while the fault holds; after
# /tmp/go2 (healed), the retransmitted 'b' is answered on the same connection.
HELD = r"""
import os, socket, sys, time
def wait(path):
    while not os.path.exists(path): time.sleep(0.05)
def put(path, text):
    open(path + ".tmp", "w").write(text); os.rename(path + ".tmp", path)
s = socket.create_connection((sys.argv[1], %d), timeout=3)
s.sendall(b"a"); put("/tmp/ready", s.recv(8).decode())
wait("/tmp/go"); s.sendall(b"b"); s.settimeout(2)
try: put("/tmp/during", "answered:" + s.recv(8).decode())
except socket.timeout: put("/tmp/during", "silent")
wait("/tmp/go2"); s.settimeout(20)
try: put("/tmp/after", "answered:" + s.recv(8).decode())
except OSError as e: put("/tmp/after", "failed:" + repr(e))
""" % ECHO_PORT


def _wait_file(container, path, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        result = container.exec_run(["cat", path])
        if result.exit_code == 0:
            return result.output.decode()
        time.sleep(0.2)
    raise AssertionError(f"{path} did not appear in {container.name}")


@pytest.mark.docker
@pytest.mark.slow
def test_isolate_cuts_new_open_and_outbound_connections_and_heal_restores_them(healed):
    lab = healed
    a1, c1 = lab["nodes"]["a1"], lab["nodes"]["c1"]
    c1.exec_run(["python3", "-c", ECHO], detach=True)
    a1.exec_run(["rm", "-f", "/tmp/ready", "/tmp/go", "/tmp/during", "/tmp/go2", "/tmp/after"])
    deadline = time.time() + 10
    while not _connects(a1, ADDR["c1"], ECHO_PORT):
        assert time.time() < deadline
    a1.exec_run(["python3", "-c", HELD, ADDR["c1"]], detach=True)
    assert _wait_file(a1, "/tmp/ready") == "a"                          # the open connection carries data

    line = _inject(lab, "isolate", "c1")
    assert line.startswith("isolate c1: in force:") and "heal: labctl fault --stack fault-test heal c1" in line
    assert not _connects(a1, ADDR["c1"]), "a peer still reaches the isolated host"
    _watch(a1, ADDR["c1"])
    assert not _connects(c1, ADDR["a1"]), "the isolated host still reaches out"
    assert _arrived(a1) == 0, "packets from the isolated host still leave it"
    record = _volumes(lab)[f"{lab['plan'].lab}.fault.isolate.c1"]
    assert record[contract.FAULT] == "isolate" and json.loads(record[contract.FAULT_TARGET]) == ["c1"]
    assert record[contract.OWNER] == "fault-test" and record[contract.MANAGED] == "true"
    assert contract.parse_stamp(record[contract.FAULT_SINCE]) is not None
    assert _states(lab) == {"isolate c1": faults.IN_FORCE}
    assert "already in force" in _inject(lab, "isolate", "c1")          # the same fault again: a no-op
    assert len(_volumes(lab)) == 1

    _run(a1, "touch /tmp/go")                                           # last, so heal comes soon after: TCP's
    assert _wait_file(a1, "/tmp/during") == "silent", "the open connection still carries data"   # retransmission backs off
    assert _heal(lab, "c1") == ["healed isolate c1: nft table abiquo_fault_isolate removed"]
    assert _connects(a1, ADDR["c1"]) and _connects(c1, ADDR["a1"])
    _run(a1, "touch /tmp/go2")
    assert _wait_file(a1, "/tmp/after") == "answered:b"                 # the same connection carries data again
    assert not _volumes(lab)


@pytest.mark.docker
@pytest.mark.slow
def test_partition_cuts_a_from_b_and_its_vip_but_not_c(healed):
    lab = healed
    a1, b1, c1 = (lab["nodes"][h] for h in ("a1", "b1", "c1"))
    assert _connects(a1, VIP)
    assert "1 hosts of za and 1 of zb cut from each other" in _inject(lab, "partition", "zb", "za")
    _watch(b1, ADDR["a1"])
    _watch(a1, ADDR["b1"])
    assert not _connects(a1, ADDR["b1"]) and not _connects(b1, ADDR["a1"]), "A and B still talk"
    assert _arrived(a1) == 0 and _arrived(b1) == 0, "packets still leave one zone for the other"
    assert not _connects(a1, VIP), "A still reaches B's virtual IP"
    assert _connects(a1, ADDR["c1"]) and _connects(c1, ADDR["a1"]) and _connects(b1, ADDR["c1"]), "C was cut too"
    assert _states(lab) == {"partition za | zb": faults.IN_FORCE}
    assert list(_volumes(lab)) == [f"{lab['plan'].lab}.fault.partition.za_zb"]

    assert _heal(lab, "a1") == ["no faults recorded on a1"]             # heal HOST leaves its zone's partitions alone
    assert not _connects(a1, ADDR["b1"])
    assert _heal(lab, "za", "zb") == ["healed partition za | zb: nft table abiquo_fault_partition_za_zb removed on 2 hosts"]
    assert _connects(a1, ADDR["b1"]) and _connects(b1, ADDR["a1"]) and _connects(a1, VIP)
    assert not _volumes(lab)


@pytest.mark.docker
@pytest.mark.slow
def test_loss_100_drops_everything_and_is_recorded(healed):
    lab = healed
    a1, b1 = lab["nodes"]["a1"], lab["nodes"]["b1"]
    assert "100% of packets dropped" in _inject(lab, "loss", "a1", "100")
    _watch(b1, ADDR["a1"])
    assert not _connects(a1, ADDR["b1"]) and not _connects(b1, ADDR["a1"])
    assert _arrived(b1) == 0, "packets still leave the host"
    record = _volumes(lab)[f"{lab['plan'].lab}.fault.loss.a1"]
    assert record[contract.FAULT] == "loss" and json.loads(record[contract.FAULT_TARGET]) == ["a1", 100]
    assert _states(lab) == {"loss a1 100%": faults.IN_FORCE}
    with pytest.raises(LabError, match="loss a1 100% is already recorded .*heal it first"):
        _inject(lab, "loss", "a1", "50")
    _heal(lab, "a1")
    assert _connects(a1, ADDR["b1"]) and _connects(b1, ADDR["a1"])
    assert not _volumes(lab)


@pytest.mark.docker
@pytest.mark.slow
def test_stop_kill_pause_and_heal_bring_the_container_back(healed):
    lab = healed
    c1 = lab["nodes"]["c1"]
    for kind, status in (("stop", "exited"), ("kill", "exited"), ("pause", "paused")):
        _inject(lab, kind, "c1")
        time.sleep(0.5)                                                 # a restart policy would have brought it back
        c1.reload()
        assert c1.status == status, kind
        assert list(_volumes(lab)) == [f"{lab['plan'].lab}.fault.{kind}.c1"]
        assert _states(lab) == {f"{kind} c1": faults.IN_FORCE}
        with pytest.raises(LabError, match=f"c1: container .* is {status}; isolate needs it running"):
            _inject(lab, "isolate", "c1")
        assert _heal(lab, "c1")[0].startswith(f"healed {kind} c1: container ")
        c1.reload()
        assert c1.status == "running", kind
        assert not _volumes(lab)
    deadline = time.time() + 30
    while not _connects(lab["nodes"]["a1"], ADDR["c1"]):
        assert time.time() < deadline, "c1 did not answer again after heal"


@pytest.mark.docker
@pytest.mark.slow
def test_a_restart_drops_the_table_but_not_the_record_and_heal_still_works(healed, capsys, monkeypatch):
    lab = healed
    c1 = lab["nodes"]["c1"]
    monkeypatch.setattr(cli, "_plan", lambda args: lab["plan"])        # the CLI over the hand-made plan
    monkeypatch.setattr(cli, "_docker", lambda: lab["client"])
    code, out, _ = run(capsys, "fault", "--stack", "fault-test", "isolate", "c1")
    assert code == EXIT_OK and out.startswith("isolate c1: in force")
    c1.restart(timeout=2)
    code, out, _ = run(capsys, "fault", "--stack", "fault-test", "ls")
    assert code == EXIT_OK and "isolate  c1" in out and "recorded, not in force" in out
    code, out, _ = run(capsys, "fault", "--stack", "fault-test", "isolate", "c1")      # the same fault again: applied again
    assert code == EXIT_OK and "applied again" in out
    assert _states(lab) == {"isolate c1": faults.IN_FORCE}
    c1.restart(timeout=2)
    code, out, err = run(capsys, "fault", "--stack", "fault-test", "heal", "c1")
    assert code == EXIT_OK, err
    assert out == "healed isolate c1: nft table abiquo_fault_isolate was already gone (container restarted); record removed\n"
    code, out, _ = run(capsys, "fault", "--stack", "fault-test", "ls")
    assert out == f"lab {lab['plan'].lab}: no faults recorded\n"


@pytest.mark.docker
@pytest.mark.slow
def test_teardown_leaves_no_fault_record(lab):
    from labctl.live import engine
    client, run_id = lab["client"], lab["run"]
    name = f"tf{run_id}x"                                               # a lab of its own: teardown removes all of it
    plan = small_plan(name)
    try:
        _start_node(client, lab["image"], name, run_id, "c1", "zc")     # no network: nothing to reach, nft still works
        faults.inject(client, plan, faults.request(plan, "isolate", ["c1"]))
        faults.inject(client, plan, faults.request(plan, "pause", ["c1"]))
        assert len(client.volumes.list(filters={"label": f"{contract.LAB}={name}"})) == 2
        counts = engine.teardown(client, lab=name, images=False)
        assert counts["volumes"] == 2 and counts["containers"] == 1
        assert not client.volumes.list(filters={"label": f"{contract.LAB}={name}"})
        assert not faults.faults_in_force(client, name)
    finally:
        for c in client.containers.list(all=True, filters={"label": f"{contract.LAB}={name}"}):
            c.remove(force=True)
        for v in client.volumes.list(filters={"label": f"{contract.LAB}={name}"}):
            v.remove(force=True)


def test_record_names_of_two_labs_never_collide():
    """Lab names, hosts and zones hold no dot: with dots between the parts, lab a's `stop rs-fault-kill-rs-z` and lab
    a-fault-stop-rs's `kill rs-z` get different records (with dashes they were one volume)."""
    one = faults.record_name("a", faults.Request("stop", ("rs-fault-kill-rs-z",)))
    two = faults.record_name("a-fault-stop-rs", faults.Request("kill", ("rs-z",)))
    assert one != two and one.split(".")[0] == "a" and two.split(".")[0] == "a-fault-stop-rs"


@pytest.mark.docker
@pytest.mark.slow
def test_a_fault_on_another_stacks_lab_of_the_same_name_is_refused(healed):
    """The containers say which stack made the lab: a plan from another stack with the same lab name touches nothing."""
    lab = healed
    with pytest.raises(faults.InputError, match="belongs to stack fault-test, not other"):
        faults.inject(lab["client"], lab["plan"], faults.request(lab["plan"], "stop", ["c1"]), stack="other")
    with pytest.raises(faults.InputError, match="belongs to stack fault-test, not other"):
        faults.heal(lab["client"], lab["plan"], faults.HealTarget(all=True), stack="other")
    assert lab["nodes"]["c1"].status == "running"
