"""Fault injection into a running Docker lab (`labctl fault`): stop, kill or pause a host's container, isolate it,
partition two zone networks, drop a share of a host's packets; heal them; list the faults in force.

Each fault is recorded on the lab itself, as a Docker volume `<lab>-fault-<kind>-<target>` carrying the lab's
ownership labels (copied from one of its containers) plus contract.FAULT (the kind), contract.FAULT_TARGET (a JSON
list of its arguments) and contract.FAULT_SINCE. Container labels cannot change, a volume can carry labels and holds
no state of its own: `heal`, `labctl verify` (faults_in_force) and teardown (which removes every volume with the
lab's labels) all see the faults without any other store.

Network faults are nftables tables inside the containers (every lab container has NET_ADMIN and nft), one table per
fault, apart from the allowlist's `inet abiquo_lab`. Their base chains hook input AND output at priority -10, before
the allowlist's (priority 0); a drop is final whatever later chains say, and these tables hold no `ct state
established accept`, so connections already open stop carrying data too:

  isolate    `inet abiquo_fault_isolate`: policy drop, only loopback passes
  loss       `inet abiquo_fault_loss`: `numgen random mod 100 < PCT drop` (100: `drop`), loopback exempt; no delay
             (this kernel has no netem)
  partition  `inet abiquo_fault_partition_<A>_<B>` on every host whose home zone is A: drop to and from every address
             of the hosts whose home zone is B and of B's virtual IPs; on B's hosts the same towards A

A container restart gives it a new network namespace: its tables are gone while the record stays. Such a fault is
listed as "recorded, not in force"; injecting it again re-applies it, and heal still removes the record.

Healing: `heal HOST` heals every fault whose target is that host (stop, kill, pause, isolate, loss), not the
partitions of its zone; `heal ZONE_A ZONE_B` heals that partition; `heal --all` every fault of the lab. Container
faults are healed first (unpause, start), then the network ones.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

from abiquo_lab.contract import (EXPIRES_AT, FAULT, FAULT_SINCE, FAULT_TARGET, LAB, MANAGED, MANAGED_BY, OWNER, STACK, TTL,
                                 ZONE, InputError, LabError, now, stamp)
from abiquo_lab.plan import Plan

from . import preflight

CONTAINER_KINDS = ("stop", "kill", "pause")          # the container's state (docker stop / kill / pause)
NETWORK_KINDS = ("isolate", "loss", "partition")     # nftables tables inside the containers
HOST_KINDS = ("stop", "kill", "pause", "isolate", "loss")
KINDS = HOST_KINDS + ("partition",)
TABLE_PREFIX = "abiquo_fault"
PRIORITY = -10                                       # before the allowlist's `type filter hook input priority 0`
OWNERSHIP = (MANAGED, LAB, STACK, OWNER, EXPIRES_AT, TTL, MANAGED_BY)   # copied from a lab container to the record
IN_FORCE = "in force"
NOT_IN_FORCE = "recorded, not in force"
DOWN = ("exited", "created", "dead")                 # container states a stop or kill leaves

Say = Callable[[str], None]


# ---- what a fault is ------------------------------------------------------------------------------------------------
def _target_text(kind: str, target: Sequence) -> str:
    if kind == "loss":
        return f"{target[0]} {target[1]}%"
    if kind == "partition":
        return f"{target[0]} | {target[1]}"
    return " ".join(str(t) for t in target)


def _heal_args(kind: str, target: Sequence) -> str:
    return f"{target[0]} {target[1]}" if kind == "partition" else str(target[0])


@dataclass(frozen=True)
class Request:
    """A fault to inject, checked against the plan: kind and target (host,), (host, pct) or (zone_a, zone_b) sorted."""
    kind: str
    target: tuple

    @property
    def host(self) -> Optional[str]:
        return self.target[0] if self.kind in HOST_KINDS else None

    def text(self) -> str:
        return f"{self.kind} {_target_text(self.kind, self.target)}"


@dataclass
class Fault:
    """A recorded fault: kind, target (its arguments), since (UTC stamp), and whether it is in force on the engine."""
    kind: str
    target: list
    since: str
    state: str = "recorded"          # in force | recorded, not in force (...) | partly in force (...) | recorded, not checked (...)
    record: str = ""                 # the volume that records it

    @property
    def host(self) -> Optional[str]:
        return str(self.target[0]) if self.kind in HOST_KINDS and self.target else None

    @property
    def in_force(self) -> bool:
        return self.state == IN_FORCE

    def target_text(self) -> str:
        try:
            return _target_text(self.kind, self.target)
        except IndexError:                            # a record edited by hand: show what it holds
            return " ".join(map(str, self.target))

    def text(self) -> str:
        return f"{self.kind} {self.target_text()}"

    def describe(self) -> str:
        """One line: 'isolate api-1 since 2025-01-01T10:00:00Z (in force)'."""
        return f"{self.text()} since {self.since or '?'} ({self.state})"

    def row(self) -> dict:
        return {"kind": self.kind, "target": self.target_text(), "since": self.since, "state": self.state,
                "record": self.record}


COLUMNS = ["kind", "target", "since", "state"]


def container_name(lab: str, host: str) -> str:
    return f"{lab}-{host}"


def record_name(lab: str, request: Request) -> str:
    """The record's volume name: one per kind and target (a loss's percentage is not part of it: one loss per host).
    Dots separate the parts: lab, host and zone names cannot hold one, so two labs' records never share a name."""
    what = "_".join(request.target) if request.kind == "partition" else request.target[0]
    return f"{lab}.fault.{request.kind}.{what}"


def table_name(kind: str, target: Sequence) -> str:
    """The nftables table (family inet) that carries a network fault inside a container."""
    if kind == "partition":
        return f"{TABLE_PREFIX}_partition_{target[0]}_{target[1]}"
    return f"{TABLE_PREFIX}_{kind}"


# ---- checking the arguments against the plan (no engine) ------------------------------------------------------------
def check_host(plan: Plan, host: str, field: str = "HOST") -> str:
    names = [h.name for h in plan.hosts]
    if host not in names:
        raise InputError(f"{field}: no host {host!r} in lab {plan.lab!r}; hosts: {', '.join(names)}")
    return host


def check_zone(plan: Plan, zone: str, field: str) -> str:
    names = [z.name for z in plan.zones]
    if zone not in names:
        raise InputError(f"{field}: unknown zone {zone!r} in lab {plan.lab!r}; zones: {', '.join(names)}")
    return zone


def check_zones(plan: Plan, zone_a: str, zone_b: str) -> tuple[str, str]:
    check_zone(plan, zone_a, "ZONE_A")
    check_zone(plan, zone_b, "ZONE_B")
    if zone_a == zone_b:
        raise InputError(f"ZONE_B: must differ from ZONE_A (both {zone_a!r}); a partition cuts two zones apart")
    return tuple(sorted((zone_a, zone_b)))


def check_pct(text) -> int:
    raw = str(text).strip()
    digits = raw[:-1] if raw.endswith("%") else raw
    if not digits.isdigit() or not 1 <= int(digits) <= 100:
        raise InputError(f"PCT: must be a whole number from 1 to 100 (the share of packets dropped), got {text!r}")
    return int(digits)


def request(plan: Plan, kind: str, args: Sequence[str]) -> Request:
    """The fault `kind` with its command-line arguments, checked against the plan: InputError naming the argument."""
    if kind not in KINDS:
        raise InputError(f"fault kind {kind!r} is unknown; kinds: {', '.join(KINDS)}")
    wanted = {"loss": ("HOST", "PCT"), "partition": ("ZONE_A", "ZONE_B")}.get(kind, ("HOST",))
    if len(args) != len(wanted):
        raise InputError(f"{kind}: takes {' '.join(wanted)} (got {len(args)} arguments: {' '.join(map(str, args)) or 'none'})")
    if kind == "partition":
        return Request(kind, check_zones(plan, *args))
    host = check_host(plan, args[0])
    return Request(kind, (host, check_pct(args[1])) if kind == "loss" else (host,))


@dataclass(frozen=True)
class HealTarget:
    """Which recorded faults a heal removes: a host's (not partitions), one partition, or all."""
    host: Optional[str] = None
    zones: Optional[tuple] = None
    all: bool = False

    def matches(self, fault: Fault) -> bool:
        if self.all:
            return True
        if self.host:
            return fault.kind in HOST_KINDS and fault.host == self.host
        return fault.kind == "partition" and tuple(sorted(map(str, fault.target))) == self.zones

    def text(self, lab: str) -> str:
        if self.all:
            return f"in lab {lab}"
        return f"on {self.host}" if self.host else f"for partition {self.zones[0]} | {self.zones[1]}"


def heal_target(plan: Plan, targets: Sequence[str], all_: bool) -> HealTarget:
    """`heal HOST`, `heal ZONE_A ZONE_B` or `heal --all`, checked against the plan."""
    targets = list(targets or [])
    if all_ and targets:
        raise InputError(f"heal: give HOST, ZONE_A ZONE_B or --all, not both (got --all and {' '.join(targets)})")
    if all_:
        return HealTarget(all=True)
    if not targets:
        raise InputError("heal: needs HOST (its faults), ZONE_A ZONE_B (that partition) or --all (every fault of the lab)")
    if len(targets) == 1:
        return HealTarget(host=check_host(plan, targets[0]))
    if len(targets) == 2:
        return HealTarget(zones=check_zones(plan, *targets))
    raise InputError(f"heal: takes HOST or ZONE_A ZONE_B (got {len(targets)} arguments: {' '.join(targets)})")


# ---- nftables (pure text) -------------------------------------------------------------------------------------------
def nft_table(table: str, input_rules: Sequence[str], output_rules: Sequence[str], policy: str = "accept") -> str:
    """An nft script that (re)creates `inet <table>` atomically with base chains input and output."""
    def chain(name: str, rules: Sequence[str]) -> str:
        body = "".join(f"    {rule}\n" for rule in rules)
        return f"  chain {name} {{\n    type filter hook {name} priority {PRIORITY}; policy {policy};\n{body}  }}\n"
    return (f"table inet {table}\ndelete table inet {table}\n"
            f"table inet {table} {{\n{chain('input', input_rules)}{chain('output', output_rules)}}}\n")


def isolate_script() -> str:
    """All IP traffic but loopback, and ARP too: an isolated VIP holder must not keep answering ARP for the VIP
    (its peers take the address over; clients must not be drawn back to a host that cannot answer)."""
    table = table_name("isolate", ())
    arp = (f"table arp {table}\ndelete table arp {table}\ntable arp {table} {{\n"
           f"  chain input {{\n    type filter hook input priority {PRIORITY}; policy drop;\n  }}\n"
           f"  chain output {{\n    type filter hook output priority {PRIORITY}; policy drop;\n  }}\n}}\n")
    return nft_table(table, ['iif "lo" accept'], ['oif "lo" accept'], policy="drop") + arp


def loss_script(pct: int) -> str:
    drop = f"numgen random mod 100 < {int(pct)} drop" if int(pct) < 100 else "drop"   # nft refuses `< 100` (0-99 only)
    return nft_table(table_name("loss", ()), ['iif "lo" accept', drop], ['oif "lo" accept', drop])


def partition_script(table: str, addresses: Sequence[str]) -> str:
    found = ", ".join(addresses)
    return nft_table(table, ['iif "lo" accept', f"ip saddr {{ {found} }} drop"],
                     ['oif "lo" accept', f"ip daddr {{ {found} }} drop"])


def drop_table_script(table: str, families: Sequence[str] = ("inet",)) -> str:
    """Removes `<family> <table>` whether or not it exists (declaring it first makes the delete always valid)."""
    return "".join(f"table {family} {table}\ndelete table {family} {table}\n" for family in families)


def fault_families(kind: str) -> tuple[str, ...]:
    """The nftables families a network fault's table lives in (isolate also cuts ARP)."""
    return ("inet", "arp") if kind == "isolate" else ("inet",)


def zone_addresses(plan: Plan, zone: str) -> list[str]:
    """Every address of the hosts whose home zone is `zone` (all their interfaces) and of the zone's virtual IPs."""
    found = [a for h in plan.hosts if h.zone == zone for a in h.interfaces.values()]
    found += [v.address for v in plan.vips if v.zone == zone]
    return sorted(set(found), key=lambda a: tuple(int(p) if p.isdigit() else 0 for p in a.split(".")))


def partition_drops(plan: Plan, zone_a: str, zone_b: str) -> dict[str, list[str]]:
    """Host -> the addresses it must stop talking to: A's hosts drop B's addresses, B's hosts drop A's."""
    drops: dict[str, list[str]] = {}
    for home, other in ((zone_a, zone_b), (zone_b, zone_a)):
        far = zone_addresses(plan, other)
        for host in plan.hosts:
            if host.zone == home:
                own = set(host.interfaces.values())
                addresses = [a for a in far if a not in own]
                if addresses:
                    drops[host.name] = addresses
    return drops


# ---- the engine ---------------------------------------------------------------------------------------------------------
def _lab_containers(client, lab: str) -> dict:
    return {c.name: c for c in client.containers.list(all=True, filters={"label": [f"{MANAGED}=true", f"{LAB}={lab}"]})}


def _running_lab(client, plan: Plan, stack: Optional[str]) -> dict:
    containers = _lab_containers(client, plan.lab)
    if not containers:
        raise LabError(f"lab {plan.lab!r} is not running: no containers on this engine; build it first: "
                       f"labctl realize --stack {stack or '<stack>'}")
    _check_owner(containers, plan, stack)
    return containers


def _check_owner(containers: dict, plan: Plan, stack: Optional[str]) -> None:
    """Another stack's lab of the same name: its hosts are not this plan's, so nothing is done to it."""
    owners = preflight.foreign_stacks((c.labels for c in containers.values()), stack) if stack else []
    if owners:
        raise InputError(f"lab {plan.lab!r} on this engine belongs to stack {', '.join(owners)}, not {stack}; use "
                         f"--stack {owners[0]}")


def _container(containers: dict, lab: str, host: str):
    name = container_name(lab, host)
    if name not in containers:
        raise LabError(f"{host}: lab {lab!r} has no container {name} on this engine (its containers: "
                       f"{', '.join(sorted(containers)) or 'none'})")
    container = containers[name]
    container.reload()
    return container


def _nft(container, script: str, host: str) -> None:
    result = container.exec_run(["sh", "-c", 'printf "%s\\n" "$LAB_FAULT_NFT" | nft -f -'],
                                environment={"LAB_FAULT_NFT": script})
    if result.exit_code != 0:
        text = (result.output or b"").decode(errors="replace").strip().splitlines()
        raise LabError(f"{host}: nft failed in {container.name}: {' / '.join(text[-3:]) or f'exit {result.exit_code}'}")


def _has_table(container, table: str) -> bool:
    return container.exec_run(["nft", "list", "table", "inet", table]).exit_code == 0


def _need_running(container, host: str, kind: str) -> None:
    if container.status != "running":
        raise LabError(f"{host}: container {container.name} is {container.status}; {kind} needs it running "
                       f"(heal its faults first: labctl fault heal {host})")


def _records(client, lab: str) -> list[tuple[object, Fault]]:
    volumes = client.volumes.list(filters={"label": [f"{MANAGED}=true", f"{LAB}={lab}", FAULT]})
    found = []
    for volume in volumes:
        labels = volume.attrs.get("Labels") or {}
        try:
            target = json.loads(labels.get(FAULT_TARGET) or "[]")
            target = target if isinstance(target, list) else [target]
        except ValueError:
            target = [labels.get(FAULT_TARGET, "")]
        found.append((volume, Fault(kind=labels.get(FAULT, "?"), target=target, since=labels.get(FAULT_SINCE, ""),
                                    record=volume.name)))
    return sorted(found, key=lambda item: (item[1].since, item[1].kind, item[1].record))


def _record(client, lab: str, name: str):
    return next(((v, f) for v, f in _records(client, lab) if v.name == name), None)


def _state(containers: dict, lab: str, fault: Fault) -> str:
    """Whether a recorded fault holds on the engine now (docker state, or the nft table inside the containers)."""
    if fault.kind == "partition":
        members = [c for c in containers.values() if c.labels.get(ZONE) in [str(t) for t in fault.target]]
        if not members:
            return f"{NOT_IN_FORCE} (no containers in those zones)"
        table = table_name("partition", [str(t) for t in fault.target])
        holding = [c for c in members if c.status == "running" and _has_table(c, table)]
        if len(holding) == len(members):
            return IN_FORCE
        if not holding:
            return NOT_IN_FORCE
        return f"partly in force ({len(holding)} of {len(members)} hosts)"
    container = containers.get(container_name(lab, fault.host or ""))
    if container is None:
        return f"{NOT_IN_FORCE} (no container {container_name(lab, fault.host or '')})"
    status = container.status
    if fault.kind in ("stop", "kill"):
        return IN_FORCE if status in DOWN else f"{NOT_IN_FORCE} (container {status})"
    if fault.kind == "pause":
        return IN_FORCE if status == "paused" else f"{NOT_IN_FORCE} (container {status})"
    if fault.kind in ("isolate", "loss"):
        if status == "paused":
            return "recorded, not checked (container paused)"
        if status != "running":
            return f"{NOT_IN_FORCE} (container {status})"
        return IN_FORCE if _has_table(container, table_name(fault.kind, fault.target)) else \
            f"{NOT_IN_FORCE} (no nft table {table_name(fault.kind, fault.target)}: container restarted?)"
    return "recorded, unknown kind"


def faults_in_force(client, lab: str, check: bool = True) -> list[Fault]:
    """The faults recorded on lab `lab`, oldest first; with check, each one's state says whether it holds now
    (`describe()` gives one line per fault, e.g. for `labctl verify`)."""
    faults = [fault for _, fault in _records(client, lab)]
    if check and faults:
        containers = _lab_containers(client, lab)
        for fault in faults:
            fault.state = _state(containers, lab, fault)
    return faults


def _apply(containers: dict, plan: Plan, req: Request) -> str:
    """Puts the fault in force; returns what was done."""
    if req.kind == "partition":
        drops = partition_drops(plan, *req.target)
        if not drops:
            raise LabError(f"partition {req.target[0]} | {req.target[1]}: no host has its home in either zone; nothing to cut")
        members = {host: _container(containers, plan.lab, host) for host in drops}
        down = [f"{h} ({c.status})" for h, c in members.items() if c.status != "running"]
        if down:
            raise LabError(f"partition {req.target[0]} | {req.target[1]}: every host of both zones must be running; not "
                           f"running: {', '.join(down)} (heal them first)")
        table, done = table_name("partition", req.target), []
        try:
            for host, container in members.items():
                _nft(container, partition_script(table, drops[host]), host)
                done.append(container)
        except Exception:
            for container in done:                    # all or nothing
                try:
                    _nft(container, drop_table_script(table), container.name)
                except Exception:  # noqa: BLE001 - roll back every host we can; the first error is raised below
                    pass
            raise
        sides = [sum(1 for h in drops if plan.host(h).zone == z) for z in req.target]
        return (f"{sides[0]} hosts of {req.target[0]} and {sides[1]} of {req.target[1]} cut from each other "
                f"(nft table {table})")
    host = req.host
    container = _container(containers, plan.lab, host)
    _need_running(container, host, req.kind)
    if req.kind == "stop":
        container.stop()
        return "container stopped"
    if req.kind == "kill":
        container.kill()
        return "container killed (SIGKILL)"
    if req.kind == "pause":
        container.pause()
        return "container paused"
    if req.kind == "isolate":
        _nft(container, isolate_script(), host)
        return f"all traffic but loopback dropped, both directions, open connections too (nft table {table_name('isolate', ())})"
    _nft(container, loss_script(req.target[1]), host)
    return f"{req.target[1]}% of packets dropped, both directions (nft table {table_name('loss', ())})"


def _ownership(containers: dict, lab: str, req: Request) -> dict:
    source = containers.get(container_name(lab, req.host or "")) or containers[sorted(containers)[0]]
    return {key: source.labels[key] for key in OWNERSHIP if key in source.labels}


def inject(client, plan: Plan, req: Request, stack: Optional[str] = None) -> str:
    """Puts the fault in force on the lab's containers and records it; one line saying what happened. The same fault
    again is a no-op (or, when its record is no longer in force, applied again)."""
    containers = _running_lab(client, plan, stack)
    heal_hint = f"labctl fault --stack {stack or '<stack>'} heal {_heal_args(req.kind, req.target)}"
    found = _record(client, plan.lab, record_name(plan.lab, req))
    if found:
        fault = found[1]
        if req.kind == "loss" and [str(t) for t in fault.target] != [str(t) for t in req.target]:
            raise LabError(f"{fault.text()} is already recorded since {fault.since}; to change the loss, heal it first: "
                           f"{heal_hint}")
        state = _state(containers, plan.lab, fault)
        if state == IN_FORCE:
            return f"{req.text()}: already in force since {fault.since}; nothing done"
        what = _apply(containers, plan, req)
        return f"{req.text()}: applied again ({state} before): {what}"
    labels = {**_ownership(containers, plan.lab, req), FAULT: req.kind, FAULT_TARGET: json.dumps(list(req.target)),
              FAULT_SINCE: stamp(now())}
    volume = client.volumes.create(name=record_name(plan.lab, req), driver="local", labels=labels)
    volume.reload()
    if (volume.attrs.get("Labels") or {}).get(LAB) != plan.lab:    # `create` returns an existing volume as it is
        raise LabError(f"volume {volume.name} exists and is not this lab's fault record; remove it or rename the lab")
    try:
        what = _apply(containers, plan, req)
    except BaseException:
        volume.remove(force=True)                    # not in force: leave no record
        raise
    return f"{req.text()}: in force: {what}; heal: {heal_hint}"


def _heal_one(containers: dict, plan: Plan, fault: Fault) -> str:
    def current(host: str):
        container = containers.get(container_name(plan.lab, host))
        if container is not None:
            container.reload()
        return container

    if fault.kind == "partition":
        zones = [str(t) for t in fault.target]
        table, cleared = table_name("partition", zones), 0
        for host in [h.name for h in plan.hosts if h.zone in zones]:
            container = current(host)
            if container is None or container.status in DOWN:
                continue                              # no container, or stopped: its tables are gone
            if container.status == "paused":
                raise LabError(f"{host} is paused, so its nft table {table} cannot be removed; heal it first "
                               f"(labctl fault heal {host}) or unpause it")
            _nft(container, drop_table_script(table), host)
            cleared += 1
        return f"nft table {table} removed on {cleared} hosts"
    host = fault.host or ""
    container = current(host)
    if container is None:
        return f"no container {container_name(plan.lab, host)}; record removed"
    if fault.kind in ("stop", "kill"):
        if container.status in DOWN:
            container.start()
            return "container started"
        return f"container already {container.status}"
    if fault.kind == "pause":
        if container.status == "paused":
            container.unpause()
            return "container unpaused"
        return f"container not paused ({container.status})"
    table = table_name(fault.kind, fault.target)
    if container.status == "paused":
        raise LabError(f"{host} is paused, so its nft table {table} cannot be removed; unpause it first")
    if container.status != "running":
        return f"container {container.status}: no nft table left; record removed"
    present = _has_table(container, table)
    _nft(container, drop_table_script(table, fault_families(fault.kind)), host)
    return f"nft table {table} removed" if present else f"nft table {table} was already gone (container restarted); record removed"


def heal(client, plan: Plan, target: HealTarget, say: Optional[Say] = None, stack: Optional[str] = None) -> list[str]:
    """Heals the recorded faults `target` selects (container faults first, then network ones) and removes their
    records; one line per fault, also passed to `say` as it goes. A fault that cannot be healed keeps its record and,
    after the others are done, raises LabError naming it."""
    say = say or (lambda line: None)
    containers = _lab_containers(client, plan.lab)
    _check_owner(containers, plan, stack)               # before anything, even "nothing to heal"
    selected = [(v, f) for v, f in _records(client, plan.lab) if target.matches(f)]
    if not selected:
        line = f"no faults recorded {target.text(plan.lab)}"
        say(line)
        return [line]
    from docker.errors import DockerException
    lines, problems = [], []
    for volume, fault in sorted(selected, key=lambda item: item[1].kind not in CONTAINER_KINDS):
        try:
            what = _heal_one(containers, plan, fault)
        except (LabError, DockerException) as exc:
            problems.append(f"{fault.text()}: {exc}")
            continue
        volume.remove(force=True)
        lines.append(f"healed {fault.text()}: {what}")
        say(lines[-1])
    if problems:
        raise LabError(f"could not heal {len(problems)} of {len(selected)} faults (their records stay): "
                       + "; ".join(problems))
    return lines
