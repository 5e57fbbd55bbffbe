"""The HA lab's figures, side by side: bring-up to verified against the lab's floor, failover time per service, and
requests lost through the frontend while an API and a UI node die. Prints figures; asserts nothing.

    venv/bin/python bench/ha_bench.py [--runs N]

floor = max(the slowest service's own readiness alone, the CPU-seconds the lab's containers used to become ready
÷ the cores): no bring-up on this machine can beat either. Goals (issue 11): bring-up within 1.5x the floor,
failover of each service within 10 s (fault -> first successful write through the VIP), zero lost requests.
Failover here is `docker stop` of the member that serves the service (the VIP holder, the Redis master, the
ZooKeeper leader) and, for comparison, `docker kill` (no goodbye: keepalived and the sentinels must notice).
"""
import os
import sys
import time

import docker

from abiquo_lab.labspec import load_stack
from abiquo_lab.plan import build_plan
from labctl.live import cluster, engine, verify
from labctl.live.drill import Drill, RequestLoop, vip_holder

from lab_bench import service_readiness  # noqa: E402  (run as a script: bench/ is on the path)

STACK = "docker-ha"


def cpu_seconds(client, lab: str) -> float:
    """CPU time used so far by every container of the lab (the engine's own counters)."""
    total = 0
    for container in client.containers.list(filters={"label": engine.label_filter(lab=lab)}):
        total += container.stats(stream=False)["cpu_stats"]["cpu_usage"]["total_usage"]
    return total / 1e9


def bring_up(client, plan):
    engine.teardown(client, lab=plan.lab, images=False)
    started = time.monotonic()
    recording = engine.record_for_engine(STACK)
    done = engine.Engine(client).realize(recording)
    checks = cluster.settle(client, plan, timeout=180)
    outcomes = verify.Verifier(client, plan).run()
    seconds = time.monotonic() - started - done.seconds.get("image", 0)
    bad = sum(o.failed for o in outcomes) + sum(not c.ok for c in checks)
    return recording, seconds, cpu_seconds(client, plan.lab), bad, done.images[0]


def failover(client, plan, recording, drill, service, how):
    who = {"mysql": lambda: vip_holder(client, plan, "services-vip"),
           "rabbitmq": lambda: vip_holder(client, plan, "services-vip"),
           "redis": lambda: cluster.member_in_role(client, plan, "redis", "master"),
           "zookeeper": lambda: cluster.member_in_role(client, plan, "zookeeper", "leader")}[service]
    write = {"mysql": lambda: drill.db_write(f"bench-{time.time_ns()}"),
             "rabbitmq": lambda: drill.amqp_publish("bench", "x"),
             "redis": lambda: drill.redis_set(f"bench-{time.time_ns()}", "x"),
             "zookeeper": lambda: drill.zk_create(f"bench-{time.time_ns()}", "x")}[service]
    victim = who()
    container = client.containers.get(f"{plan.lab}-{victim}")
    started = time.monotonic()
    container.stop(timeout=10) if how == "stop" else container.kill()
    answer, _ = drill.until_ok(write, timeout=60)
    seconds = time.monotonic() - started
    container.start()
    engine.Engine(client).wait_healthy([r for r in recording.by_type(engine.CONTAINER) if r.raw_inputs["hostname"] == victim], timeout=180)
    cluster.settle(client, plan, timeout=180)
    return victim, seconds if answer.ok else float("nan")


def lost_requests(client, plan, recording):
    lb = next(h for h in plan.hosts_with("frontend") if h.published)
    port = next(p.external for p in lb.published if p.internal == 443)
    with RequestLoop(port) as loop:
        time.sleep(1)
        client.containers.get(f"{plan.lab}-api-1").stop(timeout=10)
        time.sleep(2)
        client.containers.get(f"{plan.lab}-ui-1").kill()
        time.sleep(3)
    for host in ("api-1", "ui-1"):
        client.containers.get(f"{plan.lab}-{host}").start()
    engine.Engine(client).wait_healthy([r for r in recording.by_type(engine.CONTAINER)
                                        if r.raw_inputs["hostname"] in ("api-1", "ui-1")], timeout=180)
    return len(loop.results), len(loop.lost)


def main(runs: int) -> None:
    client = docker.from_env()
    plan = build_plan(load_stack(STACK))
    cores = os.cpu_count() or 1
    ups = []
    for _ in range(runs):
        recording, seconds, cpu, bad, image = bring_up(client, plan)
        ups.append((seconds, cpu, bad))
    readiness = service_readiness(client, image)
    slowest = max(readiness.items(), key=lambda kv: kv[1])
    drill = Drill(client, plan)
    rows = [(service, how, *failover(client, plan, recording, drill, service, how))
            for service in ("mysql", "redis", "rabbitmq", "zookeeper") for how in ("stop", "kill")]
    sent, lost = lost_requests(client, plan, recording)
    engine.teardown(client, lab=plan.lab, images=False)

    print(f"bring-up of {STACK} to verified (clusters whole + verify), image cached; {cores} cores")
    print(f"{'run':>3} {'seconds':>8} {'cpu-s':>7} {'cpu-s/cores':>11} {'slowest alone':>14} {'floor':>6} {'x floor':>7} {'mismatches':>10}")
    for i, (seconds, cpu, bad) in enumerate(ups, 1):
        floor = max(slowest[1], cpu / cores)
        print(f"{i:>3} {seconds:>8.1f} {cpu:>7.1f} {cpu / cores:>11.1f} {slowest[1]:>8.1f} ({slowest[0][:4]}) {floor:>6.1f} "
              f"{seconds / floor:>7.2f} {bad:>10}")
    print("failover: fault -> first successful write through the VIP (goal <= 10 s)")
    print(f"{'service':<10} {'fault':<5} {'member':<11} {'seconds':>7}")
    for service, how, victim, seconds in rows:
        print(f"{service:<10} {how:<5} {victim:<11} {seconds:>7.1f}")
    print(f"frontend: {lost} of {sent} requests lost while api-1 stopped and ui-1 was killed (goal 0)")


if __name__ == "__main__":
    main(int(sys.argv[sys.argv.index("--runs") + 1]) if "--runs" in sys.argv else 2)
