"""Resource policies: one resource at a time (instances, listeners, containers)."""
from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence
from typing import Any, Callable, Optional

from pulumi_policy.proxy import UnknownValueError

from abiquo_lab.catalog import default_catalog

from .inventory import D_CONTAINER, container_settings

Report = Callable[[str, Optional[str]], None]
ALL_INTERFACES = (None, "", "0.0.0.0", "::")
DOCKER_SOCKETS = ("/var/run/docker.sock", "/run/docker.sock")
UNCONFINED = {"seccomp=unconfined", "apparmor=unconfined", "systempaths=unconfined", "label=disable"}


def _get(props: Any, *path: str, unknown: Optional[Callable[[str], None]] = None, default: Any = None) -> Any:
    """props[path...] or None; `default` (after noting the path) when a value is not known in preview."""
    try:
        for key in path:
            props = props.get(key) if isinstance(props, Mapping) else None
            if props is None:
                return None
        return props
    except UnknownValueError:
        (unknown or (lambda p: None))(".".join(path))
        return default


def _list(props: Any, key: str, unknown) -> list[tuple[int, Any]]:
    """A list property's known items (an unknown item is noted and left out)."""
    raw = _get(props, key, unknown=unknown)
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        return []
    found = []
    for i in range(len(raw)):
        try:
            found.append((i, raw[i]))
        except UnknownValueError:
            (unknown or (lambda p: None))(f"{key}[{i}]")
    return found


def _true(value: Any) -> bool:
    """Launch templates write booleans as text ('true')."""
    return value is True or str(value).strip().lower() == "true"


# What launches an instance, and where each carries its hardening settings (the same fields as the instance, or a
# launch template's). A launch template names the instance's settings; an auto-scaling group uses one.
INSTANCE, SPOT = "aws:ec2/instance:Instance", "aws:ec2/spotInstanceRequest:SpotInstanceRequest"
LAUNCH_TEMPLATE, LAUNCH_CONFIG = "aws:ec2/launchTemplate:LaunchTemplate", "aws:ec2/launchConfiguration:LaunchConfiguration"
INSTANCE_LIKE = (INSTANCE, SPOT, LAUNCH_CONFIG)
LAUNCHERS = (*INSTANCE_LIKE, LAUNCH_TEMPLATE)
KIND = {INSTANCE: "instance", SPOT: "spot instance request", LAUNCH_TEMPLATE: "launch template",
        LAUNCH_CONFIG: "launch configuration"}
HTTP_LISTENERS = ("aws:lb/listener:Listener", "aws:alb/listener:Listener")
CLASSIC_ELB = "aws:elb/loadBalancer:LoadBalancer"


def instance_imdsv2(type_: str, props: Any, name: str, report: Report, unknown=None) -> None:
    if type_ not in LAUNCHERS:
        return
    tokens = _get(props, "metadataOptions", "httpTokens", unknown=unknown, default=...)
    if tokens is not ... and tokens != "required":
        report(f"{KIND[type_]} '{name}' allows IMDSv1 (metadataOptions.httpTokens = {tokens!r}): set "
               "metadata_options.http_tokens = 'required'", None)


def instance_encrypted_volumes(type_: str, props: Any, name: str, report: Report, unknown=None) -> None:
    if type_ in INSTANCE_LIKE:
        encrypted = _get(props, "rootBlockDevice", "encrypted", unknown=unknown, default=...)
        if encrypted is not ... and encrypted is not True:
            report(f"{KIND[type_]} '{name}' has an unencrypted root volume (rootBlockDevice.encrypted): set "
                   "root_block_device.encrypted = True", None)
        for i, dev in _list(props, "ebsBlockDevices", unknown):
            value = _get(dev, "encrypted", unknown=lambda p, i=i: (unknown or (lambda q: None))(f"ebsBlockDevices[{i}].{p}"),
                         default=...)
            if value is not ... and value is not True:
                report(f"{KIND[type_]} '{name}' EBS volume ebsBlockDevices[{i}] is unencrypted: set encrypted = True", None)
    if type_ == LAUNCH_TEMPLATE:
        for i, dev in _list(props, "blockDeviceMappings", unknown):
            value = _get(dev, "ebs", "encrypted", unknown=lambda p, i=i: (unknown or (lambda q: None))(
                f"blockDeviceMappings[{i}].{p}"), default=...)
            if value is not ... and not _true(value):
                report(f"launch template '{name}' volume blockDeviceMappings[{i}].ebs.encrypted is not true: set "
                       "encrypted = 'true'", None)
    if type_ == "aws:ebs/volume:Volume":
        value = _get(props, "encrypted", unknown=unknown, default=...)
        if value is not ... and value is not True:
            report(f"EBS volume '{name}' is unencrypted (encrypted): set encrypted = True", None)


def instance_no_public_ip(type_: str, props: Any, name: str, report: Report, unknown=None) -> None:
    if type_ in INSTANCE_LIKE:
        value = _get(props, "associatePublicIpAddress", unknown=unknown, default=...)
        if value is not ... and value is not False:
            report(f"{KIND[type_]} '{name}' may get a public IP (associatePublicIpAddress): set "
                   "associate_public_ip_address = False (use SSM, not SSH)", None)
    if type_ == LAUNCH_TEMPLATE:
        for i, nic in _list(props, "networkInterfaces", unknown):
            value = _get(nic, "associatePublicIpAddress", unknown=lambda p, i=i: (unknown or (lambda q: None))(
                f"networkInterfaces[{i}].{p}"), default=...)
            if value is not ... and _true(value):
                report(f"launch template '{name}' gives a public IP (networkInterfaces[{i}].associatePublicIpAddress): "
                       "set it to 'false' (use SSM, not SSH)", None)


def no_public_address(type_: str, props: Any, name: str, report: Report, unknown=None) -> None:
    """No Elastic IP on a lab machine: an EIP is for the NAT gateway only (it names no instance or interface)."""
    if type_ == "aws:ec2/eip:Eip":
        for key in ("instance", "networkInterface", "associateWithPrivateIp"):
            value = _get(props, key, unknown=unknown, default=...)
            if value not in (None, ""):                  # set, even when not known yet (an instance's ID in preview)
                report(f"Elastic IP '{name}' is associated with a lab machine ({key}): lab machines get no public "
                       f"address; remove {key} (an EIP is for the NAT gateway only)", None)
    if type_ == "aws:ec2/eipAssociation:EipAssociation":
        report(f"EIP association '{name}' gives a lab machine a public address (instanceId/networkInterfaceId): "
               "remove it (an EIP is for the NAT gateway only)", None)


def http_redirects_to_https(type_: str, props: Any, name: str, report: Report, unknown=None) -> None:
    if type_ == CLASSIC_ELB:
        for i, listener in _list(props, "listeners", unknown):
            proto = _get(listener, "lbProtocol", unknown=lambda p, i=i: (unknown or (lambda q: None))(f"listeners[{i}].{p}"))
            if str(proto).upper() == "HTTP":
                report(f"classic load balancer '{name}' serves plain HTTP (listeners[{i}].lbProtocol = {proto}): a "
                       "classic ELB cannot redirect; use an HTTPS listener only", None)
        return
    if type_ not in HTTP_LISTENERS:
        return
    protocol = _get(props, "protocol", unknown=unknown, default=...)
    if protocol is None:
        report(f"listener '{name}' names no protocol (protocol): on an application load balancer that is plain HTTP; "
               "write protocol HTTPS (or TCP on a network load balancer)", None)
        return
    if str(protocol).upper() != "HTTP":                 # the provider takes the protocol in any case
        return
    actions = _list(props, "defaultActions", unknown)
    if not any(_get(a, "type") == "redirect" and _get(a, "redirect", "protocol") == "HTTPS" for _, a in actions):
        report(f"listener '{name}' serves plain HTTP (protocol HTTP, defaultActions): its default action must "
               "redirect to HTTPS", None)


AWS_CHECKS = [("imdsv2", instance_imdsv2), ("encrypted", instance_encrypted_volumes), ("public-ip", instance_no_public_ip),
              ("public-address", no_public_address), ("http", http_redirects_to_https)]


# ---- Docker: what one container's own inputs say (read once, by inventory.container_settings) ------------------
# Each item is judged on its own: one not known in preview is left out here and named by judged-at-update.
def _docker(type_: str, props: Any, unknown: Optional[Callable[[str], None]]):
    if type_ != D_CONTAINER:
        return None
    return container_settings(props, unknown or (lambda path: None))


def container_not_privileged(type_: str, props: Any, name: str, report: Report, unknown=None) -> None:
    settings = _docker(type_, props, unknown)
    if settings is None:
        return
    if settings.privileged:
        report(f"container '{name}' is privileged (property privileged): drop privileged and add only the capabilities "
               "its roles declare", None)
    every = [where for where, cap in settings.capabilities if cap == "ALL"]
    if every:
        report(f"container '{name}' adds every capability ({', '.join(every)} = ALL), which is privileged in all but "
               "name: add only the capabilities its roles declare", None)


def container_not_host_network(type_: str, props: Any, name: str, report: Report, unknown=None) -> None:
    settings = _docker(type_, props, unknown)
    if settings is not None and settings.network_mode == "host":
        report(f"container '{name}' uses the host network (property networkMode = host): attach it to the lab's zone "
               "networks instead", None)


def no_datastore_published(type_: str, props: Any, name: str, report: Report, unknown=None) -> None:
    settings = _docker(type_, props, unknown)
    if settings is None:
        return
    for where, internal, protocol, ip in settings.ports:
        service = default_catalog().datastore_ports().get((protocol, internal))
        if service and ip in ALL_INTERFACES:
            report(f"container '{name}' publishes {service} (port {internal}, {where}) on all interfaces: "
                   "datastores stay on the lab's internal networks; remove the published port", None)
    for where, problem in settings.malformed:
        report(f"container '{name}': {problem}; write the published port as a number", None)


def container_no_host_access(type_: str, props: Any, name: str, report: Report, unknown=None) -> None:
    """No way out to the Docker host: its engine socket (or a folder holding it), its PID or IPC namespace, or
    seccomp/AppArmor switched off."""
    settings = _docker(type_, props, unknown)
    if settings is None:
        return
    for where, path in settings.host_paths:
        if _holds_socket(path):
            report(f"container '{name}' mounts {path} from the host ({where}), which holds the Docker engine's socket: "
                   "whoever reaches the container controls the host; remove the mount", None)
    for what, mode in (("pidMode", settings.pid_mode), ("ipcMode", settings.ipc_mode)):
        if mode == "host":
            report(f"container '{name}' shares the host's {what[:3].upper()} namespace (property {what} = host): "
                   f"remove {what}", None)
    for where, option in settings.security_opts:
        if option.replace(":", "=", 1).strip().lower() in UNCONFINED:
            report(f"container '{name}' runs {option} ({where}): keep Docker's default seccomp and AppArmor profiles; "
                   "remove the option", None)


def _holds_socket(path: str) -> bool:
    """The socket itself or any folder above it (/var/run is a link to /run)."""
    clean = posixpath.normpath("/" + path.strip()).replace("//", "/")
    return any(clean == socket or socket.startswith(clean.rstrip("/") + "/") for socket in DOCKER_SOCKETS)
