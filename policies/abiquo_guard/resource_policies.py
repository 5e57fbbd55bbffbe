"""Resource policies: one resource at a time (instances, listeners, containers)."""
from __future__ import annotations

from typing import Any, Callable, Optional

from abiquo_lab.catalog import default_catalog

Report = Callable[[str, Optional[str]], None]
ALL_INTERFACES = (None, "", "0.0.0.0", "::")


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


def container_not_privileged(type_: str, props: Any, name: str, report: Report) -> None:
    if type_ == "docker:index/container:Container" and props.get("privileged") is True:
        report(f"container '{name}' is privileged: drop privileged and add only the capabilities it needs", None)


def container_not_host_network(type_: str, props: Any, name: str, report: Report) -> None:
    if type_ == "docker:index/container:Container" and props.get("networkMode") == "host":
        report(f"container '{name}' uses the host network: attach it to the lab's zone networks instead", None)


def no_datastore_published(type_: str, props: Any, name: str, report: Report) -> None:
    if type_ != "docker:index/container:Container":
        return
    for p in props.get("ports") or []:
        internal = int(p.get("internal", 0))
        service = default_catalog().datastore_ports().get((p.get("protocol") or "tcp", internal))
        if service and p.get("ip") in ALL_INTERFACES:
            report(f"container '{name}' publishes {service} (port {internal}) on all interfaces: "
                   "datastores stay on the lab's internal networks", None)
