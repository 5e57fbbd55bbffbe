"""Issue 12, the AWS classes, by mutation (the pattern of test_pack_docker_classes): take a recorded AWS stack
(preview and update mode), change it the way users write AWS resources every day, run the pack, and require a
mandatory violation naming the resource, the field and the fix. Kill rates are printed per class; all at 100%.

  class 1  network access in every form: vpc rules, legacy aws.ec2.SecurityGroupRule, inline ingress/egress, the
           VPC's default group; ports, ranges, protocol -1, CIDRs (IPv4/IPv6), prefix lists, self, literal IDs;
           egress beyond the plan and the bootstrap egress
  class 2  attachment: each instance exactly its roles' groups and the bootstrap group; nothing launches machines
           outside the plan; world ingress only on the group attached to the internet-facing ALB; a reference that
           depends on several groups is reported, never guessed
  class 3  public exposure and hardening: EIPs, launch templates, spot requests, plain HTTP listeners (aws.lb,
           aws.alb, classic ELB), private subnets routed to the internet gateway, network ACLs open to the world
  class 7  preview (AWS): an unknown hides nothing else and is an advisory naming the resource and property
  class 8  malformed AWS input: a violation naming resource and field, never a crash
"""
import copy

import pytest

from labctl.check.analyzer import analyze_in_process, analyze_many_grpc
from labctl.preview import UNKNOWN_TEXT, record_stack
from labctl.preview.recording import Record
from conftest import SHIPPED_STACKS
from test_pack_docker_classes import MODES, _judge7, _kill, _messages, _names, _report, assert_same_verdicts_over_grpc

AWS_STACKS = [s for s in SHIPPED_STACKS if s.startswith("aws")]
SG, INSTANCE = "aws:ec2/securityGroup:SecurityGroup", "aws:ec2/instance:Instance"
INGRESS, EGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
LEGACY = "aws:ec2/securityGroupRule:SecurityGroupRule"
LB, LISTENER = "aws:lb/loadBalancer:LoadBalancer", "aws:lb/listener:Listener"
ROLE, HOST = "abiquo-lab.role", "abiquo-lab.host"


@pytest.fixture(scope="module")
def recordings():
    return {(s, mode): record_stack(s, preview=preview) for s in AWS_STACKS for mode, preview in MODES.items()}


# ---- recording helpers -----------------------------------------------------------------------------------------
def _group(rec, role):
    """The program's group for a role (or the bootstrap group), by its resource name."""
    return next(r for r in rec.by_type(SG) if r.name.endswith(f"-sg-{role}"))


def _id(rec, record):
    """A resource's ID as an input of another: known in update mode, unknown in preview."""
    return UNKNOWN_TEXT if rec.preview else record.id


def _instance(rec, host):
    return next(r for r in rec.by_type(INSTANCE) if r.inputs["tags"].get(HOST) == host)


def _instance_with(rec, role):
    return next(r for r in rec.by_type(INSTANCE) if role in r.inputs["tags"]["abiquo-lab.roles"].split())


def _tags(rec):
    return {k: v for k, v in _group(rec, "api").inputs["tags"].items() if k != ROLE}


def _add(rec, type_, name, inputs, deps=None, parent_of=None):
    """A new custom resource beside the lab's, with lifecycle tags and property dependencies."""
    lab = next(r for r in rec.records if r.type == "abiquo:lab:Lab")
    urn = f"{lab.urn.rsplit('::', 1)[0].replace('abiquo:lab:Lab', 'abiquo:lab:Lab$' + type_)}::{name}"
    deps = deps or {}
    record = Record(type=type_, name=name, urn=urn, parent=lab.urn, custom=True,
                    inputs={"tags": _tags(rec), **inputs}, dependencies=sorted({u for v in deps.values() for u in v}),
                    property_dependencies={k: list(v) for k, v in deps.items()},
                    id=None if rec.preview else f"{name}-id")
    rec.records.append(record)
    return record


def _legacy(rec, kind, on, name="x-legacy", peer=None, **inputs):
    deps = {"securityGroupId": [_group(rec, on).urn]}
    args = {"type": kind, "securityGroupId": _id(rec, _group(rec, on)), **inputs}
    if peer:
        deps["sourceSecurityGroupId"] = [_group(rec, peer).urn]
        args["sourceSecurityGroupId"] = _id(rec, _group(rec, peer))
    return _add(rec, LEGACY, name, args, deps)


def _vpc(rec, type_, on, name, peer=None, **inputs):
    deps = {"securityGroupId": [_group(rec, on).urn]}
    args = {"securityGroupId": _id(rec, _group(rec, on)), **inputs}
    if peer:
        deps["referencedSecurityGroupId"] = [_group(rec, p).urn for p in peer.split("|")]
        args["referencedSecurityGroupId"] = UNKNOWN_TEXT if rec.preview else "sg-chosen"
    return _add(rec, type_, name, args, deps)


def _rule_for(rec, type_, on, peer=None):
    """An existing vpc rule of the program on group `on` (to the group `peer`, if given)."""
    on_urn = _group(rec, on).urn
    peer_urn = _group(rec, peer).urn if peer else None
    return next(r for r in rec.by_type(type_) if r.property_dependencies["securityGroupId"] == [on_urn]
                and (peer_urn is None or r.property_dependencies.get("referencedSecurityGroupId") == [peer_urn])
                and r.inputs.get("ipProtocol") == "tcp")


def _set_inline(rec, role, direction, entries, dep_roles=()):
    group = _group(rec, role)
    group.inputs[direction] = entries
    group.property_dependencies[direction] = [_group(rec, r).urn for r in dep_roles]
    return group


# ---- class 1: network access in every form ---------------------------------------------------------------------
def _class1():
    def legacy(kind, on, peer=None, **inputs):
        return lambda m: _legacy(m, kind, on, peer=peer, **inputs)

    def inline(role, direction, entry, dep_roles=()):
        return lambda m: _set_inline(m, role, direction, [entry], dep_roles)

    def widen(m):
        rule = _rule_for(m, INGRESS, "api", "frontend")
        rule.inputs["toPort"] = rule.inputs["fromPort"] + 100
        return rule

    def vpc_all(m):
        rule = _rule_for(m, EGRESS, "api")
        rule.inputs.update(ipProtocol="-1")
        rule.inputs.pop("fromPort"), rule.inputs.pop("toPort")
        return rule

    def default_group(m):
        return _add(m, "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup", "x-default",
                    {"vpcId": UNKNOWN_TEXT if m.preview else "vpc-1",
                     "ingress": [{"protocol": "-1", "fromPort": 0, "toPort": 0, "self": True}]})

    def bootstrap_ssh(m):
        return _vpc(m, EGRESS, "bootstrap", "x-bootstrap-22", ipProtocol="tcp", fromPort=22, toPort=22, cidrIpv4="0.0.0.0/0")

    def egress_to_role(m):
        return _vpc(m, EGRESS, "ui", "x-ui-to-mysql", peer="mysql", ipProtocol="tcp", fromPort=3306, toPort=3306)

    world = {"cidrBlocks": ["0.0.0.0/0"]}
    return [
        ("legacy ingress from the world", legacy("ingress", "api",
                                                 protocol="tcp", fromPort=8009, toPort=8009, **world),
         "the world (0.0.0.0/0)", "remove it"),
        ("legacy ingress from the IPv6 world", legacy("ingress", "datanode", protocol="tcp", fromPort=3306,
                                                      toPort=3306, ipv6CidrBlocks=["::/0"]),
         "the world (::/0)", "remove it"),
        ("legacy ingress from a prefix list", legacy("ingress", "api", protocol="tcp", fromPort=8009,
                                                     toPort=8009, prefixListIds=["pl-0abc"]),
         "prefix list pl-0abc", "reference the peer's group"),
        ("legacy self reference, protocol -1", legacy("ingress", "api", protocol="-1", fromPort=0, toPort=0,
                                                      self=True), "all protocols and ports", "maps to no catalog flow"),
        ("legacy ingress from the bootstrap group on a range", legacy("ingress", "api", peer="bootstrap",
                                                                      protocol="tcp", fromPort=8000, toPort=8100),
         "tcp/8000-8100", "remove it or allow it"),
        ("legacy ingress from a literal group ID", legacy("ingress", "api", protocol="tcp", fromPort=8009,
                                                          toPort=8009, sourceSecurityGroupId="sg-0123456789"),
         "security-group ID sg-0123456789 (a literal ID", "reference the peer's group"),
        ("legacy egress, protocol -1 to the world", legacy("egress", "api", protocol="-1", fromPort=0, toPort=0,
                                                           **world), "all protocols and ports", "remove it"),
        ("legacy egress tcp 0-65535", legacy("egress", "ui", protocol="tcp", fromPort=0, toPort=65535, **world),
         "tcp/all ports", "allows all ports"),
        ("legacy egress tcp 1-65535 to a group", legacy("egress", "ui", peer="api", protocol="tcp", fromPort=1,
                                                          toPort=65535), "tcp/all ports", "allows all ports"),
        ("legacy egress protocol 6 by number", legacy("egress", "ui", protocol="6", fromPort=22, toPort=22, **world),
         "tcp/22", "remove it"),
        ("inline ingress from a private CIDR", inline("api", "ingress", {"protocol": "tcp", "fromPort": 22, "toPort": 22,
                                                                         "cidrBlocks": ["10.0.0.0/8"]}),
         "CIDR 10.0.0.0/8", "reference the peer's group"),
        ("inline egress udp/53 to the world", inline("api", "egress", {"protocol": "udp", "fromPort": 53, "toPort": 53,
                                                                        "cidrBlocks": ["0.0.0.0/0"]}),
         "egress[0]", "remove it"),
        ("inline ingress from another group", inline("api", "ingress", {"protocol": "tcp", "fromPort": 9000,
                                                                         "toPort": 9000, "securityGroups": ["x"]},
                                                     ("bpm",)), "ingress[0]", "maps to no catalog flow"),
        ("inline ingress, all traffic from itself", inline("datanode", "ingress", {"protocol": "-1", "fromPort": 0,
                                                                                  "toPort": 0, "self": True}),
         "all protocols and ports", "maps to no catalog flow"),
        ("the VPC's default group with rules", default_group, "default security group",
         "no ingress and no egress"),
        ("a vpc rule's range widened", widen, "-", "maps to no catalog flow"),
        ("a vpc egress rule made protocol -1", vpc_all, "all protocols and ports", "remove it"),
        ("a vpc ingress from a prefix list", lambda m: _vpc(m, INGRESS, "api", "x-pl", ipProtocol="tcp", fromPort=8009,
                                                            toPort=8009, prefixListId="pl-0def"),
         "prefix list pl-0def", "reference the peer's group"),
        ("a vpc ingress from the IPv6 world", lambda m: _vpc(m, INGRESS, "ui", "x-v6", ipProtocol="tcp", fromPort=80,
                                                             toPort=80, cidrIpv6="::/0"),
         "the world (::/0)", "remove it"),
        ("bootstrap egress beyond the configured one", bootstrap_ssh, "tcp/22", "aws.bootstrap_egress"),
        ("egress to a group the plan does not send to", egress_to_role, "sg 'mysql'", "remove it"),
    ]


def _kill_on_aws_stacks(cases, recordings) -> dict:
    results = {}
    for stack in AWS_STACKS:
        for mode in MODES:
            results[(stack, mode)] = _kill(cases(), recordings[(stack, mode)])
    return results


def test_class1_network_access_in_every_form_is_reported(recordings, capsys):
    total, survivors = _report(capsys, "class 1 (AWS network access, every form)", _kill_on_aws_stacks(_class1, recordings))
    assert total == len(AWS_STACKS) * 2 * 21 and not survivors, survivors[:5]


def _rewrite(m, rule, form):
    """The program's vpc ingress rule `rule` written in another form, exactly (same group, peer, ports)."""
    on = m.by_urn()[rule.property_dependencies["securityGroupId"][0]]
    peer_urns = rule.property_dependencies.get("referencedSecurityGroupId") or []
    ports = {"protocol": rule.inputs["ipProtocol"], "fromPort": rule.inputs["fromPort"], "toPort": rule.inputs["toPort"]}
    m.records.remove(rule)
    if form == "legacy":
        deps = {"securityGroupId": [on.urn], "sourceSecurityGroupId": peer_urns}
        _add(m, LEGACY, rule.name + "-legacy", {"type": "ingress", "securityGroupId": _id(m, on),
                                                "sourceSecurityGroupId": UNKNOWN_TEXT if m.preview else "sg-x", **ports}, deps)
    else:
        on.inputs.setdefault("ingress", []).append({**ports, "securityGroups": [UNKNOWN_TEXT if m.preview else "sg-x"]})
        on.property_dependencies["ingress"] = peer_urns


@pytest.mark.parametrize("form", ["legacy", "inline"])
def test_a_required_flow_written_exactly_in_another_form_is_not_reported(recordings, form):
    """Decision: required-connections accepts a rule in any form that names exactly one group on each side."""
    for stack in AWS_STACKS:
        for mode in MODES:
            m = copy.deepcopy(recordings[(stack, mode)])
            rule = _rule_for(m, INGRESS, "api", "frontend")
            _rewrite(m, rule, form)
            assert analyze_in_process(m) == [], (stack, mode, form, analyze_in_process(m)[:3])
            # and the same rewrite, one group too many: reported, never guessed
            n = copy.deepcopy(recordings[(stack, mode)])
            rule = _rule_for(n, INGRESS, "api", "frontend")
            _rewrite(n, rule, form)
            target = next(r for r in n.records if r.name == rule.name + "-legacy") if form == "legacy" else _group(n, "api")
            key = "sourceSecurityGroupId" if form == "legacy" else "ingress"
            target.property_dependencies[key] = sorted({*target.property_dependencies[key], _group(n, "bpm").urn})
            found = _messages(analyze_in_process(n))
            assert any("depends on several groups" in v.message for v in found), found[:3]
            assert any(v.policy == "required-connections" for v in found), found[:3]


# ---- class 2: attachment ---------------------------------------------------------------------------------------
def _attach(m, inst, role, literal=False):
    inst.inputs["vpcSecurityGroupIds"].append(UNKNOWN_TEXT if m.preview else f"sg-literal-{role}")
    if not literal:
        inst.property_dependencies["vpcSecurityGroupIds"] = sorted({*inst.property_dependencies["vpcSecurityGroupIds"],
                                                                    _group(m, role).urn})
    return inst


def _detach(m, inst, role):
    urn = _group(m, role).urn
    inst.property_dependencies["vpcSecurityGroupIds"].remove(urn)
    inst.inputs["vpcSecurityGroupIds"].pop()
    return inst


def _class2():
    def extra(role):
        return lambda m: _attach(m, _instance_with(m, "api"), role)

    def missing(role):
        return lambda m: _detach(m, _instance_with(m, "api"), role)

    def literal(m):
        return _attach(m, _instance_with(m, "api"), "x", literal=True)

    def unplanned_instance(m):
        twin = copy.deepcopy(_instance_with(m, "api"))
        twin.urn, twin.name = twin.urn + "-twin", twin.name + "-twin"
        del twin.inputs["tags"][HOST]
        m.records.append(twin)
        return twin

    def second_frontend_group(m):
        group = copy.deepcopy(_group(m, "frontend"))
        group.urn, group.name = group.urn + "-2", group.name + "-2"
        m.records.append(group)
        return _add(m, INGRESS, "x-world-443", {"securityGroupId": UNKNOWN_TEXT, "ipProtocol": "tcp", "fromPort": 443,
                                                "toPort": 443, "cidrIpv4": "0.0.0.0/0"},
                    {"securityGroupId": [group.urn]})

    def alb_extra(m):
        alb = m.by_type(LB)[0]
        alb.property_dependencies["securityGroups"].append(_group(m, "api").urn)
        alb.inputs["securityGroups"].append(UNKNOWN_TEXT if m.preview else "sg-api")
        return alb

    def ambiguous_rule(m):
        return _vpc(m, INGRESS, "api", "x-ambiguous", peer="frontend|bpm", ipProtocol="tcp", fromPort=8009, toPort=8009)

    def ambiguous_on(m):
        rule = _vpc(m, INGRESS, "api", "x-ambiguous-on", peer="frontend", ipProtocol="tcp", fromPort=8009, toPort=8009)
        rule.property_dependencies["securityGroupId"].append(_group(m, "ui").urn)
        return rule

    def outside(type_, name, **inputs):
        return lambda m: _add(m, type_, name, inputs)

    return [
        ("an instance given another role's group", extra("datanode"), "carries sg 'datanode' (vpcSecurityGroupIds",
         "remove it from vpcSecurityGroupIds"),
        ("an instance given the frontend's group", extra("frontend"), "carries sg 'frontend'", "remove it"),
        ("an instance without its role's group", missing("m"), "lacks sg", "add it to vpcSecurityGroupIds"),
        ("an instance without the bootstrap group", missing("bootstrap"), "lacks sg 'bootstrap'", "add it"),
        ("an instance given a literal group ID", literal, "literal ID", "remove the literal IDs"),
        ("an instance outside the plan", unplanned_instance, "no host label", "every machine of the lab is one"),
        ("world ingress on a second group tagged frontend", second_frontend_group, "the world (0.0.0.0/0)",
         "only for the group attached to the internet-facing load balancer"),
        ("the ALB given another group", alb_extra, "carries sg 'api' (securityGroups)", "remove it"),
        ("a rule whose peer depends on two groups", ambiguous_rule, "depends on several groups (bpm, frontend)",
         "reference exactly one"),
        ("a rule whose group depends on two groups", ambiguous_on, "securityGroupId depends on several groups",
         "reference exactly one"),
        ("a spot instance request", outside("aws:ec2/spotInstanceRequest:SpotInstanceRequest", "x-spot",
                                            instanceType="t3.small"), "outside the plan", "remove it"),
        ("an auto-scaling group", outside("aws:autoscaling/group:Group", "x-asg", maxSize=2, minSize=1),
         "outside the plan", "remove it"),
        ("an internet-facing network load balancer", outside(LB, "x-nlb", loadBalancerType="network", internal=False,
                                                             subnets=["subnet-1"]), "internet-facing", "set internal: true"),
        ("an internet-facing ALB without the frontend tag", outside(LB, "x-alb-2", loadBalancerType="application",
                                                                    subnets=["subnet-1"]), "(internal: unset)",
         "set internal: true"),
        ("a group attached to a network interface",
         outside("aws:ec2/networkInterfaceSecurityGroupAttachment:NetworkInterfaceSecurityGroupAttachment", "x-nic-sg",
                 securityGroupId="sg-1", networkInterfaceId="eni-1"), "outside the plan", "remove it"),
    ]


def test_class2_attachment_mutants_are_all_reported(recordings, capsys):
    total, survivors = _report(capsys, "class 2 (AWS attachment)", _kill_on_aws_stacks(_class2, recordings))
    assert total == len(AWS_STACKS) * 2 * 15 and not survivors, survivors[:5]


def test_several_group_references_give_the_same_verdict_in_any_order(recordings):
    """Determinism: the order of a rule's property dependencies does not change the verdict."""
    rec = recordings[("aws-ha", "update")]
    verdicts = []
    for order in ("frontend|bpm", "bpm|frontend"):
        m = copy.deepcopy(rec)
        _vpc(m, INGRESS, "api", "x-ambiguous", peer=order, ipProtocol="tcp", fromPort=8009, toPort=8009)
        verdicts.append(sorted((v.policy, v.message) for v in analyze_in_process(m)))
    assert verdicts[0] == verdicts[1] and verdicts[0]


def test_an_internal_network_load_balancer_is_not_the_frontend(recordings):
    """Another engineer adds an internal NLB (TCP listeners) for the services VIP: not judged as the frontend."""
    for stack in AWS_STACKS:
        for mode in MODES:
            m = copy.deepcopy(recordings[(stack, mode)])
            nlb = _add(m, LB, "x-services-nlb", {"loadBalancerType": "network", "internal": True,
                                                 "subnets": [UNKNOWN_TEXT]})
            nlb.inputs["tags"][ROLE] = "datanode"
            _add(m, LISTENER, "x-services-6379", {"loadBalancerArn": UNKNOWN_TEXT, "port": 6379, "protocol": "TCP",
                                                  "defaultActions": [{"type": "forward"}]},
                 {"loadBalancerArn": [nlb.urn]})
            assert analyze_in_process(m) == [], (stack, mode, analyze_in_process(m)[:3])


# ---- class 3: public exposure and hardening --------------------------------------------------------------------
def _private_route_table(m):
    return next(r for r in m.by_type("aws:ec2/routeTable:RouteTable") if "private" in r.name)


def _subnet(m, zone):
    return next(r for r in m.by_type("aws:ec2/subnet:Subnet") if r.inputs["tags"].get("abiquo-lab.zone") == zone)


def _igw(m):
    return m.by_type("aws:ec2/internetGateway:InternetGateway")[0]


def _class3():
    def add(type_, name, **inputs):
        return lambda m: _add(m, type_, name, copy.deepcopy(inputs))

    def instance(**inputs):
        def change(m):
            inst = _instance_with(m, "api")
            inst.inputs.update(copy.deepcopy(inputs))
            return inst
        return change

    def http_forward(m):
        listener = next(r for r in m.by_type(LISTENER) if r.inputs["protocol"] == "HTTP")
        listener.inputs["defaultActions"] = [{"type": "forward", "targetGroupArn": "tg"}]
        return listener

    def private_default_to_igw(m):
        route = next(r for r in m.by_type("aws:ec2/route:Route") if "private" in r.name)
        route.inputs.pop("natGatewayId")
        route.property_dependencies.pop("natGatewayId")
        route.inputs["gatewayId"] = _id(m, _igw(m))
        route.property_dependencies["gatewayId"] = [_igw(m).urn]
        return route

    def private_v6_to_igw(m):
        table = _private_route_table(m)
        return _add(m, "aws:ec2/route:Route", "x-v6-default", {"routeTableId": _id(m, table),
                                                               "destinationIpv6CidrBlock": "::/0", "gatewayId": _id(m, _igw(m))},
                    {"routeTableId": [table.urn], "gatewayId": [_igw(m).urn]})

    def inline_route(m):
        table = _private_route_table(m)
        table.inputs["routes"] = [{"cidrBlock": "0.0.0.0/0", "gatewayId": _id(m, _igw(m))}]
        table.property_dependencies["routes"] = [_igw(m).urn]
        return table

    def nacl(zone, entry):
        def change(m):
            subnet = _subnet(m, zone)
            return _add(m, "aws:ec2/networkAcl:NetworkAcl", "x-nacl", {"vpcId": UNKNOWN_TEXT, "subnetIds": [_id(m, subnet)],
                                                                       "ingress": [entry]},
                        {"subnetIds": [subnet.urn]})
        return change

    def nacl_rule(m):
        subnet = _subnet(m, "core")
        acl = _add(m, "aws:ec2/networkAcl:NetworkAcl", "x-nacl-2", {"vpcId": UNKNOWN_TEXT})
        _add(m, "aws:ec2/networkAclAssociation:NetworkAclAssociation", "x-nacl-assoc",
             {"networkAclId": _id(m, acl), "subnetId": _id(m, subnet)}, {"networkAclId": [acl.urn], "subnetId": [subnet.urn]})
        return _add(m, "aws:ec2/networkAclRule:NetworkAclRule", "x-nacl-rule",
                    {"networkAclId": _id(m, acl), "ruleNumber": 100, "egress": False, "protocol": "tcp",
                     "ruleAction": "allow", "cidrBlock": "0.0.0.0/0", "fromPort": 22, "toPort": 22},
                    {"networkAclId": [acl.urn]})

    def default_nacl(m):
        return _add(m, "aws:ec2/defaultNetworkAcl:DefaultNetworkAcl", "x-default-nacl",
                    {"defaultNetworkAclId": "acl-1", "ingress": [{"protocol": "-1", "ruleNo": 100, "action": "allow",
                                                                  "cidrBlock": "0.0.0.0/0", "fromPort": 0, "toPort": 0}]})

    def private_subnet_on_public_table(m):
        public = next(r for r in m.by_type("aws:ec2/routeTable:RouteTable") if "public" in r.name)
        assoc = next(r for r in m.by_type("aws:ec2/routeTableAssociation:RouteTableAssociation") if "-core-" in r.name)
        assoc.property_dependencies["routeTableId"] = [public.urn]
        assoc.inputs["routeTableId"] = _id(m, public)
        return next(r for r in m.by_type("aws:ec2/route:Route") if "public" in r.name)

    def public_ip_subnet(m):
        subnet = _subnet(m, "data")
        subnet.inputs["mapPublicIpOnLaunch"] = True
        return subnet

    world_all = {"protocol": "-1", "ruleNo": 100, "action": "allow", "cidrBlock": "0.0.0.0/0", "fromPort": 0, "toPort": 0}
    return [
        ("an EIP on an instance", add("aws:ec2/eip:Eip", "x-eip", domain="vpc", instance="i-1"), "(instance)", "remove instance"),
        ("an EIP on an interface", add("aws:ec2/eip:Eip", "x-eip-eni", domain="vpc", networkInterface="eni-1"),
         "(networkInterface)", "remove networkInterface"),
        ("an EIP association", add("aws:ec2/eipAssociation:EipAssociation", "x-eip-assoc", instanceId="i-1",
                                   allocationId="eipalloc-1"), "instanceId", "remove it"),
        ("a launch template without IMDSv2", add("aws:ec2/launchTemplate:LaunchTemplate", "x-lt",
                                                 metadataOptions={"httpTokens": "optional"}),
         "metadataOptions.httpTokens", "http_tokens = 'required'"),
        ("a launch template with an unencrypted volume", add("aws:ec2/launchTemplate:LaunchTemplate", "x-lt-ebs",
                                                             metadataOptions={"httpTokens": "required"},
                                                             blockDeviceMappings=[{"deviceName": "/dev/xvda",
                                                                                   "ebs": {"encrypted": "false"}}]),
         "blockDeviceMappings[0].ebs.encrypted", "set encrypted"),
        ("a launch template with a public IP", add("aws:ec2/launchTemplate:LaunchTemplate", "x-lt-ip",
                                                   metadataOptions={"httpTokens": "required"},
                                                   networkInterfaces=[{"associatePublicIpAddress": "true"}]),
         "networkInterfaces[0].associatePublicIpAddress", "set it to 'false'"),
        ("a spot request without IMDSv2", add("aws:ec2/spotInstanceRequest:SpotInstanceRequest", "x-spot-imds",
                                              metadataOptions={"httpTokens": "optional"}, associatePublicIpAddress=False,
                                              rootBlockDevice={"encrypted": True}), "metadataOptions.httpTokens",
         "http_tokens = 'required'"),
        ("a spot request with a public IP", add("aws:ec2/spotInstanceRequest:SpotInstanceRequest", "x-spot-ip",
                                                metadataOptions={"httpTokens": "required"}, associatePublicIpAddress=True,
                                                rootBlockDevice={"encrypted": True}), "associatePublicIpAddress",
         "associate_public_ip_address = False"),
        ("an instance with a public IP", instance(associatePublicIpAddress=True), "associatePublicIpAddress",
         "associate_public_ip_address = False"),
        ("an instance with an unencrypted EBS volume", instance(ebsBlockDevices=[{"deviceName": "/dev/sdf",
                                                                                  "encrypted": False}]),
         "ebsBlockDevices[0]", "set encrypted = True"),
        ("an instance with IMDSv1", instance(metadataOptions={"httpTokens": "optional"}), "metadataOptions.httpTokens",
         "http_tokens = 'required'"),
        ("an HTTP listener that forwards", http_forward, "protocol HTTP", "redirect to HTTPS"),
        ("an aws.alb HTTP listener", add("aws:alb/listener:Listener", "x-alb-http", port=8080, protocol="HTTP",
                                         loadBalancerArn="arn", defaultActions=[{"type": "forward"}]),
         "protocol HTTP", "redirect to HTTPS"),
        ("a classic ELB on HTTP", add("aws:elb/loadBalancer:LoadBalancer", "x-elb",
                                      listeners=[{"lbPort": 80, "lbProtocol": "http", "instancePort": 8009,
                                                  "instanceProtocol": "http"}]), "listeners[0].lbProtocol",
         "HTTPS listener only"),
        ("a private default route to the internet gateway", private_default_to_igw, "gatewayId", "natGatewayId"),
        ("a private IPv6 default route to the internet gateway", private_v6_to_igw, "::/0", "natGatewayId"),
        ("an inline private route to the internet gateway", inline_route, "routes[0]", "natGatewayId"),
        ("a network ACL open to the world on a core subnet", nacl("core", world_all), "ingress[0]", "narrow or remove"),
        ("a network ACL open on tcp/22 to the frontend subnet", nacl("frontend", {**world_all, "protocol": "tcp",
                                                                                "fromPort": 22, "toPort": 22}),
         "tcp/22", "narrow or remove"),
        ("a network ACL rule from the world on tcp/22", nacl_rule, "tcp/22", "narrow or remove"),
        ("the default network ACL open to the world", default_nacl, "all protocols and ports", "narrow or remove"),
        ("a private subnet associated with the public route table", private_subnet_on_public_table, "0.0.0.0/0",
         "natGatewayId"),
        ("a private subnet mapping public IPs on launch", public_ip_subnet, "mapPublicIpOnLaunch",
         "map_public_ip_on_launch = False"),
    ]


def test_class3_exposure_mutants_are_all_reported(recordings, capsys):
    total, survivors = _report(capsys, "class 3 (AWS exposure and hardening)", _kill_on_aws_stacks(_class3, recordings))
    assert total == len(AWS_STACKS) * 2 * 23 and not survivors, survivors[:5]


def test_network_acls_allow_return_traffic_and_the_listeners(recordings):
    """The ACL decision's allowed side: ephemeral return traffic anywhere, tcp/443 from the world to the frontend."""
    m = copy.deepcopy(recordings[("aws-ha", "update")])
    for zone, entries in (("core", [{"protocol": "tcp", "ruleNo": 100, "action": "allow", "cidrBlock": "0.0.0.0/0",
                                     "fromPort": 1024, "toPort": 65535}]),
                          ("frontend", [{"protocol": "tcp", "ruleNo": 100, "action": "allow", "cidrBlock": "0.0.0.0/0",
                                         "fromPort": 443, "toPort": 443}])):
        subnet = _subnet(m, zone)
        _add(m, "aws:ec2/networkAcl:NetworkAcl", f"x-nacl-{zone}", {"subnetIds": [subnet.id], "ingress": entries},
             {"subnetIds": [subnet.urn]})
    assert analyze_in_process(m) == []


# ---- class 7: preview, AWS -------------------------------------------------------------------------------------
def _class7():
    """(what, hide(rec) -> (record, property), plant(rec) -> (record, field, fix)) on the preview recordings."""
    def hide_input(find, key, shown=None):
        def change(m):
            record = find(m)
            node, *path = key.split(".")
            if path:
                record.inputs[node][path[0]] = UNKNOWN_TEXT
            else:
                record.inputs[node] = UNKNOWN_TEXT
            return record, shown or key
        return change

    def hide_tag(find, key):
        def change(m):
            record = find(m)
            record.inputs["tags"][key] = UNKNOWN_TEXT
            return record, f"tags.{key}"
        return change

    def plant_instance(role, field, fix, **inputs):
        def change(m):
            inst = _instance_with(m, role)
            inst.inputs.update(copy.deepcopy(inputs))
            return inst, field, fix
        return change

    def plant_case(cases_of, index):
        def change(m):
            what, mutate, field, fix = cases_of()[index]
            return mutate(m), field, fix
        return change

    def hide_inline_cidr(m):
        group = _set_inline(m, "api", "ingress", [{"protocol": "tcp", "fromPort": 22, "toPort": 22,
                                                  "cidrBlocks": [UNKNOWN_TEXT]}])
        return group, "ingress[0].cidrBlocks[0]"

    def hide_sg_ids(m):
        inst = _instance_with(m, "api")
        inst.inputs["vpcSecurityGroupIds"] = UNKNOWN_TEXT
        return inst, "vpcSecurityGroupIds"

    def hide_route(m):
        route = next(r for r in m.by_type("aws:ec2/route:Route") if "private" in r.name)
        route.inputs["destinationCidrBlock"] = UNKNOWN_TEXT
        return route, "destinationCidrBlock"

    required_rule = lambda m: _rule_for(m, INGRESS, "api", "frontend")      # noqa: E731
    alb = lambda m: m.by_type(LB)[0]                                        # noqa: E731
    return [
        ("a required rule's fromPort unknown", hide_input(required_rule, "fromPort"), plant_case(_class1, 17)),
        ("a required rule's protocol unknown", hide_input(required_rule, "ipProtocol"),
         plant_instance("api", "associatePublicIpAddress", "= False", associatePublicIpAddress=True)),
        ("an instance's roles tag unknown", hide_tag(lambda m: _instance_with(m, "api"), "abiquo-lab.roles"),
         plant_case(_class3, 0)),
        ("a group's role tag unknown", hide_tag(lambda m: _group(m, "api"), ROLE), plant_case(_class2, 10)),
        ("an inline rule's CIDR unknown", hide_inline_cidr, plant_case(_class1, 0)),
        ("the ALB's internal unknown", hide_input(alb, "internal"), plant_case(_class3, 11)),
        ("an instance's httpTokens unknown", hide_input(lambda m: _instance_with(m, "api"), "metadataOptions.httpTokens"),
         plant_instance("api", "ebsBlockDevices[0]", "set encrypted = True",
                        ebsBlockDevices=[{"deviceName": "/dev/sdf", "encrypted": False}])),
        ("an instance's group list unknown", hide_sg_ids, plant_case(_class2, 7)),
        ("a private route's destination unknown", hide_route, plant_case(_class3, 17)),
        ("an egress rule's toPort unknown", hide_input(lambda m: _rule_for(m, EGRESS, "api"), "toPort"),
         plant_case(_class1, 19)),
    ]


def test_class7_an_aws_unknown_hides_nothing_and_is_an_advisory_naming_resource_and_property(recordings, capsys):
    def in_process(recs):
        return [analyze_in_process(r) for r in recs]
    results = {stack: _judge7(_class7(), recordings[(stack, "preview")], in_process) for stack in AWS_STACKS}
    total, survivors = _report(capsys, "class 7 (preview, AWS)", results)
    assert total == len(AWS_STACKS) * 10 and not survivors, survivors[:5]


# ---- class 8: malformed AWS input -------------------------------------------------------------------------------
def _class8():
    def rule_input(type_, key, value, on="api"):
        def change(m):
            rule = _rule_for(m, type_, on)
            rule.inputs[key] = value
            return rule
        return change

    def legacy(**inputs):
        return lambda m: _legacy(m, inputs.pop("type", "ingress"), "api", **{"protocol": "tcp", "fromPort": 8009,
                                                                             "toPort": 8009, **inputs})

    def inline(value):
        return lambda m: _set_inline(m, "api", "ingress", value)

    def nacl_ports(m):
        subnet = _subnet(m, "core")
        return _add(m, "aws:ec2/networkAcl:NetworkAcl", "x-nacl-bad", {"subnetIds": [UNKNOWN_TEXT], "ingress": [
            {"protocol": "tcp", "ruleNo": 1, "action": "allow", "cidrBlock": "0.0.0.0/0", "fromPort": "ssh", "toPort": 22}]},
            {"subnetIds": [subnet.urn]})

    def listener_actions(m):
        listener = next(r for r in m.by_type(LISTENER) if r.inputs["protocol"] == "HTTP")
        listener.inputs["defaultActions"] = 5
        return listener

    def metadata(m):
        inst = _instance_with(m, "api")
        inst.inputs["metadataOptions"] = "required"
        return inst

    return [
        ("a rule's port that is no number", rule_input(INGRESS, "fromPort", "http"), "fromPort", "write the rule as"),
        ("a rule without a protocol", rule_input(EGRESS, "ipProtocol", None), "ipProtocol is missing", "write the rule as"),
        ("a legacy rule of type both", legacy(type="both"), "type 'both'", "write the rule as"),
        ("a legacy rule's CIDRs not a list", legacy(cidrBlocks=5), "cidrBlocks is not a list", "write the rule as"),
        ("a legacy rule's port a boolean", legacy(fromPort=True, cidrBlocks=["10.0.0.0/8"]), "fromPort", "write the rule as"),
        ("inline ingress entries that are text", inline(["tcp/22"]), "ingress[0] is not a rule", "write the rule as"),
        ("an inline entry without a protocol", inline([{"fromPort": 22, "toPort": 22, "cidrBlocks": ["0.0.0.0/0"]}]),
         "ingress[0].protocol is missing", "write the rule as"),
        ("a network ACL port that is no number", nacl_ports, "ingress[0].fromPort", "write numbers"),
        ("an HTTP listener's actions not a list", listener_actions, "defaultActions", "redirect to HTTPS"),
        ("metadataOptions not a map", metadata, "metadataOptions.httpTokens", "http_tokens = 'required'"),
    ]


def test_class8_malformed_aws_input_is_a_violation_never_a_crash(recordings, capsys):
    total, survivors = _report(capsys, "class 8 (malformed, AWS)", _kill_on_aws_stacks(_class8, recordings))
    assert total == len(AWS_STACKS) * 2 * 10 and not survivors, survivors[:5]


ODD = [None, 5, True, "x", "", [], {}, [None], [5], ["x"], [{}], {"x": 1}, UNKNOWN_TEXT, [UNKNOWN_TEXT], [{"x": UNKNOWN_TEXT}]]


def test_no_aws_input_of_any_shape_crashes_the_pack(recordings):
    """Every input of an instance, a group, a rule, the ALB, a listener and a route set to odd shapes, one at a
    time, plus the same for a legacy rule and a network ACL: a verdict, never a crash."""
    rec = copy.deepcopy(recordings[("aws-distributed", "preview")])
    _legacy(rec, "ingress", "api", protocol="tcp", fromPort=1, toPort=1, cidrBlocks=["10.0.0.0/8"])
    _add(rec, "aws:ec2/networkAcl:NetworkAcl", "x-nacl", {"ingress": [{"protocol": "tcp", "action": "allow"}]},
         {"subnetIds": [_subnet(rec, "core").urn]})
    targets = [_instance_with(rec, "api"), _group(rec, "api"), _rule_for(rec, INGRESS, "api"), rec.by_type(LB)[0],
               rec.by_type(LISTENER)[0], rec.by_type("aws:ec2/route:Route")[0], rec.by_type(LEGACY)[0],
               rec.by_type("aws:ec2/networkAcl:NetworkAcl")[0]]
    crashes = []
    for target in targets:
        for key in sorted({*target.inputs, "ingress", "egress", "tags", "securityGroups", "routes"}):
            for value in ODD:
                mutant = copy.deepcopy(rec)
                record = next(r for r in mutant.records if r.urn == target.urn)
                record.inputs[key] = copy.deepcopy(value)
                try:
                    found = analyze_in_process(mutant)
                except Exception as exc:                   # noqa: BLE001 -- what is tested is that none escapes
                    crashes.append((target.name, key, value, repr(exc)[:160]))
                    continue
                escaped = [v for v in found if v.message.startswith("can't run policy")]
                if escaped:
                    crashes.append((target.name, key, value, escaped[0].message[:160]))
    assert not crashes, crashes[:5]


def test_aws_verdicts_are_the_same_over_grpc(recordings):
    rec = recordings[("aws-ha", "preview")]
    total, survivors = _judge7(_class7()[:4], rec, analyze_many_grpc)
    assert not survivors, survivors
    assert_same_verdicts_over_grpc(rec, _class1()[::5] + _class2()[::4] + _class3()[::5] + _class8()[::4])


def test_an_unknown_that_escapes_a_policy_is_the_sdks_advisory_in_process_too(recordings, monkeypatch):
    """Should a policy still read an unknown unguarded, the in-process driver does what the SDK does over gRPC:
    that policy becomes an advisory for the stack; the others still run and nothing is raised."""
    import abiquo_guard
    from abiquo_guard.inventory import unknown_error

    def escapes(inv, config, report):
        raise unknown_error("tags", "abiquo-lab.role")
    description, _ = abiquo_guard.STACK_CHECKS["lifecycle-labels"]
    monkeypatch.setitem(abiquo_guard.STACK_CHECKS, "lifecycle-labels", (description, escapes))
    m = copy.deepcopy(recordings[("aws-ha", "preview")])
    _instance_with(m, "api").inputs["associatePublicIpAddress"] = True
    found = analyze_in_process(m)
    assert [(v.policy, v.level) for v in found if v.message.startswith("can't run policy")] == [
        ("lifecycle-labels", "advisory")]
    assert any(v.policy == "aws-instance-no-public-ip" and v.level == "mandatory" for v in found)
