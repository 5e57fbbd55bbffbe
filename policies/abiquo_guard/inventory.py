"""What a stack's resources say, joined without IDs: labels/tags, parents and property dependencies.

`Inventory` reads the resources the Pulumi engine (or `labctl check`) hands to the pack, and re-derives the
intent (the plan) from the lab spec on the one `abiquo:lab:Lab` component with the project's own catalog. Policies
then compare the two.

Unknown values (preview): joins never need one (they go through property dependencies, labels and addresses).
Every other read is judged per resource and per entry: a value that is not known yet is noted in
`Inventory.unknowns` (resource, property) and that item alone is skipped -- the advisory policy `judged-at-update`
names it -- while everything known is still judged. Malformed input is noted per resource and field, never raised.
"""
from __future__ import annotations

import functools
import ipaddress
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError

from abiquo_lab.catalog import LOAD_BALANCER
from abiquo_lab.contract import ALLOW_ENV, ALLOWLIST, ALLOWLIST_CAPABILITIES, LAB_TYPE, LabError, label, parse_span

D_NETWORK, D_CONTAINER = "docker:index/network:Network", "docker:index/container:Container"
A_INSTANCE = "aws:ec2/instance:Instance"
A_LISTENERS = ("aws:lb/listener:Listener", "aws:alb/listener:Listener")
A_RULES = ("aws:lb/listenerRule:ListenerRule", "aws:alb/listenerRule:ListenerRule")
A_ATTACHMENTS = ("aws:lb/targetGroupAttachment:TargetGroupAttachment", "aws:alb/targetGroupAttachment:TargetGroupAttachment")
ENGINE_TYPES = ("pulumi:pulumi:Stack", "pulumi:providers:")      # what every stack holds, lab or not

# What the node enforces: the allowlist as the node image's entrypoint reads it (images/node/entrypoint.sh), the
# capability its nftables allowlist needs (components/docker_backend.py BASE_CAPABILITIES; a test holds them equal).
ALLOW_PROTOCOLS = {"tcp": True, "udp": True, "vrrp": False}      # protocol -> has ports


def unknown_path(props: Sequence) -> str:
    """['networksAdvanced', '2', 'ipv4Address'] -> 'networksAdvanced[2].ipv4Address'."""
    text = ""
    for part in props:
        text += f"[{part}]" if str(part).isdigit() else (f".{part}" if text else str(part))
    return text


def unknown_error(*path: str) -> UnknownValueError:
    return UnknownValueError(UNKNOWN_STRING_VALUE, list(path))


@dataclass(eq=False)
class Res:
    """One resource, as the pack sees it: plain type/name/urn, props (maybe an unknown-checking proxy), joins.
    `inputs`: a component's inputs, when the driver hands them beside its registered outputs (the engine hands
    one set: a component's registered outputs)."""
    type: str
    name: str
    urn: str
    props: Any
    parent: Optional[str] = None
    deps: dict[str, list[str]] = field(default_factory=dict)
    inputs: Any = None

    def get(self, key: str, default: Any = None) -> Any:
        """A property (raises UnknownValueError when it is not known in preview)."""
        value = self.props.get(key) if isinstance(self.props, Mapping) else None
        return default if value is None else value

    @functools.cached_property
    def _labels(self) -> tuple[dict[str, str], set[str]]:
        """(known labels/tags, keys whose value is unknown; '*' when the whole set or a key is unknown)."""
        known: dict[str, str] = {}
        unknown: set[str] = set()
        try:
            raw = self.get("labels" if self.type.startswith("docker:") else "tags")
        except UnknownValueError:
            return known, {"*"}
        if self.type.startswith("docker:"):                 # a list of {label, value}
            items = raw if isinstance(raw, Sequence) and not isinstance(raw, str) else []
            for i in range(len(items)):
                try:
                    item = items[i]
                    key = item.get("label") if isinstance(item, Mapping) else None
                except UnknownValueError:
                    unknown.add("*")
                    continue
                if not isinstance(key, str):
                    continue
                try:
                    value = item.get("value")
                except UnknownValueError:
                    unknown.add(key)
                    continue
                known[key] = "" if value is None else str(value)
        elif isinstance(raw, Mapping):                      # AWS tags: a map
            for key in raw:
                try:
                    value = raw[key]
                except UnknownValueError:
                    unknown.add(str(key))
                    continue
                known[str(key)] = "" if value is None else str(value)
        return known, unknown

    @property
    def labels(self) -> dict[str, str]:
        """Docker labels (list of {label, value}) or AWS tags (map), as one dict: the known ones."""
        return self._labels[0]

    def unknown_labels(self) -> set[str]:
        return self._labels[1]

    def label(self, suffix: str, default: str = "") -> str:
        """A label/tag by suffix; raises UnknownValueError (path labels.<key>) when its value is not known."""
        key = label(suffix)
        known, unknown = self._labels
        if key in unknown or ("*" in unknown and key not in known):
            raise unknown_error("labels" if self.type.startswith("docker:") else "tags", key)
        return known.get(key) or default


def from_policy_resources(resources) -> list[Res]:
    """PolicyResource objects (pulumi_policy) -> Res (a driver may attach a component's `inputs` as well)."""
    return [Res(r.resource_type, r.name, r.urn, r.props, r.parent.urn if r.parent else None,
                {k: [d.urn for d in v] for k, v in (r.property_dependencies or {}).items()}, getattr(r, "inputs", None))
            for r in resources]


def _json_or_text(text: Any) -> Any:
    """A spec as JSON when it parses (key order and spacing do not matter), else as it is."""
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return text


def _intent_of(spec_text: str, lab_name: str):
    """The intent: the lab spec re-checked and planned with the project's catalog (cached per catalog and spec)."""
    from abiquo_lab.catalog import catalog_path
    return _intent(catalog_path(), spec_text, lab_name)


@functools.lru_cache(maxsize=16)
def _intent(catalog: str, spec_text: str, lab_name: str):
    from abiquo_lab.catalog import default_catalog
    from abiquo_lab.labspec import check_spec
    from abiquo_lab.plan import build_plan
    checked = check_spec(json.loads(spec_text), default_catalog(), source=f"lab component {lab_name!r}")
    return checked, build_plan(checked, default_catalog())


@functools.lru_cache(maxsize=4096)
def parse_allow_rows(text: str, where: str) -> tuple[tuple[tuple, ...], tuple[str, ...]]:
    """An allowlist (label text) -> (entries (protocol, source, port, port_end, ids, destination), problems).
    A row is [protocol, source ("any" or an address), port span ("8009", "5900-5999"; "-" only for a protocol
    without ports: vrrp), ids] and optionally a fifth element, the one destination address it admits.
    Cached per text: every stack policy reads the same labels."""
    try:
        rows = json.loads(text)
    except (TypeError, ValueError):
        rows = None
    if not isinstance(rows, list):
        return (), (f"{where} is not a JSON list of rows [protocol, source, port, ids(, destination)]",)
    entries, problems = [], []
    for row in rows:
        problem = _row_problem(row)
        if problem:
            problems.append(f"{where} row {json.dumps(row)} {problem}")
            continue
        proto, source, port, ids, *destination = row
        entries.append((proto, source, *parse_span(port), ids, destination[0] if destination else None))
    return tuple(entries), tuple(problems)


@functools.lru_cache(maxsize=65536)
def parse_address(text: str):
    """An IP address, or None when the text is not one (cached: the same addresses recur in every policy)."""
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _row_problem(row: Any) -> Optional[str]:
    if not isinstance(row, list) or len(row) not in (4, 5) or not all(isinstance(x, str) for x in row):
        return "is not [protocol, source, port, ids] or [..., destination address] (strings)"
    proto, source, port, _, *destination = row
    if proto not in ALLOW_PROTOCOLS:
        return f"has protocol {proto!r}; the node admits {', '.join(ALLOW_PROTOCOLS)}"
    try:
        start, end = parse_span(port)
    except ValueError:
        return f"has port {port!r}, which is not a number, 'a-b' or '-'"
    if ALLOW_PROTOCOLS[proto] and start is None:
        return f"has no port ('-') for {proto}: it would admit every {proto} port; name the port or span the plan gives"
    if not ALLOW_PROTOCOLS[proto] and start is not None:
        return f"names port {port} for {proto}, which has no ports; write '-'"
    if start is not None and not (0 < start <= end <= 65535):
        return f"has port span {port!r} outside 1-65535 or reversed"
    for what, value in (("source", source), *(("destination", d) for d in destination)):
        if what == "source" and value == "any":
            continue
        if parse_address(value) is None:
            return f"has {what} {value!r}, which is not {'any or ' if what == 'source' else ''}an address"
    return None


Unknown = Callable[[str], None]          # notes one property path that is not known in preview


def read(fn: Callable[[], Any], path: str, unknown: Unknown, default: Any = None) -> Any:
    """fn() -- or `default` after noting the property path when a value it reads is not known in preview."""
    try:
        return fn()
    except UnknownValueError as exc:
        unknown(path or unknown_path(exc.props))
        return default


def _items(props: Any, key: str, unknown: Unknown) -> tuple[list[tuple[int, Any]], bool]:
    """A list property's known items as (index, item), and whether every item was known."""
    raw = read(lambda: props.get(key) if isinstance(props, Mapping) else None, key, unknown, default=...)
    if raw is ...:
        return [], False
    if isinstance(raw, str):
        return [(0, raw)], True                  # one item written without its list
    if not isinstance(raw, Sequence):
        return [], True
    found, complete = [], True
    for i in range(len(raw)):
        item = read(lambda i=i: raw[i], f"{key}[{i}]", unknown, default=...)
        if item is ...:
            complete = False
        else:
            found.append((i, item))
    return found, complete


def _field(item: Any, key: str, path: str, unknown: Unknown, default: Any = None) -> Any:
    """item[key] (None if absent); `default` after noting the path when it is not known."""
    return read(lambda: item.get(key) if isinstance(item, Mapping) else None, path, unknown, default=default)


@dataclass(eq=False)
class ContainerSettings:
    """What a container's own inputs say about its isolation, read once for resource and stack policies alike.
    A value not known in preview is None (or left out of a list) and noted through `unknown`."""
    privileged: Optional[bool]
    network_mode: Optional[str]
    pid_mode: Optional[str]
    ipc_mode: Optional[str]
    security_opts: list[tuple[str, str]]     # (field, option)
    host_paths: list[tuple[str, str]]        # (field, host path) of bind mounts and host volumes
    capabilities: list[tuple[str, str]]      # (field, normalized name) of capabilities.adds
    ports: list[tuple[str, int, str, Any]]   # published: (field, internal port, protocol, ip)
    ports_complete: bool
    malformed: list[tuple[str, str]] = field(default_factory=list)   # (field, problem)


def container_settings(props: Any, unknown: Unknown) -> ContainerSettings:
    def scalar(key: str) -> Any:
        return _field(props, key, key, unknown)
    malformed: list[tuple[str, str]] = []
    opts = []
    for i, opt in _items(props, "securityOpts", unknown)[0]:
        opts.append((f"securityOpts[{i}]", str(opt)))
    paths = []
    for i, volume in _items(props, "volumes", unknown)[0]:
        path = _field(volume, "hostPath", f"volumes[{i}].hostPath", unknown)
        if path:
            paths.append((f"volumes[{i}].hostPath", str(path)))
    for i, mount in _items(props, "mounts", unknown)[0]:
        kind = _field(mount, "type", f"mounts[{i}].type", unknown)
        path = _field(mount, "source", f"mounts[{i}].source", unknown)
        if path and kind in (None, "bind"):
            paths.append((f"mounts[{i}].source", str(path)))
    caps = []
    capabilities = read(lambda: props.get("capabilities") if isinstance(props, Mapping) else None, "capabilities",
                        unknown)
    for i, name in (_items(capabilities, "adds", lambda p: unknown(f"capabilities.{p}"))[0]
                    if isinstance(capabilities, Mapping) else []):
        caps.append((f"capabilities.adds[{i}]", normalize_capability(name)))
    ports = []
    items, complete = _items(props, "ports", unknown)
    for i, port in items:
        internal = _field(port, "internal", f"ports[{i}].internal", unknown, default=...)
        if internal is ...:
            complete = False
            continue
        try:
            number = int(internal)
        except (TypeError, ValueError):
            malformed.append((f"ports[{i}].internal", f"ports[{i}].internal {internal!r} is not a port number"))
            continue
        ports.append((f"ports[{i}]", number, _field(port, "protocol", f"ports[{i}].protocol", unknown) or "tcp",
                      _field(port, "ip", f"ports[{i}].ip", unknown)))
    privileged = _field(props, "privileged", "privileged", unknown, default=...)
    return ContainerSettings(None if privileged is ... else privileged is True, scalar("networkMode"), scalar("pidMode"), scalar("ipcMode"), opts, paths, caps, ports,
                             complete, malformed)


@dataclass(eq=False)
class NetEntry:
    """One networksAdvanced entry of a container, joined to a network resource of the stack (None: none found)."""
    index: int
    network: Optional[Res]
    name: Optional[str]
    address: Optional[str]         # None: Docker picks one


@dataclass(eq=False)
class DockerNet:
    res: Res
    zone: Optional[str]            # label zone ('' absent; None unknown)
    name: str
    subnets: list
    internal: Optional[bool]       # None unknown
    malformed: list[tuple[str, str]] = field(default_factory=list)   # (field, problem)


@dataclass(eq=False)
class DockerHost:
    """One container as the pack reads it. Fields that were not known in preview are None (and noted)."""
    res: Res
    name: Optional[str]            # the host label ('' absent; None unknown)
    roles: Optional[list[str]]
    datacenter: Optional[str]
    region: Optional[str]
    entries: list[NetEntry]        # the known networksAdvanced entries
    entries_complete: bool         # False: some entry (or the list) was not known
    allow: Optional[list[tuple]]   # (protocol, source, port, port_end, ids, destination) from the label
    allow_text: Optional[str]
    env_allow: Optional[list[str]]  # every known LAB_ALLOW=... value of envs, in order (None: not judgeable)
    routes: Optional[list]
    settings: ContainerSettings    # its own isolation inputs (capabilities, published ports, mounts, ...)
    malformed: list[tuple[str, str]] = field(default_factory=list)   # (field, problem): reported, never raised

    @functools.cached_property
    def addresses(self) -> dict[str, str]:
        """network urn -> the container's known address on it."""
        return {e.network.urn: e.address for e in self.entries if e.network is not None and e.address}

    @functools.cached_property
    def allow_by(self) -> dict[tuple[str, str], list[tuple]]:
        """(protocol, source) -> the label's entries: a flow looks up its entries without a scan."""
        index: dict[tuple[str, str], list[tuple]] = {}
        for entry in self.allow or ():
            index.setdefault((entry[0], entry[1]), []).append(entry)
        return index


def normalize_capability(name: Any) -> str:
    """Docker's spelling freedom: 'cap_sys_admin', 'SYS_ADMIN' -> 'SYS_ADMIN'."""
    text = str(name).strip().upper()
    return text[4:] if text.startswith("CAP_") else text


class Inventory:
    def __init__(self, resources: list[Res]):
        self.resources = resources
        self.by_urn = {r.urn: r for r in resources}
        self.unknowns: list[tuple[Res, str]] = []            # (resource, property) not known in preview
        self.intent_problems: list[tuple[str, Optional[str]]] = []   # (message, urn): layout-completeness reports them
        self.labs = self.of_type(LAB_TYPE)
        self.lab, self.checked, self.plan = None, None, None
        self._read_intent()
        self.backend = self.plan.backend if self.plan else None
        self.balancers = self.plan.exposed_roles(LOAD_BALANCER) if self.backend == "aws" else set()
        # on AWS a VIP with proxy listeners (services-vip) is an internal NLB with a security group of its own
        self.balanced = {v.name for v in self.plan.balanced_vips()} if self.backend == "aws" else set()
        self._docker: Optional[list[DockerHost]] = None

    def of_type(self, type_: str) -> list[Res]:
        if not hasattr(self, "_by_type"):
            self._by_type: dict[str, list[Res]] = {}
            for r in self.resources:
                self._by_type.setdefault(r.type, []).append(r)
        return self._by_type.get(type_, [])

    # ---- judging per item -------------------------------------------------------------------------------
    def unknown(self, res: Res, path: str) -> None:
        self.unknowns.append((res, path))

    def read(self, res: Res, fn: Callable[[], Any], path: str = "", default: Any = None) -> Any:
        """fn() -- or `default` after noting (res, property) when a value it reads is not known in preview."""
        return read(fn, path, lambda p: self.unknown(res, p), default)

    # ---- the intent --------------------------------------------------------------------------------------
    def _read_intent(self) -> None:
        """Exactly one Lab component, with a spec (outputs equal to inputs, where both are handed) that plans."""
        if len(self.labs) != 1:
            others = [r for r in self.resources if not r.type.startswith(ENGINE_TYPES) and r.type != LAB_TYPE]
            if self.labs:
                self.intent_problems.append((
                    f"the stack has {len(self.labs)} {LAB_TYPE} components ({', '.join(repr(r.name) for r in self.labs)}): "
                    "a stack is one lab, and the pack cannot tell which spec is the intent, so nothing else is judged; "
                    "create one Lab per stack", self.labs[1].urn))
            elif others:
                example = ", ".join(f"{r.type.split(':')[-1]} '{r.name}'" for r in others[:3])
                self.intent_problems.append((
                    f"the stack has no {LAB_TYPE} component (type {LAB_TYPE}) but {len(others)} resources ({example}"
                    f"{', ...' if len(others) > 3 else ''}): without the lab spec it carries, no policy can judge them; "
                    f"create them through components.Lab (a renamed component type hides the whole lab)", None))
            return
        lab = self.lab = self.labs[0]
        spec = self.read(lab, lambda: lab.get("spec"), "spec", default=...)
        if spec is ...:
            return
        where = f"Lab component '{lab.name}'"
        if not isinstance(spec, str) or not spec.strip():
            self.intent_problems.append((f"{where} has {'no spec' if spec is None else f'a spec that is not JSON text ({type(spec).__name__})'} "
                                         "(property spec): the program registers the lab spec as its input and output "
                                         "(components/lab.py); without it nothing can be judged", lab.urn))
            return
        if lab.inputs is not None:
            given = self.read(lab, lambda: lab.inputs.get("spec") if isinstance(lab.inputs, Mapping) else None,
                              "inputs.spec", default=...)
            if given is not ... and given is not None and _json_or_text(given) != _json_or_text(spec):
                self.intent_problems.append((f"{where}: the spec in its registered outputs differs from the spec in its "
                                             "inputs (property spec): the pack judges the outputs; register the spec it "
                                             "was created with (components/lab.py register_outputs)", lab.urn))
        try:
            json.loads(spec)
        except ValueError as exc:
            self.intent_problems.append((f"{where}: property spec is not JSON ({exc}): the program writes it with "
                                         "json.dumps from the checked spec", lab.urn))
            return
        try:
            self.checked, self.plan = _intent_of(spec, lab.name)
        except (LabError, ValueError, TypeError, KeyError, AttributeError) as exc:
            self.intent_problems.append((f"{where}: property spec does not give a plan with the project's catalog: {exc}",
                                         lab.urn))

    def flows_to(self, target: str) -> list:
        """Plan flows ending on a host or VIP name (indexed once: no scan per host)."""
        if not hasattr(self, "_flows_to"):
            self._flows_to: dict[str, list] = {}
            for flow in self.plan.flows:
                self._flows_to.setdefault(flow.dst, []).append(flow)
        return self._flows_to.get(target, [])

    def plan_host(self, name: Optional[str]):
        """The plan's host of that name, or None."""
        if not hasattr(self, "_plan_hosts"):
            self._plan_hosts = {h.name: h for h in self.plan.hosts}
        return self._plan_hosts.get(name) if name else None

    def plan_address_host(self) -> dict[str, str]:
        """Every address the plan gives a host (any of its networks) -> host name."""
        if not hasattr(self, "_address_host"):
            self._address_host = {a: h.name for h in self.plan.hosts for a in h.interfaces.values()}
        return self._address_host

    # ---- Docker view ---------------------------------------------------------------------------------------
    @property
    def containers(self) -> list[DockerHost]:
        """Every container of the stack, labelled or not, in the stack's order."""
        if self._docker is None:
            self._docker = [self._docker_host(r) for r in self.of_type(D_CONTAINER)]
        return self._docker

    @property
    def docker_hosts(self) -> dict[str, DockerHost]:
        """host name -> the first container carrying that host label (a copy is reported by layout-completeness)."""
        if not hasattr(self, "_docker_hosts"):
            self._docker_hosts: dict[str, DockerHost] = {}
            for host in self.containers:
                if host.name:
                    self._docker_hosts.setdefault(host.name, host)
        return self._docker_hosts

    @property
    def identities_known(self) -> bool:
        """False when some container's host label is not known in preview: it may be any host."""
        return all(h.name is not None for h in self.containers)

    @property
    def networks(self) -> dict[str, DockerNet]:
        """network urn -> the Docker network as the pack reads it."""
        if not hasattr(self, "_networks"):
            self._networks = {r.urn: self._docker_net(r) for r in self.of_type(D_NETWORK)}
        return self._networks

    def _docker_net(self, res: Res) -> DockerNet:
        subnets, malformed = [], []
        unknown = lambda path: self.unknown(res, path)       # noqa: E731
        for i, config in _items(res.props, "ipamConfigs", unknown)[0]:
            text = _field(config, "subnet", f"ipamConfigs[{i}].subnet", unknown)
            try:
                if text:
                    subnets.append(ipaddress.ip_network(text, strict=False))
            except (TypeError, ValueError):
                malformed.append((f"ipamConfigs[{i}].subnet", f"ipamConfigs[{i}].subnet {text!r} is not a CIDR"))
        internal = _field(res.props, "internal", "internal", unknown, default=...)
        name = _field(res.props, "name", "name", unknown)
        return DockerNet(res, self.read(res, lambda: res.label("zone"), default=None), name if isinstance(name, str) else "",
                         subnets, None if internal is ... else internal is True, malformed)

    def _docker_host(self, res: Res) -> DockerHost:
        malformed: list[tuple[str, str]] = []
        text = lambda suffix: self.read(res, lambda: res.label(suffix))     # noqa: E731
        name, roles, datacenter, region = text("host"), text("roles"), text("datacenter"), text("region")
        allow_text = text("allowlist")
        allow = None
        if allow_text is not None:
            parsed, problems = parse_allow_rows(allow_text or "[]", f"label {ALLOWLIST}")
            allow = list(parsed)
            malformed += [(ALLOWLIST, p) for p in problems]
        routes_text = text("routes")
        routes = None
        if routes_text is not None:
            try:
                routes = json.loads(routes_text or "[]")
            except ValueError:
                routes = None
            if not isinstance(routes, list):
                malformed.append((label("routes"), f"label {label('routes')} is not a JSON list"))
                routes = []
        entries, complete = self._entries(res, malformed)
        settings = container_settings(res.props, lambda path: self.unknown(res, path))
        malformed += settings.malformed
        return DockerHost(res, name, roles.split() if roles is not None else None, datacenter, region, entries, complete,
                          allow, allow_text, self._env_allow(res), routes, settings, malformed)

    def _entries(self, res: Res, malformed: list) -> tuple[list[NetEntry], bool]:
        """The container's networksAdvanced entries, each joined to one of the networks its property dependencies
        name: by address (within the network's subnets), else by the network's name."""
        raw = self.read(res, lambda: res.get("networksAdvanced", []), default=None)
        if raw is None:
            return [], False
        if not isinstance(raw, Sequence) or isinstance(raw, str):
            malformed.append(("networksAdvanced", "networksAdvanced is not a list of {name, ipv4Address}"))
            return [], True
        nets = [self.networks[u] for u in res.deps.get("networksAdvanced", []) if u in self.networks]
        by_name = {n.name: n for n in nets if n.name}
        entries, complete = [], True
        for i in range(len(raw)):
            try:
                entry = raw[i]
                name = entry.get("name") if isinstance(entry, Mapping) else None
                address = entry.get("ipv4Address") if isinstance(entry, Mapping) else None
            except UnknownValueError as exc:
                self.unknown(res, unknown_path(exc.props))
                complete = False
                continue
            if address:
                parsed = parse_address(address) if isinstance(address, str) else None
                if parsed is None:
                    malformed.append((f"networksAdvanced[{i}].ipv4Address",
                                      f"networksAdvanced[{i}].ipv4Address {address!r} is not an address"))
                    continue
            # the network Docker joins is the one named; else the one (of those it depends on) whose subnet holds the
            # address; else any network of the stack with that name
            net = by_name.get(name) if isinstance(name, str) else None
            if net is None and address:
                net = next((n for n in nets if any(parsed in s for s in n.subnets)), None)
            if net is None and isinstance(name, str):
                net = self._network_named().get(name)
            entries.append(NetEntry(i, net.res if net else None, name if isinstance(name, str) else None,
                                    str(address) if address else None))
        return entries, complete

    def _network_named(self) -> dict[str, DockerNet]:
        if not hasattr(self, "_named"):
            self._named = {n.name: n for n in self.networks.values() if n.name}
        return self._named

    def _env_allow(self, res: Res) -> Optional[list[str]]:
        return self.env_values(res, ALLOW_ENV)

    def env_values(self, res: Res, key: str) -> Optional[list[str]]:
        """Every known KEY=... of the container's envs, in order; None when it has none and some entry is unknown."""
        raw = self.read(res, lambda: res.get("envs", []), default=None)
        if raw is None:
            return None
        values, unknown = [], False
        for i in range(len(raw) if isinstance(raw, Sequence) and not isinstance(raw, str) else 0):
            try:
                item = raw[i]
            except UnknownValueError:
                unknown = True              # e.g. a secret made from a generated password
                continue
            if isinstance(item, str) and item.startswith(f"{key}="):
                values.append(item[len(key) + 1:])
        if not values and unknown:
            self.unknown(res, f"envs ({key})")
            return None
        return values

    def host_entries(self, res: Res) -> Optional[list[tuple[str, Any, Any]]]:
        """The container's hosts-file entries as (field, host, ip); None when not known in preview."""
        unknown = lambda path: self.unknown(res, path)        # noqa: E731
        items, complete = _items(res.props, "hosts", unknown)
        if not complete:
            return None
        return [(f"hosts[{i}]", _field(e, "host", f"hosts[{i}].host", unknown, default=...),
                 _field(e, "ip", f"hosts[{i}].ip", unknown, default=...)) for i, e in items]

    def listeners_of(self, lb: Res) -> list[Res]:
        """The listeners on a load balancer, in either module (joined by the property dependency loadBalancerArn)."""
        return [l for t in A_LISTENERS for l in self.of_type(t) if lb.urn in l.deps.get("loadBalancerArn", [])]
