"""Red team of the pack's AWS checks: ordinary ways to get a bad thing past them that the class tests
(test_pack_aws_classes, test_pack_aws_vip, test_policy_pack) do not already try. Each attack mutates the recorded
aws-ha stack (update and preview mode) and requires a mandatory violation with the given words; the ones the pack
accepts by design (README, Policies, "Not checked") are tested to stay clean, so a change of verdict is seen."""
import copy

import pytest

from labctl.check.analyzer import analyze_grpc, analyze_in_process
from labctl.preview import UNKNOWN_TEXT, record_stack
from test_pack_aws_classes import (EGRESS, INGRESS, INSTANCE, LB, LEGACY, LISTENER, ROLE, SG, _add, _group,
                                   _instance_with, _legacy, _rule_for, _set_inline, _vpc)

ATTACHMENT = "aws:lb/targetGroupAttachment:TargetGroupAttachment"
ALB_ATTACHMENT = "aws:alb/targetGroupAttachment:TargetGroupAttachment"
WORLD = {"cidrBlocks": ["0.0.0.0/0"]}


@pytest.fixture(scope="module", params=[False, True], ids=["update", "preview"])
def recording(request):
    return record_stack("aws-ha", preview=request.param)


def _mandatory(rec):
    return [v for v in analyze_in_process(rec) if v.level == "mandatory"]


def _alb(rec):
    return next(r for r in rec.by_type(LB) if r.inputs["loadBalancerType"] == "application")


def _nlb(rec):
    return next(r for r in rec.by_type(LB) if r.inputs["loadBalancerType"] == "network")


def _vip_listener(rec, port):
    return next(r for r in rec.by_type(LISTENER) if r.inputs["port"] == port and r.inputs["protocol"] == "TCP")


def _vip_group_urn(rec, port):
    return _vip_listener(rec, port).property_dependencies["defaultActions"][0]


def _vip_attachment(rec, port):
    return next(r for r in rec.by_type(ATTACHMENT) if f"-tg-{port}-" in r.name)


def _copy(rec, record, suffix, type_=None):
    twin = copy.deepcopy(record)
    twin.urn, twin.name = record.urn + suffix, record.name + suffix
    if type_:
        twin.type, twin.urn = type_, twin.urn.replace(record.type, type_)
    rec.records.append(twin)
    return twin


# ---- attacks: (mutate(rec), words a mandatory violation must hold) ----------------------------------------------
def _vpc_world(**ports):
    return lambda m: _vpc(m, INGRESS, "api", "x-world", cidrIpv4="0.0.0.0/0", **ports)


def _second_frontend_alb(m):
    alb = _copy(m, _alb(m), "-2")
    alb.property_dependencies["securityGroups"] = [_group(m, "datanode").urn]
    return alb


def _alb_target_attachment(m):
    """The other module's attachment puts a stranger (an API's address) behind the VIP's 3306 listener."""
    stranger = _copy(m, _vip_attachment(m, 3306), "-alb", ALB_ATTACHMENT)
    stranger.inputs["targetId"] = _instance_with(m, "api").inputs["privateIp"]


def _instance_id_target(m):
    attachment = _vip_attachment(m, 3306)
    member = _instance_with(m, "datanode")
    attachment.inputs["targetId"] = UNKNOWN_TEXT if m.preview else member.id
    attachment.property_dependencies["targetId"] = [member.urn]


def _vip_listener_protocol(protocol):
    def mutate(m):
        _vip_listener(m, 3306).inputs["protocol"] = protocol
    return mutate


def _extra_vip_listener(m):
    listener = _copy(m, _vip_listener(m, 3306), "-22")
    listener.inputs["port"] = 22.0


def _attachment_port(m):
    _vip_attachment(m, 6379).inputs["port"] = 3306.0


def _alb_rule_to_vip_group(m):
    rule = next(r for r in m.by_type("aws:lb/listenerRule:ListenerRule") if r.name.endswith("-rule-api"))
    rule.property_dependencies["actions"] = [_vip_group_urn(m, 3306)]


def _internal_lb_with_role_group(m):
    lb = _add(m, LB, "x-internal-relay", {"loadBalancerType": "network", "internal": True,
                                          "securityGroups": [UNKNOWN_TEXT if m.preview else "sg-api"]},
              {"securityGroups": [_group(m, "api").urn]})
    return lb


def _unknown_role_world_open(m):
    group = _group(m, "api")
    group.inputs["tags"][ROLE] = UNKNOWN_TEXT if m.preview else "api"
    _vpc(m, INGRESS, "api", "x-world-all", ipProtocol="-1", cidrIpv4="0.0.0.0/0")


def _unknown_beside_world(m):
    rule = _rule_for(m, INGRESS, "api", "frontend")
    rule.inputs["fromPort"] = UNKNOWN_TEXT if m.preview else rule.inputs["fromPort"]
    _vpc(m, INGRESS, "api", "x-world-22", ipProtocol="tcp", fromPort=22, toPort=22, cidrIpv4="0.0.0.0/0")


def _eip_association(m):
    member = _instance_with(m, "datanode")
    _add(m, "aws:ec2/eipAssociation:EipAssociation", "x-eip-assoc",
         {"instanceId": UNKNOWN_TEXT if m.preview else member.id, "allocationId": "eipalloc-1"},
         {"instanceId": [member.urn]})


def _public_subnet_instance(m):
    inst = _instance_with(m, "datanode")
    inst.inputs.pop("associatePublicIpAddress", None)


def _bootstrap_ingress(m):
    return _vpc(m, INGRESS, "bootstrap", "x-bootstrap-in", peer="api", ipProtocol="tcp", fromPort=22, toPort=22)


def _egress_all_to_group(m):
    return _vpc(m, EGRESS, "api", "x-api-all", peer="datanode", ipProtocol="-1")


def _egress_vip_other_port(m):
    return _vpc(m, EGRESS, "api", "x-api-vip-22", peer="services-vip", ipProtocol="tcp", fromPort=22, toPort=22)


def _hop_other_port(m):
    return _vpc(m, INGRESS, "datanode", "x-hop-22", peer="services-vip", ipProtocol="tcp", fromPort=22, toPort=22)


def _world_to_vip_group(m):
    return _legacy(m, "ingress", "services-vip", protocol="tcp", fromPort=3306, toPort=3306, **WORLD)


def _group_and_cidr(m):
    rule = _vpc(m, INGRESS, "api", "x-both", peer="frontend", ipProtocol="tcp", fromPort=8009, toPort=8009)
    rule.inputs["cidrIpv4"] = "0.0.0.0/0"


def _inline_several_cidrs(m):
    _set_inline(m, "mysql", "ingress", [{"protocol": "tcp", "fromPort": 3306, "toPort": 3306,
                                         "cidrBlocks": ["10.95.0.0/16", "0.0.0.0/0"]}])


def _inline_ipv6(m):
    _set_inline(m, "mysql", "ingress", [{"protocol": "tcp", "fromPort": 3306, "toPort": 3306,
                                         "ipv6CidrBlocks": ["2001:db8::/32"]}])


def _legacy_self(m):
    return _legacy(m, "ingress", "mysql", protocol="tcp", fromPort=22, toPort=22, self=True)


def _alb_module_listener_on_the_vip(m):
    listener = _copy(m, _vip_listener(m, 3306), "-alb22", "aws:alb/listener:Listener")
    listener.inputs["port"] = 22.0


def _eip_on_instance(m):
    member = _instance_with(m, "datanode")
    _add(m, "aws:ec2/eip:Eip", "x-eip", {"domain": "vpc", "instance": UNKNOWN_TEXT if m.preview else member.id},
         {"instance": [member.urn]})


def _http_listener(**inputs):
    def mutate(m):
        listener = next(r for r in m.by_type(LISTENER) if r.inputs["protocol"] == "HTTP")
        listener.inputs.update(inputs)
        listener.inputs["defaultActions"] = [{"type": "forward", "targetGroupArn": "tg"}]
        if inputs.get("protocol") is None:
            listener.inputs.pop("protocol")
    return mutate


def _rule_on_the_http_listener(m):
    http = next(r for r in m.by_type(LISTENER) if r.inputs["protocol"] == "HTTP")
    rule = _copy(m, next(r for r in m.by_type("aws:lb/listenerRule:ListenerRule") if r.name.endswith("-rule-api")),
                 "-http")
    rule.property_dependencies["listenerArn"] = [http.urn]


def _half_default_to_igw(m):
    route = next(r for r in m.by_type("aws:ec2/route:Route") if "private" in r.name)
    for half in ("0.0.0.0/1", "128.0.0.0/1"):
        twin = _copy(m, route, "-" + half.split(".")[0])
        twin.inputs["destinationCidrBlock"] = half
        twin.inputs.pop("natGatewayId", None)
        twin.property_dependencies.pop("natGatewayId", None)
        igw = m.by_type("aws:ec2/internetGateway:InternetGateway")[0]
        twin.inputs["gatewayId"] = UNKNOWN_TEXT if m.preview else igw.id
        twin.property_dependencies["gatewayId"] = [igw.urn]


def _group_tagged_world(m):
    """A group tagged with the role 'world' must not stand for the world: the public flow is then not allowed."""
    for rule in [r for r in m.by_type(INGRESS) if {r.inputs.get("cidrIpv4"), r.inputs.get("cidrIpv6")} & {"0.0.0.0/0", "::/0"}]:
        m.records.remove(rule)
    fake = _copy(m, _group(m, "api"), "-world")
    fake.inputs["tags"][ROLE] = "world"
    for port in (80, 443):
        _vpc(m, INGRESS, "frontend", f"x-from-fake-world-{port}", ipProtocol="tcp", fromPort=port, toPort=port)
        m.records[-1].property_dependencies["referencedSecurityGroupId"] = [fake.urn]


def _acl_half_world(m):
    subnet = next(r for r in m.by_type("aws:ec2/subnet:Subnet") if r.inputs["tags"].get("abiquo-lab.zone") == "core")
    entries = [{"protocol": "-1", "ruleNo": 100 + i, "action": "allow", "cidrBlock": half, "fromPort": 0, "toPort": 0}
               for i, half in enumerate(("0.0.0.0/1", "128.0.0.0/1"))]
    _add(m, "aws:ec2/networkAcl:NetworkAcl", "x-nacl-halves", {"subnetIds": [UNKNOWN_TEXT if m.preview else subnet.id],
                                                               "ingress": entries}, {"subnetIds": [subnet.urn]})


def _target_group_port(m):
    for attachment in m.by_type(ATTACHMENT):
        if "-tg-6379-" in attachment.name:
            attachment.inputs.pop("port")
    group = m.by_urn()[_vip_group_urn(m, 6379)]
    group.inputs["port"] = 22.0


def _unknown_group_beside_an_extra(m):
    """In preview one group's role tag is not known; the instance also carries another role's group: still extra."""
    _group(m, "bootstrap").inputs["tags"][ROLE] = UNKNOWN_TEXT if m.preview else "bootstrap"
    inst = _instance_with(m, "api")
    inst.property_dependencies["vpcSecurityGroupIds"].append(_group(m, "datanode").urn)
    inst.inputs["vpcSecurityGroupIds"].append(UNKNOWN_TEXT if m.preview else "sg-datanode")


def _inline_literal_beside_a_reference(m):
    """Two inline entries on api: one references the frontend's group, the other names a literal ID on the same
    planned port; the property depends on the frontend's group only."""
    reference = UNKNOWN_TEXT if m.preview else "awsha-sg-frontend-securitygroup-id"
    _set_inline(m, "api", "ingress", [{"protocol": "tcp", "fromPort": 8009, "toPort": 8009, "securityGroups": [reference]},
                                      {"protocol": "tcp", "fromPort": 8009, "toPort": 8009, "securityGroups": ["sg-0evil"]}],
                ("frontend",))


ATTACKS = {
    "protocol '6' from the world": (_vpc_world(ipProtocol="6", fromPort=22, toPort=22), "opens sg 'api' to the world"),
    "protocol 'TCP' from the world": (_vpc_world(ipProtocol="TCP", fromPort=22, toPort=22), "opens sg 'api' to the world"),
    "protocol 'Tcp' from the world on 443": (_vpc_world(ipProtocol="Tcp", fromPort=443, toPort=443), "opens sg 'api' to the world"),
    "ports as text from the world": (_vpc_world(ipProtocol="tcp", fromPort="22", toPort="22"), "tcp/22"),
    "ports as fractions": (lambda m: _vpc(m, INGRESS, "api", "x-frac", peer="frontend", ipProtocol="tcp",
                                          fromPort=8009.5, toPort=8009.5), "is not a port number"),
    "a wider range holding a planned port": (lambda m: _vpc(m, INGRESS, "api", "x-wide", peer="frontend",
                                                            ipProtocol="tcp", fromPort=8000, toPort=8010),
                                             "tcp/8000-8010) maps to no catalog flow"),
    "a group reference and a CIDR in one rule": (_group_and_cidr, "opens sg 'api' to the world"),
    "self on a legacy rule": (_legacy_self, "(sg 'mysql' from sg 'mysql', tcp/22) maps to no catalog flow"),
    "several CIDRs, one the world": (_inline_several_cidrs, "opens sg 'mysql' to the world"),
    "an IPv6 CIDR inline": (_inline_ipv6, "admits CIDR 2001:db8::/32"),
    "a second internet-facing ALB tagged frontend with the datanode group": (_second_frontend_alb, "carries sg 'datanode'"),
    "a VIP listener on TCP_UDP": (_vip_listener_protocol("TCP_UDP"), "port 3306"),
    "a VIP listener on TLS": (_vip_listener_protocol("TLS"), "port 3306"),
    "a VIP listener on a port the VIP does not serve": (_extra_vip_listener, "port 22"),
    "a VIP attachment by instance ID": (_instance_id_target, "by its ID (targetId)"),
    "a VIP attachment on another port": (_attachment_port, "port 3306"),
    "an aws.alb attachment of a stranger to the VIP": (_alb_target_attachment, "not a datanode member's proxy address"),
    "the ALB forwarding to the VIP's target group": (_alb_rule_to_vip_group, "target group"),
    "an internal load balancer carrying a role's group": (_internal_lb_with_role_group, "carries sg 'api'"),
    "an EIP associated with a datanode": (_eip_association, "EIP association 'x-eip-assoc'"),
    "an instance's associatePublicIpAddress unset": (_public_subnet_instance, "associatePublicIpAddress"),
    "egress -1 to a group": (_egress_all_to_group, "allows all ports"),
    "egress to the VIP group on a port it does not serve": (_egress_vip_other_port, "x-api-vip-22"),
    "a hop on a port the VIP does not serve": (_hop_other_port, "x-hop-22"),
    "the VIP group from the world": (_world_to_vip_group, "opens sg 'services-vip' to the world"),
    "ingress on the bootstrap group": (_bootstrap_ingress, "x-bootstrap-in"),
    "an aws.alb listener on the VIP's NLB": (_alb_module_listener_on_the_vip, "port 22"),
    "an EIP naming an instance": (_eip_on_instance, "Elastic IP 'x-eip'"),
    "a plain HTTP listener written in lower case": (_http_listener(protocol="http"), "serves plain HTTP"),
    "a listener without a protocol (HTTP on an ALB)": (_http_listener(protocol=None), "protocol"),
    "a forwarding rule on the HTTP listener": (_rule_on_the_http_listener, "plain HTTP"),
    "a private default route split in halves to the IGW": (_half_default_to_igw, "to the internet gateway"),
    "a network ACL open to the world in two halves": (_acl_half_world, "allows public addresses (0.0.0.0/1)"),
    "a VIP target group on another port (attachments without one)": (_target_group_port, "to port 22"),
    "an extra group beside a group whose role is not known yet": (_unknown_group_beside_an_extra, "carries sg 'datanode'"),
    "an inline literal ID beside a referenced group": (_inline_literal_beside_a_reference, "a literal ID"),
    "a group tagged with the role 'world'": (_group_tagged_world, "is not allowed"),
    "world on all protocols on a group whose role is not known yet": (_unknown_role_world_open, "x-world-all"),
    "an unknown rule beside a world rule of the same group": (_unknown_beside_world, "x-world-22"),
}


@pytest.mark.parametrize("what", list(ATTACKS))
def test_each_attack_is_reported_mandatory(recording, what):
    mutate, words = ATTACKS[what]
    mutant = copy.deepcopy(recording)
    mutate(mutant)
    found = _mandatory(mutant)
    assert any(words in v.message for v in found), (what, [v.message[:200] for v in found][:5])


def _alb_value_unknown(key):
    def mutate(m):
        if key == "role":
            _alb(m).inputs["tags"][ROLE] = UNKNOWN_TEXT
        else:
            _alb(m).inputs[key] = UNKNOWN_TEXT
    return mutate


def _duplicate_rule(m):
    _copy(m, _rule_for(m, INGRESS, "api", "frontend"), "-again")


def _second_frontend_alb_alike(m):
    _copy(m, _alb(m), "-2")


def _private_acl(m):
    subnet = next(r for r in m.by_type("aws:ec2/subnet:Subnet") if r.inputs["tags"].get("abiquo-lab.zone") == "core")
    _add(m, "aws:ec2/networkAcl:NetworkAcl", "x-nacl-vpc", {"subnetIds": [subnet.id], "ingress": [
        {"protocol": "-1", "ruleNo": 100, "action": "allow", "cidrBlock": "10.95.0.0/16", "fromPort": 0, "toPort": 0}]},
        {"subnetIds": [subnet.urn]})


def _inline_same_reference_twice(m):
    reference = UNKNOWN_TEXT if m.preview else "awsha-sg-frontend-securitygroup-id"
    _set_inline(m, "api", "ingress", [{"protocol": "tcp", "fromPort": 8009, "toPort": 8009, "securityGroups": [reference]}
                                      for _ in range(2)], ("frontend",))


def _nlb_value_unknown(key):
    def mutate(m):
        if key == "role":
            _nlb(m).inputs["tags"][ROLE] = UNKNOWN_TEXT
        else:
            _nlb(m).inputs[key] = UNKNOWN_TEXT
    return mutate


ACCEPTED = {           # by design (README, Policies): no mandatory violation
    "the frontend ALB's type not known in preview": _alb_value_unknown("loadBalancerType"),
    "the frontend ALB's role tag not known in preview": _alb_value_unknown("role"),
    "the frontend ALB's scheme not known in preview": _alb_value_unknown("internal"),
    "the VIP NLB's type not known in preview": _nlb_value_unknown("loadBalancerType"),
    "the VIP NLB's role tag not known in preview": _nlb_value_unknown("role"),
    "a duplicate of a planned rule (the same permission twice)": _duplicate_rule,
    "a second internet-facing ALB like the frontend's (same group, no listener of its own)": _second_frontend_alb_alike,
    "a network ACL allowing the VPC's own range": _private_acl,
    "two inline entries referencing the same planned group": _inline_same_reference_twice,
}


@pytest.mark.parametrize("what", list(ACCEPTED))
def test_what_is_accepted_by_design_stays_clean(recording, what):
    mutant = copy.deepcopy(recording)
    ACCEPTED[what](mutant)
    found = _mandatory(mutant)
    assert found == [], (what, [v.message[:200] for v in found][:5])


def test_the_attacks_get_the_same_verdicts_over_grpc():
    """The gRPC driver (what the CLI runs) agrees with the in-process one on a sample of the attacks."""
    rec = record_stack("aws-ha", preview=True)
    for what in ("world on all protocols on a group whose role is not known yet", "a VIP attachment by instance ID",
                 "an aws.alb attachment of a stranger to the VIP", "a plain HTTP listener written in lower case"):
        mutant = copy.deepcopy(rec)
        ATTACKS[what][0](mutant)
        over_grpc = sorted((v.policy, v.level, v.message) for v in analyze_grpc(mutant))
        assert over_grpc == sorted((v.policy, v.level, v.message) for v in analyze_in_process(mutant)), what
        assert any(ATTACKS[what][1] in message for _, level, message in over_grpc if level == "mandatory"), what
