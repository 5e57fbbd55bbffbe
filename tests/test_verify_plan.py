"""The probe plan (what `labctl verify` probes) derived from the plan alone, and the in-container clients
against small protocol servers on loopback. No Docker needed."""
import socket
import struct
import threading

import pytest

from labctl.live import probe, verify
from abiquo_lab.plan import build_plan
from abiquo_lab.labspec import load_stack

STACKS = ["docker-monolithic", "docker-distributed", "docker-ha"]


@pytest.fixture(scope="module", params=STACKS)
def planned(request):
    plan = build_plan(load_stack(request.param))
    return plan, verify.ProbePlan(plan)


def test_every_documented_flow_between_lab_hosts_is_probed_open(planned):
    plan, probes = planned
    opened = {(p.src, p.dst, p.port, p.protocol) for p in probes.probes.values() if p.expect == "open"}
    skipped = {o.ids for o in probes.not_probed}
    for f in plan.flows:
        if f.port is None or f.dst_kind == "external":
            assert f.id in skipped
        elif f.public:
            members = plan.vip(f.dst).members if f.dst_kind == "vip" else [f.dst]
            assert all(("@host", m, f.port, f.protocol) in opened for m in members), f
        else:
            assert (f.src, f.dst, f.port, f.protocol) in opened, f


def test_forbidden_probes_cover_every_served_port_not_open_to_the_source(planned):
    plan, probes = planned
    closed = {(p.src, p.dst, p.protocol, p.port) for p in probes.probes.values() if p.expect == "closed"}
    for src in plan.hosts:
        for dst in plan.hosts:
            if src is dst:
                continue
            vips = {v.name for v in plan.vips_of(dst.name)}
            for protocol, port in verify.served_ports(plan, dst):
                # on the host's own address: what ends on the host itself, or public ingress (also via its VIP)
                opened = any(f.protocol == protocol and f.port <= port <= (f.port_end or f.port)
                             and (f.public or f.src == src.name and f.dst == dst.name) for f in plan.flows
                             if (f.dst == dst.name or f.dst in vips) and f.port is not None)
                assert ((src.name, dst.name, protocol, port) in closed) is (not opened), (src.name, dst.name, protocol, port)


def test_a_vip_is_probed_closed_for_every_host_without_a_flow_to_it():
    """HA: the services VIP answers only the documented clients on their ports: rs-dc1 (AMQP and Redis only) is probed
    silent on the VIP's MariaDB port, and api-1 is probed silent on datanode-1's own Redis and MariaDB."""
    plan = build_plan(load_stack("docker-ha"))
    probes = verify.ProbePlan(plan).probes.values()
    vip = plan.vip("services-vip")
    closed = {(p.src, p.address, p.port) for p in probes if p.expect == "closed"}
    opened = {(p.src, p.dst, p.port) for p in probes if p.expect == "open"}
    for port in (3306, 5672, 6379):
        assert ("api-1", "services-vip", port) in opened
    assert ("rs-dc1", vip.address, 3306) in closed
    assert {("rs-dc1", "services-vip", 5672), ("rs-dc1", "services-vip", 6379)} <= opened
    assert ("api-1", plan.host("datanode-1").interfaces["data"], 6379) in closed
    assert ("api-1", plan.host("datanode-1").interfaces["data"], 3306) in closed


def test_no_probe_is_both_open_and_closed(planned):
    _, probes = planned
    keys = [p.key for p in probes.probes.values()]
    assert len(keys) == len(set(keys))
    by_target = {}
    for p in probes.probes.values():
        by_target.setdefault((p.src, p.address, p.protocol, p.port), set()).add(p.expect)
    assert all(len(v) == 1 for v in by_target.values())


def test_real_services_get_their_own_clients():
    plan = build_plan(load_stack("docker-ha"))
    clients = {(p.dst, p.port): p.client for p in verify.ProbePlan(plan).probes.values() if p.expect == "open"}
    assert clients[("services-vip", 6379)] == "redis"
    assert clients[("services-vip", 5672)] == "amqp" and clients[("datanode-1", 2181)] == "zk"
    assert clients[("services-vip", 3306)] == "mysql" and clients[("datanode-1", 3306)] == "mysql"
    assert clients[("datanode-1", 26379)] == "redis" and clients[("datanode-1", 4567)] == "tcp"
    assert clients[("datanode-1", 4444)] == clients[("datanode-1", 35672)] == "reach"     # listeners come and go
    assert {clients[("nfs-dc1", 2049)], clients[("nfs-dc1", 111)]} == {"nfs", "rpcbind"}
    assert clients[("rs-dc1", 8009)] == "agent"


# ---- the clients, against tiny servers on loopback --------------------------------------------------
def _serve_once(answer):
    """A one-shot TCP server on 127.0.0.1; `answer(data) -> bytes` is sent back after the first read."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)

    def run():
        conn, _ = server.accept()
        with conn:
            conn.sendall(answer(conn.recv(4096)))
        server.close()
    threading.Thread(target=run, daemon=True).start()
    return server.getsockname()[1]


def _probe(port, client, expect="open"):
    return probe.run([{"key": "k", "address": "127.0.0.1", "port": port, "protocol": "tcp", "client": client,
                       "expect": expect, "timeout": 2}])[0]


def test_amqp_client_needs_a_connection_start_frame():
    start = b"\x01\x00\x00\x00\x00\x00\x10" + struct.pack(">HH", 10, 10) + b"\x00" * 12 + b"\xce"
    assert _probe(_serve_once(lambda data: start if data == b"AMQP\x00\x00\x09\x01" else b""), "amqp")["answered"]
    assert not _probe(_serve_once(lambda data: b"HTTP/1.0 200 OK\r\n\r\n"), "amqp")["answered"]


def test_rpc_null_client_checks_the_accepted_reply():
    def reply(data, accept=0):
        xid = data[4:8]
        body = xid + struct.pack(">IIIII", 1, 0, 0, 0, accept)
        return struct.pack(">I", 0x80000000 | len(body)) + body
    assert _probe(_serve_once(reply), "nfs")["answered"]
    assert not _probe(_serve_once(lambda d: reply(d, accept=1)), "nfs")["answered"]   # PROG_UNAVAIL


def test_zookeeper_and_agent_clients():
    assert _probe(_serve_once(lambda d: b"Zookeeper version: 3.8.0\nMode: standalone\n" if d == b"srvr" else b""), "zk")["answered"]
    port = _serve_once(lambda d: b"HTTP/1.0 200 OK\r\n\r\nok rs-dc1 PORT\n")
    assert not _probe(port, "agent")["answered"]            # answers for another port: not the agent we expect


def test_a_closed_port_is_unanswered_and_that_passes_a_closed_probe():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()                                             # nothing listens: refused
    answer = _probe(port, "redis", expect="closed")
    assert answer["answered"] is False and "Refused" in answer["detail"]
    p = verify.Probe("k", "a", "b", "127.0.0.1", port, "tcp", "redis", "closed", ["no flow"], 1)
    assert verify._verdict(p, answer)[0] == "pass"
    assert verify._verdict(verify.Probe("k", "a", "b", "x", port, "tcp", "redis", "open", ["A14"], 1), answer)[0] == "FAIL"


def test_matrix_marks_only_the_cells_with_a_mismatch():
    O = verify.Outcome
    outcomes = [O("A13", "api-1", "datanode-1 (10.0.0.1)", "5672", "tcp", "amqp", "open", "pass", ""),
                O("A14", "api-1", "datanode-1 (10.0.0.1)", "6379", "tcp", "redis", "open", "FAIL", "timed out"),
                O("no flow", "rs-dc1", "datanode-1 (10.0.0.1)", "3306", "tcp", "mysql", "closed", "pass", ""),
                O("A01", "@host", "lb-1", "443", "tcp", "https", "open", "pass", ""),
                O("A38", "rs-dc1", "@cloud", "443", "tcp", "-", "open", "not probed", "outside the lab")]
    assert verify.matrix(outcomes).splitlines()[:4] == [
        "        datanode-1  lb-1",
        "@host   .           1/1",
        "api-1   !1/2        .",
        "rs-dc1  - x1/1      .",
    ]



def test_flows_from_tenant_vms_are_listed_as_not_probed():
    from abiquo_lab.labspec import check_spec, read_stack_config
    plan = build_plan(check_spec({**read_stack_config("docker-distributed"), "switches": {"dhcp": "isc"}}))
    probes = verify.ProbePlan(plan)
    from_vms = [o for o in probes.not_probed if o.ids == "B14"]
    assert from_vms and all(o.detail == "source outside the lab" for o in from_vms)
    from labctl.views.views import flow_rows
    assert {r["kind"] for r in flow_rows(plan) if r["id"] == "B14"} == {"from-outside"}     # matrix/explain say so


@pytest.mark.parametrize("stack", ["docker-ha", "aws-ha"])
def test_a_vips_proxy_reaches_every_member_on_each_backend_port(stack):
    """The proxy runs on whichever member holds the VIP and forwards to every member: each member pair has a flow on
    every listener's backend port (else the holder reaches only its own software)."""
    plan = build_plan(load_stack(stack))
    for vip in plan.vips:
        for listener in vip.listeners:
            for a in vip.members:
                for b in vip.members:
                    if a != b:
                        assert any(f.src == a and f.dst == b and f.port <= listener.backend_port <= (f.port_end or f.port)
                                   for f in plan.flows if f.port is not None), (vip.name, listener, a, b)


CHAIN = """table inet abiquo_lab {
	chain input {
		type filter hook input priority filter; policy drop;
		iif "lo" accept
		ct state established,related accept
		ct state invalid drop
		ip saddr 10.0.0.1 ip daddr 10.0.0.5 tcp dport 6379 accept comment "A14"
		ip saddr 10.0.0.2 ip protocol vrrp accept comment "B12"
		tcp dport 5900-5999 accept comment "X"
	}
}"""


def test_the_enforced_allowlist_is_read_as_rules():
    rules, stray = verify.enforced_rules(CHAIN)
    assert rules == {("tcp", "10.0.0.1", "6379", "10.0.0.5"), ("vrrp", "10.0.0.2", "-", None), ("tcp", "any", "5900-5999", None)}
    assert stray == []
    assert rules == verify.planned_rules([["tcp", "10.0.0.1", "6379", "A14", "10.0.0.5"], ["vrrp", "10.0.0.2", "-", "B12"],
                                          ["tcp", "any", "5900-5999", "X"]])


@pytest.mark.parametrize("edit, words", [
    (lambda t: t.replace(' ip daddr 10.0.0.5', ''), ["enforces tcp/6379 from 10.0.0.1, which", "lacks tcp/6379 from 10.0.0.1 to 10.0.0.5"]),
    (lambda t: t.replace("policy drop", "policy accept"), ["policy is not drop"]),
    (lambda t: t.replace('\t\ttcp dport 5900', '\t\tip saddr 10.9.9.9 accept\n\t\ttcp dport 5900'), ["unexpected rule: ip saddr 10.9.9.9 accept"]),
    (lambda t: t.replace('tcp dport 5900-5999', 'tcp dport 1-65535'), ["enforces tcp/1-65535 from any", "lacks tcp/5900-5999 from any"]),
])
def test_allowlist_drift_names_each_difference(edit, words):
    """What a node enforces is held to the plan on every host (a VIP's non-holders included)."""
    class Container:
        status = "running"
        def __init__(self, text): self.text = text
        def exec_run(self, cmd): return 0, self.text.encode()
    class Client:
        def __init__(self, text): self.containers = self; self.text = text
        def get(self, name): return Container(self.text)
    from abiquo_lab.plan import Host, Plan, ZoneNet
    plan = Plan(lab="t", backend="docker", layout="distributed", version="6.1", owner="o", switches={},
                zones=[ZoneNet(name="core", zone="core", kind="global", cidr="10.0.0.0/24")],
                hosts=[Host(name="h", kind="k", roles=["api"], primary="api", zone="core", address="10.0.0.10",
                            interfaces={"core": "10.0.0.10"})], vips=[], flows=[])
    rows = [["tcp", "10.0.0.1", "6379", "A14", "10.0.0.5"], ["vrrp", "10.0.0.2", "-", "B12"], ["tcp", "any", "5900-5999", "X"]]
    assert verify.allowlist_drift(Client(CHAIN), plan, lambda host: rows) == []
    found = " | ".join(verify.allowlist_drift(Client(edit(CHAIN)), plan, lambda host: rows))
    assert all(w in found for w in words), found


def test_json_rows_carry_ports_as_numbers_and_ids_as_lists():
    outcome = verify.Outcome("A14,B07", "api-1", "services-vip", "6379", "tcp", "redis", "open", "pass", "PONG")
    vrrp = verify.Outcome("B12", "lb-1", "lb-2", "-", "vrrp", "-", "open", "not probed", "no port (VRRP)")
    typed = verify.rows([outcome, vrrp], typed=True)
    assert typed[0]["port"] == 6379 and typed[0]["ids"] == ["A14", "B07"] and typed[1]["port"] == "-"
    assert verify.rows([outcome])[0]["port"] == "6379"                   # tables keep the text
    assert verify.matrix([outcome]).splitlines()[-1].startswith("rows: source host; columns: destination")


class _FlakyContainer:
    """exec_run answers from a list: a lost read (exit 0, nothing printed), then the listing."""
    def __init__(self, answers):
        self.answers, self.calls = list(answers), 0

    def exec_run(self, cmd):
        self.calls += 1
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


def test_a_lost_allowlist_read_is_read_again_and_an_empty_chain_still_fails():
    listing = (b"table inet abiquo_lab {\n chain input {\n  type filter hook input priority filter; policy drop;\n"
               b"  ip saddr 10.0.0.2 tcp dport 6379 accept\n }\n}\n")
    flaky = _FlakyContainer([(0, b""), (0, listing)])
    assert verify._list_input_chain(flaky) == (0, listing) and flaky.calls == 2
    empty = _FlakyContainer([(0, b"")])
    code, out = verify._list_input_chain(empty)
    assert empty.calls == 3 and out == b""
    assert "the input chain's policy is not drop" in verify.enforced_rules(out.decode())[1]   # still a failure
