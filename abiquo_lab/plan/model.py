"""The plan: the concrete lab (zones, hosts, virtual addresses, flows). Pure data, no Pulumi."""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict

from ..catalog.model import LOAD_BALANCER
from ..contract import port_span

EXTERNAL_PREFIX = "@"   # flow endpoints outside the lab: "@user", "@cloud", ...


class Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ZoneNet(Frozen):
    name: str                      # e.g. "core", "dc-dc1", "cloud-eu"
    zone: str                      # catalog zone: frontend, core, data, monitoring, dc, cloud
    kind: Literal["global", "datacenter", "region"]
    site: Optional[str] = None     # datacenter or region name
    cidr: str


class Route(Frozen):
    """A path a proxying host (frontend or UI) forwards, and where to."""
    path: str
    role: str
    port: int
    targets: list[str]             # host or vip names
    timeout: Optional[int] = None  # seconds to wait for the targets (None: the proxy's default)
    site: Optional[str] = None     # the datacenter/region a per-site path serves


class Runtime(Frozen):
    """What a host runs, from its roles' catalog runtime with the lab's facts applied."""
    start: list[str] = []              # the node image's start hooks for the real software, in order
    holds: list[str] = []              # ports that software binds ('tcp/6379'); the role agent answers the rest
    clients: dict[str, str] = {}       # 'tcp/6379' -> the protocol client verify speaks there ('redis')
    services: dict[str, dict[str, str]] = {}   # each service it serves -> {port -> the client of that service there}:
                                       # its software's where it holds the port, the role agent's (agent, ajp, echo) where
                                       # the agent stands in; a port another service's software holds is left out
    capabilities: list[str] = []       # added Linux capabilities beyond the allowlist's NET_ADMIN
    tmpfs: dict[str, str] = {}         # mount point -> options
    exposure: Optional[str] = None     # how the backend exposes this public host: published | load-balancer


class Published(Frozen):
    """A port a Docker host publishes on the machine for a public flow."""
    protocol: Literal["tcp", "udp"]
    internal: int
    external: int
    setting: Optional[str] = None      # the docker setting it derives from (https_port / http_port), if any


class Host(Frozen):
    name: str
    kind: str
    roles: list[str]
    primary: str                   # the role whose component creates the host
    zone: str                      # home zone network
    datacenter: Optional[str] = None
    region: Optional[str] = None
    per: Optional[Literal["datacenter", "region"]] = None   # the layout makes one such host per datacenter / region
    address: str                   # address on the home zone network
    interfaces: dict[str, str]     # zone network -> address (home first); joins the networks its flows need
    public: bool = False           # carries a public role (frontend, websockify)
    routes: list[Route] = []
    runtime: Runtime = Runtime()
    published: list[Published] = []    # Docker: what the host publishes (public flows on a published host)

    @property
    def site(self) -> Optional[str]:
        """The datacenter or region the host belongs to (a global host in a monolithic lab may still name one)."""
        return self.datacenter or self.region


class VipListener(Frozen):
    """A port the VIP's proxy listens on, and where it sends the traffic: the backend port on each member it picks."""
    port: int
    backend_port: int
    check: str                     # how it picks members (catalog VIP_CHECKS)


class Vip(Frozen):
    name: str
    role: str
    zone: str
    address: str                   # reserved in the zone network: never a host's address
    members: list[str]
    holder: str                    # start hook that holds the address on one member at a time
    proxy: str                     # start hook that forwards the listeners
    listeners: list[VipListener] = []

    @property
    def router_id(self) -> int:
        """The VRRP virtual router id: the address's last octet (unique per zone network, which is one segment)."""
        return int(self.address.rsplit(".", 1)[1])


class Flow(Frozen):
    id: str                        # catalog row
    src: str                       # host name, or "@user" etc. for outside the lab
    dst: str                       # host name, vip name, or "@cloud" etc.
    src_role: str
    dst_role: str
    dst_kind: Literal["host", "vip", "external"]
    port: Optional[int] = None     # None for protocols without ports (vrrp)
    port_end: Optional[int] = None
    protocol: Literal["tcp", "udp", "vrrp"]
    service: Optional[str] = None
    required: bool
    evidence: str
    local: bool = False            # same host: no network rule
    public: bool = False           # ingress from users (the world)
    egress: bool = False           # to a destination outside the lab
    documented: Optional[str] = None   # the row's own ports ('8010') where the lab uses another (catalog: realized)
    realized_why: Optional[str] = None # why the lab uses `port` instead
    reason: Optional[str] = None   # a flow the stack declares (extra_flows, ids X1, X2, ...): why it needs it

    @property
    def declared(self) -> bool:
        """Declared by the stack (extra_flows), not a catalog row."""
        return self.reason is not None

    @property
    def ports_text(self) -> str:
        return port_span(self.port, self.port_end)

    @property
    def network(self) -> bool:
        return not self.local

    @property
    def from_outside(self) -> bool:
        """From outside the lab but not from users (tenant VMs): nothing in the lab sends it, so no backend renders
        a rule for it, no check can require it and verify does not probe it."""
        return self.src.startswith(EXTERNAL_PREFIX) and not self.public


class AllowEntry(Frozen):
    """One inbound allowlist entry of a host: who may connect to which port (and to which address, for a VIP)."""
    source: str                    # an address, or "any" for public ingress
    source_host: str               # host name or "@user"
    destination: Optional[str] = None   # a VIP's address when the flow goes to the VIP only; None: the host itself
    port: Optional[int]
    port_end: Optional[int]
    protocol: Literal["tcp", "udp", "vrrp"]
    ids: list[str]


class Plan(Frozen):
    lab: str
    backend: str
    layout: str
    version: str
    owner: str
    switches: dict[str, object]
    zones: list[ZoneNet]
    hosts: list[Host]
    vips: list[Vip]
    flows: list[Flow]

    def host(self, name: str) -> Host:
        for host in self.hosts:
            if host.name == name:
                return host
        raise KeyError(f"no host {name!r} in lab {self.lab!r}; hosts: {', '.join(h.name for h in self.hosts)}")

    def vip(self, name: str) -> Optional[Vip]:
        return next((v for v in self.vips if v.name == name), None)

    def vips_of(self, host_name: str) -> list[Vip]:
        """The virtual addresses a host is a member of."""
        return [v for v in self.vips if host_name in v.members]

    def direct(self, host_name: str) -> list[Flow]:
        """Flows that end on the host itself (not on a VIP it carries)."""
        return [f for f in self.flows if f.dst == host_name]

    def inbound(self, host_name: str) -> list[Flow]:
        """Flows that end on the host or on a VIP it is a member of (local flows included)."""
        targets = {host_name, *(v.name for v in self.vips_of(host_name))}
        return [f for f in self.flows if f.dst in targets]

    def balanced_vips(self) -> list[Vip]:
        """The VIPs a load balancer of the cloud stands for (on AWS an internal NLB in front of the members' proxies):
        those whose proxy listeners serve every port their clients use. The frontend's VIP is the frontend load
        balancer itself; a VIP some client reaches on a port no proxy listens on (the service on the holder itself)
        is not one: its flows go to the members."""
        balancers = self.exposed_roles(LOAD_BALANCER)
        return [vip for vip in self.vips if vip.listeners and vip.role not in balancers
                and {f.port for f in self.flows if f.dst == vip.name} <= {l.port for l in vip.listeners}]

    def exposed_roles(self, how: str) -> set[str]:
        """Primary roles of the hosts the backend exposes that way ('load-balancer': the AWS frontend)."""
        return {h.primary for h in self.hosts if h.runtime.exposure == how}

    def route_rows(self, host_name: str) -> list[list]:
        """A proxying host's routes as [path, port, [[target, address], ...]] (+ timeout seconds): addresses, not names, because a target
        on several networks has a name on each, and only its home address is the one whose allowlist admits the
        proxy (a VIP target stays a name: a network alias any live member answers)."""
        def address(target: str) -> str:
            return target if self.vip(target) else self.host(target).address
        return [[r.path, r.port, [[t, address(t)] for t in r.targets]] + ([r.timeout] if r.timeout else [])
                for r in self.host(host_name).routes]

    def hosts_with(self, role: str) -> list[Host]:
        return [h for h in self.hosts if role in h.roles]

    @property
    def roles(self) -> list[str]:
        return sorted({r for h in self.hosts for r in h.roles})

    @property
    def network_flows(self) -> list[Flow]:
        return [f for f in self.flows if not f.local]
