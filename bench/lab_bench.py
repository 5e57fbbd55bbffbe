"""Bring-up, verify and teardown of the Docker labs on the local engine. Prints figures; asserts nothing.

    venv/bin/python bench/lab_bench.py [docker-distributed docker-ha]

For each stack: record under mocks, realize (image build is cached after the first run; its time is shown
apart), wait for health, run verify, tear down. Beside it, the slowest single service's own readiness: each real
service (MariaDB, RabbitMQ, ZooKeeper, nfs-ganesha, Redis) started alone in one container of the same image and
timed until its own client answers. Goal (issue 3): bring-up within 1.3x the slowest service's readiness.
"""
import json
import sys
import time
from pathlib import Path


import docker

from abiquo_lab import contract
from abiquo_lab.catalog import default_catalog
from abiquo_lab.labspec import load_stack
from abiquo_lab.plan import build_plan, host_runtime
from labctl.live import engine, probe, verify

SERVICES = {  # name -> (roles, listen, probe client, port)
    "mariadb": ("mysql", "tcp/3306", "mysql", 3306),
    "rabbitmq": ("datanode", "tcp/5672", "amqp", 5672),
    "zookeeper": ("datanode", "tcp/2181", "zk", 2181),
    "redis": ("datanode", "tcp/6379", "redis", 6379),
    "nfs-ganesha": ("nfs", "tcp/2049", "nfs", 2049),
}


def runtime_env(roles: str) -> dict[str, str]:
    """The start hooks and held ports the catalog gives these roles (with docker-ha's facts: ZooKeeper on)."""
    runtime = host_runtime(roles.split(), default_catalog(), load_stack("docker-ha").facts)
    return {"LAB_START": " ".join(runtime.start), "LAB_REAL": " ".join(runtime.holds)}


def service_readiness(client, image: str) -> dict[str, float]:
    """Seconds from `docker run` until the service's own client answers on loopback inside the container."""
    found = {}
    source = Path(probe.__file__).read_text()
    for name, (roles, listen, client_name, port) in SERVICES.items():
        extra = {"cap_add": ["NET_ADMIN", "DAC_READ_SEARCH", "SYS_ADMIN"], "tmpfs": {"/export": "rw,size=64m"}} \
            if roles == "nfs" else {"cap_add": ["NET_ADMIN"]}
        start = time.monotonic()
        container = client.containers.run(image, detach=True, init=True, labels={contract.MANAGED: "true", contract.LAB: "bench"},
                                          environment={"LAB_ROLES": roles, "LAB_LISTEN": listen, "LAB_ALLOW": "[]",
                                                       **runtime_env(roles), "LAB_DB_PASSWORD": "bench"},
                                          network_mode="none", **extra)
        try:
            wire = [{"key": "k", "address": "127.0.0.1", "port": port, "protocol": "tcp", "client": client_name,
                     "expect": "open", "timeout": 2}]
            while time.monotonic() - start < 180:
                code, out = container.exec_run(["python3", "-c", source, json.dumps(wire)])
                if code == 0 and json.loads(out)[0]["answered"]:
                    break
                time.sleep(0.2)
            found[name] = time.monotonic() - start
        finally:
            container.remove(force=True)
    return found


def main(stacks: list[str]) -> None:
    client = docker.from_env()
    rows = []
    for stack in stacks:
        plan = build_plan(load_stack(stack))
        engine.teardown(client, lab=plan.lab, images=False)
        t0 = time.monotonic()
        recording = engine.record_for_engine(stack)
        recorded = time.monotonic() - t0
        done = engine.Engine(client).realize(recording)
        t1 = time.monotonic()
        outcomes = verify.Verifier(client, plan).run()
        verify_s = time.monotonic() - t1
        bring_up = recorded + done.seconds["total"] - done.seconds.get("image", 0) + verify_s
        if stack == stacks[-1]:
            readiness = service_readiness(client, done.images[0])
        t2 = time.monotonic()
        engine.teardown(client, lab=plan.lab, images=False)
        rows.append((stack, len(plan.hosts), recorded, done.seconds.get("image", 0), done.seconds["total"] - done.seconds.get("image", 0),
                     verify_s, bring_up, time.monotonic() - t2, sum(o.failed for o in outcomes)))
    slowest = max(readiness.items(), key=lambda kv: kv[1])
    print("service readiness alone (s): " + ", ".join(f"{k} {v:.1f}" for k, v in sorted(readiness.items(), key=lambda kv: -kv[1])))
    print(f"{'stack':<20} {'hosts':>5} {'record':>7} {'image':>6} {'up+healthy':>10} {'verify':>7} {'to verified':>11} "
          f"{'x slowest':>9} {'teardown':>8} {'mismatches':>10}")
    for stack, hosts, rec, image, up, ver, total, down, bad in rows:
        print(f"{stack:<20} {hosts:>5} {rec:>7.1f} {image:>6.1f} {up:>10.1f} {ver:>7.1f} {total:>11.1f} "
              f"{total / slowest[1]:>9.2f} {down:>8.1f} {bad:>10}")
    print(f"(slowest service: {slowest[0]}; 'to verified' = record + networks + containers healthy + verify, image build excluded)")


if __name__ == "__main__":
    main(sys.argv[1:] or ["docker-distributed", "docker-ha"])
