"""Resource policies: one resource at a time (instances, listeners, containers)."""
from __future__ import annotations

import posixpath
from typing import Any, Callable, Optional

from abiquo_lab.catalog import default_catalog

from .inventory import D_CONTAINER, container_settings

Report = Callable[[str, Optional[str]], None]
ALL_INTERFACES = (None, "", "0.0.0.0", "::")
DOCKER_SOCKETS = ("/var/run/docker.sock", "/run/docker.sock")
UNCONFINED = {"seccomp=unconfined", "apparmor=unconfined", "systempaths=unconfined", "label=disable"}


def _get(props: Any, *path: str) -> Any:
    for key in path:
        props = props.get(key) if hasattr(props, "get") else None
        if props is None:
            return None
    return props


def instance_imdsv2(type_: str, props: Any, name: str, report: Report) -> None:
    if type_ == "aws:ec2/instance:Instance" and _get(props, "metadataOptions", "httpTokens") != "required":
        report(f"instance '{name}' allows IMDSv1: set metadata_options.http_tokens = 'required'", None)


def instance_encrypted_volumes(type_: str, props: Any, name: str, report: Report) -> None:
    if type_ == "aws:ec2/instance:Instance":
        if _get(props, "rootBlockDevice", "encrypted") is not True:
            report(f"instance '{name}' has an unencrypted root volume: set root_block_device.encrypted = True", None)
        for i, dev in enumerate(_get(props, "ebsBlockDevices") or []):
            if dev.get("encrypted") is not True:
                report(f"instance '{name}' EBS volume {i} is unencrypted: set encrypted = True", None)
    if type_ == "aws:ebs/volume:Volume" and props.get("encrypted") is not True:
        report(f"EBS volume '{name}' is unencrypted: set encrypted = True", None)


def instance_no_public_ip(type_: str, props: Any, name: str, report: Report) -> None:
    if type_ == "aws:ec2/instance:Instance" and props.get("associatePublicIpAddress") is not False:
        report(f"instance '{name}' may get a public IP: set associate_public_ip_address = False (use SSM, not SSH)", None)


def http_redirects_to_https(type_: str, props: Any, name: str, report: Report) -> None:
    if type_ != "aws:lb/listener:Listener" or props.get("protocol") != "HTTP":
        return
    actions = props.get("defaultActions") or []
    if not any(a.get("type") == "redirect" and _get(a, "redirect", "protocol") == "HTTPS" for a in actions):
        report(f"listener '{name}' serves plain HTTP: its default action must redirect to HTTPS", None)


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
