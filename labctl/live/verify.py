"""Live verify: the running lab against its plan, probed from inside the source containers.

Must answer: every documented flow between lab hosts (through the service's own protocol where the lab runs the
real service), and the public flows through the frontend's published ports on the host. Must stay unanswered:
every port a host serves that the plan does not open to the probing host -- which covers both role pairs without
any documented flow and undocumented ports on documented pairs. Flows without a port (VRRP) and flows to outside
the lab are listed as not probed, never as passed.
"""
from __future__ import annotations

import concurrent.futures
import json
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterable, Optional

from abiquo_lab.contract import parse_span
from abiquo_lab.plan import Flow, Host, Plan

from . import probe as probe_module

PROBE_SOURCE = Path(probe_module.__file__).read_text()
OPEN_TIMEOUT, CLOSED_TIMEOUT = 5.0, 1.0      # closed: drops on a local bridge need no longer



@dataclass
class Probe:
    key: str
    src: str                 # host name, or "@host" for the machine running verify (public flows)
    dst: str                 # host or VIP name
    address: str
    port: int
    protocol: str
    client: str
    expect: str              # "open" | "closed"
    ids: list[str]
    timeout: float

    def wire(self) -> dict:
        return {"key": self.key, "address": self.address, "port": self.port, "protocol": self.protocol,
                "client": self.client, "expect": self.expect, "timeout": self.timeout}


@dataclass
class Outcome:
    ids: str
    src: str
    dst: str
    port: str
    protocol: str
    client: str
    expect: str
    result: str              # pass | FAIL | not probed
    detail: str

    @property
    def failed(self) -> bool:
        return self.result == "FAIL"


COLUMNS = ["ids", "src", "dst", "port", "protocol", "client", "expect", "result", "detail"]


def client_for(hosts: Iterable[Host], protocol: str, port: int) -> str:
    """What serves the port on the hosts, whichever service it is: the real software's protocol client (the catalog's
    services: clients), else the role agent's answer in the protocol of the service it stands in for (agent, ajp),
    else the agent's default (TCP) or its echo (UDP)."""
    hosts = list(hosts)
    for host in hosts:
        client = _on_port(host.runtime.clients, protocol, port)
        if client:
            return client
    for host in hosts:
        for ports in host.runtime.services.values():
            client = _on_port(ports, protocol, port)
            if client:
                return client
    return "agent" if protocol == "tcp" else "echo"


def flow_client(plan: Plan, flow: Flow) -> str:
    """The client of the service the flow names, on the flow's port (Runtime.services): a port clash can never pass
    with another service's software answering. A service running on a port it does not list (a switch moved the flow)
    still gets its own client, which the other software will not answer. On a VIP's proxy listener: the client of
    what the proxy forwards to (the service's backend port on the members). A flow naming no service its
    destination serves (a row's free label: galera-ist, tomcat): the client of what serves the port."""
    hosts = _dst_hosts(plan, flow)
    if flow.dst_kind == "vip":
        listener = next((lst for lst in plan.vip(flow.dst).listeners if lst.port == flow.port), None)
        if listener:
            return client_for(hosts, flow.protocol, listener.backend_port)
    for host in hosts:
        ports = host.runtime.services.get(flow.service or "")
        if ports:
            return _on_port(ports, flow.protocol, flow.port) or next(iter(ports.values()))
    return client_for(hosts, flow.protocol, flow.port)


def _on_port(clients: dict[str, str], protocol: str, port: int) -> Optional[str]:
    """The client of a {'tcp/6379': 'redis', 'tcp/35672-35682': 'reach'} map on the protocol and port, if any."""
    for key, client in clients.items():
        proto, _, span = key.partition("/")
        start, end = parse_span(span)
        if proto == protocol and start <= port <= end:
            return client
    return None


def _address_from(plan: Plan, src: Host, dst: Host) -> str:
    """dst's address on a network src shares (else its home address: such a probe should not pass)."""
    shared = [zone for zone in dst.interfaces if zone in src.interfaces]
    return dst.interfaces[shared[0]] if shared else dst.address


def _dst_hosts(plan: Plan, flow: Flow) -> list[Host]:
    if flow.dst_kind == "vip":
        return [plan.host(m) for m in plan.vip(flow.dst).members]
    return [plan.host(flow.dst)]


def _in_span(port: int, flow: Flow) -> bool:
    return flow.port is not None and flow.port <= port <= (flow.port_end or flow.port)


class ProbePlan:
    """Every probe verify runs (open and closed), plus the flows it cannot probe, derived from the plan alone."""

    def __init__(self, plan: Plan):
        self.plan = plan
        self.probes: dict[str, Probe] = {}
        self.not_probed: list[Outcome] = []
        for flow in plan.flows:
            self._documented(flow)
        inbound = {h.name: plan.inbound(h.name) for h in plan.hosts}
        served = {h.name: _served(inbound[h.name]) for h in plan.hosts}
        for dst in plan.hosts:
            public = [f for f in inbound[dst.name] if f.public]
            for src in plan.hosts:
                if src.name != dst.name:           # on its own address only what ends on the host itself (not its VIP)
                    allowed = [f for f in inbound[dst.name] if f.src == src.name and f.dst == dst.name]
                    self._forbidden(src, dst, allowed, public, served[dst.name])
        for vip in plan.vips:
            to_vip = [f for f in plan.flows if f.dst == vip.name]
            for src in plan.hosts:
                self._forbidden_vip(src, vip, to_vip)

    def _add(self, src, dst, address, port, protocol, client, expect, ids, timeout):
        """One probe per source, address, port and client: flows of two services on one port are probed each with
        its own client (one answer cannot pass both)."""
        key = f"{src}>{address}:{protocol}/{port} {client}"
        if key in self.probes:
            self.probes[key].ids = sorted(set(self.probes[key].ids) | set(ids))
            return
        self.probes[key] = Probe(key, src, dst, address, port, protocol, client, expect, list(ids), timeout)

    def _documented(self, flow: Flow) -> None:
        if flow.port is None or flow.dst_kind == "external" or flow.from_outside or flow.protocol not in ("tcp", "udp"):
            why = ("no port (VRRP)" if flow.port is None else "source outside the lab" if flow.from_outside
                   else "destination outside the lab")
            self.not_probed.append(Outcome(flow.id, flow.src, flow.dst, flow.ports_text, flow.protocol, "-", "open",
                                           "not probed", why))
            return
        client = flow_client(self.plan, flow)
        if flow.public:
            for member in self.plan.vip(flow.dst).members if flow.dst_kind == "vip" else [flow.dst]:
                self._add("@host", member, member, flow.port, flow.protocol, client, "open", [flow.id], OPEN_TIMEOUT)
            return
        src = self.plan.host(flow.src)
        if flow.local:
            address = "127.0.0.1"
        elif flow.dst_kind == "vip":
            address = flow.dst                       # the VIP's name: one address (hosts file), its holder answers
        else:
            address = _address_from(self.plan, src, self.plan.host(flow.dst))
        self._add(src.name, flow.dst, address, flow.port, flow.protocol, client, "open", [flow.id], OPEN_TIMEOUT)

    def _forbidden(self, src: Host, dst: Host, allowed: list[Flow], public: list[Flow],
                   served: list[tuple[str, int]]) -> None:
        """Every port dst serves that no flow opens to src (public ports are open to all, the lab included)."""
        why = f"not {','.join(sorted({f.id for f in allowed}))}" if allowed else "no flow"
        for protocol, port in served:
            if any(f.protocol == protocol and _in_span(port, f) for f in allowed + public):
                continue
            self._add(src.name, dst.name, _address_from(self.plan, src, dst), port, protocol,
                      client_for([dst], protocol, port), "closed", [why], CLOSED_TIMEOUT)

    def _forbidden_vip(self, src: Host, vip, to_vip: list[Flow]) -> None:
        """Every port served on the VIP that no flow opens to src, probed on the VIP's address."""
        allowed = [f for f in to_vip if f.src == src.name or f.public]
        if vip.zone not in src.interfaces or src.name in vip.members:
            return          # no route to the VIP's network, or a member (its own address may be the VIP): not probed
        why = f"not {','.join(sorted({f.id for f in allowed}))}" if allowed else "no flow"
        for protocol, port in _served(to_vip):
            if not any(f.protocol == protocol and _in_span(port, f) for f in allowed):
                self._add(src.name, vip.name, vip.address, port, protocol, "tcp" if protocol == "tcp" else "echo",
                          "closed", [why], CLOSED_TIMEOUT)

    def by_source(self) -> dict[str, list[Probe]]:
        grouped: dict[str, list[Probe]] = {}
        for p in self.probes.values():
            grouped.setdefault(p.src, []).append(p)
        return grouped


def served_ports(plan: Plan, host: Host) -> list[tuple[str, int]]:
    """The first port of each span a host serves (what its allowlist guards)."""
    return _served(plan.inbound(host.name))


def _served(inbound: list[Flow]) -> list[tuple[str, int]]:
    return sorted({(f.protocol, f.port) for f in inbound if f.port is not None and f.protocol in ("tcp", "udp")})


class Verifier:
    """Runs a ProbePlan against a running lab (containers named <lab>-<host>) and reports outcomes."""

    def __init__(self, client, plan: Plan, progress: Optional[Callable[[str], None]] = None, parallel: int = 16):
        self.client, self.plan = client, plan
        self.progress = progress or (lambda message: None)
        self.parallel = parallel

    def container_name(self, host: str) -> str:
        return f"{self.plan.lab}-{host}"

    def run(self) -> list[Outcome]:
        probes = ProbePlan(self.plan)
        groups = probes.by_source()
        results: dict[str, dict] = {}
        started = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(max_workers=self.parallel) as pool:
            futures = {pool.submit(self._run_source, src, items): src for src, items in groups.items()}
            for done, future in enumerate(concurrent.futures.as_completed(futures), 1):
                src = futures[future]
                answers = future.result()
                results.update(answers)
                bad = sum(1 for p in groups[src] if _verdict(p, answers[p.key])[0] == "FAIL")
                self.progress(f"[{done}/{len(groups)}] {src}: {len(groups[src])} probes, {bad} mismatches "
                              f"({time.monotonic() - started:.1f}s)")
        outcomes = [self._outcome(p, results[p.key]) for p in probes.probes.values()]
        return sorted(outcomes + probes.not_probed, key=lambda o: (o.expect != "open", o.src, o.dst, o.protocol, o.port))

    def _run_source(self, src: str, items: list[Probe]) -> dict[str, dict]:
        wires = [p.wire() for p in items]
        if src == "@host":
            answers = probe_module.run([self._published(w) for w in wires])
            return {a["key"]: a for a in answers}
        try:
            container = self.client.containers.get(self.container_name(src))
            if container.status != "running":
                raise RuntimeError(f"source container {container.name} is {container.status}")
            code, output = container.exec_run(["python3", "-c", PROBE_SOURCE, json.dumps(wires)], demux=True)
            if code != 0:
                raise RuntimeError(f"probe exited {code}: {(output[1] or b'').decode(errors='replace')[-200:]}")
            return {a["key"]: a for a in json.loads(output[0])}
        except Exception as exc:  # noqa: BLE001 - a missing or stopped source fails its probes, it does not stop verify
            return {w["key"]: {"key": w["key"], "answered": None, "detail": f"source down: {exc}"} for w in wires}

    def _published(self, wire: dict) -> dict:
        """A public flow, probed from this machine through the frontend container's published port."""
        container = self.client.containers.get(self.container_name(wire["address"]))
        bindings = (container.attrs.get("HostConfig") or {}).get("PortBindings") or {}
        binding = (bindings.get(f"{wire['port']}/{wire['protocol']}") or [{}])[0]
        if not binding:
            return {**wire, "address": "0.0.0.0", "port": 9, "client": "tcp", "timeout": 0.1}   # unpublished: fails
        return {**wire, "address": binding.get("HostIp") or "127.0.0.1", "port": int(binding["HostPort"])}

    def _outcome(self, p: Probe, answer: dict) -> Outcome:
        result, detail = _verdict(p, answer)
        return Outcome(",".join(p.ids), p.src, p.dst if p.address in (p.dst, "127.0.0.1") else f"{p.dst} ({p.address})",
                       str(p.port), p.protocol, p.client, p.expect, result, detail)


def _verdict(p: Probe, answer: dict) -> tuple[str, str]:
    answered = answer.get("answered")
    if answered is None:                     # the source is down: its documented flows fail, it cannot break a rule
        return ("FAIL" if p.expect == "open" else "not probed"), answer["detail"]
    ok = answered if p.expect == "open" else not answered
    return ("pass" if ok else "FAIL"), answer["detail"]


def summary(outcomes: list[Outcome]) -> dict[str, int]:
    counts = {"open_pass": 0, "open_fail": 0, "closed_pass": 0, "closed_fail": 0, "not_probed": 0}
    for o in outcomes:
        if o.result == "not probed":
            counts["not_probed"] += 1
        else:
            counts[f"{o.expect}_{'fail' if o.failed else 'pass'}"] += 1
    return counts


def matrix(outcomes: list[Outcome]) -> str:
    """Source host x destination host: documented probes answered/total, then forbidden probes silent/total;
    '!' marks a cell with a mismatch. A glance at which pairs talk, and that nothing else does."""
    cells: dict[tuple[str, str], list[int]] = {}
    for o in outcomes:
        if o.result == "not probed":
            continue
        cell = cells.setdefault((o.src, o.dst.split(" ")[0]), [0, 0, 0, 0])
        index = 0 if o.expect == "open" else 2
        cell[index + 1] += 1
        cell[index] += 0 if o.failed else 1
    sources = sorted({s for s, _ in cells})
    targets = sorted({d for _, d in cells})
    text = {key: ("!" if c[0] < c[1] or c[2] < c[3] else "") + (f"{c[0]}/{c[1]}" if c[1] else "-") + (f" x{c[2]}/{c[3]}" if c[3] else "")
            for key, c in cells.items()}
    width = max([len(t) for t in text.values()] + [len(t) for t in targets]) + 2
    head = max(len(s) for s in sources) + 2
    lines = ["".ljust(head) + "".join(t.ljust(width) for t in targets)]
    lines += [s.ljust(head) + "".join(text.get((s, t), ".").ljust(width) for t in targets) for s in sources]
    legend = ("rows: source host; columns: destination host or VIP; cells: documented answered/probed, then "
              "x forbidden silent/probed; '!' = mismatch; '.' = nothing probed")
    return "\n".join(line.rstrip() for line in lines) + "\n" + legend + "\n"


def rows(outcomes: list[Outcome], typed: bool = False) -> list[dict]:
    """The outcomes as rows; typed (JSON): ports as numbers where they are one, ids as a list."""
    found = [asdict(o) for o in outcomes]
    if typed:
        for row in found:
            row["port"] = int(row["port"]) if str(row["port"]).isdigit() else row["port"]
            row["ids"] = row["ids"].split(",")
    return found


# ---- what each node enforces, against the plan -------------------------------------------------------------------
_RULE = re.compile(r"^(?:ip saddr (?P<src>\S+) )?(?:ip daddr (?P<dst>\S+) )?"
                   r"(?:(?P<proto>tcp|udp) dport (?P<port>\S+)|ip protocol (?P<ipproto>vrrp)) accept\b")
_FIXED = ('iif "lo" accept', "ct state established,related accept", "ct state invalid drop")


def enforced_rules(chain_text: str) -> tuple[set[tuple], list[str]]:
    """The accept rules an `nft list chain inet abiquo_lab input` shows, as (protocol, source, port span, destination),
    and every other line that is not the allowlist's fixed preamble (a rule the plan does not give)."""
    rules, stray = set(), []
    body = [line.strip() for line in chain_text.splitlines()]
    if not any(line.startswith("type filter hook input") and "policy drop;" in line for line in body):
        stray.append("the input chain's policy is not drop")
    for line in body:
        if not line or line.startswith(("table ", "chain ", "type filter", "}")) or line in _FIXED:
            continue
        m = _RULE.match(line)
        if not m:
            stray.append(line)
            continue
        proto = m.group("proto") or m.group("ipproto")
        rules.add((proto, m.group("src") or "any", m.group("port") or "-", m.group("dst")))
    return rules, stray


def planned_rules(rows: list[list[str]]) -> set[tuple]:
    return {(row[0], row[1], row[2], row[4] if len(row) > 4 else None) for row in rows}


def _list_input_chain(container, tries: int = 3) -> tuple[int, bytes]:
    """`nft list chain inet abiquo_lab input` in the container. A listing that exits 0 without the chain in it is a
    read that lost its output (seen once on a loaded engine), not an empty allowlist: it is read again."""
    for _ in range(tries):
        code, out = container.exec_run(["nft", "list", "chain", "inet", "abiquo_lab", "input"])
        if code != 0 or b"chain input" in (out or b""):
            break
    return code, out or b""


def allowlist_drift(client, plan: Plan, rows_of: Callable[[Host], list[list[str]]]) -> list[str]:
    """Per container: the rules its nftables enforces now that the plan does not give, and those it lacks. Verify's
    probes reach a VIP's holder only; this reads every member (and every host) directly."""
    problems = []
    for host in plan.hosts:
        try:
            container = client.containers.get(f"{plan.lab}-{host.name}")
            if container.status != "running":
                continue                                # a stopped host fails its flows in the probes
            code, out = _list_input_chain(container)
        except Exception as exc:  # noqa: BLE001
            problems.append(f"{host.name}: cannot read its allowlist ({exc})")
            continue
        if code != 0:
            problems.append(f"{host.name}: no allowlist table in force ({out.decode(errors='replace').strip()[:80]})")
            continue
        have, stray = enforced_rules(out.decode(errors="replace"))
        want = planned_rules(rows_of(host))
        problems += [f"{host.name}: enforces {_rule_text(r)}, which the plan does not give" for r in sorted(have - want, key=str)]
        problems += [f"{host.name}: lacks {_rule_text(r)}, which the plan gives" for r in sorted(want - have, key=str)]
        problems += [f"{host.name}: unexpected rule: {line}" for line in stray]
    return problems


def _rule_text(rule: tuple) -> str:
    proto, source, port, destination = rule
    return f"{proto}/{port} from {source}" + (f" to {destination}" if destination else "")
