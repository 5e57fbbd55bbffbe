"""The in-container prober: standard library only, sent to a lab container and run there by `labctl verify`.

Input (argv[1]): JSON list of probes {"key", "address", "port", "protocol", "client", "expect", "timeout"}.
Output (stdout): JSON list of {"key", "answered", "detail"}. All probes of one source run concurrently.

Clients speak just enough of each protocol to show the service answers, not just the port:
  redis   redis-cli PING -> PONG (raw RESP when redis-cli is absent)
  mysql   mariadb client SELECT 1 as the lab's database user
  amqp    AMQP 0-9-1 protocol header -> Connection.Start method frame
  zk      ZooKeeper four-letter word srvr -> "Zookeeper version"
  nfs     ONC RPC NULL call to NFS v3 (program 100003), TCP record marking or UDP -> accepted, SUCCESS
  rpcbind ONC RPC NULL call to portmapper v2 (program 100000)
  agent   the role agent's one-line HTTP answer "ok <host> <port>"
  ajp     AJP13 CPing (12 34 00 01 0a) -> CPong (41 42 00 01 09): Tomcat's AJP connector (or the agent on an AJP port)
  http    any HTTP status line;  https: a TLS handshake;  tcp: connect;  echo: UDP echo
  reach   connect or refused (the firewall passed it; the listener comes and goes)
A probe that expects "closed" only needs the connection (or datagram) to go unanswered.
"""
import concurrent.futures
import json
import os
import shutil
import socket
import ssl
import struct
import subprocess
import sys

RPC_PROGRAMS = {"nfs": (100003, 3), "rpcbind": (100000, 2)}


def _connect(address, port, timeout):
    return socket.create_connection((address, port), timeout=timeout)


def _recv_some(sock, n=4096):
    data = b""
    while len(data) < 7:
        chunk = sock.recv(n)
        if not chunk:
            break
        data += chunk
    return data


def _rpc_null(program, version, xid=0x4C414221):
    # call: xid, CALL(0), rpcvers 2, prog, vers, proc 0, cred AUTH_NONE, verf AUTH_NONE
    return struct.pack(">IIIIIIIIII", xid, 0, 2, program, version, 0, 0, 0, 0, 0)


def _rpc_accepted(reply, xid=0x4C414221):
    if len(reply) < 24:
        return False, f"short RPC reply ({len(reply)} bytes)"
    rxid, mtype, stat = struct.unpack(">III", reply[:12])
    verf_len = struct.unpack(">I", reply[16:20])[0]
    accept = struct.unpack(">I", reply[20 + verf_len:24 + verf_len])[0]
    ok = rxid == xid and mtype == 1 and stat == 0 and accept == 0
    return ok, "RPC NULL accepted" if ok else f"RPC reply stat={stat} accept={accept}"


def probe_rpc(p, name):
    program, version = RPC_PROGRAMS[name]
    call = _rpc_null(program, version)
    if p["protocol"] == "udp":
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(p["timeout"])
            sock.sendto(call, (p["address"], p["port"]))
            reply, _ = sock.recvfrom(4096)
        return _rpc_accepted(reply)
    with _connect(p["address"], p["port"], p["timeout"]) as sock:
        sock.sendall(struct.pack(">I", 0x80000000 | len(call)) + call)
        data = b""
        while len(data) < 28:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    return _rpc_accepted(data[4:])


def probe_amqp(p):
    with _connect(p["address"], p["port"], p["timeout"]) as sock:
        sock.sendall(b"AMQP\x00\x00\x09\x01")
        data = _recv_some(sock)
    if len(data) >= 11 and data[0] == 1 and struct.unpack(">HH", data[7:11]) == (10, 10):
        return True, "AMQP Connection.Start"
    return False, f"not an AMQP Connection.Start: {data[:16]!r}"


def probe_zk(p):
    with _connect(p["address"], p["port"], p["timeout"]) as sock:
        sock.sendall(b"srvr")
        data = b"".join(iter(lambda: sock.recv(4096), b""))
    text = data.decode(errors="replace")
    ok = "Zookeeper version" in text
    return ok, text.splitlines()[0] if ok else f"no srvr answer: {text[:60]!r}"


def probe_redis(p):
    if shutil.which("redis-cli"):
        out = subprocess.run(["redis-cli", "-h", p["address"], "-p", str(p["port"]), "PING"],
                             capture_output=True, text=True, timeout=p["timeout"] + 2)
        return out.stdout.strip() == "PONG", f"redis-cli PING -> {out.stdout.strip() or out.stderr.strip()}"
    with _connect(p["address"], p["port"], p["timeout"]) as sock:
        sock.sendall(b"*1\r\n$4\r\nPING\r\n")
        data = sock.recv(64)
    return data.startswith(b"+PONG"), f"PING -> {data[:20]!r}"


def probe_mysql(p):
    command = ["mariadb", f"--connect-timeout={int(p['timeout']) or 1}", "-h", p["address"], "-P", str(p["port"]),
               "-u", "abiquo", "-N", "-B", "-e", "SELECT 1", "kinton"]
    env = dict(os.environ, MYSQL_PWD=os.environ.get("LAB_DB_PASSWORD", ""))
    out = subprocess.run(command, capture_output=True, text=True, timeout=p["timeout"] + 5, env=env)
    return out.stdout.strip() == "1", f"SELECT 1 -> {out.stdout.strip() or out.stderr.strip()[:80]}"


def probe_agent(p):
    with _connect(p["address"], p["port"], p["timeout"]) as sock:
        data = b"".join(iter(lambda: sock.recv(4096), b""))
    body = data.decode(errors="replace").split("\r\n\r\n", 1)[-1].strip()
    ok = body.startswith("ok ") and body.endswith(f" {p['port']}")
    return ok, body if ok else f"unexpected answer {data[:40]!r}"


AJP_CPING, AJP_CPONG = b"\x12\x34\x00\x01\x0a", b"AB\x00\x01\x09"   # AJP13: web server -> container, and back


def probe_ajp(p):
    with _connect(p["address"], p["port"], p["timeout"]) as sock:
        sock.sendall(AJP_CPING)
        data = b""
        while len(data) < len(AJP_CPONG):
            chunk = sock.recv(64)
            if not chunk:
                break
            data += chunk
    ok = data[:len(AJP_CPONG)] == AJP_CPONG
    return ok, "AJP CPong" if ok else f"no AJP CPong: {data[:16]!r}"


def probe_http(p):
    with _connect(p["address"], p["port"], p["timeout"]) as sock:
        sock.sendall(f"GET / HTTP/1.0\r\nHost: {p['address']}\r\n\r\n".encode())
        data = _recv_some(sock)
    line = data.split(b"\r\n", 1)[0].decode(errors="replace")
    return line.startswith("HTTP/1."), line or "no HTTP answer"


def probe_https(p):
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE   # the lab's self-signed frontend certificate
    with _connect(p["address"], p["port"], p["timeout"]) as raw, context.wrap_socket(raw) as tls:
        return True, f"TLS {tls.version()}"


def probe_tcp(p):
    with _connect(p["address"], p["port"], p["timeout"]):
        return True, "connected"


def probe_reach(p):
    """The firewall passes it: a connection, or a refusal (nothing listens there now), answers; silence does not."""
    try:
        with _connect(p["address"], p["port"], p["timeout"]):
            return True, "connected"
    except ConnectionRefusedError:
        return True, "refused: reachable, nothing listening now"


def probe_echo(p):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(p["timeout"])
        sock.sendto(b"lab-probe", (p["address"], p["port"]))
        data, _ = sock.recvfrom(64)
    return data == b"lab-probe", "echo"


CLIENTS = {"redis": probe_redis, "mysql": probe_mysql, "amqp": probe_amqp, "zk": probe_zk,
           "nfs": lambda p: probe_rpc(p, "nfs"), "rpcbind": lambda p: probe_rpc(p, "rpcbind"),
           "agent": probe_agent, "http": probe_http, "https": probe_https, "tcp": probe_tcp, "reach": probe_reach,
           "echo": probe_echo, "ajp": probe_ajp}


def run_one(p):
    client = p["client"]
    if p.get("expect") == "closed" and p["protocol"] == "tcp" and client != "reach":
        client = "tcp"                       # the connection itself is what must fail (for reach, a refusal too)
    try:
        answered, detail = CLIENTS[client](p)
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        answered, detail = False, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return {"key": p["key"], "answered": bool(answered), "detail": detail}


def run(probes, workers=64):
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, min(workers, len(probes)))) as pool:
        return list(pool.map(run_one, probes))


if __name__ == "__main__":
    json.dump(run(json.loads(sys.argv[1])), sys.stdout)
