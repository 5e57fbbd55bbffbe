"""The Docker renderer: one network per zone, the node image, and one container per host of the plan.

Every container enforces a default-deny inbound allowlist (nftables in its entrypoint, NET_ADMIN only) derived
from the plan, shows the same allowlist as a label, runs with an init process, and is healthy only when its
services accept connections. Every object carries the lab's labels.
"""
from __future__ import annotations

import ipaddress
import json
from typing import Optional

import pulumi
import pulumi_docker as docker
import pulumi_random as random

from abiquo_lab import contract
from abiquo_lab.plan import Host

from .nodes import NODE_IMAGE_DIR, LabArgs, host_allow_rules, host_labels, lab_labels, node_env

BASE_CAPABILITIES = list(contract.ALLOWLIST_CAPABILITIES)   # nftables allowlist at start; roles add theirs (runtime)


class DockerBackend:
    """The Docker renderer: a network per zone network of the plan, the node image, a container per host."""

    def __init__(self, name: str, args: LabArgs, opts: pulumi.ResourceOptions):
        self.name, self.args, self.plan, self.opts = name, args, args.plan, opts
        self.settings = args.spec.spec.docker_settings
        self.base_labels = lab_labels(args)
        self.networks = {z.name: self._network(z) for z in self.plan.zones}
        self.image = self._image()
        self.db_password = random.RandomPassword(f"{name}-db-password", length=24, special=False, opts=self.opts)
        brokers = [h for h in self.plan.hosts if "rabbitmq" in h.runtime.start]
        self.erlang_cookie = random.RandomPassword(      # the RabbitMQ cluster's shared secret
            f"{name}-erlang-cookie", length=32, special=False, upper=True, lower=False, numeric=False,
            opts=self.opts) if len(brokers) > 1 else None
        self._endpoints: dict[str, str] = {}

    # ---- shared objects -------------------------------------------------------------------------
    def _network(self, zone) -> docker.Network:
        return docker.Network(
            f"{self.name}-net-{zone.name}",
            name=f"{self.plan.lab}-{zone.name}",
            driver="bridge",
            internal=zone.zone != contract.FRONTEND_ZONE,          # only the frontend network reaches the host's published ports
            ipam_configs=[docker.NetworkIpamConfigArgs(subnet=zone.cidr, gateway=_gateway(zone.cidr),
                                                       aux_address=self._reserved(zone.name))],
            labels=_label_args(docker.NetworkLabelArgs, {**self.base_labels, contract.ZONE: zone.name,
                                                         contract.DATACENTER: zone.site if zone.kind == "datacenter" else "",
                                                         contract.REGION: zone.site if zone.kind == "region" else ""}),
            opts=self.opts)

    def _reserved(self, zone: str) -> Optional[dict[str, str]]:
        """The zone's VIP addresses, reserved in Docker's IPAM: never handed to a container (keepalived holds them)."""
        return {vip.name: vip.address for vip in self.plan.vips if vip.zone == zone} or None

    def _image(self) -> docker.Image:
        return docker.Image(
            f"{self.name}-node-image",
            image_name=f"abiquo-lab-node:{self.plan.lab}",
            build=docker.DockerBuildArgs(
                context=str(NODE_IMAGE_DIR), dockerfile=str(NODE_IMAGE_DIR / "Dockerfile"),
                builder_version=docker.BuilderVersion.BUILDER_V1,
                args={"BASE_IMAGE": self.settings.base_image, "LAB": self.plan.lab, "STACK": self.args.stack}),
            skip_push=True, opts=self.opts)

    # ---- one host ------------------------------------------------------------------------------
    def host(self, resource_name: str, host: Host, opts: pulumi.ResourceOptions) -> docker.Container:
        rules = host_allow_rules(self.plan, host)
        env = node_env(self.plan, host, rules)
        container_labels = {**self.base_labels, **host_labels(host), contract.ZONE: host.zone,
                            contract.ALLOWLIST: env[contract.ALLOW_ENV], contract.ROUTES: env["LAB_ROUTES"]}
        image = self.settings.images.get(host.primary) or self.image.image_name
        published = self._published(host)
        https = next((p.external for p in published or [] if p.internal == 443), None)
        container = docker.Container(
            resource_name,
            name=f"{self.plan.lab}-{host.name}",
            hostname=host.name,
            image=image,
            init=True,
            restart="unless-stopped",
            destroy_grace_seconds=2,
            capabilities=docker.ContainerCapabilitiesArgs(adds=self._capabilities(host)),
            tmpfs=self._tmpfs(host),
            networks_advanced=[docker.ContainerNetworksAdvancedArgs(
                name=self.networks[zone].name, ipv4_address=address, aliases=self._aliases(host, zone))
                for zone, address in host.interfaces.items()],
            ports=published,
            envs=[*(f"{key}={value}" for key, value in env.items()),
                  *([f"LAB_HTTPS_PORT={https}"] if https else []),       # where HTTP redirects to, seen from outside
                  pulumi.Output.secret(pulumi.Output.concat("LAB_DB_PASSWORD=", self.db_password.result)),  # secret end to end
                  *([pulumi.Output.secret(pulumi.Output.concat("LAB_ERLANG_COOKIE=", self.erlang_cookie.result))]
                    if self.erlang_cookie and "rabbitmq" in host.runtime.start else [])],
            hosts=[docker.ContainerHostArgs(host=vip.name, ip=vip.address) for vip in self.plan.vips] or None,  # one address
            sysctls={"net.ipv4.ip_nonlocal_bind": "1"} if self.plan.vips_of(host.name) else None,  # the proxy binds the VIP
            labels=_label_args(docker.ContainerLabelArgs, container_labels),
            # every 2 s: each check is an exec in the container, and an HA lab has 16 of them on 2 cores
            healthcheck=docker.ContainerHealthcheckArgs(tests=["CMD", "/usr/local/bin/lab-health"], interval="2s",
                                                        timeout="5s", retries=90, start_period="2s"),
            wait=True, wait_timeout=300,
            opts=opts)
        return container

    def _capabilities(self, host: Host) -> list[str]:
        return sorted(set(BASE_CAPABILITIES + host.runtime.capabilities))

    def _tmpfs(self, host: Host) -> Optional[dict[str, str]]:
        return dict(host.runtime.tmpfs) or None

    def _aliases(self, host: Host, zone: str) -> list[str]:
        return [host.name]        # a VIP's name is in every container's hosts file: its one address, not the members

    def _published(self, host: Host) -> Optional[list[docker.ContainerPortArgs]]:
        """The ports the plan publishes for the host (Host.published), on the publish address."""
        for item in host.published:
            if item.setting == "https_port":
                self._endpoints[host.name] = f"https://{self.settings.publish_address}:{item.external}"
        return [docker.ContainerPortArgs(internal=item.internal, external=item.external, ip=self.settings.publish_address,
                                         protocol=item.protocol) for item in host.published] or None

    def finish(self) -> None:
        """Nothing waits for all hosts on Docker."""

    def endpoints(self) -> dict[str, str]:
        return dict(self._endpoints)

    def host_addresses(self) -> dict[str, str]:
        return {h.name: h.address for h in self.plan.hosts}       # the plan's own addresses


def _label_args(cls, mapping: dict[str, str]) -> list:
    return [cls(label=k, value=v) for k, v in sorted(mapping.items())]


def _gateway(cidr: str) -> str:
    return str(ipaddress.ip_network(cidr).network_address + 1)
