"""The clusters of a running lab, seen through the software's own view: Galera's cluster size and readiness, Redis
replication and the sentinels' master, RabbitMQ's running nodes, ZooKeeper's leader and followers, and which member
holds each VIP. Read from inside the members (docker exec); used by `labctl verify`, the HA tests and the bench.
"""
from __future__ import annotations

import concurrent.futures
import json
import time
from dataclasses import dataclass
from typing import Callable, Optional

from abiquo_lab.plan import Plan

# One script per member, one JSON line out: what each clustered service says of itself there.
MEMBER_VIEW = r"""
import json, os, subprocess
def run(cmd, timeout=8):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout).stdout
    except Exception:
        return ""
me = os.environ.get("LAB_ADDRESS", "127.0.0.1")
hooks = os.environ.get("LAB_START", "").split()
view = {"addresses": [line.split()[3].split("/")[0] for line in run(["ip", "-o", "-4", "addr"]).splitlines()]}
if "galera" in hooks:
    rows = dict(line.split("\t") for line in run(["mariadb", "-uroot", "-N", "-B", "-e",
                "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_cluster_size','wsrep_ready','wsrep_local_state_comment','wsrep_cluster_status')"]).splitlines() if "\t" in line)
    view["galera"] = rows
if "sentinel" in hooks:
    info = dict(line.split(":", 1) for line in run(["redis-cli", "-h", me, "INFO", "replication"]).replace("\r", "").splitlines() if ":" in line)
    view["redis"] = {"role": info.get("role", "down"), "replicas": int(info.get("connected_slaves", 0) or 0),
                     "master_host": info.get("master_host", ""), "link": info.get("master_link_status", "")}
    view["sentinel_master"] = run(["redis-cli", "-h", me, "-p", "26379", "SENTINEL", "get-master-addr-by-name", "abiquo"]).split("\n")[0].strip()
if "rabbitmq" in hooks and os.environ.get("LAB_PEERS"):
    try:
        view["rabbitmq"] = json.loads(run(["rabbitmqctl", "cluster_status", "--formatter", "json"], 20) or "{}").get("running_nodes", [])
    except ValueError:
        view["rabbitmq"] = []
if "zookeeper" in hooks and os.environ.get("LAB_PEERS"):
    import socket
    try:
        with socket.create_connection((me, 2181), timeout=2) as s:
            s.sendall(b"srvr")
            text = b"".join(iter(lambda: s.recv(4096), b"")).decode(errors="replace")
        view["zookeeper"] = next((l.split(":", 1)[1].strip() for l in text.splitlines() if l.startswith("Mode:")), "down")
    except OSError:
        view["zookeeper"] = "down"
print(json.dumps(view))
"""


@dataclass
class ClusterCheck:
    service: str             # galera | redis | sentinel | rabbitmq | zookeeper | vip:<name>
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'pass' if self.ok else 'FAIL'}  {self.service:<22} {self.detail}"


def clustered_hosts(plan: Plan) -> list[str]:
    """Hosts running clustered software or carrying a VIP: the ones whose view is read."""
    names = {m for vip in plan.vips for m in vip.members}
    for hook in ("galera", "sentinel", "rabbitmq", "zookeeper"):
        carriers = [h.name for h in plan.hosts if hook in h.runtime.start]
        if len(carriers) > 1:
            names.update(carriers)
    return [h.name for h in plan.hosts if h.name in names]


def member_views(client, plan: Plan, hosts: Optional[list[str]] = None) -> dict[str, Optional[dict]]:
    """host -> its view (None when the container is not running or does not answer); members read in parallel."""
    names = hosts if hosts is not None else clustered_hosts(plan)
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(names))) as pool:
        return dict(zip(names, pool.map(lambda name: _member_view(client, plan, name), names)))


def _member_view(client, plan: Plan, name: str) -> Optional[dict]:
    try:
        container = client.containers.get(f"{plan.lab}-{name}")
        if container.status != "running":
            return None
        code, output = container.exec_run(["python3", "-c", MEMBER_VIEW], demux=True)
        return json.loads(output[0]) if code == 0 and output[0] else None
    except Exception:  # noqa: BLE001 - a member that cannot be read is reported as down, never raises
        return None


def judge(plan: Plan, views: dict[str, Optional[dict]], down: frozenset[str] = frozenset()) -> list[ClusterCheck]:
    """Each cluster's state from the members' views. Members in `down` (a fault in force) are expected out of it:
    the others must still form the cluster without them."""
    checks = []
    up = {name: view for name, view in views.items() if view is not None and name not in down}
    for vip in plan.vips:
        holders = [m for m in vip.members if m in up and vip.address in up[m]["addresses"]]
        checks.append(ClusterCheck(f"vip:{vip.name}", len(holders) == 1,
                                   f"{vip.address} held by {', '.join(holders) or 'nobody'}"))
    checks += _galera(plan, up) + _redis(plan, up) + _rabbitmq(plan, up) + _zookeeper(plan, up)
    return checks


def _members(plan: Plan, hook: str) -> list[str]:
    found = [h.name for h in plan.hosts if hook in h.runtime.start]
    return found if len(found) > 1 else []


def _galera(plan: Plan, up: dict) -> list[ClusterCheck]:
    members = _members(plan, "galera")
    if not members:
        return []
    live = [m for m in members if m in up]
    states = {m: up[m].get("galera", {}) for m in live}
    ok = bool(live) and all(s.get("wsrep_cluster_size") == str(len(live)) and s.get("wsrep_ready") == "ON"
                            and s.get("wsrep_local_state_comment") == "Synced" for s in states.values())
    detail = ", ".join(f"{m} {s.get('wsrep_local_state_comment', 'down')} size {s.get('wsrep_cluster_size', '?')} "
                       f"ready {s.get('wsrep_ready', '?')}" for m, s in states.items())
    return [ClusterCheck("galera", ok, f"{len(live)}/{len(members)} members: {detail}")]


def _redis(plan: Plan, up: dict) -> list[ClusterCheck]:
    members = _members(plan, "sentinel")
    if not members:
        return []
    live = [m for m in members if m in up]
    roles = {m: up[m]["redis"] for m in live}
    masters = [m for m, r in roles.items() if r["role"] == "master"]
    address = {m: plan.host(m).address for m in members}
    master_ok = len(masters) == 1 and roles[masters[0]]["replicas"] == len(live) - 1 and all(
        r["role"] == "slave" and r["master_host"] == address[masters[0]] and r["link"] == "up"
        for m, r in roles.items() if m not in masters)
    said = {m: up[m]["sentinel_master"] for m in live}
    sentinel_ok = len(masters) == 1 and all(value == address[masters[0]] for value in said.values())
    return [ClusterCheck("redis", master_ok, f"master {', '.join(masters) or 'none'}; "
                         + ", ".join(f"{m} {r['role']}" for m, r in roles.items())),
            ClusterCheck("sentinel", sentinel_ok, "sentinels name " + ", ".join(sorted(set(said.values())) or ["nothing"]))]


def _rabbitmq(plan: Plan, up: dict) -> list[ClusterCheck]:
    members = _members(plan, "rabbitmq")
    if not members:
        return []
    live = [m for m in members if m in up]
    expected = {f"rabbit@{m}" for m in live}
    seen = {m: set(up[m].get("rabbitmq", [])) for m in live}
    ok = bool(live) and all(nodes == expected for nodes in seen.values())
    return [ClusterCheck("rabbitmq", ok, ", ".join(f"{m} runs with {len(n)}" for m, n in seen.items())
                         + f" (expected {len(expected)})")]


def _zookeeper(plan: Plan, up: dict) -> list[ClusterCheck]:
    members = _members(plan, "zookeeper")
    if not members:
        return []
    modes = {m: up[m].get("zookeeper", "down") for m in members if m in up}
    leaders = [m for m, mode in modes.items() if mode == "leader"]
    ok = len(leaders) == 1 and all(mode == "follower" for m, mode in modes.items() if m not in leaders)
    return [ClusterCheck("zookeeper", ok, ", ".join(f"{m} {mode}" for m, mode in modes.items()))]


def settle(client, plan: Plan, down: frozenset[str] = frozenset(), timeout: float = 90.0,
           progress: Optional[Callable[[str], None]] = None) -> list[ClusterCheck]:
    """Read and judge until every cluster is whole or the timeout passes (clusters converge after the hosts are
    healthy: a replica syncing, a node joining). Returns the last judgement."""
    deadline = time.monotonic() + timeout
    while True:
        checks = judge(plan, member_views(client, plan), down)
        if all(c.ok for c in checks) or time.monotonic() > deadline:
            return checks
        if progress:
            progress("clusters settling: " + ", ".join(c.service for c in checks if not c.ok))
        time.sleep(2)
