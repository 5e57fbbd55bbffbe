"""AWS leftovers of expired labs, found by their tags (Resource Groups Tagging API), reported and -- only when
asked -- deleted in dependency order with boto3. Only resources tagged managed (contract.MANAGED = true) are looked at.
The usual way to remove a lab is `labctl down NAME` (Pulumi); this is for what a lost stack left behind.
IAM roles and instance profiles are global and not listed by the regional tagging API: they are reported by name
pattern only in the README, not touched here.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable, Optional

from abiquo_lab.contract import EXPIRES_AT as EXPIRES
from abiquo_lab.contract import LAB, MANAGED, OWNER, parse_stamp

# (service, resource type) in the order they can be deleted
ORDER = [("elasticloadbalancing", "loadbalancer"), ("ec2", "instance"), ("elasticloadbalancing", "targetgroup"),
         ("ec2", "natgateway"), ("ec2", "elastic-ip"), ("ec2", "security-group"), ("ec2", "subnet"),
         ("ec2", "route-table"), ("ec2", "internet-gateway"), ("ec2", "vpc")]


@dataclass
class Found:
    arn: str
    service: str
    kind: str
    ident: str
    lab: str
    expires: str


@dataclass
class AwsSweep:
    expired: list[Found] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def parse_arn(arn: str) -> tuple[str, str, str]:
    """arn:aws:ec2:eu-west-1:123:vpc/vpc-1 -> ('ec2', 'vpc', 'vpc-1'); ELBv2 keeps the full ARN as the id."""
    parts = arn.split(":", 5)
    service, resource = parts[2], parts[5]
    kind, _, ident = resource.partition("/")
    return service, kind, (arn if service == "elasticloadbalancing" else ident.split("/")[-1])


def find_expired(region: str, at: datetime, owner: Optional[str] = None) -> list[Found]:
    import boto3
    client = boto3.client("resourcegroupstaggingapi", region_name=region)
    found = []
    for page in client.get_paginator("get_resources").paginate(TagFilters=[{"Key": MANAGED, "Values": ["true"]}]):
        for item in page["ResourceTagMappingList"]:
            tags = {t["Key"]: t["Value"] for t in item.get("Tags", [])}
            expires = parse_stamp(tags.get(EXPIRES, ""))
            if expires and expires <= at and (not owner or tags.get(OWNER) == owner):
                service, kind, ident = parse_arn(item["ResourceARN"])
                found.append(Found(item["ResourceARN"], service, kind, ident, tags.get(LAB, "?"), tags[EXPIRES]))
    return found


def delete(region: str, found: list[Found], out: Callable[[str], None] = print, wait_seconds: float = 600) -> AwsSweep:
    import boto3
    from botocore.exceptions import ClientError
    ec2, elb = boto3.client("ec2", region_name=region), boto3.client("elbv2", region_name=region)
    result = AwsSweep(expired=list(found))
    steps = {
        ("elasticloadbalancing", "loadbalancer"): lambda f: elb.delete_load_balancer(LoadBalancerArn=f.ident),
        ("ec2", "instance"): lambda f: _terminate(ec2, f.ident, wait_seconds),
        ("elasticloadbalancing", "targetgroup"): lambda f: elb.delete_target_group(TargetGroupArn=f.ident),
        ("ec2", "natgateway"): lambda f: _delete_nat(ec2, f.ident, wait_seconds),
        ("ec2", "elastic-ip"): lambda f: ec2.release_address(AllocationId=f.ident),
        ("ec2", "security-group"): lambda f: ec2.delete_security_group(GroupId=f.ident),
        ("ec2", "subnet"): lambda f: ec2.delete_subnet(SubnetId=f.ident),
        ("ec2", "route-table"): lambda f: _delete_route_table(ec2, f.ident),
        ("ec2", "internet-gateway"): lambda f: _delete_igw(ec2, f.ident),
        ("ec2", "vpc"): lambda f: ec2.delete_vpc(VpcId=f.ident),
    }
    groups = [f.ident for f in found if (f.service, f.kind) == ("ec2", "security-group")]
    for key in ORDER:
        if key == ("ec2", "security-group"):
            _revoke_all(ec2, groups)          # groups reference each other: empty them before deleting any
        for f in (f for f in found if (f.service, f.kind) == key):
            try:
                steps[key](f)
                result.deleted.append(f.arn)
                out(f"aws: deleted {f.kind} {f.ident} (lab {f.lab}, expired {f.expires})")
            except (ClientError, TimeoutError) as exc:
                result.failed.append(f.arn)
                out(f"aws: could not delete {f.kind} {f.ident}: {exc}; rerun `labctl reap --aws-delete` to retry")
    return result


def _terminate(ec2, instance_id: str, wait_seconds: float) -> None:
    ec2.terminate_instances(InstanceIds=[instance_id])
    _until(lambda: ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]["State"]["Name"]
           == "terminated", wait_seconds)


def _delete_nat(ec2, nat_id: str, wait_seconds: float) -> None:
    ec2.delete_nat_gateway(NatGatewayId=nat_id)
    _until(lambda: ec2.describe_nat_gateways(NatGatewayIds=[nat_id])["NatGateways"][0]["State"] == "deleted", wait_seconds)


def _revoke_all(ec2, group_ids: list[str]) -> None:
    if not group_ids:
        return
    for group in ec2.describe_security_groups(GroupIds=group_ids)["SecurityGroups"]:
        if group.get("IpPermissions"):
            ec2.revoke_security_group_ingress(GroupId=group["GroupId"], IpPermissions=group["IpPermissions"])
        if group.get("IpPermissionsEgress"):
            ec2.revoke_security_group_egress(GroupId=group["GroupId"], IpPermissions=group["IpPermissionsEgress"])


def _delete_route_table(ec2, table_id: str) -> None:
    table = ec2.describe_route_tables(RouteTableIds=[table_id])["RouteTables"][0]
    for assoc in table.get("Associations", []):
        if not assoc.get("Main"):
            ec2.disassociate_route_table(AssociationId=assoc["RouteTableAssociationId"])
    ec2.delete_route_table(RouteTableId=table_id)


def _delete_igw(ec2, igw_id: str) -> None:
    gateway = ec2.describe_internet_gateways(InternetGatewayIds=[igw_id])["InternetGateways"][0]
    for attachment in gateway.get("Attachments", []):
        ec2.detach_internet_gateway(InternetGatewayId=igw_id, VpcId=attachment["VpcId"])
    ec2.delete_internet_gateway(InternetGatewayId=igw_id)


def _until(done: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError("AWS did not finish in time")
        time.sleep(2)
