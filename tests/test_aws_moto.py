"""The recorded AWS resources applied to moto's EC2, ELBv2 and ACM emulation with boto3, in dependency order:
catches combinations the real API rejects (overlapping or out-of-VPC subnets, duplicate or cross-VPC rules,
an ALB without two AZs, clashing listener-rule priorities, bad target-group settings). Moto is an emulator:
what it accepts the real API may still refuse; this is a cheaper net, not a deployment."""
import ipaddress
import re

import pytest

from labctl.preview import record_stack

moto = pytest.importorskip("moto")
boto3 = pytest.importorskip("boto3")

REGION = "eu-west-1"


def _dep(record, key, ids):
    urns = record.property_dependencies.get(key) or []
    return [ids[u] for u in urns if u in ids]


class Applier:
    """Creates each recorded resource with boto3; `ids` maps URNs to the created IDs/ARNs."""

    def __init__(self, recording):
        self.rec, self.ids = recording, {}
        self.ec2 = boto3.client("ec2", region_name=REGION)
        self.elb = boto3.client("elbv2", region_name=REGION)
        self.acm = boto3.client("acm", region_name=REGION)

    def of(self, type_):
        return self.rec.by_type(type_)

    def apply(self):
        for r in self.of("aws:ec2/vpc:Vpc"):
            self.ids[r.urn] = self.ec2.create_vpc(CidrBlock=r.inputs["cidrBlock"])["Vpc"]["VpcId"]
        for r in self.of("aws:ec2/subnet:Subnet"):
            self.ids[r.urn] = self.ec2.create_subnet(VpcId=_dep(r, "vpcId", self.ids)[0], CidrBlock=r.inputs["cidrBlock"],
                                                     AvailabilityZone=r.inputs["availabilityZone"])["Subnet"]["SubnetId"]
        self._gateways()
        for r in self.of("aws:ec2/securityGroup:SecurityGroup"):
            gid = self.ec2.create_security_group(GroupName=r.inputs["name"], Description=r.inputs["description"],
                                                 VpcId=_dep(r, "vpcId", self.ids)[0])["GroupId"]
            self.ids[r.urn] = gid           # like the provider: the default allow-all egress rule is removed
            self.ec2.revoke_security_group_egress(GroupId=gid, IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
        for type_, call in (("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", self.ec2.authorize_security_group_ingress),
                            ("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule", self.ec2.authorize_security_group_egress)):
            for r in self.of(type_):
                call(GroupId=_dep(r, "securityGroupId", self.ids)[0], IpPermissions=[self._permission(r)])
        self._instances()
        self._load_balancer()

    def _permission(self, r):
        i = r.inputs
        perm = {"IpProtocol": i["ipProtocol"]}
        if "fromPort" in i:
            perm.update(FromPort=int(i["fromPort"]), ToPort=int(i["toPort"]))
        else:                               # e.g. VRRP (112): all "ports"; moto wants them stated, the API accepts -1
            perm.update(FromPort=-1, ToPort=-1)
        peer = _dep(r, "referencedSecurityGroupId", self.ids)
        if peer:
            perm["UserIdGroupPairs"] = [{"GroupId": peer[0], "Description": i["description"]}]
        elif "cidrIpv4" in i:
            perm["IpRanges"] = [{"CidrIp": i["cidrIpv4"], "Description": i["description"]}]
        else:
            perm["Ipv6Ranges"] = [{"CidrIpv6": i["cidrIpv6"], "Description": i["description"]}]
        return perm

    def _gateways(self):
        for r in self.of("aws:ec2/internetGateway:InternetGateway"):
            gw = self.ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
            self.ec2.attach_internet_gateway(InternetGatewayId=gw, VpcId=_dep(r, "vpcId", self.ids)[0])
            self.ids[r.urn] = gw
        for r in self.of("aws:ec2/eip:Eip"):
            self.ids[r.urn] = self.ec2.allocate_address(Domain="vpc")["AllocationId"]
        for r in self.of("aws:ec2/natGateway:NatGateway"):
            self.ids[r.urn] = self.ec2.create_nat_gateway(SubnetId=_dep(r, "subnetId", self.ids)[0],
                                                          AllocationId=_dep(r, "allocationId", self.ids)[0])["NatGateway"]["NatGatewayId"]
        for r in self.of("aws:ec2/routeTable:RouteTable"):
            self.ids[r.urn] = self.ec2.create_route_table(VpcId=_dep(r, "vpcId", self.ids)[0])["RouteTable"]["RouteTableId"]
        for r in self.of("aws:ec2/route:Route"):
            target = ({"GatewayId": _dep(r, "gatewayId", self.ids)[0]} if "gatewayId" in r.property_dependencies
                      and _dep(r, "gatewayId", self.ids) else {"NatGatewayId": _dep(r, "natGatewayId", self.ids)[0]})
            self.ec2.create_route(RouteTableId=_dep(r, "routeTableId", self.ids)[0],
                                  DestinationCidrBlock=r.inputs["destinationCidrBlock"], **target)
        for r in self.of("aws:ec2/routeTableAssociation:RouteTableAssociation"):
            self.ec2.associate_route_table(RouteTableId=_dep(r, "routeTableId", self.ids)[0],
                                           SubnetId=_dep(r, "subnetId", self.ids)[0])

    def _instances(self):
        ami = self.ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]      # moto's stock images
        for r in self.of("aws:ec2/instance:Instance"):
            i = r.inputs
            self.ids[r.urn] = self.ec2.run_instances(
                ImageId=ami, InstanceType=i["instanceType"], MinCount=1, MaxCount=1, PrivateIpAddress=i["privateIp"],
                SubnetId=_dep(r, "subnetId", self.ids)[0], SecurityGroupIds=_dep(r, "vpcSecurityGroupIds", self.ids),
                MetadataOptions={"HttpTokens": i["metadataOptions"]["httpTokens"], "HttpEndpoint": "enabled"},
                BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"Encrypted": i["rootBlockDevice"]["encrypted"],
                                                                         "VolumeType": "gp3", "VolumeSize": 20}}],
            )["Instances"][0]
            if i.get("secondaryPrivateIps"):      # moto ignores them at launch: assigned to the primary interface after
                self.ec2.assign_private_ip_addresses(NetworkInterfaceId=self.ids[r.urn]["NetworkInterfaces"][0]["NetworkInterfaceId"],
                                                     PrivateIpAddresses=i["secondaryPrivateIps"])
            self.ids[r.urn] = self.ids[r.urn]["InstanceId"]

    def _load_balancer(self):
        for r in self.of("aws:lb/loadBalancer:LoadBalancer"):
            i = r.inputs
            if i.get("subnetMappings"):           # fixed addresses (the services VIP's NLB)
                where = {"SubnetMappings": [{"SubnetId": subnet, "PrivateIPv4Address": m["privateIpv4Address"]}
                                            for subnet, m in zip(_dep(r, "subnetMappings", self.ids), i["subnetMappings"])]}
            else:
                where = {"Subnets": _dep(r, "subnets", self.ids)}
            self.ids[r.urn] = self.elb.create_load_balancer(
                Name=r.name[:32], SecurityGroups=_dep(r, "securityGroups", self.ids), **where,
                Scheme="internal" if i["internal"] else "internet-facing", Type=i["loadBalancerType"])["LoadBalancers"][0]["LoadBalancerArn"]
            if i.get("enableCrossZoneLoadBalancing"):
                self.elb.modify_load_balancer_attributes(LoadBalancerArn=self.ids[r.urn], Attributes=[
                    {"Key": "load_balancing.cross_zone.enabled", "Value": "true"}])
        for n, r in enumerate(self.of("aws:lb/targetGroup:TargetGroup")):
            i, hc = r.inputs, r.inputs["healthCheck"]
            http = {"HealthCheckPath": hc["path"], "Matcher": {"HttpCode": hc["matcher"]}} if hc["protocol"] == "HTTP" else {}
            self.ids[r.urn] = self.elb.create_target_group(
                Name=re.sub("-+", "-", f"tg{n}-{r.name[-20:]}").strip("-")[:32], Protocol=i["protocol"], Port=int(i["port"]),
                VpcId=_dep(r, "vpcId", self.ids)[0], TargetType=i["targetType"], HealthCheckProtocol=hc["protocol"],
                HealthCheckIntervalSeconds=int(hc["interval"]), HealthCheckTimeoutSeconds=int(hc["timeout"]),
                HealthyThresholdCount=int(hc["healthyThreshold"]), UnhealthyThresholdCount=int(hc["unhealthyThreshold"]),
                **http)["TargetGroups"][0]["TargetGroupArn"]
        for r in self.of("aws:lb/targetGroupAttachment:TargetGroupAttachment"):
            target = _dep(r, "targetId", self.ids) or [r.inputs["targetId"]]      # an instance, or a fixed address
            self.elb.register_targets(TargetGroupArn=_dep(r, "targetGroupArn", self.ids)[0],
                                      Targets=[{"Id": target[0], "Port": int(r.inputs["port"])}])
        cert = self.acm.request_certificate(DomainName="lab.example.com")["CertificateArn"]   # stands in for config's ARN
        for r in self.of("aws:lb/listener:Listener"):
            i = r.inputs
            actions = [self._action(a, r) for a in i["defaultActions"]]
            extra = {"Certificates": [{"CertificateArn": cert}], "SslPolicy": i["sslPolicy"]} if i["protocol"] == "HTTPS" else {}
            self.ids[r.urn] = self.elb.create_listener(LoadBalancerArn=_dep(r, "loadBalancerArn", self.ids)[0], Protocol=i["protocol"],
                                                       Port=int(i["port"]), DefaultActions=actions, **extra)["Listeners"][0]["ListenerArn"]
        for r in self.of("aws:lb/listenerRule:ListenerRule"):
            i = r.inputs
            self.elb.create_rule(ListenerArn=_dep(r, "listenerArn", self.ids)[0], Priority=int(i["priority"]),
                                 Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": c["pathPattern"]["values"]}}
                                             for c in i["conditions"]],
                                 Actions=[self._action(a, r) for a in i["actions"]])

    def _action(self, action, record):
        if action["type"] == "redirect":
            red = action["redirect"]
            return {"Type": "redirect", "RedirectConfig": {"Protocol": red["protocol"], "Port": red["port"], "StatusCode": red["statusCode"]}}
        groups = _dep(record, "defaultActions", self.ids) or _dep(record, "actions", self.ids)
        return {"Type": "forward", "TargetGroupArn": groups[0]}


@pytest.mark.parametrize("stack", ["aws-distributed", "aws-ha"])
def test_recorded_aws_resources_are_accepted_by_the_emulated_api(stack, monkeypatch):
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    recording = record_stack(stack, preview=False)
    with moto.mock_aws():
        applier = Applier(recording)
        applier.apply()
        ec2 = applier.ec2
        vpcs = [applier.ids[r.urn] for r in recording.by_type("aws:ec2/vpc:Vpc")]
        groups = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": vpcs}])["SecurityGroups"]
        ours = [g for g in groups if g["GroupName"] != "default"]
        assert len(ours) == len(recording.by_type("aws:ec2/securityGroup:SecurityGroup"))
        world = [(g["GroupName"], p.get("FromPort")) for g in ours for p in g["IpPermissions"]
                 if any(r["CidrIp"] == "0.0.0.0/0" for r in p.get("IpRanges", []))]
        assert sorted(world) == sorted([(g, port) for g, port in world if g.endswith("-frontend") and port in (80, 443)])
        assert len(world) == 2
        rules = sum(len(p.get("UserIdGroupPairs", [])) + len(p.get("IpRanges", [])) + len(p.get("Ipv6Ranges", []))
                    for g in ours for p in g["IpPermissions"])
        assert rules == len(recording.by_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"))
        reservations = ec2.describe_instances()["Reservations"]
        instances = [i for r in reservations for i in r["Instances"]]
        assert len(instances) == len(recording.by_type("aws:ec2/instance:Instance"))
        assert all(not i.get("PublicIpAddress") and i["MetadataOptions"]["HttpTokens"] == "required" for i in instances)
        balancers = applier.elb.describe_load_balancers()["LoadBalancers"]
        (alb,) = [b for b in balancers if b["Type"] == "application"]
        assert alb["Scheme"] == "internet-facing" and len(alb["AvailabilityZones"]) >= 2
        _check_fixed_addresses(applier, recording, instances, balancers)


def _check_fixed_addresses(applier, recording, instances, balancers):
    """Each instance got the recorded address (and secondary address) in its subnet; each services VIP is an internal
    NLB at its recorded addresses, with TCP listeners forwarding to IP targets that are the members' secondary
    addresses."""
    subnets = {s["SubnetId"]: s for s in applier.ec2.describe_subnets()["Subnets"]}
    wanted = {r.inputs["privateIp"]: r.inputs.get("secondaryPrivateIps") or [] for r in recording.by_type("aws:ec2/instance:Instance")}
    got = {i["PrivateIpAddress"]: sorted(a["PrivateIpAddress"] for n in i["NetworkInterfaces"] for a in n["PrivateIpAddresses"]
                                         if not a["Primary"]) for i in instances}
    assert got == {k: sorted(v) for k, v in wanted.items()}
    for i in instances:
        assert ipaddress.ip_address(i["PrivateIpAddress"]) in ipaddress.ip_network(subnets[i["SubnetId"]]["CidrBlock"])
    secondaries = {a for v in wanted.values() for a in v}
    nlbs = [b for b in balancers if b["Type"] == "network"]
    assert len(nlbs) == len([r for r in recording.by_type("aws:lb/loadBalancer:LoadBalancer")
                             if r.inputs["loadBalancerType"] == "network"])
    for nlb in nlbs:
        assert nlb["Scheme"] == "internal" and nlb["SecurityGroups"] and len(nlb["AvailabilityZones"]) >= 2
        listeners = applier.elb.describe_listeners(LoadBalancerArn=nlb["LoadBalancerArn"])["Listeners"]
        assert listeners and all(l["Protocol"] == "TCP" for l in listeners)
        for listener in listeners:
            group = listener["DefaultActions"][0]["TargetGroupArn"]
            health = applier.elb.describe_target_health(TargetGroupArn=group)["TargetHealthDescriptions"]
            assert {t["Target"]["Id"] for t in health} <= secondaries and len(health) == 3
            assert {t["Target"]["Port"] for t in health} == {listener["Port"]}
    if secondaries:
        assert nlbs


def test_the_emulator_rejects_a_duplicate_rule(monkeypatch):
    """The net can fail: the same ingress rule twice is refused, as the real API refuses it."""
    from botocore.exceptions import ClientError
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    recording = record_stack("aws-distributed", preview=False)
    rule = recording.by_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")[0]
    recording.records.append(rule)
    with moto.mock_aws(), pytest.raises(ClientError, match="Duplicate"):
        Applier(recording).apply()


def _tag_everything(applier, tags):
    """What the provider's default tags do: every created EC2 and ELBv2 resource carries the lab's tags."""
    ec2_ids = [i for i in applier.ids.values() if not i.startswith("arn:")]
    applier.ec2.create_tags(Resources=ec2_ids, Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
    arns = [i for i in applier.ids.values() if i.startswith("arn:aws:elasticloadbalancing") and ":targetgroup/" in i
            or ":loadbalancer/" in i]
    applier.elb.add_tags(ResourceArns=arns, Tags=[{"Key": k, "Value": v} for k, v in tags.items()])


def test_reap_lists_and_then_deletes_an_expired_lost_aws_lab_and_nothing_else(monkeypatch, capsys):
    from datetime import datetime, timezone

    from labctl import lifecycle
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setattr(lifecycle, "pulumi_command", lambda: (_ for _ in ()).throw(lifecycle.PulumiMissing("none here")))
    recording = record_stack("aws-distributed", preview=False)
    at = datetime(2026, 11, 23, 12, tzinfo=timezone.utc)
    with moto.mock_aws():
        applier = Applier(recording)
        applier.apply()
        _tag_everything(applier, {"abiquo-lab.managed": "true", "abiquo-lab.lab": "awsdist", "abiquo-lab.owner": "qa",
                                  "abiquo-lab.expires-at": "2026-11-23T08:00:00Z"})
        bystander = applier.ec2.create_vpc(CidrBlock="10.200.0.0/16")["Vpc"]["VpcId"]      # no lab tags
        vpc = next(applier.ids[r.urn] for r in recording.by_type("aws:ec2/vpc:Vpc"))

        report = lifecycle.reap(dry_run=False, aws_region=REGION, command=None, at=at, out=print)
        assert report.aws_expired and not report.aws_deleted                            # report only by default
        assert any(v["VpcId"] == vpc for v in applier.ec2.describe_vpcs()["Vpcs"])

        report = lifecycle.reap(dry_run=False, aws_region=REGION, at=at, out=print, aws_delete=True, owner="someone-else")
        assert not report.aws_expired                                                  # owner filter
        report = lifecycle.reap(dry_run=False, aws_region=REGION, at=at, out=print, aws_delete=True)
        vpcs = {v["VpcId"] for v in applier.ec2.describe_vpcs()["Vpcs"]}
        assert vpc not in vpcs and bystander in vpcs
        running = [i for r in applier.ec2.describe_instances()["Reservations"] for i in r["Instances"]
                   if i["State"]["Name"] != "terminated"]
        assert not running and not applier.elb.describe_load_balancers()["LoadBalancers"]
        assert len(report.aws_deleted) == len(report.aws_expired)


@pytest.mark.parametrize("mutation", ["same address twice", "address outside its subnet"])
def test_the_emulator_rejects_a_bad_fixed_address(mutation, monkeypatch):
    """The net can fail for the fixed addresses too: two instances at one address, or an address outside the
    instance's subnet, are refused (as the real API refuses them)."""
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    recording = record_stack("aws-ha", preview=False)
    instances = recording.by_type("aws:ec2/instance:Instance")
    first, second = next((a, b) for a in instances for b in instances if a is not b
                         and a.property_dependencies["subnetId"] == b.property_dependencies["subnetId"])
    second.inputs["privateIp"] = first.inputs["privateIp"] if mutation == "same address twice" else "10.95.250.10"
    with moto.mock_aws(), pytest.raises(Exception) as info:                 # moto raises its own error here
        Applier(recording).apply()
    assert re.search("IP already in use|IP does not fall in the subnet", str(info.value)), info.value
