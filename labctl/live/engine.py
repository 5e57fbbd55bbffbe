"""Realize a recorded Docker program on a real engine, as pulumi-docker would; tear it down by labels.

The Pulumi CLI and its provider plugins cannot run everywhere (not on this project's CI). The program's Docker
resources, recorded under mocks in update mode, are created here with the Docker API using the same inputs the
docker provider would pass: networks (driver, internal, IPAM, labels), the image build (classic builder, build
args), containers (hostname, init, restart, capabilities, tmpfs, networks with fixed addresses and aliases,
published ports, environment, labels, health check) and the provider's `wait` for health. Only the Docker
resource types below are realized; anything else in the recording is an error, so nothing is silently skipped.
"""
from __future__ import annotations

import concurrent.futures
import secrets
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

from abiquo_lab.contract import INSTANCE as INSTANCE_LABEL
from abiquo_lab.contract import LAB as LAB_LABEL
from abiquo_lab.contract import MANAGED as MANAGED_LABEL
from abiquo_lab.contract import CONFIG_EXPIRES_AT, CONFIG_MANAGED_BY, MANAGED_BY_REALIZE, InputError, LabError
from abiquo_lab.contract import STACK as STACK_LABEL

from ..preview import Record, Recording, computed_outputs, record_stack

NETWORK = "docker:index/network:Network"
IMAGE = "docker:index/image:Image"
CONTAINER = "docker:index/container:Container"
PASSIVE = {"random:index/randomPassword:RandomPassword"}   # realized through the outputs below

Progress = Callable[[str], None]


def realization_outputs(type_: str, name: str, inputs: dict) -> dict:
    """Mock outputs for a run that will be realized: a real random password instead of a fixed mock one."""
    if type_ == "random:index/randomPassword:RandomPassword":
        return {"result": secrets.token_urlsafe(18), "bcryptHash": "unused"}
    return computed_outputs(type_, name, inputs)


def record_for_engine(stack: str, stacks_dir=None, expires_at: Optional[str] = None) -> Recording:
    """The stack's program run under mocks in update mode, ready to realize (labelled managed-by=realize)."""
    extra = {CONFIG_MANAGED_BY: MANAGED_BY_REALIZE, **({CONFIG_EXPIRES_AT: expires_at} if expires_at else {})}
    return record_stack(stack, preview=False, stacks_dir=stacks_dir, outputs=realization_outputs, extra_config=extra)


@dataclass
class Realized:
    lab: str
    stack: str
    networks: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    containers: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


def _labels(items: list[dict]) -> dict[str, str]:
    return {item["label"]: item["value"] for item in items or []}


def _duration_ns(text: Optional[str]) -> int:
    """Docker provider durations ("2s", "500ms", "1m") -> nanoseconds for the engine API."""
    if not text:
        return 0
    units = {"ms": 1_000_000, "s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000}
    for suffix in ("ms", "s", "m", "h"):
        if text.endswith(suffix) and text[: -len(suffix)].replace(".", "").isdigit():
            return int(float(text[: -len(suffix)]) * units[suffix])
    raise InputError(f"duration {text!r}: expected a number with ms, s, m or h")


def check_realizable(recording: Recording) -> None:
    unknown = sorted({r.type for r in recording.records if r.custom and r.type not in (NETWORK, IMAGE, CONTAINER, *PASSIVE)})
    if unknown:
        raise InputError(f"cannot realize {', '.join(unknown)} on Docker; realizable types: {NETWORK}, {IMAGE}, {CONTAINER}")
    if recording.preview:
        raise InputError("a preview recording has unknown values; record in update mode (record_for_engine)")


class Engine:
    """Creates the recorded objects on a Docker engine (docker SDK client), in dependency order."""

    def __init__(self, client, progress: Optional[Progress] = None, parallel: int = 4):
        self.client, self.parallel = client, parallel
        self.api = client.api
        self.progress = progress or (lambda message: None)
        self.instance = secrets.token_hex(6)          # this realization: on every network and container it makes

    def _labels_of(self, raw: dict) -> dict[str, str]:
        return {**_labels(raw.get("labels")), INSTANCE_LABEL: self.instance}

    # ---- whole recordings ------------------------------------------------------------------------
    def realize(self, recording: Recording, wait: bool = True) -> Realized:
        check_realizable(recording)
        containers = recording.by_type(CONTAINER)
        labels = _labels(containers[0].raw_inputs.get("labels", [])) if containers else {}
        done = Realized(lab=labels.get(LAB_LABEL, "?"), stack=labels.get(STACK_LABEL, recording.stack))
        started = time.monotonic()
        for record in recording.by_type(NETWORK):
            done.networks.append(self.network(record))
        done.seconds["networks"] = time.monotonic() - started
        for record in recording.by_type(IMAGE):
            mark = time.monotonic()
            done.images.append(self.image(record))
            done.seconds["image"] = time.monotonic() - mark
        mark = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(max_workers=self.parallel) as pool:   # like the engine's parallelism
            done.containers.extend(pool.map(self.container, containers))
        done.seconds["containers"] = time.monotonic() - mark
        if wait:
            mark = time.monotonic()
            self.wait_healthy(containers)
            done.seconds["healthy"] = time.monotonic() - mark
        done.seconds["total"] = time.monotonic() - started
        return done

    # ---- one object each ---------------------------------------------------------------------------
    def network(self, record: Record) -> str:
        raw = record.raw_inputs
        pools = [self._ipam_pool(c) for c in raw.get("ipamConfigs", [])]
        import docker
        self.api.create_network(
            raw["name"], driver=raw.get("driver", "bridge"), internal=bool(raw.get("internal", False)),
            ipam=docker.types.IPAMConfig(pool_configs=pools) if pools else None,
            labels=self._labels_of(raw), check_duplicate=True)
        self.progress(f"network {raw['name']} created")
        return raw["name"]

    @staticmethod
    def _ipam_pool(config: dict):
        import docker
        return docker.types.IPAMPool(subnet=config.get("subnet"), gateway=config.get("gateway"),
                                     iprange=config.get("ipRange"), aux_addresses=config.get("auxAddress") or None)

    def image(self, record: Record) -> str:
        raw = record.raw_inputs
        build = raw["build"]
        if build.get("builderVersion") not in (None, "BuilderV1"):
            raise InputError(f"image {raw['imageName']}: only the classic builder (BuilderV1) is available here")
        self.progress(f"image {raw['imageName']} building (classic builder)")
        self.client.images.build(path=build["context"], dockerfile=build.get("dockerfile"), tag=raw["imageName"],
                                 buildargs=build.get("args") or {}, rm=True, forcerm=True)
        self.progress(f"image {raw['imageName']} built")
        return raw["imageName"]

    def container(self, record: Record) -> str:
        raw = record.raw_inputs
        networks = raw.get("networksAdvanced", [])
        endpoints = {n["name"]: self.api.create_endpoint_config(ipv4_address=n.get("ipv4Address"), aliases=n.get("aliases"))
                     for n in networks}
        ports = raw.get("ports") or []
        host_config = self.api.create_host_config(
            init=raw.get("init"), restart_policy=_restart(raw.get("restart")),
            cap_add=(raw.get("capabilities") or {}).get("adds"), cap_drop=(raw.get("capabilities") or {}).get("drops"),
            tmpfs=raw.get("tmpfs"), privileged=bool(raw.get("privileged", False)), sysctls=raw.get("sysctls") or None,
            extra_hosts={h["host"]: h["ip"] for h in raw.get("hosts") or []} or None,
            network_mode=raw.get("networkMode") or (networks[0]["name"] if networks else None),
            port_bindings={f"{p['internal']:.0f}/{p.get('protocol', 'tcp')}": (p.get("ip", "0.0.0.0"), int(p["external"]))
                           for p in ports} or None)
        created = self.api.create_container(
            raw["image"], name=raw["name"], hostname=raw.get("hostname"), environment=raw.get("envs"),
            labels=self._labels_of(raw), host_config=host_config, healthcheck=_healthcheck(raw.get("healthcheck")),
            ports=[(int(p["internal"]), p.get("protocol", "tcp")) for p in ports] or None,
            networking_config=self.api.create_networking_config(dict(list(endpoints.items())[:1])) if endpoints else None,
            stop_signal=raw.get("stopSignal"))
        for n in networks[1:]:              # like the provider: first network at create, the others before start
            self.api.connect_container_to_network(created["Id"], n["name"], ipv4_address=n.get("ipv4Address"),
                                                  aliases=n.get("aliases"))
        self.api.start(created["Id"])
        self.progress(f"container {raw['name']} started")
        return raw["name"]

    def wait_healthy(self, records: list[Record], timeout: Optional[float] = None) -> None:
        """The provider's `wait`: every container with wait=true healthy within its wait_timeout."""
        pending = {r.raw_inputs["name"]: float(r.raw_inputs.get("waitTimeout", 60)) for r in records if r.raw_inputs.get("wait")}
        deadline = time.monotonic() + (timeout or max(pending.values(), default=0))
        while pending:
            for name in list(pending):
                state = self.api.inspect_container(name)["State"]
                health = (state.get("Health") or {}).get("Status")
                if health == "healthy":
                    pending.pop(name)
                    self.progress(f"container {name} healthy")
                elif not state.get("Running"):
                    raise LabError(f"container {name} exited ({state.get('ExitCode')}): "
                                       f"{self.client.containers.get(name).logs(tail=20).decode(errors='replace')}")
            if pending and time.monotonic() > deadline:
                raise LabError(f"not healthy in time: {', '.join(sorted(pending))}")
            if pending:
                time.sleep(0.5)


def _restart(policy: Optional[str]) -> Optional[dict]:
    if not policy or policy == "no":
        return None
    return {"Name": policy, "MaximumRetryCount": 0}


def _healthcheck(check: Optional[dict]) -> Optional[dict]:
    if not check:
        return None
    return {"test": check["tests"], "interval": _duration_ns(check.get("interval")), "timeout": _duration_ns(check.get("timeout")),
            "retries": int(check.get("retries", 0)), "start_period": _duration_ns(check.get("startPeriod"))}


# ---- inspection and teardown by labels alone --------------------------------------------------------
def label_filter(lab: Optional[str] = None, stack: Optional[str] = None) -> list[str]:
    filters = [f"{MANAGED_LABEL}=true"]
    if lab:
        filters.append(f"{LAB_LABEL}={lab}")
    if stack:
        filters.append(f"{STACK_LABEL}={stack}")
    return filters


def labelled(client, lab: Optional[str] = None, stack: Optional[str] = None) -> dict[str, list]:
    """Every Docker object carrying the project's labels (optionally of one lab/stack)."""
    flt = {"label": label_filter(lab, stack)}
    return {"containers": client.containers.list(all=True, filters=flt), "networks": client.networks.list(filters=flt),
            "volumes": client.volumes.list(filters=flt), "images": client.images.list(filters=flt)}


def teardown(client, lab: Optional[str] = None, stack: Optional[str] = None, images: bool = True,
             progress: Optional[Progress] = None) -> dict[str, int]:
    """Remove containers, then networks and volumes, then images carrying the lab's labels. Returns counts."""
    found = labelled(client, lab, stack)
    if not images:
        found["images"] = []
    return remove_objects(client, found, progress)


def remove_objects(client, found: dict[str, list], progress: Optional[Progress] = None) -> dict[str, int]:
    """Containers first, then networks and volumes, then images (every tag). Returns how many of each. An object
    already gone (removed meanwhile, or a build's intermediate container) is not an error: teardown is idempotent."""
    from docker.errors import NotFound
    say = progress or (lambda message: None)

    def gone(remove, what: str) -> None:
        try:
            remove()
            say(f"{what} removed")
        except NotFound:
            say(f"{what} already gone")
    for container in found.get("containers", []):
        gone(lambda c=container: c.remove(force=True, v=True), f"container {container.name}")
    for network in found.get("networks", []):
        gone(network.remove, f"network {network.name}")
    for volume in found.get("volumes", []):
        gone(lambda v=volume: v.remove(force=True), f"volume {volume.name}")
    for image in found.get("images", []):
        for tag in image.tags or [image.id]:
            gone(lambda t=tag: client.images.remove(t, force=True), f"image {tag}")
    return {kind: len(found.get(kind, [])) for kind in ("containers", "networks", "volumes", "images")}
