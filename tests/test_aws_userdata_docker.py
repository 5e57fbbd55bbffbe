"""The AWS datanodes' user data, run on a real Docker engine: three containers from the node image with exactly the
env file the AWS user data writes (and its network script's hosts entries and secondary address), on one network
holding the fixed AWS addresses, form the Galera, Redis+Sentinel, RabbitMQ and ZooKeeper clusters, and each member's
proxy on its secondary address -- the NLB's target -- answers with the one writer / the Redis master.

What a container cannot run of the network script is done by Docker instead (stated, not hidden): the host name
(`hostnamectl`: Docker's hostname), `sysctl` (Docker's sysctls), and the default route's interface (an internal
network has no default route: eth0). The lab is test-only (`awsud`, pool 10.211.0.0/16), nothing is published, and
everything it makes carries a run label and is removed afterwards."""
import json
import re
import time
import uuid

import pytest

from abiquo_lab.labspec import check_spec, read_stack_config
from abiquo_lab.plan import build_plan
from components.aws_backend import aws_addresses, user_data

pytestmark = [pytest.mark.docker, pytest.mark.slow]
LAB, POOL, AZS = "awsud", "10.211.0.0/16", 2
RUN_LABEL = "abiquo-lab.test-run"
DB_PASSWORD, COOKIE = "test-pw", "AWSUSERDATATESTCOOKIE"


def _plan():
    config = {**read_stack_config("aws-ha"), "name": LAB, "address_pool": POOL}
    return build_plan(check_spec(config))


def _env(text):
    body = text.split("cat > /etc/abiquo-lab.env <<'ENV'\n", 1)[1].split("\nENV\n", 1)[0]
    return {key: json.loads(value) for key, _, value in (line.partition("=") for line in body.splitlines())}


def _network_script(text):
    """The user data's network script, as a container can run it."""
    script = text.split("<<'NET'\n", 1)[1].split("NET\n", 1)[0]
    lines = [line for line in script.splitlines() if not line.startswith(("hostnamectl ", "sysctl ", "#!"))]
    return "\n".join(lines).replace("\"$(ip -o route show default | awk '{print $5; exit}')\"", "eth0")


@pytest.fixture(scope="module")
def awsud_image(docker_client):
    """The node image under a tag of this test's own (the shared test tag is another suite's to remove)."""
    from conftest import ROOT
    import os
    tag = f"abiquo-lab-node:{LAB}"
    docker_client.images.build(path=str(ROOT / "images" / "node"), tag=tag, rm=True,
                               buildargs={"BASE_IMAGE": os.environ.get("BASE_IMAGE", "debian:bookworm-slim"), "LAB": "test"},
                               labels={"abiquo-lab.managed": "true", "abiquo-lab.lab": LAB})
    yield tag
    try:
        docker_client.images.remove(tag, force=True, noprune=True)
    except Exception:  # noqa: BLE001 - already gone
        pass


@pytest.fixture(scope="module")
def cluster(docker_client, awsud_image):
    import docker
    plan = _plan()
    addresses = aws_addresses(plan, AZS)
    data = next(z for z in plan.zones if z.name == "data")
    assert data.cidr.startswith("10.211.")
    run = uuid.uuid4().hex[:8]
    labels = {"abiquo-lab.managed": "true", "abiquo-lab.lab": LAB, RUN_LABEL: run}
    members = [h for h in plan.hosts if "datanode" in h.roles]
    texts = {h.name: user_data(plan, h, DB_PASSWORD, addresses, AZS, erlang_cookie=COOKIE) for h in members}
    try:
        # one bridge holds the data zone's whole network, both availability zones' subnets (the VPC routes between them)
        net = docker_client.networks.create(
            f"{LAB}-{run}-data", internal=True, labels=labels,
            ipam=docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=data.cidr,
                                                                             gateway=str(next(iter(_hosts(data.cidr)))))]))
        containers = {}
        for host in members:
            env = _env(texts[host.name])
            container = docker_client.containers.create(
                awsud_image, name=f"{LAB}-{run}-{host.name}", hostname=host.name, labels=labels, init=True,
                cap_add=["NET_ADMIN"], sysctls={"net.ipv4.ip_nonlocal_bind": "1"}, environment=env,
                entrypoint=["bash", "-c", _network_script(texts[host.name]) + "\nexec /usr/local/bin/entrypoint.sh"],
                healthcheck={"test": ["CMD", "/usr/local/bin/lab-health"], "interval": 2_000_000_000, "retries": 200},
                network=net.name)
            net.disconnect(container)
            net.connect(container, ipv4_address=addresses.primary[host.name])
            containers[host.name] = container
        for container in containers.values():
            container.start()
        yield plan, addresses, containers, texts
    finally:
        for c in docker_client.containers.list(all=True, filters={"label": f"{RUN_LABEL}={run}"}):
            c.remove(force=True)
        for n in docker_client.networks.list(filters={"label": f"{RUN_LABEL}={run}"}):
            n.remove()
        assert not docker_client.containers.list(all=True, filters={"label": f"{RUN_LABEL}={run}"})


def _hosts(cidr):
    import ipaddress
    return ipaddress.ip_network(cidr).hosts()


def _out(container, command):
    result = container.exec_run(["bash", "-c", command])
    return result.exit_code, result.output.decode(errors="replace")


def _wait(predicate, seconds=600, every=3):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return False


def _healthy(containers):
    for c in containers.values():
        c.reload()
        if c.attrs["State"].get("Health", {}).get("Status") != "healthy":
            return False
    return True


def test_the_aws_datanodes_form_every_cluster_and_their_proxies_answer(cluster):
    plan, addresses, containers, texts = cluster
    names = list(containers)
    primary = {n: addresses.primary[n] for n in names}
    assert _wait(lambda: _healthy(containers)), {n: _out(c, "tail -5 /var/log/*.log")[1][-1500:] for n, c in containers.items()}

    # Galera: one cluster of three, Synced everywhere
    def galera_whole():
        sizes = [_out(c, "mariadb -uroot -N -e \"SHOW STATUS LIKE 'wsrep_cluster_size'\"")[1].split() for c in containers.values()]
        return all(s[-1:] == ["3"] for s in sizes)
    assert _wait(galera_whole, 180)

    # Redis: one master, the others replicas of it at its AWS address; the sentinels agree
    def redis_roles():
        return {n: _out(c, "redis-cli info replication")[1] for n, c in containers.items()}
    assert _wait(lambda: sum("role:master" in r for r in redis_roles().values()) == 1, 120)
    roles = redis_roles()
    (master,) = [n for n, r in roles.items() if "role:master" in r]
    assert all(f"master_host:{primary[master]}" in roles[n] for n in names if n != master)
    assert _wait(lambda: all(_out(c, "redis-cli -p 26379 SENTINEL get-master-addr-by-name abiquo")[1].split()[:1] == [primary[master]]
                             for c in containers.values()), 60)

    # RabbitMQ: every node runs the one cluster of rabbit@<host name> (names resolved by the hosts entries)
    def rabbit_nodes(c):
        code, out = _out(c, "rabbitmqctl cluster_status --formatter json 2>/dev/null")
        return sorted(json.loads(out).get("running_nodes", [])) if code == 0 and out.strip().startswith("{") else []
    assert _wait(lambda: all(rabbit_nodes(c) == sorted(f"rabbit@{n}" for n in names) for c in containers.values()), 180)

    # ZooKeeper: one leader, two followers
    def zk_modes():
        return sorted(m.group(1) for c in containers.values()
                      if (m := re.search(r"Mode: (\w+)", _out(c, "echo srvr | nc -w 2 127.0.0.1 2181")[1])))
    assert _wait(lambda: zk_modes() == ["follower", "follower", "leader"], 120)

    # each member's proxy on its secondary address (what the NLB targets) reaches the Redis master and a Galera writer
    client = containers[names[0]]
    for n in names:
        proxy = addresses.proxy[n]
        assert _wait(lambda: "role:master" in _out(client, f"redis-cli -h {proxy} -p 6379 info replication")[1], 60), n
        code, out = _out(client, f"mariadb -h {proxy} -P 3306 -uabiquo -p{DB_PASSWORD} -N -e \"SHOW STATUS LIKE 'wsrep_local_state'\"")
        assert code == 0 and out.split()[-1:] == ["4"], (n, out)
        code, _ = _out(client, f"nc -z -w 2 {proxy} 5672")
        assert code == 0, n
