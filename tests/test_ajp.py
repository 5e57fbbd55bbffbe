"""AJP where the docs say AJP (A06, A07, A09: Tomcat's AJP connector on 8010), and verify speaking each flow's own
service client. No Docker needed: the catalog, the plan, the rendered frontends, the probe plan, the AJP client
against loopback servers and the role agent run on loopback."""
import copy
import json
import os
import socket
import subprocess
import sys
import threading
import time

import pytest
import yaml

from abiquo_lab.catalog import CATALOG_FILE, CatalogError, load_catalog
from abiquo_lab.labspec import load_stack
from abiquo_lab.plan import build_plan, allowlist
from labctl.live import probe, verify
from labctl.preview import record_stack

AGENT = os.path.join(os.path.dirname(__file__), "..", "images", "node", "lab-agent")
CPING, CPONG = b"\x12\x34\x00\x01\x0a", b"AB\x00\x01\x09"
STACKS = ["docker-monolithic", "docker-distributed", "docker-ha", "aws-distributed", "aws-ha"]
AJP_ROWS = ("A06", "A07", "A09")


# ---- the catalog says 8010 is AJP, and how the lab reaches it instead ------------------------------------------------
def test_the_catalog_says_8010_is_ajp_and_8009_http(catalog):
    for role in ("api", "rs"):
        services = {s.name: s for s in catalog.role(role).services}
        assert services["tomcat-ajp"].ports == ["8010/tcp"] and services["tomcat-ajp"].speaks == "ajp"
        assert services["tomcat-http"].ports == ["8009/tcp"] and services["tomcat-http"].speaks == "http"


def test_the_ajp_rows_keep_the_documented_port_and_say_what_the_lab_uses_and_why(catalog):
    for row_id in AJP_ROWS:
        for edge in catalog.connection(row_id).edges:
            assert edge.service == "tomcat-ajp" and edge.ports == [8010]
            assert edge.realized.service == "tomcat-http" and edge.realized.ports == [8009]
            assert "cannot speak AJP" in edge.realized.why


@pytest.mark.parametrize("stack", STACKS)
def test_no_proxy_flow_reaches_an_ajp_port_and_the_frontend_opens_no_8010(stack, catalog):
    """The lab's proxies speak HTTP: every flow from a proxying role ends on a service that speaks HTTP, every proxy
    route goes to 8009, and no frontend host is admitted to 8010 anywhere."""
    plan = build_plan(load_stack(stack))
    proxies = {r.name for r in catalog.roles if r.proxy}
    ajp = {(r.name, s.name) for r in catalog.roles for s in r.services if s.speaks == "ajp"}
    realized = [f for f in plan.flows if f.id in AJP_ROWS]
    assert realized, "the stack plans the rows"
    for flow in plan.flows:
        if flow.src_role in proxies:
            assert (flow.dst_role, flow.service) not in ajp and flow.port != 8010, flow
    for flow in realized:
        assert (flow.port, flow.service, flow.documented) == (8009, "tomcat-http", "8010") and flow.realized_why
    for host in plan.hosts:
        assert all(route.port == 8009 for route in host.routes if route.role in ("api", "rs")), host.routes
    frontends = {h.name for h in plan.hosts_with("frontend")}
    for host in plan.hosts:
        for entry in allowlist(plan, host.name):
            assert not (entry.source_host in frontends and entry.port == 8010), (host.name, entry)


def test_the_docker_frontend_sends_no_request_to_8010():
    plan = build_plan(load_stack("docker-ha"))
    env = dict(os.environ, LAB_ROUTES=json.dumps(plan.route_rows("lb-1")))
    config = subprocess.run([sys.executable, AGENT, "--haproxy-config"], env=env, capture_output=True, text=True,
                            check=True).stdout
    servers = [line.split()[-2] for line in config.splitlines() if line.strip().startswith("server ")]
    assert servers and all(s.endswith(":8009") or s.endswith(":80") for s in servers), servers
    assert any(s.endswith(":8009") for s in servers)


def test_the_alb_target_groups_use_the_http_port():
    rec = record_stack("aws-ha", preview=False)
    groups = {g.name: g.inputs for g in rec.by_type("aws:lb/targetGroup:TargetGroup")
              if "-frontend-alb-tg-" in g.name}                     # the ALB's (the services VIP's NLB has TCP ones)
    assert {"api", "am", "am-dc2", "root"} <= {name.rsplit("-tg-", 1)[1] for name in groups}
    by_path = {name.rsplit("-tg-", 1)[1]: inputs for name, inputs in groups.items()}
    assert by_path["api"]["port"] == by_path["am"]["port"] == by_path["am-dc2"]["port"] == 8009
    assert all(inputs["protocol"] == "HTTP" and inputs["port"] != 8010 for inputs in groups.values())
    attachments = [a for a in rec.by_type("aws:lb/targetGroupAttachment:TargetGroupAttachment") if "-frontend-alb-tg-" in a.name]
    assert attachments and all(a.inputs["port"] != 8010 for a in attachments)


def test_explain_shows_the_documented_port_the_lab_port_and_why(capsys):
    from labctl.cli import main
    assert main(["explain", "A07", "--stack", "docker-ha"]) == 0
    out = capsys.readouterr().out
    assert "port      8010" in out and "protocol  TCP (AJP)" in out
    assert "frontend -> api  8010/tcp" in out
    assert "the lab uses 8009/tcp (tomcat-http) instead: HAProxy (the Docker frontend) and the AWS ALB cannot speak AJP" in out
    assert "lb-1 -> api-1  8009/tcp  network  (documented 8010)" in out
    assert "lb-1: /api -> api-1, api-2 :8009" in out


def test_a22_keeps_8010_and_the_agent_answers_it_in_ajp():
    """RS/BPM -> server 8010 (A22, on by default in the distributed layout) is not a proxy flow: it stays on 8010,
    where the API host's agent speaks AJP."""
    from components.nodes import node_env, host_allow_rules
    plan = build_plan(load_stack("docker-distributed"))
    assert any(f.id == "A22" and f.port == 8010 and f.dst == "server" for f in plan.flows)
    env = node_env(plan, plan.host("server"), host_allow_rules(plan, plan.host("server")))
    assert env["LAB_AJP"] == "tcp/8010" and "tcp/8010" in env["LAB_LISTEN"].split()
    rs = plan.host("rs-dc1")
    assert node_env(plan, rs, host_allow_rules(plan, rs))["LAB_AJP"] == ""     # nothing reaches the RS's 8010 now


# ---- the catalog refuses an AJP edge the lab's proxies could not realize --------------------------------------------
def _raw():
    return yaml.safe_load(CATALOG_FILE.read_text())


def _edge(data, row_id):
    return next(r for r in data["connections"] if r["id"] == row_id)["edges"][0]


def _service(data, role, name):
    return next(s for s in next(r for r in data["roles"] if r["name"] == role)["services"] if s["name"] == name)


def _broken(mutate):
    data = _raw()
    mutate(data)
    with pytest.raises(CatalogError) as err:
        load_catalog(data)
    return str(err.value)


@pytest.mark.parametrize("mutate, words", [
    (lambda d: _edge(d, "A07").pop("realized"),
     "connections[A07].edges[0].realized: frontend proxies in http only, and tomcat-ajp speaks ajp"),
    (lambda d: _edge(d, "A09").pop("realized"),                           # the UI's proxy too
     "connections[A09].edges[0].realized: ui proxies in http only, and tomcat-ajp speaks ajp"),
    (lambda d: _edge(d, "A06")["realized"].update({"service": "tomcat"}),
     "connections[A06].edges[0].realized.service: 'tomcat' is not a service of role 'rs'"),
    (lambda d: _edge(d, "A06")["realized"].update({"ports": [8080]}),
     "connections[A06].edges[0].realized.ports: 8080/tcp not served by rs's tomcat-http"),
    (lambda d: _edge(d, "A07")["realized"].update({"service": "tomcat-ajp", "ports": [8010]}),
     "connections[A07].edges[0].realized.service: tomcat-ajp speaks ajp; frontend proxies in http only"),
    (lambda d: _service(d, "api", "tomcat-http").update({"speaks": "ajp"}),     # the realized port must speak HTTP
     "connections[A07].edges[0].realized.service: tomcat-http speaks ajp"),
    (lambda d: _service(d, "api", "tomcat-ajp").update({"speaks": "jk"}),
     "roles[api].services[tomcat-ajp].speaks: Input should be 'http' or 'ajp'"),
    (lambda d: _edge(d, "A07")["realized"].pop("why"), "connections[A07].edges[0].realized.why: Field required"),
    (lambda d: _edge(d, "A07").update({"service": "tomcat", "realized": None}),     # a free label, port 8010
     "connections[A07].edges[0].realized: frontend proxies in http only, and tomcat-ajp speaks ajp"),
    (lambda d: _edge(d, "A07")["realized"].update({"service": "tomcat-http", "ports": [8009, 8010]}),
     "connections[A07].edges[0].realized.ports: 8010/tcp not served by api's tomcat-http"),
])
def test_the_catalog_refuses_an_ajp_edge_the_lab_cannot_realize(mutate, words):
    assert words in _broken(mutate)


def test_a_proxy_edge_to_an_http_service_needs_no_realized(catalog):
    data = _raw()
    _edge(data, "A07")["realized"] = None
    _edge(data, "A07").update({"service": "tomcat-http", "ports": [8009]})
    load_catalog(data)                                        # fine: the proxies speak HTTP to 8009


# ---- the AJP probe client and the role agent ----------------------------------------------------------------------
def _server(handler):
    """A TCP server on 127.0.0.1 running handler(conn) for one connection."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)

    def run():
        conn, _ = server.accept()
        with conn:
            handler(conn)
        server.close()
    threading.Thread(target=run, daemon=True).start()
    return server.getsockname()[1]


def _probe(port, client, expect="open", timeout=2):
    return probe.run([{"key": "k", "address": "127.0.0.1", "port": port, "protocol": "tcp", "client": client,
                       "expect": expect, "timeout": timeout}])[0]


def test_the_ajp_client_needs_a_cpong_to_its_cping():
    received = []

    def connector(conn):
        received.append(conn.recv(64))
        conn.sendall(CPONG if received[-1] == CPING else b"")
    result = _probe(_server(connector), "ajp")
    assert result == {"key": "k", "answered": True, "detail": "AJP CPong"} and received == [CPING]


@pytest.mark.parametrize("answer", [b"HTTP/1.0 200 OK\r\n\r\nok api-1 8010\n",   # an HTTP service on the AJP port
                                    b"AB\x00\x01\x0a",                            # a reply that is not CPong
                                    b"AB\x00", b""])                               # short, nothing
def test_the_ajp_client_refuses_anything_but_cpong(answer):
    result = _probe(_server(lambda conn: (conn.recv(64), conn.sendall(answer))), "ajp")
    assert not result["answered"] and "no AJP CPong" in result["detail"]


def test_the_ajp_client_fails_on_silence():
    hold = threading.Event()
    port = _server(lambda conn: hold.wait(3))
    started = time.monotonic()
    assert not _probe(port, "ajp", timeout=0.5)["answered"]
    assert time.monotonic() - started < 2.5
    hold.set()


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@pytest.fixture
def agent():
    """The role agent on loopback: one plain port (HTTP answer) and one AJP port (LAB_AJP)."""
    http_port, ajp_port = _free_ports(2)
    env = dict(os.environ, LAB_HOST="api-1", LAB_LISTEN=f"tcp/{http_port} tcp/{ajp_port}", LAB_AJP=f"tcp/{ajp_port}",
               LAB_REAL="")
    proc = subprocess.Popen([sys.executable, AGENT], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", ajp_port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.1)
        yield http_port, ajp_port
    finally:
        proc.terminate()
        proc.wait(timeout=5)


def test_the_role_agent_answers_cping_on_ajp_ports_and_http_elsewhere(agent):
    http_port, ajp_port = agent
    assert _probe(ajp_port, "ajp")["answered"]
    assert not _probe(ajp_port, "agent")["answered"]          # an HTTP request on the AJP port gets no answer
    assert not _probe(ajp_port, "http")["answered"]
    assert _probe(http_port, "agent") == {"key": "k", "answered": True, "detail": f"ok api-1 {http_port}"}
    assert not _probe(http_port, "ajp")["answered"]           # the HTTP stand-in is no AJP connector
    with socket.create_connection(("127.0.0.1", ajp_port), timeout=2) as sock:   # a connector's keep-alive: CPing again
        for _ in range(3):
            sock.sendall(CPING)
            assert sock.recv(16) == CPONG


# ---- verify speaks the client of the flow's own service ------------------------------------------------------------
def _moved(plan, row_id, port):
    """The plan with the row's flows moved to another port (what a switch clash would do), nothing else changed."""
    flows = [f.model_copy(update={"port": port, "port_end": None}) if f.id == row_id else f for f in plan.flows]
    return plan.model_copy(update={"flows": flows})


def _open_clients(plan, row_id):
    return {(p.dst, p.port): p.client for p in verify.ProbePlan(plan).probes.values()
            if p.expect == "open" and row_id in p.ids}


def test_a_redis_flow_on_mariadbs_port_is_probed_with_redis_ping():
    plan = build_plan(load_stack("docker-distributed"))
    assert _open_clients(plan, "A14") == {("datanode-1", 6379): "redis"}
    moved = _moved(plan, "A14", 3306)
    assert verify.client_for([moved.host("datanode-1")], "tcp", 3306) == "mysql"   # what holds the port: MariaDB
    assert _open_clients(moved, "A14") == {("datanode-1", 3306): "redis"}            # the flow's service: Redis
    assert _open_clients(moved, "A12") == {("datanode-1", 3306): "mysql"}            # two probes, one per service


def test_an_http_flow_on_an_ajp_port_is_probed_with_the_agents_http_answer_and_the_reverse():
    plan = build_plan(load_stack("docker-ha"))
    assert set(_open_clients(plan, "A07").values()) == {"agent"}
    assert set(_open_clients(_moved(plan, "A07", 8010), "A07").values()) == {"agent"}   # HTTP on 8010: the agent's AJP fails it
    distributed = build_plan(load_stack("docker-distributed"))                          # A22's own layout
    assert set(_open_clients(distributed, "A22").values()) == {"agent", "ajp"}          # the row names no service: by port
    assert {port for (_, port), c in _open_clients(distributed, "A22").items() if c == "ajp"} == {8010}


def test_a_vip_flow_is_probed_with_the_client_behind_the_proxy():
    plan = build_plan(load_stack("docker-ha"))
    clients = {(p.dst, p.port): p.client for p in verify.ProbePlan(plan).probes.values() if p.expect == "open"}
    assert clients[("services-vip", 6379)] == "redis" and clients[("services-vip", 3306)] == "mysql"


def test_a_service_keeps_no_port_another_services_software_holds():
    """On a datanode with MariaDB, Galera lists 3306 but MariaDB holds it: Galera's clients leave it out, so a
    Galera-named flow on 3306 can never be judged by MariaDB's answer as Galera's own."""
    plan = build_plan(load_stack("docker-ha"))
    services = plan.host("datanode-1").runtime.services
    assert services["mysql"] == {"tcp/3306": "mysql"}
    assert "tcp/3306" not in services["galera"] and "maxscale" not in services
    assert plan.host("api-1").runtime.services == {"tomcat-http": {"tcp/8009": "agent"}, "tomcat-ajp": {"tcp/8010": "ajp"}}
