"""HA drills on a running lab: data put in and read back through the VIPs, from a client container of the lab (an
API node, the documented client), and timings of a failover. Used by the HA tests and bench/ha_bench.py.

Every operation runs inside the client container (docker exec), speaking each service's own protocol: MariaDB
through the MaxScale VIP as the lab's `abiquo` user, Redis through the VIP (SET then WAIT for a replica: committed),
AMQP (a persistent message in a durable queue, publisher confirms), ZooKeeper through the ensemble's connection
string (kazoo). One JSON answer per operation; a failure is an answer with ok false, never an exception.
"""
from __future__ import annotations

import json
import ssl
import threading
import time
import urllib.request
from dataclasses import dataclass
from typing import Optional

from abiquo_lab.plan import Plan

CLIENT_OPS = r"""
import json, os, subprocess, sys
op, args = sys.argv[1], json.loads(sys.argv[2])
def out(ok, value=None, detail=""):
    print(json.dumps({"ok": ok, "value": value, "detail": detail[-300:]})); sys.exit(0)
try:
    if op in ("db_write", "db_read"):
        sql = ("CREATE TABLE IF NOT EXISTS kinton.lab_drill (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(64));"
               f"INSERT INTO kinton.lab_drill (v) VALUES ('{args['value']}'); SELECT 1;" if op == "db_write"
               else "SELECT v FROM kinton.lab_drill ORDER BY id;")
        r = subprocess.run(["mariadb", "--connect-timeout=2", "-h", args["host"], "-P", str(args["port"]), "-u", "abiquo",
                            "-N", "-B", "-e", sql, "kinton"], capture_output=True, text=True, timeout=args.get("timeout", 6),
                           env=dict(os.environ, MYSQL_PWD=os.environ.get("LAB_DB_PASSWORD", "")))
        out(r.returncode == 0, r.stdout.split(), r.stderr)
    if op in ("redis_set", "redis_get"):
        base = ["redis-cli", "-h", args["host"], "-p", str(args["port"])]
        if op == "redis_set":
            r = subprocess.run(base + ["SET", args["key"], args["value"]], capture_output=True, text=True, timeout=args.get("timeout", 4))
            if r.stdout.strip() != "OK":
                out(False, None, r.stdout + r.stderr)
            w = subprocess.run(base + ["WAIT", "1", "2000"], capture_output=True, text=True, timeout=5)
            out(w.stdout.strip() not in ("", "0"), w.stdout.strip(), "replicas acknowledged: " + w.stdout.strip())
        r = subprocess.run(base + ["GET", args["key"]], capture_output=True, text=True, timeout=args.get("timeout", 4))
        out(r.returncode == 0 and "ERR" not in r.stdout, r.stdout.strip(), r.stderr)
    if op in ("amqp_publish", "amqp_get"):
        import pika
        params = pika.ConnectionParameters(args["host"], args["port"], socket_timeout=3, blocked_connection_timeout=3,
                                           connection_attempts=1, stack_timeout=5)
        conn = pika.BlockingConnection(params)
        ch = conn.channel()
        ch.queue_declare(args["queue"], durable=True)
        if op == "amqp_publish":
            ch.confirm_delivery()
            ch.basic_publish("", args["queue"], args["value"].encode(), pika.BasicProperties(delivery_mode=2), mandatory=True)
            conn.close(); out(True, args["value"])
        method, _, body = ch.basic_get(args["queue"], auto_ack=True)
        conn.close(); out(True, body.decode() if body else None)
    if op in ("zk_create", "zk_get"):
        from kazoo.client import KazooClient
        zk = KazooClient(hosts=args["hosts"], timeout=4, connection_retry={"max_tries": 1})
        zk.start(timeout=6)
        try:
            if op == "zk_create":
                zk.ensure_path("/lab-drill")
                zk.create(f"/lab-drill/{args['key']}", args["value"].encode())
                out(True, args["value"])
            data, _ = zk.get(f"/lab-drill/{args['key']}")
            out(True, data.decode())
        finally:
            zk.stop()
    out(False, None, f"unknown op {op}")
except Exception as exc:
    out(False, None, f"{type(exc).__name__}: {exc}")
"""


@dataclass
class Answer:
    ok: bool
    value: object
    detail: str


class Drill:
    """Operations through the lab's VIPs from one client host (default: the first API node)."""

    def __init__(self, client, plan: Plan, source: Optional[str] = None):
        self.client, self.plan = client, plan
        self.source = source or plan.hosts_with("api")[0].name
        vip = next((v for v in plan.vips if v.role == "datanode"), None)
        self.vip = vip.name if vip else plan.hosts_with("datanode")[0].name
        self.ports = {"mysql": int(plan.switches.get("maxscale_port", 3306)), "redis": int(plan.switches.get("redis_port", 6379)),
                      "amqp": 5672}
        self.zk_hosts = ",".join(f"{h.address}:2181" for h in plan.hosts_with("datanode"))

    def run(self, op: str, timeout: float = 8, **args) -> Answer:
        try:
            container = self.client.containers.get(f"{self.plan.lab}-{self.source}")
            code, output = container.exec_run(["timeout", str(int(timeout) + 2), "python3", "-c", CLIENT_OPS, op,
                                               json.dumps({**args, "timeout": timeout})], demux=True)
            text = (output[0] or b"").decode(errors="replace").strip()
            if not text:
                return Answer(False, None, f"exit {code}: {(output[1] or b'').decode(errors='replace')[-200:]}")
            return Answer(**json.loads(text.splitlines()[-1]))
        except Exception as exc:  # noqa: BLE001 - a drill step that cannot run is a failed step
            return Answer(False, None, f"{type(exc).__name__}: {exc}")

    # ---- one call per service ----------------------------------------------------------------------------------
    def db_write(self, value: str) -> Answer:
        return self.run("db_write", host=self.vip, port=self.ports["mysql"], value=value)

    def db_read(self) -> Answer:
        return self.run("db_read", host=self.vip, port=self.ports["mysql"])

    def redis_set(self, key: str, value: str) -> Answer:
        return self.run("redis_set", host=self.vip, port=self.ports["redis"], key=key, value=value)

    def redis_get(self, key: str) -> Answer:
        return self.run("redis_get", host=self.vip, port=self.ports["redis"], key=key)

    def amqp_publish(self, queue: str, value: str) -> Answer:
        return self.run("amqp_publish", host=self.vip, port=self.ports["amqp"], queue=queue, value=value)

    def amqp_get(self, queue: str) -> Answer:
        return self.run("amqp_get", host=self.vip, port=self.ports["amqp"], queue=queue)

    def zk_create(self, key: str, value: str) -> Answer:
        return self.run("zk_create", hosts=self.zk_hosts, key=key, value=value)

    def zk_get(self, key: str) -> Answer:
        return self.run("zk_get", hosts=self.zk_hosts, key=key)

    def until_ok(self, step, timeout: float = 60.0) -> tuple[Answer, float]:
        """Retry a step until it succeeds or the timeout passes: (last answer, seconds taken)."""
        started = time.monotonic()
        while True:
            answer = step()
            if answer.ok or time.monotonic() - started > timeout:
                return answer, time.monotonic() - started
            time.sleep(0.2)


def vip_holder(client, plan: Plan, vip_name: str) -> Optional[str]:
    """The member that holds the VIP's address now (None if nobody does)."""
    vip = plan.vip(vip_name)
    for member in vip.members:
        try:
            container = client.containers.get(f"{plan.lab}-{member}")
            if container.status != "running":
                continue
            code, output = container.exec_run(["ip", "-o", "-4", "addr"])
            if code == 0 and f" {vip.address}/" in output.decode():
                return member
        except Exception:  # noqa: BLE001
            continue
    return None


class RequestLoop:
    """Requests through a frontend's published HTTPS port, one after another in a background thread, while a block
    runs (`with RequestLoop(port) as loop:`); every answer is kept: an HTTP status, or the error's text."""

    def __init__(self, port: int, paths: tuple[str, ...] = ("/api/", "/"), timeout: float = 5.0):
        self.port, self.paths, self.timeout = port, paths, timeout
        self.results: list = []
        self._stop = threading.Event()
        self._worker = threading.Thread(target=self._loop, daemon=True)
        self._context = ssl._create_unverified_context()    # the lab's self-signed frontend certificate

    def _loop(self) -> None:
        while not self._stop.is_set():
            for path in self.paths:
                try:
                    with urllib.request.urlopen(f"https://127.0.0.1:{self.port}{path}", context=self._context,
                                                timeout=self.timeout) as response:
                        self.results.append(response.status)
                except Exception as exc:  # noqa: BLE001 - every failed request is counted
                    self.results.append(repr(exc))

    def __enter__(self) -> "RequestLoop":
        self._worker.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._worker.join()

    @property
    def lost(self) -> list:
        return [r for r in self.results if r != 200]
