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
                "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_cluster_size','wsrep_ready','wsrep_local_state_comment','wsrep_cluster_status','wsrep_cluster_state_uuid')"]).splitlines() if "\t" in line)
    view["galera"] = rows
if "sentinel" in hooks:
    info = dict(line.split(":", 1) for line in run(["redis-cli", "-h", me, "INFO", "replication"]).replace("\r", "").splitlines() if ":" in line)
    view["redis"] = {"role": info.get("role", "down"), "replicas": int(info.get("connected_slaves", 0) or 0),
                     "master_host": info.get("master_host", ""), "link": info.get("master_link_status", "")}
    view["sentinel_master"] = run(["redis-cli", "-h", me, "-p", "26379", "SENTINEL", "get-master-addr-by-name", "abiquo"]).split("\n")[0].strip()
    fields = run(["redis-cli", "-h", me, "-p", "26379", "SENTINEL", "master", "abiquo"]).split("\n")
    view["sentinel_peers"] = int(dict(zip(fields[::2], fields[1::2])).get("num-other-sentinels", "-1") or -1)
if "rabbitmq" in hooks and os.environ.get("LAB_PEERS"):
    try:
        status = json.loads(run(["rabbitmqctl", "cluster_status", "--formatter", "json"], 20) or "{}")
    except ValueError:
        status = {}
    view["rabbitmq"] = status.get("running_nodes", [])
    view["rabbitmq_partitions"] = status.get("partitions", {}) or {}
if "zookeeper" in hooks and os.environ.get("LAB_PEERS"):
    import socket
    try:
        with socket.create_connection((me, 2181), timeout=2) as s:
            s.sendall(b"srvr")
            text = b"".join(iter(lambda: s.recv(4096), b"")).decode(errors="replace")
        view["zookeeper"] = next((l.split(":", 1)[1].strip() for l in text.splitlines() if l.startswith("Mode:")), "down")
    except OSError:
        view["zookeeper"] = "down"
if "vip_proxy" in hooks and os.path.exists("/run/lab-vip-proxy.sock"):
    import socket
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(2); s.connect("/run/lab-vip-proxy.sock"); s.sendall(b"show stat\n")
            text = b"".join(iter(lambda: s.recv(65536), b"")).decode(errors="replace")
        proxy = {}
        for line in text.splitlines()[1:]:
            cells = line.split(",")
            if len(cells) > 17 and cells[1] not in ("FRONTEND", "BACKEND"):
                proxy.setdefault(cells[0], {})[cells[1]] = cells[17]
        view["proxy"] = proxy
    except OSError:
        view["proxy"] = {}
print(json.dumps(view))
"""


@dataclass
class ClusterCheck:
    service: str             # galera | redis | sentinel | rabbitmq | zookeeper | vip:<name>
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'pass' if self.ok else 'FAIL'}  {self.service:<22} {self.detail}"


# Each cluster check -> the start hook whose hosts form that cluster (Redis's members are the sentinels' hosts).
CHECK_HOOKS = {"galera": "galera", "redis": "sentinel", "sentinel": "sentinel", "rabbitmq": "rabbitmq",
               "zookeeper": "zookeeper"}


def clustered_hosts(plan: Plan) -> list[str]:
    """Hosts running clustered software or carrying a VIP: the ones whose view is read."""
    names = {m for vip in plan.vips for m in vip.members}
    for hook in set(CHECK_HOOKS.values()):
        names.update(_members(plan, hook))
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
    the others must still form the cluster without them. A member that is not down but could not be read fails
    every cluster it belongs to."""
    checks = []
    up = {name: view for name, view in views.items() if view is not None and name not in down}
    unread = sorted(name for name, view in views.items() if view is None and name not in down)
    for vip in plan.vips:
        holders = [m for m in vip.members if m in up and vip.address in up[m]["addresses"]]
        strays = sorted(h for h, v in up.items() if h not in vip.members and vip.address in v["addresses"])
        checks.append(ClusterCheck(f"vip:{vip.name}", len(holders) == 1 and not strays,
                                   f"{vip.address} held by {', '.join(holders + strays) or 'nobody'}"
                                   + (f" (not members: {', '.join(strays)})" if strays else "")))
        if vip.listeners and len(holders) == 1:
            checks.append(_proxy(plan, vip, holders[0], up))
    checks += _galera(plan, up) + _redis(plan, up) + _rabbitmq(plan, up) + _zookeeper(plan, up)
    return [_with_unread(c, plan, unread) for c in checks]


def _with_unread(check: ClusterCheck, plan: Plan, unread: list[str]) -> ClusterCheck:
    hook = CHECK_HOOKS.get(check.service)
    members = _members(plan, hook) if hook else (plan.vip(check.service.split(":", 1)[1]).members
                                                 if ":" in check.service else [])
    missing = [m for m in unread if m in members]
    if not missing:
        return check
    return ClusterCheck(check.service, False, f"{check.detail}; not readable (not faulted): {', '.join(missing)}")


def _proxy(plan: Plan, vip, holder: str, up: dict) -> ClusterCheck:
    """The holder's proxy sees the members it should: every member UP for a shared service, one for one writer."""
    stats = up[holder].get("proxy", {})
    notes, ok = [], True
    for listener in vip.listeners:
        servers = stats.get(f"{listener.check}_{listener.port}", {})
        live = sorted(m for m in vip.members if m in up)
        healthy = sorted(m for m, state in servers.items() if state.startswith("UP"))
        good = (len(healthy) == 1 and healthy[0] in live) if listener.check == "redis-master" else healthy == live
        ok &= good
        notes.append(f"{listener.port} {listener.check}: {', '.join(healthy) or 'none'} up")
    return ClusterCheck(f"proxy:{vip.name}", ok, f"on {holder}: " + "; ".join(notes))


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
                            and s.get("wsrep_local_state_comment") == "Synced" and s.get("wsrep_cluster_status") == "Primary"
                            for s in states.values())
    ok &= len({s.get("wsrep_cluster_state_uuid") for s in states.values()}) == 1        # one cluster, not two
    detail = ", ".join(f"{m} {s.get('wsrep_cluster_status', 'down')} {s.get('wsrep_local_state_comment', '')} size "
                       f"{s.get('wsrep_cluster_size', '?')} ready {s.get('wsrep_ready', '?')}" for m, s in states.items())
    return [ClusterCheck("galera", ok, f"{len(live)}/{len(members)} members: {detail}")]


def _redis(plan: Plan, up: dict) -> list[ClusterCheck]:
    members = _members(plan, "sentinel")
    if not members:
        return []
    live = [m for m in members if m in up]
    roles = {m: up[m].get("redis") or {"role": "down", "replicas": 0, "master_host": "", "link": ""} for m in live}
    masters = [m for m, r in roles.items() if r["role"] == "master"]
    address = {m: plan.host(m).address for m in members}
    master_ok = len(masters) == 1 and roles[masters[0]]["replicas"] == len(live) - 1 and all(
        r["role"] == "slave" and r["master_host"] == address[masters[0]] and r["link"] == "up"
        for m, r in roles.items() if m not in masters)
    said = {m: up[m].get("sentinel_master", "") for m in live}
    peers = {m: up[m].get("sentinel_peers", -1) for m in live}
    # a sentinel keeps knowing a peer that is down (it marks it down): each knows every other member's sentinel
    sentinel_ok = (len(masters) == 1 and all(value == address[masters[0]] for value in said.values())
                   and all(n == len(members) - 1 for n in peers.values()))
    return [ClusterCheck("redis", master_ok, f"master {', '.join(masters) or 'none'}; "
                         + ", ".join(f"{m} {r['role']}" for m, r in roles.items())),
            ClusterCheck("sentinel", sentinel_ok, "sentinels name " + ", ".join(sorted(set(said.values())) or ["nothing"])
                         + "; each sees " + ", ".join(sorted({str(n) for n in peers.values()})) + " other sentinels")]


def _rabbitmq(plan: Plan, up: dict) -> list[ClusterCheck]:
    members = _members(plan, "rabbitmq")
    if not members:
        return []
    live = [m for m in members if m in up]
    expected = {f"rabbit@{m}" for m in live}
    seen = {m: set(up[m].get("rabbitmq", [])) for m in live}
    split = {m: up[m].get("rabbitmq_partitions") for m in live if up[m].get("rabbitmq_partitions")}
    ok = bool(live) and all(nodes == expected for nodes in seen.values()) and not split
    return [ClusterCheck("rabbitmq", ok, ", ".join(f"{m} runs with {len(n)}" for m, n in seen.items())
                         + f" (expected {len(expected)})" + (f"; partitions: {split}" if split else ""))]


def _zookeeper(plan: Plan, up: dict) -> list[ClusterCheck]:
    members = _members(plan, "zookeeper")
    if not members:
        return []
    modes = {m: up[m].get("zookeeper", "down") for m in members if m in up}
    leaders = [m for m, mode in modes.items() if mode == "leader"]
    ok = len(leaders) == 1 and all(mode == "follower" for m, mode in modes.items() if m not in leaders)
    return [ClusterCheck("zookeeper", ok, ", ".join(f"{m} {mode}" for m, mode in modes.items()))]


def member_in_role(client, plan: Plan, service: str, role: str) -> str:
    """The member whose own view says it is `role` for `service` now: the Redis master, the ZooKeeper leader."""
    for host, view in member_views(client, plan).items():
        value = (view or {}).get(service)
        if value == role or isinstance(value, dict) and value.get("role") == role:
            return host
    raise RuntimeError(f"no {service} {role} in lab {plan.lab!r}")


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
