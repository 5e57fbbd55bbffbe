"""Flows a stack declares (lab setting extra_flows; B23: "add the vendor's port as an extra flow in the stack"): part of
the intent, planned as X1, X2, ... marked stack-declared, rendered and enforced like catalog flows on both backends,
and checked by the pack, which re-derives them from the spec on the Lab component."""
import copy
import json

import pytest

from abiquo_lab.labspec import LabConfigError, check_spec, read_stack_config
from abiquo_lab.plan import allowlist, build_plan
from components.aws_backend import ingress_rules
from components.program import main as program
from labctl.check.analyzer import analyze_in_process
from labctl.preview import record_program
from labctl.views.views import explain_id, flow_rows, plan_text
from conftest import base_config

STORAGE_API = {"source": "rs", "destination": "storage", "port": 8443, "protocol": "tcp",
               "reason": "B23: the storage array's management API (vendor port)"}
ALLOWLIST = "abiquo-lab.allowlist"
CONTAINER = "docker:index/container:Container"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
LAB = "abiquo:lab:Lab"


def _plan(**overrides):
    return build_plan(check_spec(base_config(**overrides)))


def _declared(plan):
    return [f for f in plan.flows if f.declared]


def _stack(name, *extra, **switches):
    config = copy.deepcopy(read_stack_config(name))
    config["switches"] = {**config.get("switches", {}), "external_storage": True, **switches}
    if extra:
        config["extra_flows"] = list(extra)
    return config


# ---- plan --------------------------------------------------------------------------------------------------
def test_a_declared_flow_is_planned_between_the_hosts_it_names_in_their_site():
    plan = _plan(layout="ha", datacenters=["dc1", "dc2"], switches={"external_storage": True}, extra_flows=[STORAGE_API])
    flows = _declared(plan)
    assert {(f.id, f.src, f.dst, f.port, f.protocol) for f in flows} == {
        ("X1", "rs-dc1", "stor-dc1", 8443, "tcp"), ("X1", "rs-dc2", "stor-dc2", 8443, "tcp")}   # per-site, as catalog rows
    assert all(f.required and f.service == f.evidence == "stack-declared" and f.reason == STORAGE_API["reason"] for f in flows)
    assert not _declared(_plan(layout="ha", datacenters=["dc1", "dc2"], switches={"external_storage": True}))


def test_host_names_spans_and_udp_and_same_host_pairs():
    plan = _plan(layout="ha", extra_flows=[
        {"source": "api-1", "destination": "datanode", "port": "9000-9002", "protocol": "udp", "reason": "a span"},
        {"source": "api", "destination": "api", "port": 7000, "protocol": "tcp", "reason": "peers"}])
    x1 = [f for f in plan.flows if f.id == "X1"]
    assert {(f.src, f.dst, f.port, f.port_end, f.protocol) for f in x1} == {
        ("api-1", f"datanode-{i}", 9000, 9002, "udp") for i in (1, 2, 3)}
    assert {(f.src, f.dst) for f in plan.flows if f.id == "X2"} == {("api-1", "api-2"), ("api-2", "api-1")}  # no self pair


def test_a_declared_flow_is_in_the_allowlist_and_the_source_joins_the_network():
    plan = _plan(switches={"external_storage": True}, extra_flows=[STORAGE_API])
    entries = [e for e in allowlist(plan, "stor-dc1") if "X1" in e.ids]
    assert [(e.source, e.port, e.protocol) for e in entries] == [(plan.host("rs-dc1").address, 8443, "tcp")]
    assert not [e for h in plan.hosts if h.name != "stor-dc1" for e in allowlist(plan, h.name) if "X1" in e.ids]


def test_a_declared_flow_from_a_proxy_adds_no_route():
    plan = _plan(extra_flows=[{"source": "server", "destination": "rs", "port": 8080, "protocol": "tcp", "reason": "r"}])
    assert _declared(plan) and all(r.port != 8080 for h in plan.hosts for r in h.routes)


def test_every_view_marks_it_stack_declared():
    plan = _plan(switches={"external_storage": True}, extra_flows=[STORAGE_API])
    assert "  X1 rs-dc1 -> stor-dc1 8443/tcp network stack-declared: B23: the storage array's management API" in plan_text(plan)
    row = next(r for r in flow_rows(plan) if r["id"] == "X1")
    assert row["service"] == row["evidence"] == "stack-declared"
    from abiquo_lab.catalog import default_catalog
    text = explain_id(default_catalog(), "x1", plan)
    assert text.startswith("X1  stack-declared in lab 't'") and "reason    B23" in text and "rs-dc1 -> stor-dc1  8443/tcp" in text


@pytest.mark.parametrize("extra, problem", [
    ({"source": "rabbit"}, "lab.extra_flows[0].source: 'rabbit' is neither a role nor a host of this lab; roles: api, bpm, "
                           "datanode, frontend, guacd, m, mysql, nfs, rs, storage, ui; hosts: server, datanode-1, rs-dc1, "
                           "bpm-dc1, nfs-dc1, stor-dc1"),
    ({"destination": "user"}, "lab.extra_flows[0].destination: 'user' is neither a role nor a host of this lab"),
    ({"source": "user"}, "lab.extra_flows[0].source: 'user' is neither a role"),          # no public ingress this way
    ({"source": "cloud"}, "lab.extra_flows[0].source: 'cloud' is neither a role"),
    ({"destination": "services-vip"}, "lab.extra_flows[0].destination: 'services-vip' is neither a role"),
    ({"source": "remote-services"}, "lab.extra_flows[0].source: 'remote-services' is neither a role"),   # an alias
    ({"source": "storage"}, "lab.extra_flows[0]: storage -> storage joins no two hosts of this lab (both ends are the "
                            "same host, or in different sites); a flow within one host needs no rule"),
])
def test_names_the_plan_does_not_know_are_refused_naming_the_field(extra, problem):
    with pytest.raises(LabConfigError) as err:
        _plan(switches={"external_storage": True}, extra_flows=[{**STORAGE_API, **extra}])
    assert problem in str(err.value)


def _problems(**overrides):
    with pytest.raises(LabConfigError) as err:
        _plan(**overrides)
    return [str(p) for p in err.value.problems]


def _entry(**fields):
    return {"source": "rs", "destination": "server", "port": 9443, "protocol": "tcp", "reason": "r", **fields}


SERVED = ("; a stack declares only ports no catalog service serves on the destination (a client of a documented "
          "service is a catalog row or a switch: labctl switches)")


@pytest.mark.parametrize("entry, served", [
    (_entry(destination="datanode", port=3306), "3306/tcp on datanode-1 is mysql's (A"),        # an undocumented DB client
    (_entry(destination="datanode", port="3300-3310"), "3306/tcp on datanode-1 is mysql's (A"),  # a span over it
    (_entry(destination="datanode", port=6379), "6379/tcp on datanode-1 is redis's (A"),         # not blamed on redis_port
    (_entry(destination="server", port=443), "443/tcp on server is"),                            # the frontend's listener
    (_entry(source="datanode", destination="rs", port="8000-8999"), " on rs-dc1 is"),
])
def test_a_declared_flow_never_reaches_a_port_a_catalog_service_serves_there(entry, served):
    problems = _problems(extra_flows=[entry])
    assert len(problems) == 1 and problems[0].startswith("lab.extra_flows[0].port: ") and served in problems[0], problems
    assert problems[0].endswith(SERVED)


def test_a_declared_flow_never_reaches_a_vip_members_service_port():
    problems = _problems(layout="ha", extra_flows=[_entry(destination="datanode", port="5672")])
    assert problems[0].startswith("lab.extra_flows[0].port: 5672/tcp on datanode-1 is rabbitmq's"), problems


def test_a_port_no_service_serves_is_declared_and_udp_near_dns_too():
    plan = _plan(extra_flows=[_entry(destination="datanode", port=9443), _entry(port="50-60", protocol="udp")])
    assert {(f.id, f.dst, f.ports_text, f.protocol) for f in _declared(plan)} == {
        ("X1", "datanode-1", "9443", "tcp"), ("X2", "server", "50-60", "udp")}


@pytest.mark.parametrize("entries, problem", [
    ([_entry(), _entry()], "lab.extra_flows[1]: 9443/tcp rs-dc1 -> server overlaps lab.extra_flows[0] (9443/tcp); "
                           "declare each port once"),
    ([_entry(port="9400-9500"), _entry(source="rs-dc1", port=9443)],
     "lab.extra_flows[1]: 9443/tcp rs-dc1 -> server overlaps lab.extra_flows[0] (9400-9500/tcp); declare each port once"),
])
def test_a_port_is_declared_once_between_two_hosts(entries, problem):
    assert _problems(extra_flows=entries) == [problem]
    _plan(extra_flows=[entries[0], {**entries[1], "protocol": "udp"}])          # the other protocol is another port


@pytest.mark.parametrize("end", ["source", "destination"])
def test_the_aws_load_balancer_is_no_end_of_a_declared_flow(end):
    entry = _entry(**{end: "frontend"}, **({"source": "rs"} if end == "destination" else {"destination": "api"}))
    problems = _problems(backend="aws", aws={"certificate_arn": "arn:aws:acm:eu-west-1:123456789012:certificate/x"},
                         extra_flows=[entry])
    assert problems == [f"lab.extra_flows[0].{end}: 'frontend' is the cloud's load balancer on aws (it takes users' "
                        "HTTPS and forwards its routes, nothing else); a declared flow cannot start or end on it"]


@pytest.mark.parametrize("name, hint", [
    ("RS", "'RS' names role rs in another case or by an alias; write rs"),
    ("remote-services", "'remote-services' names role rs in another case or by an alias; write rs"),
    ("user", "'user' is outside the lab (role user): extra_flows join hosts of the lab, never users, providers or the internet"),
    ("CLOUD", "'CLOUD' is outside the lab (role cloud): extra_flows join hosts of the lab"),
    ("Storage", "'Storage' names role storage in another case or by an alias; write storage"),
])
def test_a_name_in_another_case_an_alias_or_outside_the_lab_says_what_to_write(name, hint):
    problems = _problems(switches={"external_storage": True}, extra_flows=[{**STORAGE_API, "source": name}])
    assert len(problems) == 1 and problems[0].startswith(f"lab.extra_flows[0].source: {name!r} is neither a role nor a host")
    assert hint in problems[0], problems


def test_a_host_name_is_exact():
    assert "'RS-DC1' is neither a role nor a host" in _problems(switches={"external_storage": True},
                                                              extra_flows=[{**STORAGE_API, "source": "RS-DC1"}])[0]


def test_a_declared_flow_never_puts_a_host_on_the_frontend_network():
    """On Docker the frontend network is the one network that is not internal (it reaches the machine's published
    ports and the outside): a declared flow to a frontend host would attach its source to it, giving a datanode
    a way out the catalog never gives it. Sources the catalog already puts there (RS: A23) may declare a port."""
    problems = _problems(layout="ha", extra_flows=[_entry(source="datanode-1", destination="lb-1")])
    assert problems == ["lab.extra_flows[0].destination: lb-1 is on the frontend network, the one network that reaches "
                        "outside the lab; the flow would attach datanode-1 to it, which no catalog flow does"]
    plan = _plan(layout="ha", extra_flows=[_entry(source="rs-dc1", destination="lb-1")])
    assert "frontend" in plan.host("rs-dc1").interfaces and [f.dst for f in _declared(plan)] == ["lb-1"]
    plan = _plan(layout="ha", extra_flows=[_entry(source="lb-1", destination="datanode-1")])   # the other way: lb joins data
    assert "data" in plan.host("lb-1").interfaces and "frontend" not in plan.host("datanode-1").interfaces


# ---- render: both backends ----------------------------------------------------------------------------------
def _container(rec, host):
    return next(r for r in rec.records if r.type == CONTAINER and any(
        l["label"] == "abiquo-lab.host" and l["value"] == host for l in r.inputs["labels"]))


def _label(record, key):
    return next(l["value"] for l in record.inputs["labels"] if l["label"] == key)


@pytest.fixture(scope="module")
def docker_recording():
    return record_program("docker-distributed", _stack("docker-distributed", STORAGE_API), program, preview=False)


@pytest.fixture(scope="module")
def aws_recording():
    return record_program("aws-distributed", _stack("aws-distributed", STORAGE_API), program, preview=False)


def test_the_docker_allowlist_admits_the_declared_flow(docker_recording):
    storage = _container(docker_recording, "stor-dc1")
    rows = json.loads(_label(storage, ALLOWLIST))
    assert [r for r in rows if r[3] == "X1"] == [["tcp", _rs_address(docker_recording), "8443", "X1"]]
    env = next(e for e in storage.inputs["envs"] if e.startswith("LAB_ALLOW="))
    assert json.loads(env.partition("=")[2]) == rows
    assert "tcp/8443" in next(e for e in storage.inputs["envs"] if e.startswith("LAB_LISTEN=")).split("=", 1)[1].split()


def _rs_address(rec):
    rs = _container(rec, "rs-dc1")
    return next(n["ipv4Address"] for n in rs.inputs["networksAdvanced"] if n["name"].endswith("-dc-dc1"))


def test_the_aws_ingress_rule_admits_the_declared_flow_and_says_so(aws_recording):
    rules = [r for r in aws_recording.by_type(INGRESS) if r.inputs.get("fromPort") == 8443]
    assert len(rules) == 1
    assert rules[0].inputs["description"] == "X1 rs->storage stack-declared"
    assert rules[0].inputs["toPort"] == 8443 and rules[0].inputs["ipProtocol"] == "tcp"
    plan = build_plan(check_spec(_stack("aws-distributed", STORAGE_API)))
    assert [k for k, flows in ingress_rules(plan).items() if any(f.declared for f in flows)] == [
        k for k in ingress_rules(plan) if k.port == 8443]


# ---- check: the pack re-derives the declared flow from the spec on the Lab component ----------------------------
def _undeclare(rec):
    """The same resources, but the Lab component's spec no longer declares the extra flow."""
    rec = copy.deepcopy(rec)
    lab = next(r for r in rec.records if r.type == LAB)
    for where in (lab.inputs, lab.outputs):
        spec = json.loads(where["spec"])
        spec["extra_flows"] = []
        where["spec"] = json.dumps(spec, sort_keys=True)
    return rec


def _mandatory(found):
    return [v for v in found if v.level == "mandatory"]


@pytest.mark.parametrize("fixture", ["docker_recording", "aws_recording"])
def test_the_pack_passes_a_declared_flow_and_refuses_it_undeclared(fixture, request):
    rec = request.getfixturevalue(fixture)
    assert _mandatory(analyze_in_process(rec)) == []
    found = _mandatory(analyze_in_process(_undeclare(rec)))
    assert found and all(v.policy == "nothing-beyond-intent" for v in found)
    assert all("8443" in v.message and ("maps to no catalog flow" in v.message or "maps to no flow of the plan" in v.message)
               for v in found)                               # ingress, and on AWS its egress too


def test_the_pack_requires_a_declared_flow(docker_recording):
    rec = copy.deepcopy(docker_recording)
    storage = _container(rec, "stor-dc1")
    for item in storage.inputs["labels"]:
        if item["label"] == ALLOWLIST:
            item["value"] = json.dumps([row for row in json.loads(item["value"]) if row[3] != "X1"])
    storage.inputs["envs"] = [e if not e.startswith("LAB_ALLOW=") else "LAB_ALLOW=" + _label(storage, ALLOWLIST)
                              for e in storage.inputs["envs"]]
    found = _mandatory(analyze_in_process(rec))
    assert [v.policy for v in found] == ["required-connections"] and found[0].message.startswith("X1 rs → storage tcp/8443")


def _rewrite_allowlist(rec, host, change):
    rec = copy.deepcopy(rec)
    container = _container(rec, host)
    rows = [change(row) for row in json.loads(_label(container, ALLOWLIST))]
    for item in container.inputs["labels"]:
        if item["label"] == ALLOWLIST:
            item["value"] = json.dumps(rows)
    container.inputs["envs"] = [e if not e.startswith("LAB_ALLOW=") else "LAB_ALLOW=" + json.dumps(rows)
                                for e in container.inputs["envs"]]
    return rec


def _bpm_address(rec):
    bpm = _container(rec, "bpm-dc1")
    return next(n["ipv4Address"] for n in bpm.inputs["networksAdvanced"] if n["name"].endswith("-dc-dc1"))


@pytest.mark.parametrize("how", ["a wider span", "another source", "udp instead of tcp"])
def test_a_declared_flow_covers_exactly_what_it_declares(docker_recording, how):
    """Claiming X1 for more than the declaration (a span, another host, another protocol) is refused like any
    undocumented entry: the pack matches entries to the plan's flows, not to the ids a label claims."""
    bpm = _bpm_address(docker_recording)
    change = {"a wider span": lambda r: [r[0], r[1], "8443-8444", r[3]],
              "another source": lambda r: [r[0], bpm, r[2], r[3]],
              "udp instead of tcp": lambda r: ["udp", r[1], r[2], r[3]]}[how]
    rec = _rewrite_allowlist(docker_recording, "stor-dc1", lambda r: change(r) if r[3] == "X1" else r)
    found = _mandatory(analyze_in_process(rec))
    assert any(v.policy == "nothing-beyond-intent" and "maps to no catalog flow (claimed: X1)" in v.message for v in found), found


def _rewrite_ingress(rec, port, change):
    rec = copy.deepcopy(rec)
    rule = next(r for r in rec.by_type(INGRESS) if r.inputs.get("fromPort") == port)
    change(rule, rec)
    return rec


def _group_urn(rec, role):
    return next(r.urn for r in rec.records if r.type == "aws:ec2/securityGroup:SecurityGroup" and f"-sg-{role}" in r.name)


@pytest.mark.parametrize("how", ["a wider span", "from the world", "from another group"])
def test_an_aws_rule_covers_exactly_what_it_declares(aws_recording, how):
    """The AWS rule that says X1 is held to the plan's X1 like the Docker row: no wider span, no CIDR source (public
    ingress to the storage array), no other group (the pack reads the peer group from the rule's dependencies)."""
    def change(rule, rec):
        if how == "a wider span":
            rule.inputs["toPort"] = 8444.0
        elif how == "from the world":
            rule.inputs.pop("referencedSecurityGroupId")
            rule.property_dependencies.pop("referencedSecurityGroupId")
            rule.inputs["cidrIpv4"] = "0.0.0.0/0"
        else:
            rule.inputs["referencedSecurityGroupId"] = "awsdist-sg-bpm-securitygroup-id"
            rule.property_dependencies["referencedSecurityGroupId"] = [_group_urn(rec, "bpm")]
    found = _mandatory(analyze_in_process(_rewrite_ingress(aws_recording, 8443, change)))
    assert found and any("8443" in v.message for v in found), found


def test_a_docker_row_claiming_x1_from_anywhere_is_refused(docker_recording):
    rec = _rewrite_allowlist(docker_recording, "stor-dc1", lambda r: [r[0], "any", r[2], r[3]] if r[3] == "X1" else r)
    found = _mandatory(analyze_in_process(rec))
    assert any(v.policy == "nothing-beyond-intent" and "(claimed: X1)" in v.message for v in found), found


def _declare_on_the_component(rec, *extra):
    """The same resources, but the Lab component's spec declares more than the stack file did."""
    rec = copy.deepcopy(rec)
    lab = next(r for r in rec.records if r.type == LAB)
    for where in (lab.inputs, lab.outputs):
        spec = json.loads(where["spec"])
        spec["extra_flows"] = [*spec["extra_flows"], *extra]
        where["spec"] = json.dumps(spec, sort_keys=True)
    return rec


@pytest.mark.parametrize("entry, words", [
    ({**STORAGE_API, "destination": "datanode", "port": 3306}, "lab.extra_flows[1].port: 3306/tcp on datanode-1 is"),
    ({**STORAGE_API, "source": "user"}, "lab.extra_flows[1].source: 'user' is neither a role nor a host"),
    ({**STORAGE_API, "port": "1-65535"}, "lab.extra_flows[1].port: a span opens at most 1000 ports"),
])
def test_the_pack_refuses_a_component_spec_the_validator_refuses(docker_recording, entry, words):
    """The pack re-checks the spec on the Lab component with the same validator: an entry `validate` refuses cannot be
    slipped in by registering it on the component."""
    found = _mandatory(analyze_in_process(_declare_on_the_component(docker_recording, entry)))
    assert any(words in v.message for v in found), found


def test_the_pack_requires_what_the_component_declares_beyond_the_resources(docker_recording):
    """A valid entry on the component that no resource renders is a missing required flow, not a pass."""
    extra = {**STORAGE_API, "source": "bpm", "port": 9443}
    found = _mandatory(analyze_in_process(_declare_on_the_component(docker_recording, extra)))
    assert [v.policy for v in found] == ["required-connections"] and found[0].message.startswith("X2 bpm → storage tcp/9443")


@pytest.mark.parametrize("fixture", ["docker_recording", "aws_recording"])
def test_the_program_registers_exactly_the_stack_files_extra_flows(fixture, request):
    """What the pack trusts (the spec on the Lab component) is what the stack file declares: the program writes the
    checked spec, nothing more (a program that registers more is outside what the pack can judge: README)."""
    lab = next(r for r in request.getfixturevalue(fixture).records if r.type == LAB)
    assert json.loads(lab.outputs["spec"])["extra_flows"] == [STORAGE_API]


def test_a44_is_declarable_where_rs_has_a_host_of_its_own():
    """A44's exclusion says a stack that needs it declares it: so it can, except in the monolithic layout, where the
    RS's Redis is the datanode's on the shared server (a served port; README)."""
    a44 = _entry(source="hypervisor", destination="rs", port=6379, reason="A44: AIM [monitor] redisHost")
    plan = _plan(switches={"hypervisor": "kvm"}, extra_flows=[a44])
    assert [(f.src, f.dst, f.port) for f in _declared(plan)] == [("hv-dc1", "rs-dc1", 6379)]
    problems = _problems(layout="monolithic", switches={"hypervisor": "kvm"}, extra_flows=[a44])
    assert problems[0].startswith("lab.extra_flows[0].port: 6379/tcp on server is redis's"), problems


@pytest.mark.parametrize("layout", ["monolithic", "distributed", "ha"])
def test_no_host_is_named_like_a_role_so_an_end_means_one_thing(layout, catalog):
    """An end is a role first, then a host: a host named like a role (a catalog host kind) would be unreachable by
    name. Every host of every layout, with every optional role on, keeps a name no role has."""
    plan = _plan(layout=layout, regions=["r1"], switches={"monitoring": True, "external_storage": True, "dhcp": "isc",
                                                          "hypervisor": "kvm"})
    assert len(plan.hosts) > 4 and not {h.name for h in plan.hosts} & {r.name for r in catalog.roles}


def test_a_row_claiming_x1_on_another_host_is_refused(docker_recording):
    """X1 admits rs on the storage host only: the same row on the BPM host is beyond intent."""
    row = next(r for r in json.loads(_label(_container(docker_recording, "stor-dc1"), ALLOWLIST)) if r[3] == "X1")
    found = _mandatory(analyze_in_process(_append_row(docker_recording, "bpm-dc1", row)))
    assert any(v.policy == "nothing-beyond-intent" and "(claimed: X1)" in v.message for v in found), found


def _append_row(rec, host, row):
    rec = copy.deepcopy(rec)
    container = _container(rec, host)
    rows = [*json.loads(_label(container, ALLOWLIST)), row]
    for item in container.inputs["labels"]:
        if item["label"] == ALLOWLIST:
            item["value"] = json.dumps(rows)
    container.inputs["envs"] = [e if not e.startswith("LAB_ALLOW=") else "LAB_ALLOW=" + json.dumps(rows)
                                for e in container.inputs["envs"]]
    return rec
