"""The node image on a real Docker engine: the nftables allowlist admits exactly the planned source and port,
real services answer (Redis PING, MariaDB SELECT 1), the role agent covers the rest, and health tracks readiness.
Only containers and networks this test creates are probed; everything is removed by label afterwards."""
import json
import uuid

import pytest

from conftest import runtime_env

pytestmark = [pytest.mark.docker, pytest.mark.slow]
LABEL = "abiquo-lab.test-run"


@pytest.fixture(scope="module")
def lab(docker_client, node_image):
    run = uuid.uuid4().hex[:8]
    labels = {"abiquo-lab.managed": "true", "abiquo-lab.lab": f"t{run}", LABEL: run}
    import docker
    net = docker_client.networks.create(f"t{run}-net", internal=True, labels=labels,
                                        ipam=docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet="10.250.7.0/24", gateway="10.250.7.1")]))
    allow = [["tcp", "10.250.7.11", "8009", "A18"], ["tcp", "10.250.7.11", "6379", "A14"],
             ["tcp", "10.250.7.11", "3306", "A12"], ["tcp", "10.250.7.12", "8010", "A22"]]

    def start(name, ip, roles, allow_rows, listen):
        container = docker_client.containers.create(
            node_image, name=f"t{run}-{name}", hostname=name, labels=labels, init=True, cap_add=["NET_ADMIN"],
            environment={"LAB_HOST": name, **runtime_env(roles, "docker-distributed"), "LAB_ALLOW": json.dumps(allow_rows),
                         "LAB_LISTEN": listen, "LAB_DB_PASSWORD": "test-pw"},
            healthcheck={"test": ["CMD", "/usr/local/bin/lab-health"], "interval": 1_000_000_000, "retries": 120},
            network=net.name)
        net.disconnect(container)
        net.connect(container, ipv4_address=ip)
        container.start()
        return container

    try:
        server = start("server", "10.250.7.10", "api datanode mysql", allow, "tcp/8009 tcp/8010 tcp/6379 tcp/3306")
        allowed = start("client", "10.250.7.11", "rs", [], "")
        other = start("other", "10.250.7.12", "rs", [], "")
        yield {"server": server, "allowed": allowed, "other": other}
    finally:
        for c in docker_client.containers.list(all=True, filters={"label": f"{LABEL}={run}"}):
            c.remove(force=True)
        for n in docker_client.networks.list(filters={"label": f"{LABEL}={run}"}):
            n.remove()
        assert not docker_client.containers.list(all=True, filters={"label": f"{LABEL}={run}"})


def _wait_healthy(container, seconds=120):
    import time
    deadline = time.time() + seconds
    while time.time() < deadline:
        container.reload()
        if container.attrs["State"].get("Health", {}).get("Status") == "healthy":
            return True
        time.sleep(0.5)
    return False


def _connects(src, port):
    return src.exec_run(["nc", "-z", "-w", "2", "10.250.7.10", str(port)]).exit_code == 0


def test_node_becomes_healthy_when_its_services_answer(lab):
    assert _wait_healthy(lab["server"]), lab["server"].logs().decode()[-2000:]


def test_allowlist_admits_only_the_planned_source_and_port(lab):
    assert _wait_healthy(lab["server"])
    assert _connects(lab["allowed"], 8009)
    assert not _connects(lab["allowed"], 8010), "8010 is served but not allowed from this source"
    assert not _connects(lab["other"], 8009), "same port from an unplanned source must be dropped"


def test_real_services_answer_through_the_allowlist(lab):
    assert _wait_healthy(lab["server"])
    ping = lab["allowed"].exec_run(["redis-cli", "-h", "10.250.7.10", "ping"])
    assert ping.output.strip() == b"PONG"
    select = lab["allowed"].exec_run(["mariadb", "-h", "10.250.7.10", "-uabiquo", "-ptest-pw", "-N", "-e", "SELECT 1"])
    assert select.exit_code == 0 and select.output.strip() == b"1", select.output
    agent = lab["allowed"].exec_run(["sh", "-c", "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 10.250.7.10 8009"])
    assert b"200 OK" in agent.output and b"ok server 8009" in agent.output


def _probe_from(src, port, client):
    """verify's in-container prober, run in src against the server: {"answered", "detail"}."""
    from labctl.live.verify import PROBE_SOURCE
    wire = [{"key": "k", "address": "10.250.7.10", "port": port, "protocol": "tcp", "client": client, "expect": "open",
             "timeout": 3}]
    code, out = src.exec_run(["python3", "-c", PROBE_SOURCE, json.dumps(wire)])
    assert code == 0, out
    return json.loads(out)[0]


def test_the_agent_answers_an_ajp_cping_on_the_ajp_port_and_nothing_to_http(lab):
    """8010 is Tomcat's AJP connector: the agent answers CPing with CPong there (LAB_AJP), and an HTTP request gets
    no answer; 8009 stays HTTP."""
    assert _wait_healthy(lab["server"])
    assert lab["server"].attrs["Config"]["Env"] and "LAB_AJP=tcp/8010" in lab["server"].attrs["Config"]["Env"]
    assert _probe_from(lab["other"], 8010, "ajp") == {"key": "k", "answered": True, "detail": "AJP CPong"}
    assert not _probe_from(lab["other"], 8010, "agent")["answered"]
    assert not _probe_from(lab["other"], 8010, "http")["answered"]
    assert _probe_from(lab["allowed"], 8009, "agent")["answered"]
    assert not _probe_from(lab["allowed"], 8009, "ajp")["answered"]


def test_frontend_haproxy_config_from_the_plans_routes_is_valid(docker_client, node_image):
    from abiquo_lab.plan import build_plan
    from abiquo_lab.labspec import load_stack
    plan = build_plan(load_stack("docker-ha"))
    lb = plan.host("lb-1")
    routes = json.dumps(plan.route_rows(lb.name))
    script = ("mkdir -p /etc/lab && openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=t -keyout /tmp/k -out /tmp/c "
              "2>/dev/null && cat /tmp/c /tmp/k > /etc/lab/frontend.pem && lab-agent --haproxy-config > /tmp/h.cfg "
              "&& cat /tmp/h.cfg && haproxy -c -f /tmp/h.cfg")
    out = docker_client.containers.run(node_image, entrypoint=["bash", "-c", script], environment={"LAB_ROUTES": routes},
                                       labels={"abiquo-lab.managed": "true", LABEL: "haproxy"}, network_mode="none",
                                       remove=True, stderr=True).decode()
    assert "Configuration file is valid" in out
    assert "use_backend be_api if { path /api } or { path_beg /api/ }" in out and f"server api-2 {plan.host('api-2').address}:8009" in out
    assert ":8010" not in out                          # no HTTP to Tomcat's AJP connector
    assert "default_backend be_root" in out and f"server ui-1 {plan.host('ui-1').address}:80" in out
