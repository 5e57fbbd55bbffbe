"""The pack on the AWS services VIP (an internal NLB with its own security group): the shipped aws-ha stack is
clean, and each ordinary way to break the VIP is reported: a listener missing or on another protocol or another
load balancer, a client rule missing on the VIP group (or put back on the datanode group), the NLB -> member hop
missing, the VIP group opened to a CIDR or the world, the NLB internet-facing, without the VIP's group, untagged
or gone."""
import copy

import pytest

from labctl.check.analyzer import analyze_grpc, analyze_in_process
from labctl.preview import record_stack

LB = "aws:lb/loadBalancer:LoadBalancer"
LISTENER = "aws:lb/listener:Listener"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
ROLE = "abiquo-lab.role"


@pytest.fixture(scope="module", params=[False, True], ids=["update", "preview"])
def recording(request):
    return record_stack("aws-ha", preview=request.param)


def _nlb(rec):
    (nlb,) = [r for r in rec.by_type(LB) if r.inputs["loadBalancerType"] == "network"]
    return nlb


def _rule(rec, name_end):
    (rule,) = [r for r in rec.by_type(INGRESS) if r.name.endswith(name_end)]
    return rule


def _without(rec, record):
    rec.records = [r for r in rec.records if r.urn != record.urn]


def _mandatory(rec):
    return [v for v in analyze_in_process(rec) if v.level == "mandatory"]


def test_the_shipped_stack_is_clean_and_has_the_vip_as_designed(recording):
    assert analyze_in_process(recording) == []
    nlb = _nlb(recording)
    assert nlb.inputs["internal"] is True and nlb.inputs["tags"][ROLE] == "services-vip"
    assert {r.inputs["port"] for r in recording.by_type(LISTENER) if nlb.urn in r.property_dependencies["loadBalancerArn"]} \
        == {3306, 5672, 6379}


def test_the_shipped_stack_is_clean_over_grpc():
    assert analyze_grpc(record_stack("aws-ha", preview=False)) == []


def _drop_listener(rec):
    _without(rec, next(r for r in rec.by_type(LISTENER) if r.inputs["port"] == 3306))


def _udp_listener(rec):
    next(r for r in rec.by_type(LISTENER) if r.inputs["port"] == 3306).inputs["protocol"] = "UDP"


def _listener_on_the_alb(rec):
    listener = next(r for r in rec.by_type(LISTENER) if r.inputs["port"] == 3306)
    alb = next(r for r in rec.by_type(LB) if r.inputs["loadBalancerType"] == "application")
    listener.property_dependencies["loadBalancerArn"] = [alb.urn]


def _drop_client_rule(rec):
    _without(rec, _rule(rec, "-services-vip-from-api-tcp-3306"))


def _client_rule_on_the_datanode_group(rec):
    rule = _rule(rec, "-services-vip-from-api-tcp-3306")
    datanode = next(r for r in rec.by_type("aws:ec2/securityGroup:SecurityGroup") if r.inputs["tags"].get(ROLE) == "datanode")
    rule.property_dependencies["securityGroupId"] = [datanode.urn]


def _drop_hop(rec):
    _without(rec, _rule(rec, "-datanode-from-services-vip-tcp-3306"))


def _open_to(cidr):
    def mutate(rec):
        rule = copy.deepcopy(_rule(rec, "-services-vip-from-api-tcp-3306"))
        rule.urn, rule.name = rule.urn + "-cidr", rule.name + "-cidr"
        rule.property_dependencies["referencedSecurityGroupId"] = []
        rule.inputs.pop("referencedSecurityGroupId", None)
        rule.inputs["cidrIpv6" if ":" in cidr else "cidrIpv4"] = cidr
        rec.records.append(rule)
    return mutate


def _internet_facing(rec):
    _nlb(rec).inputs["internal"] = False


def _internal_unset(rec):
    _nlb(rec).inputs.pop("internal")


def _without_the_vip_group(rec):
    nlb = _nlb(rec)
    nlb.inputs["securityGroups"], nlb.property_dependencies["securityGroups"] = [], []


def _untagged(rec):
    del _nlb(rec).inputs["tags"][ROLE]


def _no_nlb(rec):
    nlb = _nlb(rec)
    rec.records = [r for r in rec.records if r.urn != nlb.urn and r.parent != nlb.urn]


MUTANTS = {
    "a VIP listener missing": (_drop_listener, "has no TCP listener on port 3306"),
    "a VIP listener on UDP": (_udp_listener, "has no TCP listener on port 3306"),
    "the VIP listener on the ALB": (_listener_on_the_alb, "has no TCP listener on port 3306"),
    "a client rule missing on the VIP group": (_drop_client_rule, "no ingress rule on sg 'services-vip' from sg 'api' for tcp/3306"),
    "the client rule on the datanode group": (_client_rule_on_the_datanode_group, "no ingress rule on sg 'services-vip'"),
    "the NLB -> member hop missing": (_drop_hop, "sg 'datanode' does not admit sg 'services-vip' on tcp/3306"),
    "the VIP group opened to a private CIDR": (_open_to("10.0.0.0/8"), "(sg 'services-vip' from CIDR 10.0.0.0/8, tcp/3306) admits CIDR 10.0.0.0/8"),
    "the VIP group opened to the world": (_open_to("0.0.0.0/0"), "tcp/3306) opens sg 'services-vip' to the world"),
    "the VIP group opened to the IPv6 world": (_open_to("::/0"), "tcp/3306) opens sg 'services-vip' to the world"),
    "the NLB internet-facing": (_internet_facing, "is internet-facing; the services VIP is for the lab only"),
    "the NLB's scheme unset": (_internal_unset, "is internet-facing; the services VIP is for the lab only"),
    "the NLB without the VIP's group": (_without_the_vip_group, "'awsha-services-vip-nlb' lacks sg 'services-vip' (securityGroups)"),
    "the NLB's role tag gone": (_untagged, "no network load balancer carries role tag 'services-vip'"),
    "no NLB at all": (_no_nlb, "no network load balancer carries role tag 'services-vip'"),
}


@pytest.mark.parametrize("what", list(MUTANTS))
def test_each_way_to_break_the_vip_is_reported(recording, what):
    mutate, words = MUTANTS[what]
    mutant = copy.deepcopy(recording)
    mutate(mutant)
    found = _mandatory(mutant)
    assert any(words in v.message for v in found), (what, [v.message for v in found][:5])


def _instance(rec, host):
    (found,) = [r for r in rec.by_type("aws:ec2/instance:Instance") if r.inputs["tags"].get("abiquo-lab.host") == host]
    return found


def _attachments(rec, port):
    return [r for r in rec.by_type(ATTACHMENT) if f"-tg-{port}-" in r.name]


def _target_a_stranger(rec):
    _attachments(rec, 3306)[0].inputs["targetId"] = _instance(rec, "api-1").inputs["privateIp"]


def _target_a_members_primary(rec):
    attachment = _attachments(rec, 3306)[0]
    member = attachment.name.rsplit("-", 2)[-2] + "-" + attachment.name.rsplit("-", 1)[-1]
    attachment.inputs["targetId"] = _instance(rec, member).inputs["privateIp"]


def _drop_a_member(rec):
    _without(rec, _attachments(rec, 3306)[0])


def _drop_every_target(rec):
    for attachment in _attachments(rec, 3306):
        _without(rec, attachment)


ATTACHMENT = "aws:lb/targetGroupAttachment:TargetGroupAttachment"
TARGET_MUTANTS = {
    "a target outside the VIP (an API's address)": (_target_a_stranger, "not a datanode member's proxy address"),
    "a member's primary address as target (its real MariaDB, not its proxy)": (_target_a_members_primary, "not a datanode member's proxy address"),
    "a member left out": (_drop_a_member, "does not forward to member(s) datanode-"),   # whichever was dropped
    "no target at all": (_drop_every_target, "does not forward to member(s) datanode-1, datanode-2, datanode-3"),
}


@pytest.mark.parametrize("what", list(TARGET_MUTANTS))
def test_the_vip_forwards_to_every_members_proxy_and_nothing_else(recording, what):
    mutate, words = TARGET_MUTANTS[what]
    mutant = copy.deepcopy(recording)
    mutate(mutant)
    found = _mandatory(mutant)
    assert any(words in v.message for v in found), (what, [v.message for v in found][:5])


@pytest.mark.parametrize("tag", [None, "datanode"], ids=["untagged", "tagged-as-a-role"])
def test_another_internet_facing_nlb_is_reported(recording, tag):
    """An NLB that is no services VIP's (untagged, or tagged with a role) cannot face the world either."""
    mutant = copy.deepcopy(recording)
    extra = copy.deepcopy(_nlb(mutant))
    extra.urn, extra.name = extra.urn + "-extra", extra.name + "-extra"
    extra.inputs["internal"] = False
    extra.inputs["tags"].pop(ROLE)
    if tag:
        extra.inputs["tags"][ROLE] = tag
    mutant.records.append(extra)
    assert any("load balancer 'awsha-services-vip-nlb-extra' is internet-facing" in v.message for v in _mandatory(mutant))
