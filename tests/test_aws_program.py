"""The Pulumi program for the AWS stacks under mocks, in update mode (mocks return arn/dnsName) and in preview
mode (IDs unknown): one ingress rule per documented flow, joined to its groups through property dependencies;
world ingress only on the load balancer's listener ports; hardened private instances; everything tagged."""
import importlib
import json
import inspect

import pytest

from abiquo_lab.plan import build_plan
from labctl.preview import record_program, record_stack
from abiquo_lab.labspec import LabConfigError, load_stack, read_stack_config
from abiquo_lab.labspec import STACKS_DIR
from abiquo_lab import contract as labels
from components.aws_backend import WORLD, egress_rules, ingress_rules, vip_hop_rules
from components.program import main as program

AWS_STACKS = ["aws-distributed", "aws-ha"]
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
SG = "aws:ec2/securityGroup:SecurityGroup"
INSTANCE = "aws:ec2/instance:Instance"


@pytest.fixture(scope="module", params=[(s, p) for s in AWS_STACKS for p in (False, True)],
                ids=lambda sp: f"{sp[0]}-{'preview' if sp[1] else 'update'}")
def recorded(request):
    stack, preview = request.param
    return build_plan(load_stack(stack)), record_stack(stack, preview=preview)


def _group_urns(plan, rec):
    return {r.name.rsplit("-sg-", 1)[1]: r.urn for r in rec.by_type(SG)}


def test_every_flow_has_exactly_one_ingress_rule_joined_by_property_dependencies(recorded):
    plan, rec = recorded
    groups = _group_urns(plan, rec)
    rules = rec.by_type(INGRESS)
    expected = {**ingress_rules(plan), **vip_hop_rules(plan)}      # the flows' rules and each services VIP's hop
    assert len(rules) == sum(2 if key.src_role == "world" else 1 for key in expected)   # no rule without a flow
    for key, flows in expected.items():
        matches = [r for r in rules
                   if r.property_dependencies.get("securityGroupId") == [groups[key.dst_role]]
                   and (r.property_dependencies.get("referencedSecurityGroupId") == [groups.get(key.src_role)]
                        or key.src_role == "world" and r.inputs.get("cidrIpv4", r.inputs.get("cidrIpv6")) in WORLD)
                   and r.inputs["ipProtocol"] == {"vrrp": "112"}.get(key.protocol, key.protocol)
                   and r.inputs.get("fromPort") == key.port and r.inputs.get("toPort") == key.port_end]
        assert len(matches) == (2 if key.src_role == "world" else 1), key
        for rule in matches:
            assert rule.inputs["description"].split(" ")[0] in {f.id for f in flows} or not flows


def test_every_network_flow_maps_to_one_rule_or_has_no_aws_counterpart(recorded):
    plan, _ = recorded
    covered = [f for flows in ingress_rules(plan).values() for f in flows]
    assert len(covered) == len(set(map(id, covered)))
    uncovered = [f for f in plan.network_flows if not any(f is c for c in covered)]
    # leaving the lab, between the hosts the ALB stands for, or VRRP (keepalived does not run on AWS: the load
    # balancers hold the VIPs)
    assert all(f.egress or (f.src_role == f.dst_role == "frontend") or f.protocol == "vrrp" for f in uncovered)


def test_world_ingress_only_on_the_load_balancer_listener_ports(recorded):
    plan, rec = recorded
    alb_group = _group_urns(plan, rec)["frontend"]
    world = [r for r in rec.by_type(INGRESS) if r.inputs.get("cidrIpv4") in WORLD or r.inputs.get("cidrIpv6") in WORLD]
    assert {(r.inputs["fromPort"], r.inputs["toPort"]) for r in world} == {(443, 443), (80, 80)}
    assert all(r.property_dependencies["securityGroupId"] == [alb_group] for r in world)
    assert not any(r.inputs.get("cidrIpv4") or r.inputs.get("cidrIpv6") for r in rec.by_type(INGRESS) if r not in world)


def test_no_inline_rules_and_no_wide_egress(recorded):
    plan, rec = recorded
    assert not rec.by_type("aws:ec2/securityGroupRule:SecurityGroupRule")
    assert all("ingress" not in r.inputs and "egress" not in r.inputs for r in rec.by_type(SG))
    world_egress = [r for r in rec.by_type(EGRESS) if r.inputs.get("cidrIpv4") == "0.0.0.0/0"]
    assert all(r.inputs["ipProtocol"] != "-1" and r.inputs.get("fromPort") == r.inputs.get("toPort") for r in world_egress)
    planned = {(f.port) for f in plan.flows if f.egress} | {443}                    # egress flows + bootstrap default
    assert {r.inputs["fromPort"] for r in world_egress} == planned
    assert len(rec.by_type(EGRESS)) == len(egress_rules(plan)) + 1


def test_instances_are_private_hardened_and_reach_ssm(recorded):
    plan, rec = recorded
    instances = rec.by_type(INSTANCE)
    assert len(instances) == len([h for h in plan.hosts if h.primary != "frontend"])
    for r in instances:
        assert r.inputs["associatePublicIpAddress"] is False
        assert r.inputs["metadataOptions"]["httpTokens"] == "required"
        assert r.inputs["rootBlockDevice"]["encrypted"] is True
        assert "iamInstanceProfile" in r.property_dependencies
        subnet = r.property_dependencies["subnetId"][0]
        assert "frontend" not in subnet.rsplit("::", 1)[1]                          # never in a public subnet
    if not rec.preview:
        assert all("userData" in r.secret_paths for r in instances)               # carries the DB password: secret


def test_load_balancer_https_and_redirect(recorded):
    plan, rec = recorded
    (alb,) = [r for r in rec.by_type("aws:lb/loadBalancer:LoadBalancer") if r.inputs["loadBalancerType"] == "application"]
    assert alb.inputs["internal"] is False and alb.inputs["dropInvalidHeaderFields"] is True
    assert all("subnet-frontend" in urn for urn in alb.property_dependencies["subnets"])
    listeners = {r.inputs["port"]: r.inputs for r in rec.by_type("aws:lb/listener:Listener")}
    assert listeners[443]["protocol"] == "HTTPS" and listeners[443]["certificateArn"].startswith("arn:aws:acm:")
    redirect = listeners[80]["defaultActions"][0]
    assert redirect["type"] == "redirect" and redirect["redirect"]["protocol"] == "HTTPS"
    assert redirect["redirect"]["statusCode"] == "HTTP_301"
    paths = {tuple(r.inputs["conditions"][0]["pathPattern"]["values"]) for r in rec.by_type("aws:lb/listenerRule:ListenerRule")}
    assert ("/api", "/api/*") in paths
    attached = [r for r in rec.by_type("aws:lb/targetGroupAttachment:TargetGroupAttachment")]
    api_hosts = [h.name for h in plan.hosts if "api" in h.roles]
    assert sum(1 for r in attached if "tg-api-" in r.name) == len(api_hosts)


def _taggable(type_: str) -> bool:
    if not type_.startswith("aws:"):
        return False
    module, cls = type_.split(":")[1].split("/")[0], type_.split(":")[2]
    try:
        klass = getattr(importlib.import_module(f"pulumi_aws.{module}"), cls)
    except (ImportError, AttributeError):
        return False
    return "tags" in inspect.signature(klass._internal_init).parameters


def test_every_taggable_resource_carries_the_lifecycle_tags(recorded):
    _, rec = recorded
    taggable = [r for r in rec.records if _taggable(r.type)]
    assert len(taggable) > 100 if len(rec.records) > 150 else taggable
    for r in taggable:
        tags = r.inputs.get("tags", {})
        assert all(tags.get(key) not in (None, "") for key in labels.LIFECYCLE), (r.type, r.name)
    (provider,) = rec.by_type("pulumi:providers:aws")
    default_tags = provider.inputs["defaultTags"]
    default_tags = json.loads(default_tags) if isinstance(default_tags, str) else default_tags   # provider config: JSON text
    assert set(labels.LIFECYCLE) <= set(default_tags["tags"])


def test_preview_registers_the_same_resources_as_update():
    for stack in AWS_STACKS:
        shapes = [sorted((r.type, r.name) for r in record_stack(stack, preview=p).records) for p in (False, True)]
        assert shapes[0] == shapes[1]


def test_missing_certificate_is_a_clear_error_and_registers_nothing():
    from components.program import main
    config = read_stack_config("aws-distributed", STACKS_DIR)
    config["aws"] = {k: v for k, v in config["aws"].items() if k != "certificate_arn"}
    with pytest.raises(Exception) as info:
        record_program("bad", config, main, preview=False)
    assert "  - lab.aws.certificate_arn: required setting is missing: the frontend load balancer's HTTPS listener " \
           "needs an ACM certificate ARN (arn:aws:acm:<region>:<account>:certificate/<id>)" in str(info.value)
    assert info.value.records == []
    with pytest.raises(LabConfigError):
        from abiquo_lab.labspec import check_spec
        check_spec({**config, "aws": {**config["aws"], "certificate_arn": "arn:aws:iam::1:cert/x"}})



def test_only_the_load_balancer_ever_faces_the_world():
    """The renderer's own guard, flow by flow (the lab spec refuses such stacks first, see test_errors)."""
    from abiquo_lab.contract import InputError
    from components.aws_backend import _check_supported
    plan = build_plan(load_stack("aws-ha"))
    _check_supported(plan)
    public = next(f for f in plan.flows if f.public)
    to_rs = public.model_copy(update={"id": "A05", "dst": "rs-dc1", "dst_role": "rs", "dst_kind": "host", "port": 8009, "port_end": 8009})
    with pytest.raises(InputError, match="public flow\\(s\\) A05 → rs would open a host other than the load balancer"):
        _check_supported(plan.model_copy(update={"flows": plan.flows + [to_rs]}))


def test_flows_from_tenant_vms_render_no_rule_and_break_nothing():
    """DHCP (B14) and collectd (A49) come from tenant VMs, which the lab does not have: no security-group rule,
    no required flow, not probed -- on AWS this was a KeyError in the renderer."""
    from labctl.check.analyzer import analyze_in_process
    config = {**read_stack_config("aws-ha"), "switches": {"dhcp": "isc", "collectd_metrics": True}}
    recording = record_program("aws-ha", config, program, preview=True)
    assert not [r for r in recording.by_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
                if r.inputs.get("description", "").startswith(("B14", "A49"))]
    assert [v for v in analyze_in_process(recording) if v.level == "mandatory"] == []


def test_target_groups_check_fast_and_drain_briefly():
    """A dead UI or API node leaves the ALB's target group quickly: checks every 5 s (the ALB's minimum), two
    failures to go, two successes to come back, 5 s of draining."""
    from labctl.preview import record_stack
    groups = record_stack("aws-ha", preview=False).by_type("aws:lb/targetGroup:TargetGroup")
    assert groups
    for group in groups:
        check = group.inputs["healthCheck"]
        assert (check["interval"], check["timeout"], check["healthyThreshold"], check["unhealthyThreshold"]) == (5, 2, 2, 2)
        assert group.inputs["deregistrationDelay"] == 5


def test_user_data_installs_the_node_software_at_the_aws_addresses():
    """The AWS user data installs the same packages and node files (the Galera check included), at the instance's
    fixed AWS address, never the plan's Docker addresses."""
    from components.aws_backend import NODE_FILES, aws_addresses, user_data
    from components.nodes import NODE_PACKAGES
    plan = build_plan(load_stack("aws-ha"))
    addresses = aws_addresses(plan, 2)
    datanode = plan.hosts_with("datanode")[0]
    text = user_data(plan, datanode, "pw", addresses, 2, erlang_cookie="COOKIE")
    assert all(package in text for package in ("keepalived", "galera-4", "rsync")) and set(NODE_PACKAGES) <= set(text.split())
    assert "/usr/local/bin/lab-galera-check" in text and "lab-galera-check" in NODE_FILES
    assert f'\nLAB_ADDRESS="{addresses.primary[datanode.name]}"\n' in text
    assert not any(h.address in text for h in plan.hosts)
