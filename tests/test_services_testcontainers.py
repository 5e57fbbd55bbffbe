"""Each real service of the node image, started alone through testcontainers (Ryuk disabled; cleanup by label),
answers the same protocol client `labctl verify` uses, from this machine to the container's own address:
RabbitMQ (AMQP handshake), ZooKeeper (srvr), Redis (PING), nfs-ganesha and rpcbind (RPC NULL over TCP and UDP).
The container's allowlist admits the world on exactly those ports; another port stays closed."""
import json
import os
import time
import uuid

import pytest

from conftest import runtime_env
from labctl.live import probe

pytestmark = [pytest.mark.docker, pytest.mark.slow]
os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")          # its reaper image cannot be pulled here
SERVICES = {  # roles -> [(protocol, port, client)]
    "datanode": [("tcp", 5672, "amqp"), ("tcp", 2181, "zk"), ("tcp", 6379, "redis")],
    "nfs": [("tcp", 2049, "nfs"), ("udp", 2049, "nfs"), ("tcp", 111, "rpcbind"), ("udp", 111, "rpcbind")],
}


@pytest.fixture(params=sorted(SERVICES))
def service(request, docker_client, node_image):
    from testcontainers.core.container import DockerContainer
    role, run = request.param, uuid.uuid4().hex[:8]
    checks = SERVICES[role]
    allow = [[proto, "any", str(port), "test"] for proto, port, _ in checks]
    extra = {"cap_add": ["NET_ADMIN", "DAC_READ_SEARCH", "SYS_ADMIN"]} if role == "nfs" else {"cap_add": ["NET_ADMIN"]}
    container = DockerContainer(node_image)
    for key, value in runtime_env(role).items():
        container = container.with_env(key, value)
    container = (container
                 .with_env("LAB_HOST", f"{role}-tc").with_env("LAB_ALLOW", json.dumps(allow))
                 .with_env("LAB_LISTEN", " ".join(f"{p}/{n}" for p, n, _ in checks) + " tcp/8009")
                 .with_tmpfs_mount("/export", "rw,size=64m,mode=1777")            # the export must not be on overlayfs
                 .with_kwargs(init=True, labels={"abiquo-lab.managed": "true", "abiquo-lab.test-run": run}, **extra))
    try:                                            # a failed start can leave a created container: cleaned below
        container.start()
        yield role, container.get_wrapped_container(), checks
    finally:
        if container._container is not None:
            container.stop()
        for leftover in docker_client.containers.list(all=True, filters={"label": f"abiquo-lab.test-run={run}"}):
            leftover.remove(force=True)
        assert not docker_client.containers.list(all=True, filters={"label": f"abiquo-lab.test-run={run}"})


def test_each_real_service_answers_its_own_protocol(service):
    role, container, checks = service
    container.reload()
    address = container.attrs["NetworkSettings"]["IPAddress"]
    wires = [{"key": f"{proto}/{port}", "address": address, "port": port, "protocol": proto, "client": client,
              "expect": "open", "timeout": 2} for proto, port, client in checks]
    deadline, answers = time.monotonic() + 90, []
    while time.monotonic() < deadline:
        answers = probe.run(wires)
        if all(a["answered"] for a in answers):
            break
        time.sleep(1)
    assert all(a["answered"] for a in answers), answers
    closed = probe.run([{"key": "agent", "address": address, "port": 8009, "protocol": "tcp", "client": "agent",
                         "expect": "closed", "timeout": 1}])
    assert not closed[0]["answered"]                # served by the agent, but not in the allowlist
