"""The Pulumi program for the AWS stacks under mocks, in update mode (mocks return arn/dnsName) and in preview
mode (IDs unknown): one ingress rule per documented flow, joined to its groups through property dependencies;
world ingress only on the load balancer's listener ports; hardened private instances; everything tagged."""
import importlib
import json
import inspect
import ipaddress
import re

import pytest

from abiquo_lab.plan import build_plan
from labctl.preview import record_program, record_stack
from abiquo_lab.labspec import LabConfigError, check_spec, load_stack, read_stack_config
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
    config = {**read_stack_config("aws-ha"), "switches": {"dhcp": "isc", "collectd_metrics": True, "monitoring": True}}   # A49: condition monitoring
    recording = record_program("aws-ha", config, program, preview=True)
    assert {"A49", "B14"} <= {f.id for f in build_plan(check_spec(config)).flows}
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


# ---- fixed addresses and the datanodes' cluster settings (the AWS HA lab is HA in behaviour, not only in shape)
SUBNET = "aws:ec2/subnet:Subnet"


def _subnet_of(rec, record, key="subnetId"):
    by_urn = {r.urn: r for r in rec.by_type(SUBNET)}
    return [ipaddress.ip_network(by_urn[u].inputs["cidrBlock"]) for u in record.property_dependencies[key]]


def _usable(address, net):
    """Inside the subnet and not one of the addresses AWS keeps (the first four and the last)."""
    ip = ipaddress.ip_address(address)
    return ip in net and net[4] <= ip <= net[-2]


def test_every_instance_and_nlb_has_a_fixed_unique_address_in_its_subnet(recorded):
    """Known at preview (plain inputs, no apply()), inside the instance's own subnet, never an address AWS keeps,
    and no two alike: primaries, the VIP members' secondary addresses and the NLB's addresses."""
    plan, rec = recorded
    taken = []
    for r in rec.by_type(INSTANCE):
        (net,) = _subnet_of(rec, r)
        mine = [r.inputs["privateIp"], *(r.inputs.get("secondaryPrivateIps") or [])]
        assert all(isinstance(a, str) and _usable(a, net) for a in mine), (r.name, mine, net)
        taken += mine
    for nlb in (r for r in rec.by_type("aws:lb/loadBalancer:LoadBalancer") if r.inputs["loadBalancerType"] == "network"):
        mappings = nlb.inputs["subnetMappings"]
        nets = _subnet_of(rec, nlb, "subnetMappings")
        assert len(nets) == len(mappings) >= 2
        assert all(_usable(m["privateIpv4Address"], net) for m, net in zip(mappings, nets))
        taken += [m["privateIpv4Address"] for m in mappings]
    assert len(taken) == len(set(taken))
    members = {m for vip in plan.vips if vip.listeners for m in vip.members}
    secondaries = {r.name.rsplit("-", 2)[-2] + "-" + r.name.rsplit("-", 1)[-1]: r.inputs.get("secondaryPrivateIps")
                   for r in rec.by_type(INSTANCE)}
    if plan.layout == "ha":
        assert {h for h, found in secondaries.items() if found} == members and all(len(found) == 1 for found in secondaries.values() if found)


def test_addresses_are_the_same_in_preview_and_update():
    for stack in AWS_STACKS:
        got = [{r.name: (r.inputs["privateIp"], r.inputs.get("secondaryPrivateIps")) for r in record_stack(stack, preview=p).by_type(INSTANCE)}
               for p in (False, True)]
        assert got[0] == got[1]


def test_a_zone_too_small_for_its_fixed_addresses_is_a_clear_error():
    from abiquo_lab.contract import InputError
    from components.aws_backend import aws_addresses
    plan = build_plan(load_stack("aws-ha"))
    data = next(z for z in plan.zones if z.name == "data")
    tiny = plan.model_copy(update={"zones": [z.model_copy(update={"cidr": "10.95.2.0/28"}) if z is data else z for z in plan.zones]})
    with pytest.raises(InputError, match=r"subnet 10\.95\.2\.0/29 \(zone network data\) needs 5 fixed addresses, AWS leaves 3"):
        aws_addresses(tiny, 2)


def _env_of(user_data_text):
    body = user_data_text.split("cat > /etc/abiquo-lab.env <<'ENV'\n", 1)[1].split("\nENV\n", 1)[0]
    return {key: json.loads(value) for key, _, value in (line.partition("=") for line in body.splitlines())}


def _named(value, names):
    """A setting with each address replaced by whose it is: settings compare across labs and backends."""
    return re.sub(r"\b\d+\.\d+\.\d+\.\d+\b", lambda m: names.get(m.group(0), f"?{m.group(0)}"), value)


@pytest.mark.parametrize("datanode", ["datanode-1", "datanode-2", "datanode-3"])
def test_the_datanode_user_data_carries_the_docker_nodes_cluster_settings_at_aws_addresses(datanode):
    """Compared with node_env of the Docker HA lab's same node: every setting equal once addresses are named by
    their owner, but the documented differences -- the VIP proxy binds the member's own secondary address (the NLB's
    target) where Docker's binds the VIP, keepalived does not run (no LAB_VIPS, no keepalived hook), and the security
    groups are the allowlist."""
    from components.aws_backend import aws_addresses, user_data
    from components.nodes import host_allow_rules, node_env
    docker_plan, aws_plan = build_plan(load_stack("docker-ha")), build_plan(load_stack("aws-ha"))
    addresses = aws_addresses(aws_plan, 2)
    docker_host = docker_plan.host(datanode)
    docker = node_env(docker_plan, docker_host, host_allow_rules(docker_plan, docker_host))
    aws = _env_of(user_data(aws_plan, aws_plan.host(datanode), "pw", addresses, 2, erlang_cookie="COOKIE"))
    docker_names = {a: h.name for h in docker_plan.hosts for a in h.interfaces.values()}
    docker_names.update({v.address: "BIND" for v in docker_plan.vips_of(datanode)})
    aws_names = {**{a: h for h, a in addresses.primary.items()}, addresses.proxy[datanode]: "BIND"}
    assert aws["LAB_ERLANG_COOKIE"] == "COOKIE" and aws["LAB_DB_PASSWORD"] == "pw"
    assert "LAB_VIPS" in docker and "LAB_VIPS" not in aws
    assert aws["LAB_START"].split() == [hook for hook in docker["LAB_START"].split() if hook != "keepalived"]
    assert "vip_proxy" in aws["LAB_START"].split() and "galera" in aws["LAB_START"].split()
    same = set(docker) - {"LAB_VIPS", "LAB_START", contract_allow()}
    assert same <= set(aws)
    for key in sorted(same):
        assert _named(aws[key], aws_names) == _named(docker[key], docker_names), key
    peers = json.loads(aws["LAB_PEERS"])["datanode"]
    assert [name for name, _ in peers] == ["datanode-1", "datanode-2", "datanode-3"]
    assert [address for _, address in peers] == [addresses.primary[n] for n, _ in peers]


def contract_allow():
    return labels.ALLOW_ENV


def test_the_datanode_user_data_names_its_peers_and_binds_its_proxy_address():
    """RabbitMQ names its nodes rabbit@<host name>: the instance takes the plan's host name and every peer's name
    resolves to its fixed address; services-vip resolves to the NLB in the host's zone; the proxy's secondary address
    is put on the interface (and bindable before it is there)."""
    from components.aws_backend import aws_addresses, user_data
    plan = build_plan(load_stack("aws-ha"))
    addresses = aws_addresses(plan, 2)
    text = user_data(plan, plan.host("datanode-2"), "pw", addresses, 2, erlang_cookie="C")
    script = text.split("<<'NET'\n", 1)[1].split("NET\n", 1)[0]
    assert "hostnamectl set-hostname datanode-2" in script
    for name in ("datanode-1", "datanode-2", "datanode-3"):
        assert f"echo '{addresses.primary[name]} {name} # abiquo-lab' >> /etc/hosts" in script
    assert f"echo '{addresses.balancer['services-vip'][1]} services-vip # abiquo-lab' >> /etc/hosts" in script
    assert f"ip addr replace {addresses.proxy['datanode-2']}/32 dev" in script and "ip_nonlocal_bind=1" in script
    assert "ExecStartPre=/usr/local/sbin/abiquo-lab-network" in text and "preserve_hostname: true" in text
    api = user_data(plan, plan.host("api-1"), "pw", addresses, 2)
    assert "LAB_ERLANG_COOKIE" not in api and "ip addr replace" not in api


def test_the_services_vip_is_an_internal_nlb_forwarding_to_the_members_proxies(recorded):
    plan, rec = recorded
    vips = [v for v in plan.vips if v.listeners]
    nlbs = [r for r in rec.by_type("aws:lb/loadBalancer:LoadBalancer") if r.inputs["loadBalancerType"] == "network"]
    assert len(nlbs) == len(vips)
    if not vips:
        return
    (vip,), (nlb,) = vips, nlbs
    groups = _group_urns(plan, rec)
    assert nlb.inputs["internal"] is True and nlb.inputs["enableCrossZoneLoadBalancing"] is True
    assert nlb.property_dependencies["securityGroups"] == [groups[vip.name]]
    assert all("subnet-data" in u for u in nlb.property_dependencies["subnetMappings"])
    listeners = [r for r in rec.by_type("aws:lb/listener:Listener") if nlb.urn in r.property_dependencies["loadBalancerArn"]]
    assert sorted(l.inputs["port"] for l in listeners) == sorted(l.port for l in vip.listeners)
    assert all(l.inputs["protocol"] == "TCP" for l in listeners)
    instances = {r.name.split("-", 2)[-1]: r for r in rec.by_type(INSTANCE)}
    proxies = {instances[m].inputs["secondaryPrivateIps"][0] for m in vip.members}
    for listener in listeners:
        (group_urn,) = listener.property_dependencies["defaultActions"]
        (group,) = [r for r in rec.by_type("aws:lb/targetGroup:TargetGroup") if r.urn == group_urn]
        assert (group.inputs["protocol"], group.inputs["targetType"], group.inputs["port"]) == ("TCP", "ip", listener.inputs["port"])
        check = group.inputs["healthCheck"]
        assert (check["protocol"], check["interval"], check["healthyThreshold"], check["unhealthyThreshold"]) == ("TCP", 5, 2, 2)
        assert group.inputs["deregistrationDelay"] == 5 and group.inputs["connectionTermination"] is True
        assert group.inputs["preserveClientIp"] == "false"        # else the hop rule would not admit the clients
        targets = [r for r in rec.by_type("aws:lb/targetGroupAttachment:TargetGroupAttachment")
                   if r.property_dependencies["targetGroupArn"] == [group.urn]]
        assert {t.inputs["targetId"] for t in targets} == proxies and {t.inputs["port"] for t in targets} == {listener.inputs["port"]}


def test_the_vip_groups_rules_are_the_clients_flows_and_the_hop(recorded):
    """Clients' VIP flows are ingress rules on the VIP's group (from their groups, never a CIDR); the datanode group
    admits the VIP group on exactly the listener ports; no client reaches the datanode group on a VIP port unless the
    plan has that direct flow; no VRRP rule is left; egress matches."""
    plan, rec = recorded
    vips = [v for v in plan.vips if v.listeners]
    if not vips:
        return
    (vip,) = vips
    groups = _group_urns(plan, rec)
    names = {u: n for n, u in groups.items()}
    on_vip = [r for r in rec.by_type(INGRESS) if r.property_dependencies["securityGroupId"] == [groups[vip.name]]]
    wanted = {(f.src_role, f.port) for f in plan.flows if f.dst == vip.name}
    assert {(names[r.property_dependencies["referencedSecurityGroupId"][0]], r.inputs["fromPort"]) for r in on_vip} == wanted
    assert not any(r.inputs.get("cidrIpv4") or r.inputs.get("cidrIpv6") for r in on_vip)
    hop = [r for r in rec.by_type(INGRESS) if r.property_dependencies.get("referencedSecurityGroupId") == [groups[vip.name]]]
    assert {(names[r.property_dependencies["securityGroupId"][0]], r.inputs["fromPort"]) for r in hop} == \
        {(vip.role, l.port) for l in vip.listeners}
    assert not [r for r in rec.by_type(INGRESS) + rec.by_type(EGRESS) if r.inputs["ipProtocol"] == "112"]
    out = {(names[r.property_dependencies["securityGroupId"][0]], names.get((r.property_dependencies.get("referencedSecurityGroupId") or [""])[0]),
            r.inputs.get("fromPort")) for r in rec.by_type(EGRESS)}
    assert {(src, vip.name, port) for src, port in wanted} <= out
    assert {(vip.name, vip.role, l.port) for l in vip.listeners} <= out


def test_the_stack_reports_the_instances_aws_addresses(recorded):
    """The Lab's `hosts` output names where each instance really is on AWS, not the plan's Docker addresses."""
    plan, rec = recorded
    (lab,) = rec.by_type("abiquo:lab:Lab")
    instances = {r.name.split("-", 2)[-1]: r.inputs["privateIp"] for r in rec.by_type(INSTANCE)}
    assert lab.outputs["hosts"] == instances


def test_a_subnet_too_small_for_the_fixed_addresses_stops_the_program_before_any_aws_resource():
    """Eleven datanodes in a /27 data zone (two /28 subnets, 11 usable addresses each) pass the lab spec, but the
    first subnet needs 13 fixed addresses: a clear error naming the subnet and the zone, and no AWS resource."""
    from abiquo_lab.contract import InputError
    config = read_stack_config("aws-ha")
    config = {**config, "nodes": {**config["nodes"], "datanode": 11}, "subnets": {"data": "10.95.2.0/27"}}
    with pytest.raises(InputError) as info:
        record_program("bad", config, program, preview=True)
    assert str(info.value) == ("backend aws: subnet 10.95.2.0/28 (zone network data) needs 13 fixed addresses, AWS leaves "
                               "11 usable; give the zone a larger network (address_pool, subnets)")
    assert not [r for r in info.value.records if r.type.startswith("aws:")]


def test_only_a_vip_whose_proxies_serve_every_client_port_is_a_load_balancer():
    """services-vip (clients use only its proxy listeners) is the NLB; the frontend's VIP is the ALB; the monitoring
    VIP, which clients also reach on a port no proxy listens on (Emmett, A29/A30), is not an NLB: its flows go to the
    members' group."""
    config = {**read_stack_config("aws-ha"), "switches": {"monitoring": True}}
    plan = build_plan(check_spec(config))
    assert {v.name for v in plan.vips} >= {"services-vip", "frontend-vip", "monitoring-vip"}
    assert [v.name for v in plan.balanced_vips()] == ["services-vip"]
    monitoring = plan.vip("monitoring-vip")
    assert {f.port for f in plan.flows if f.dst == "monitoring-vip"} - {l.port for l in monitoring.listeners}
