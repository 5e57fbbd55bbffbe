"""Stage 2, the lab spec: what one stack asks for, as pydantic models (shape only; meaning in validate.py)."""
from __future__ import annotations

import ipaddress
import re
from datetime import timedelta
from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, field_validator

from ..catalog.model import BACKENDS, LAYOUTS, parse_port
from ..contract import parse_ttl

NAME = r"^[a-z][a-z0-9-]{0,23}$"
OWNER = r"^[A-Za-z0-9._@-]{1,64}$"
# The patterns in words, for error messages (a user should not have to read a regular expression)
PATTERN_WORDS = {NAME: "lowercase letters, digits and '-', starting with a letter, at most 24 characters",
                 OWNER: "letters, digits and . _ @ -, 1 to 64 characters (no spaces)"}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DockerSettings(Strict):
    base_image: str = "debian:bookworm-slim"
    publish_address: str = "127.0.0.1"       # where the frontend's published ports listen on the host
    https_port: StrictInt = Field(8443, ge=1, le=65535)
    http_port: StrictInt = Field(8080, ge=1, le=65535)
    images: dict[str, str] = {}              # role -> image, to replace a role's image with a real appliance

    @field_validator("publish_address")
    @classmethod
    def _address(cls, value: str) -> str:
        ipaddress.ip_address(value)
        return value


class AwsSettings(Strict):
    region: str = "eu-west-1"
    availability_zones: int = Field(2, ge=2, le=6)
    nat_gateways: Literal["none", "one", "per_az"] = "one"
    ami: Optional[str] = None
    instance_types: dict[str, str] = {}
    default_instance_type: str = "t3.medium"
    certificate_arn: Optional[str] = None
    bootstrap_egress: list[str] = ["0.0.0.0/0:443"]   # what instances need to install packages / reach SSM


EXTRA_PROTOCOLS = ("tcp", "udp")
PORT_WORDS = "a port 1-65535 or a span 'a-b' (e.g. 8443 or 5900-5999)"
MAX_EXTRA_SPAN = 1000          # ports one declared span may open (the catalog's widest, VNC's 5900-5999, has 100)
MAX_EXTRA_FLOWS = 32           # entries a stack may declare: a few vendor ports, not a second catalog
MAX_REASON = 200               # characters of a reason: one line in the plan text and every view


class ExtraFlow(Strict):
    """A flow the stack declares beyond the catalog (B23: "add the vendor's port as an extra flow in the stack"):
    source and destination are role names or host names of the plan (checked when the lab is planned)."""
    source: str = Field(min_length=1)
    destination: str = Field(min_length=1)
    port: Union[StrictInt, str]
    protocol: Literal[EXTRA_PROTOCOLS]
    reason: str = Field(min_length=1)

    @field_validator("port", mode="before")
    @classmethod
    def _port_type(cls, value: Any) -> Any:
        """A number or a text, nothing else (YAML's 8443.0, true, null or a list): one message, not one per type."""
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise ValueError(f"must be {PORT_WORDS}")
        return value

    @field_validator("port")
    @classmethod
    def _port(cls, value: Union[int, str]) -> Union[int, str]:
        try:
            start, end, ref = parse_port(value)
        except ValueError:
            ref = "bad"
        if ref:
            raise ValueError(f"must be {PORT_WORDS}")
        if end - start + 1 > MAX_EXTRA_SPAN:
            raise ValueError(f"a span opens at most {MAX_EXTRA_SPAN} ports (this one {end - start + 1}); declare the "
                             "ports the vendor documents")
        return value

    @field_validator("reason")
    @classmethod
    def _reason(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must say why the stack needs the flow")
        if len(value) > MAX_REASON or not value.isprintable():
            raise ValueError(f"must be one line of at most {MAX_REASON} printable characters (it is printed in the "
                             "plan and its views)")
        return value

    @property
    def ports(self) -> tuple[int, int]:
        start, end, _ = parse_port(self.port)
        return start, end


class LabSpec(Strict):
    name: str = Field(pattern=NAME)
    backend: Literal[BACKENDS]                # the catalog model's names: one definition
    layout: Literal[LAYOUTS]
    version: str = Field("6.1", pattern=r"^\d+\.\d+(\.\d+)?$")
    nodes: dict[str, Optional[StrictInt]] = {}   # node kind -> count (kinds and defaults from the catalog's layout)
    colocate: dict[str, StrictBool] = {}         # co-location choice -> on/off (names and defaults from the catalog)
    datacenters: list[str] = ["dc1"]
    regions: list[str] = []
    switches: dict[str, Any] = {}            # each value checked against its switch's type (validate._switches): one message
    extra_flows: list[ExtraFlow] = []        # flows the stack declares beyond the catalog (ids X1, X2, ...)
    address_pool: str = "10.90.0.0/16"
    zone_prefix: int = Field(24, ge=16, le=28)
    subnets: dict[str, str] = {}             # zone network name -> CIDR, overriding the carve-out
    owner: str = Field("unknown", pattern=OWNER)
    ttl: str = "8h"
    docker: Optional[DockerSettings] = None
    aws: Optional[AwsSettings] = None

    @field_validator("datacenters", "regions")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        for item in value:
            if not isinstance(item, str) or not re.match(r"^[a-z][a-z0-9-]{0,15}$", item):
                raise ValueError(f"{item!r} is not a name (lowercase letters, digits, '-'; up to 16, starting with a letter)")
        return value

    @property
    def ttl_delta(self) -> timedelta:
        return parse_ttl(self.ttl)

    @property
    def docker_settings(self) -> DockerSettings:
        return self.docker or DockerSettings()

    @property
    def aws_settings(self) -> AwsSettings:
        return self.aws or AwsSettings()
