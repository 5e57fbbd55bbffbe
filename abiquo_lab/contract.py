"""The contract: facts every stage and command shares, defined once here and imported everywhere else.

Label and tag keys (the single truth of which lab owns a Docker object or an AWS resource: teardown, inspection
and the reaper work from them alone), the project and config names, how ports and port spans are written and
read, time stamps and expiry, the world's CIDRs, the frontend's listener ports, and the project's error types
with their exit statuses. Pure Python: no Pulumi, no catalog.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Optional

# ---- names ------------------------------------------------------------------------------------------------
PROJECT = "abiquo-lab"                       # Pulumi.yaml's project name
CONFIG_LAB = "lab"                           # the stack's lab settings (CONFIG_KEY with the project prefix)
CONFIG_EXPIRES_AT = "expiresAt"              # further stack config the program reads (without the project prefix)
CONFIG_MANAGED_BY = "managedBy"
CONFIG_CREATED_AT = "createdAt"              # written by `labctl up` (lifecycle)
CONFIG_TEMPLATE = "template"
CONFIG_OWNER = "owner"
COMPONENT_PREFIX = "abiquo:lab:"             # type tokens of the project's components
LAB_TYPE = f"{COMPONENT_PREFIX}Lab"


def config_key(name: str) -> str:
    """`expiresAt` -> `abiquo-lab:expiresAt`."""
    return f"{PROJECT}:{name}"


CONFIG_KEY = config_key(CONFIG_LAB)


# ---- label / tag keys ------------------------------------------------------------------------------------------
LABEL_PREFIX = PROJECT


def label(suffix: str) -> str:
    return f"{LABEL_PREFIX}.{suffix}"


LAB = label("lab")
STACK = label("stack")
ROLE = label("role")
ROLES = label("roles")
HOST = label("host")
ZONE = label("zone")
DATACENTER = label("datacenter")
REGION = label("region")
OWNER = label("owner")
EXPIRES_AT = label("expires-at")
TTL = label("ttl")
ALLOWLIST = label("allowlist")
ROUTES = label("routes")
TIER = label("tier")                         # AWS subnets: public | private
MANAGED = label("managed")                   # "true" on everything the project makes
MANAGED_BY = label("managed-by")             # who made it: MANAGED_BY_PULUMI or MANAGED_BY_REALIZE
INSTANCE = label("instance")                 # one realization of a lab: every object `labctl realize` makes at once
FAULT = label("fault")                       # a fault in force (labctl fault): its kind, on a labelled volume
FAULT_TARGET = label("fault-target")         # what the fault hits: JSON list of its arguments
FAULT_SINCE = label("fault-since")           # when the fault was injected (STAMP_FORMAT)
MANAGED_BY_PULUMI, MANAGED_BY_REALIZE = "pulumi", "realize"
LIFECYCLE = (LAB, OWNER, EXPIRES_AT)         # what the reaper needs on every taggable resource
UNSET = "unset"                              # expires-at when no TTL was given

# ---- network facts --------------------------------------------------------------------------------------------
WORLD = ("0.0.0.0/0", "::/0")                # "anyone", IPv4 and IPv6
FRONTEND_ZONE = "frontend"                   # the catalog zone that holds the public entry points (and nothing else)
HTTPS_PORT, HTTP_PORT = 443, 80              # the frontend's listeners (A02, A01: HTTP only redirects to HTTPS)
FRONTEND_PORTS = {HTTPS_PORT: "https_port", HTTP_PORT: "http_port"}   # listener port -> Docker publish setting
PROTOCOL_NUMBERS = {"tcp": "tcp", "udp": "udp", "vrrp": "112"}   # as security-group rules write them
ALLOWLIST_CAPABILITIES = ("NET_ADMIN",)      # what every lab container adds to apply its nftables allowlist
ALLOW_ENV = "LAB_ALLOW"                      # the node setting its entrypoint enforces (the label ALLOWLIST shows it)


def port_span(port: Optional[int], port_end: Optional[int] = None, none: str = "-") -> str:
    """'8009', '5900-5999', or `none` for protocols without ports: how flows, allowlists and rule names write ports."""
    if port is None:
        return none
    return str(port) if port_end in (None, port) else f"{port}-{port_end}"


def parse_span(text: Optional[str]) -> tuple[Optional[int], Optional[int]]:
    """The inverse of port_span: '8009' -> (8009, 8009), '5900-5999' -> (5900, 5999), '-' or '' -> (None, None).
    Raises ValueError naming the text when it is neither."""
    if text in ("-", "", None):
        return None, None
    start, sep, end = str(text).partition("-")
    if not start.isdigit() or (sep and not end.isdigit()):
        raise ValueError(f"port span {text!r} is not a number, 'a-b' or '-'")
    return int(start), int(end or start)


def protocol_port(item: str) -> tuple[str, Optional[int], Optional[int]]:
    """'tcp/5900-5999' -> ('tcp', 5900, 5999): how listen ports and served ports are written."""
    protocol, _, span = item.partition("/")
    return (protocol, *parse_span(span))


# ---- time --------------------------------------------------------------------------------------------------------
STAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
MAX_TTL = timedelta(days=365)
_TTL_RE = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?$")


def now() -> datetime:
    return datetime.now(timezone.utc)


def stamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime(STAMP_FORMAT)


def parse_stamp(text: Optional[str]) -> Optional[datetime]:
    try:
        return datetime.strptime(text, STAMP_FORMAT).replace(tzinfo=timezone.utc)
    except (TypeError, ValueError):
        return None


def parse_ttl(text: str) -> timedelta:
    m = _TTL_RE.match(text.strip()) if isinstance(text, str) else None
    if not m or not any(m.groups()):
        raise ValueError(f"{text!r} is not a duration; use days/hours/minutes like '4h', '90m', '2d', '1h30m'")
    days, hours, minutes = (int(g or 0) for g in m.groups())
    try:
        value = timedelta(days=days, hours=hours, minutes=minutes)
    except OverflowError:
        value = MAX_TTL * 2
    if value <= timedelta(0):
        raise ValueError("must be longer than zero")
    if value > MAX_TTL:
        raise ValueError(f"{text!r} is longer than a lab may live ({MAX_TTL.days}d)")
    return value


def expiry(ttl: str, start: Optional[datetime] = None) -> str:
    return stamp((start or now()) + parse_ttl(ttl))


# ---- errors and exit statuses ----------------------------------------------------------------------------------
EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
EXIT_MISSING_TOOL = 3                        # a tool the command needs is not installed (the Pulumi CLI)


class LabError(Exception):
    """Any error the project reports to a user: a clear message and an exit status, never a traceback."""
    exit_code = EXIT_FAIL


class InputError(LabError, ValueError):
    """Bad input (a stack file, a setting, an argument, the catalog): found before anything is created."""
    exit_code = EXIT_USAGE


def labctl_home():
    """Where labctl keeps its own files (lab workspaces, state, locks): ABIQUO_LAB_HOME, else ~/.abiquo-lab."""
    import os
    from pathlib import Path
    return Path(os.environ.get("ABIQUO_LAB_HOME", "~/.abiquo-lab")).expanduser()
