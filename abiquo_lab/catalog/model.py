"""Pydantic models of the catalog file, with the cross-checks that make a broken catalog fail at load."""
from __future__ import annotations

import re
from typing import Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


LAYOUTS = ("monolithic", "distributed", "ha")
BACKENDS = ("docker", "aws")
# Facts every lab has; the catalog adds <kind>_nodes, <kind>_cluster for its node kinds and its colocations
# (Catalog.fact_names). The lab spec computes them (abiquo_lab.labspec.validate).
BASE_FACTS = {"layout": LAYOUTS, "backend": BACKENDS, "version": "version", "datacenters": "int", "regions": "int"}  # name -> type
PROTOCOLS = ("tcp", "udp", "vrrp")
# The protocol clients verify can speak (labctl/live/probe.py implements each; a test holds it to this list).
# "reach": the firewall passes it, a listener may come and go (Galera IST/SST, the ZooKeeper leader's port): a
# connection or a refusal passes, silence fails.
PROBE_CLIENTS = ("agent", "echo", "tcp", "reach", "http", "https", "redis", "mysql", "amqp", "zk", "nfs", "rpcbind", "ajp")
# The application protocol a service speaks on its ports (Service.speaks): what the role agent answers where it stands
# in for the software (http: a one-line HTTP 200; ajp: an AJP13 CPong to a CPing), and so what verify probes there.
SPEAKS = ("http", "ajp")
AGENT_CLIENTS = {"http": "agent", "ajp": "ajp"}     # the probe client for the agent's answer in each protocol
# What the lab's proxies speak to the roles behind them: HAProxy (Docker) and the AWS ALB speak HTTP only, so an edge
# from a proxying role to a service that speaks anything else says which HTTP service the lab uses instead (realized).
PROXY_SPEAKS = ("http",)
# How a VIP's proxy tells which members may take traffic (images/node/lab-agent renders each as HAProxy checks):
#   tcp a connect; amqp the AMQP greeting; redis-master Redis answering role:master (one at a time);
#   galera a Galera node Synced and ready (wsrep_local_state 4, wsrep_ready ON), one writer at a time.
VIP_CHECKS = ("tcp", "amqp", "redis-master", "galera")
PUBLISHED, LOAD_BALANCER = EXPOSURES = ("published", "load-balancer")   # ports on the host | the cloud's load balancer
_PORT_RE = re.compile(r"^(?:(\d+)(?:-(\d+))?|\$([a-z_][a-z0-9_]*))$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def parse_port(item: Union[int, str]) -> tuple[Optional[int], Optional[int], Optional[str]]:
    """`443` -> (443, 443, None); `"5900-5999"` -> (5900, 5999, None); `"$aim_port"` -> (None, None, 'aim_port')."""
    m = _PORT_RE.match(str(item).strip())
    if not m:
        raise ValueError(f"port {item!r} is not a number, a range 'a-b' or a '$switch'")
    if m.group(3):
        return None, None, m.group(3)
    start = int(m.group(1))
    end = int(m.group(2) or start)
    if not (1 <= start <= end <= 65535):
        raise ValueError(f"port {item!r} out of range 1-65535 or reversed")
    return start, end, None


class VipBackend(Strict):
    """Where a VIP's proxy sends a service's traffic on each member, and how it picks the members that may take it."""
    port: str                            # '6379/tcp': the port the software holds on every member
    check: Literal[VIP_CHECKS]


class Service(Strict):
    name: str
    ports: list[str]
    software: str = ""
    enabled_when: Optional[str] = None
    start: Optional[str] = Field(None, pattern=r"^[a-z][a-z0-9_]*$")   # the node image's start hook (start_<hook>)
    holds: list[str] = []                # ports the real software binds; the role agent answers the others
    clients: dict[str, Literal[PROBE_CLIENTS]] = {}   # verify's protocol client per held port
    datastore: bool = False              # holds data: never published to the host or the world
    vip_backend: Optional["VipBackend"] = None   # reached through its role's VIP: the proxy's backend port and check
    speaks: Literal[SPEAKS] = "http"     # its application protocol (SPEAKS): the role agent answers that way where it stands in

    @field_validator("ports", "holds")
    @classmethod
    def _ports(cls, value: list[str]) -> list[str]:
        for item in value:
            port, _, proto = item.partition("/")
            parse_port(port)
            if proto not in PROTOCOLS:
                raise ValueError(f"{item!r}: protocol must be one of {', '.join(PROTOCOLS)}")
        return value

    @model_validator(mode="after")
    def _holds_what_it_serves(self) -> "Service":
        if self.holds and not self.start:
            raise ValueError("holds needs start: only software the node starts can hold a port")
        stray = [p for p in self.holds if p not in self.ports]
        if stray:
            raise ValueError(f"holds {', '.join(stray)}, which ports does not list ({', '.join(self.ports)})")
        unheld = [p for p in self.clients if p not in self.holds]
        if unheld:
            raise ValueError(f"clients for {', '.join(unheld)}, which the service does not hold ({', '.join(self.holds) or 'none'})")
        return self


class Role(Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9-]*$")
    title: str
    aliases: list[str] = []
    description: str
    scope: Optional[Literal["global", "datacenter", "region"]] = None
    zone: Optional[str] = None
    public: bool = False
    external: bool = False
    component: Optional[str] = None
    frontend_path: Optional[str] = None   # where a proxying role (proxy: true) routes to this role
    frontend_also: list[str] = []         # more paths the proxy sends to it the same way (the API's /legal, A09)
    frontend_path_per_site: bool = False  # one path per datacenter/region: the first site's is frontend_path, the
                                          # others' frontend_path-<site> (the docs' /am, /am-barcelona), to that site only
    proxy_timeout: Optional[int] = Field(None, ge=1, le=4000)   # seconds the proxy waits for it (the docs' 1800 for /am)
    proxy: bool = False                   # forwards other roles' frontend paths (routes from its flows)
    world: bool = False                   # outside the lab: flows from it are public ingress (users)
    enabled_when: Optional[str] = None
    capabilities: list[str] = []          # Linux capabilities its containers add (beyond NET_ADMIN for the allowlist)
    tmpfs: dict[str, str] = {}            # mount point -> tmpfs options
    exposure: dict[Literal[BACKENDS], Literal[EXPOSURES]] = {}   # how a public role is reached, per backend
    sources: list[str] = []
    services: list[Service] = []

    @field_validator("capabilities")
    @classmethod
    def _capability_names(cls, value: list[str]) -> list[str]:
        bad = [c for c in value if not re.match(r"^[A-Z][A-Z_]*$", c)
               or c.removeprefix("CAP_") in ("ALL", "SYS_MODULE", "SYS_RAWIO", "SYS_ADMIN_ALL")]
        if bad:
            raise ValueError(f"{', '.join(bad)}: name capabilities one by one (no ALL, no kernel-module or raw I/O)")
        return value

    @model_validator(mode="after")
    def _internal_roles_have_zone(self) -> "Role":
        if not self.external and (self.scope is None or self.zone is None):
            raise ValueError("a role inside the lab needs a scope and a zone")
        if self.world and not self.external:
            raise ValueError("world: true is for a role outside the lab (where public ingress comes from)")
        if not self.external and self.public != bool(self.exposure):
            raise ValueError("a public role says how each backend exposes it (exposure: {docker: published, aws: "
                             "load-balancer}); a private role has no exposure")
        return self

    def served(self) -> list[tuple[str, str]]:
        """(protocol, port item) of every service, as written ('443', '5900-5999', '$redis_port')."""
        return [(item.partition("/")[2], item.partition("/")[0]) for svc in self.services for item in svc.ports]


class Zone(Strict):
    name: str
    kind: Literal["global", "datacenter", "region"]
    description: str


class HostRole(Strict):
    role: str
    when: Optional[str] = None


class HostTemplate(Strict):
    kind: str = Field(pattern=r"^[a-z][a-z0-9]*$")
    zone: str
    count: Optional[str] = None                        # how many (per site when `per` is given; default 1)
    per: Optional[Literal["datacenter", "region"]] = None   # one set of hosts in every datacenter / region
    when: Optional[str] = None
    primary: Optional[str] = None      # the role whose component creates the host (default: the first role)
    roles: list[Union[str, HostRole]]

    @model_validator(mode="after")
    def _count_or_per(self) -> "HostTemplate":
        if self.count is None and self.per is None:
            raise ValueError("give count (a number or a *_nodes fact), per (datacenter|region), or both (count hosts "
                             "in every datacenter / region)")
        return self

    def host_roles(self) -> list[HostRole]:
        return [HostRole(role=r) if isinstance(r, str) else r for r in self.roles]


class NodeCount(Strict):
    """How many hosts of one scalable kind a layout makes, and what a stack may ask for."""
    default: int = Field(ge=1)
    min: int = Field(1, ge=1)
    max: Optional[int] = None              # default: the catalog's max_nodes
    fixed: bool = False                    # the layout has exactly `default`
    below_min: Optional[str] = None        # a hint for a stack that asks for fewer than `min`
    quorum: bool = False                   # a majority-quorum cluster (Galera, ZooKeeper, Sentinel): 1 or an odd count

    @model_validator(mode="after")
    def _default_in_bounds(self) -> "NodeCount":
        if self.default < self.min or (self.max is not None and self.default > self.max):
            raise ValueError(f"default {self.default} is outside min {self.min} .. max {self.max}")
        return self


class Layout(Strict):
    description: str
    sources: list[str] = []
    nodes: dict[str, NodeCount]            # node kind -> count; facts <kind>_nodes, <kind>_cluster
    hosts: list[HostTemplate]


class Colocation(Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    default: bool
    question: Optional[int] = None         # the spec's open question it answers, if any
    evidence: Optional[str] = Field(None, min_length=1)   # the documentation the choice rests on
    description: str
    follows: dict[str, str] = {}           # with the choice on, node kind -> the kind whose count it takes


class Constraint(Strict):
    """A rule a lab's settings must keep: `when` true is a problem at `field` (the message may name facts)."""
    when: str
    field: str
    message: str


class Vip(Strict):
    name: str
    role: str
    when: str
    holder: str = Field(pattern=r"^[a-z][a-z0-9_]*$")   # the start hook that holds the address (keepalived, VRRP)
    proxy: str = Field(pattern=r"^[a-z][a-z0-9_]*$")    # the start hook forwarding the role's vip_backend services
    description: str
    sources: list[str] = []


class Switch(Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    type: Literal["bool", "int", "enum"]
    default: Union[bool, int, str]
    allowed: list[str] = []
    question: Optional[int] = None
    evidence: Optional[str] = Field(None, min_length=1)   # the documentation (rows, sources, open question) it rests on
    description: str

    @model_validator(mode="after")
    def _enum_has_allowed(self) -> "Switch":
        if self.type == "enum" and self.default not in self.allowed:
            raise ValueError(f"enum default {self.default!r} not in allowed {self.allowed}")
        return self

    @property
    def default_is_expression(self) -> bool:
        return self.type == "bool" and isinstance(self.default, str)


def _parsed_ports(value: list[Union[int, str]]) -> list[Union[int, str]]:
    """Every item a port or span parse_port accepts (it raises naming the bad one)."""
    for item in value:
        parse_port(item)
    return value


class Realized(Strict):
    """How the lab realizes an edge it cannot realize as documented: another service (and port) of the same role."""
    service: str                          # a service of the edge's destination role that serves `ports`
    ports: list[Union[int, str]]
    why: str                              # shown by `labctl explain` beside the documented port

    _ports = field_validator("ports")(classmethod(lambda cls, value: _parsed_ports(value)))


class Edge(Strict):
    from_: str = Field(alias="from")
    to: str
    service: Optional[str] = None
    ports: list[Union[int, str]]
    protocols: list[Literal["tcp", "udp", "vrrp"]]
    when: Optional[str] = None
    placement: Literal["any", "same_host", "cross_host"] = "any"
    via_when: Optional[str] = None
    note: Optional[str] = None
    realized: Optional[Realized] = None   # the lab uses this service and port instead of the documented ones (and why)

    _ports = field_validator("ports")(classmethod(lambda cls, value: _parsed_ports(value)))

    @field_validator("protocols")
    @classmethod
    def _some_protocol(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("an edge needs at least one protocol (tcp, udp or vrrp)")
        return value

    @model_validator(mode="after")
    def _vrrp_has_no_ports(self) -> "Edge":
        if ("vrrp" in self.protocols) != (not self.ports):
            raise ValueError("vrrp (IP protocol 112) edges have no ports; port-based edges need ports")
        return self


class DocText(Strict):
    """The spec's own words for the row, kept verbatim so users can see what was encoded."""
    from_: str = Field(alias="from")
    to: str
    port: str
    proto: str
    req_opt: str
    condition: str


class Connection(Strict):
    id: str = Field(pattern=r"^[A-Z]\d{2}$")
    purpose: str
    evidence: str
    sources: list[str]
    doc: DocText
    required: Optional[bool] = None
    edges: list[Edge] = []
    excluded: Optional[str] = None

    @model_validator(mode="after")
    def _encoded_or_excluded(self) -> "Connection":
        if self.excluded is not None:
            if self.edges or self.required is not None:
                raise ValueError("an excluded row has a reason only, no edges and no required flag")
        elif not self.edges or self.required is None:
            raise ValueError("an encoded row needs edges and required: true|false (or excluded: <reason>)")
        return self

    @property
    def evidence_class(self) -> str:
        """DOC, DOC-P, CODE or INF: the leading class of the evidence text."""
        if self.id.startswith("B"):
            return "INF"
        head = self.evidence.split()[0]
        return head if head in ("DOC", "DOC-P", "CODE") else "DOC"
