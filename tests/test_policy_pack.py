"""The policy pack: clean on every shipped stack (gRPC and in-process, preview and update), and it kills every
mutant -- for each required flow, removing what allows it (allowlist entry, shared network, ingress rule) is
reported as exactly that kind of violation for that flow; injected excess and broken layouts are caught."""
import copy
import json

import pytest

from labctl.check.analyzer import analyze_grpc, analyze_in_process, analyze_many_grpc, policy_config
from abiquo_lab.plan import allowlist, build_plan
from labctl.preview import record_stack
from abiquo_lab.labspec import load_stack
from conftest import SHIPPED_STACKS

ALLOWLIST = "abiquo-lab.allowlist"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
CONTAINER = "docker:index/container:Container"


@pytest.fixture(scope="module")
def recordings():
    return {(s, p): record_stack(s, preview=p) for s in SHIPPED_STACKS for p in (True, False)}


def test_every_shipped_stack_is_clean_over_grpc_and_in_process(recordings):
    keys = list(recordings)
    over_grpc = analyze_many_grpc([recordings[k] for k in keys])
    for key, found in zip(keys, over_grpc):
        assert found == [], (key, found[:3])
        assert analyze_in_process(recordings[key]) == [], key


def test_the_intent_is_on_the_lab_component_as_input_and_output(recordings):
    """The engine gives analyzers a component's registered outputs: the spec must be there as well as in its inputs."""
    for (stack, _), rec in recordings.items():
        (lab,) = rec.by_type("abiquo:lab:Lab")
        assert json.loads(lab.inputs["spec"]) == json.loads(lab.outputs["spec"])
        assert json.loads(lab.outputs["spec"])["name"] == build_plan(load_stack(stack)).lab


def test_the_pack_states_every_level_explicitly():
    config = policy_config()
    assert config and all(entry["enforcementLevel"] == ("advisory" if name == "judged-at-update" else "mandatory")
                          for name, entry in config.items())
    with pytest.raises(ValueError, match="unknown policy 'no-such-policy'"):
        policy_config({"no-such-policy": "advisory"})


@pytest.mark.parametrize("config, words", [
    ({"required-connections": "MANDATORY"}, "required-connections.enforcementLevel: 'MANDATORY' is not a level"),
    ({"required-connections": 7}, "7 is not a level; levels: advisory, mandatory, disabled, remediate"),
    ({"required-connections": ["mandatory"]}, "['mandatory'] is not a level"),
    ({"required-connections": {"requireRows": "A01"}}, "required-connections.requireRows: must be an array (got 'A01')"),
    ({"required-connections": {"requireRows": [5]}}, "requireRows: [0]: must be a string (got 5)"),
    ({"required-connections": {"requireRows": ["A17"]}}, "unknown row 'A17'; valid rows: A01"),
    ({"required-connections": {"requirerows": ["A01"]}}, "requirerows: unknown setting; allowed: enforcementLevel, requireRows"),
    ({"nothing-beyond-intent": {"extraAllowedFlows": [{"from": "api", "to": "datanode"}]}}, "[0]: needs port"),
    ({"nothing-beyond-intent": {"extraAllowedFlows": [{"from": "api", "to": "x", "port": "22"}]}}, "port: must be an integer"),
])
def test_a_pack_config_is_checked_before_anything_runs(config, words):
    """A level the SDK does not know would turn a mandatory policy advisory (or crash the pack over gRPC)."""
    from abiquo_lab.contract import InputError
    with pytest.raises(InputError) as err:
        policy_config(config)
    assert words in str(err.value)


# ---- mutation helpers ---------------------------------------------------------------------------------------
def _container(rec, host):
    return next(r for r in rec.records if r.type == CONTAINER and any(
        l["label"] == "abiquo-lab.host" and l["value"] == host for l in r.inputs["labels"]))


def _edit_allowlist(record, keep):
    for item in record.inputs["labels"]:
        if item["label"] == ALLOWLIST:
            item["value"] = json.dumps([row for row in json.loads(item["value"]) if keep(row)])


def _covers(row_port, port):
    start, _, end = row_port.partition("-")
    return row_port != "-" and int(start) <= port <= int(end or start)


def _required(plan):
    return [f for f in plan.flows if f.required and not f.local and not f.egress]


def _members(plan, flow):
    vip = plan.vip(flow.dst)
    return list(vip.members) if vip else [flow.dst]


def _reported(found, flow):
    return [v for v in found if v.policy == "required-connections" and v.message.startswith(f"{flow.id} ")]


def _docker_mutants(stack, rec):
    """(description, flow, mutated recording) for every required flow: drop its allowlist entry; detach its source."""
    plan = build_plan(load_stack(stack))
    for flow in _required(plan):
        dst = _members(plan, flow)[0]
        world_open = any(e.source == "any" and e.protocol == flow.protocol and e.port is not None
                         and e.port <= (flow.port or 0) <= (e.port_end or e.port) for e in allowlist(plan, dst))
        if world_open and not flow.public:
            continue                     # equivalent mutants: the world (the lab included) may reach a public port
        entry = next(e for e in allowlist(plan, dst) if flow.id in e.ids and e.source_host == flow.src)
        mutant = copy.deepcopy(rec)
        _edit_allowlist(_container(mutant, dst), lambda row, e=entry: not (
            row[0] == e.protocol and row[1] == e.source and (e.port is None or _covers(row[2], flow.port or 0))))
        yield f"drop allowlist entry {entry.source}->{dst} {flow.protocol}/{flow.port}", flow, mutant
        if flow.public:
            continue
        arrival = plan.vip(flow.dst).zone if plan.vip(flow.dst) else plan.host(dst).zone
        mutant = copy.deepcopy(rec)
        src = _container(mutant, flow.src)
        network_urn = next(r.urn for r in mutant.records if r.inputs.get("name") == f"{plan.lab}-{arrival}")
        src.inputs["networksAdvanced"] = [n for n in src.inputs["networksAdvanced"] if n["name"] != f"{plan.lab}-{arrival}"]
        src.property_dependencies["networksAdvanced"] = [u for u in src.property_dependencies["networksAdvanced"] if u != network_urn]
        yield f"detach {flow.src} from {arrival}", flow, mutant


def _aws_mutants(stack, rec):
    """For every required flow, drop the ingress rule(s) that admit it."""
    plan = build_plan(load_stack(stack))
    from abiquo_guard.aws_checks import ingress_of as aws_rule_of
    groups = {r.urn: r.inputs["tags"].get("abiquo-lab.role", "bootstrap") for r in rec.by_type("aws:ec2/securityGroup:SecurityGroup")}
    for flow in _required(plan):
        key = aws_rule_of(flow, plan.exposed_roles("load-balancer"), {v.name for v in plan.balanced_vips()})
        if key is None:
            continue
        dst_role, peer, protocol, port, _ = key

        def admits(r):
            on = groups[r.property_dependencies["securityGroupId"][0]]
            ref = r.property_dependencies.get("referencedSecurityGroupId") or []
            source = groups[ref[0]] if ref else "world"
            proto = {"112": "vrrp"}.get(r.inputs["ipProtocol"], r.inputs["ipProtocol"])
            return on == dst_role and source == peer and proto == protocol and (
                port is None or r.inputs.get("fromPort") <= port <= r.inputs.get("toPort"))
        mutant = copy.deepcopy(rec)
        mutant.records = [r for r in mutant.records if not (r.type == INGRESS and admits(r))]
        assert len(mutant.records) < len(rec.records), flow
        yield f"drop ingress {peer}->{dst_role} {protocol}/{port}", flow, mutant


def _kill_rate(stack, rec):
    mutants = _docker_mutants(stack, rec) if stack.startswith("docker") else _aws_mutants(stack, rec)
    total, survivors, off_target = 0, [], []
    for what, flow, mutant in mutants:
        total += 1
        found = analyze_in_process(mutant)
        if not _reported(found, flow):
            survivors.append((what, flow.id))
        mandatory_policies = {v.policy for v in found if v.level == "mandatory"}
        expected = {"required-connections", "layout-completeness"}
        if what.startswith("detach"):            # the destination's allowlist now names an address nobody holds
            expected.add("nothing-beyond-intent")
        if not mandatory_policies <= expected:
            off_target.append((what, mandatory_policies))
    return total, survivors, off_target


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_removing_what_allows_a_required_flow_is_reported_for_that_flow(recordings, stack, capsys):
    total, survivors, off_target = _kill_rate(stack, recordings[(stack, True)])
    with capsys.disabled():
        print(f"\n  mutation kill rate {stack}: {total - len(survivors)}/{total}")
    assert total > 10 and not survivors, survivors[:5]
    assert not off_target, off_target[:5]


def test_mutants_get_the_same_verdict_over_grpc_in_preview_and_update(recordings):
    for stack in ("docker-ha", "aws-ha"):
        verdicts = []
        for preview in (True, False):
            gen = (_docker_mutants if stack.startswith("docker") else _aws_mutants)(stack, recordings[(stack, preview)])
            mutants = [next(gen) for _ in range(3)]
            found = analyze_many_grpc([m for _, _, m in mutants])
            for (what, flow, _), violations in zip(mutants, found):
                assert _reported(violations, flow), what
            verdicts.append([sorted((v.policy, v.message) for v in f) for f in found])
        assert verdicts[0] == verdicts[1]


# ---- injected excess and broken layouts ----------------------------------------------------------------------
def _messages(found, policy):
    return [v.message for v in found if v.policy == policy and v.level == "mandatory"]


def test_world_ingress_on_mysql_is_caught(recordings):
    rec = copy.deepcopy(recordings[("aws-ha", True)])
    rule = copy.deepcopy(next(r for r in rec.by_type(INGRESS) if r.inputs.get("fromPort") == 3306))
    rule.urn, rule.name = rule.urn + "-world", rule.name + "-world"
    rule.inputs.pop("referencedSecurityGroupId", None)
    rule.property_dependencies.pop("referencedSecurityGroupId", None)
    rule.inputs["cidrIpv4"] = "0.0.0.0/0"
    rec.records.append(rule)
    assert any("to the world" in m and "3306" in m for m in _messages(analyze_grpc(rec), "nothing-beyond-intent"))

    rec = copy.deepcopy(recordings[("docker-ha", True)])
    node = _container(rec, "datanode-1")
    _edit_allowlist(node, lambda row: True)
    for item in node.inputs["labels"]:
        if item["label"] == ALLOWLIST:
            item["value"] = json.dumps(json.loads(item["value"]) + [["tcp", "any", "3306", "X"]])
    node.inputs["ports"] = [{"internal": 3306, "external": 3306, "ip": "0.0.0.0", "protocol": "tcp"}]
    found = analyze_in_process(rec)
    assert any("admits the world on tcp/3306" in m for m in _messages(found, "nothing-beyond-intent"))
    assert _messages(found, "docker-no-datastore-published")


def test_undocumented_port_on_a_documented_pair_is_caught(recordings):
    rec = copy.deepcopy(recordings[("aws-ha", True)])
    rule = copy.deepcopy(next(r for r in rec.by_type(INGRESS) if r.inputs.get("fromPort") == 5672
                              and "from-api" in r.name))
    rule.urn, rule.name = rule.urn + "-ssh", rule.name.replace("5672", "22")
    rule.inputs["fromPort"] = rule.inputs["toPort"] = 22
    rec.records.append(rule)
    assert any("maps to no catalog flow" in m and "tcp/22" in m for m in _messages(analyze_grpc(rec), "nothing-beyond-intent"))

    rec = copy.deepcopy(recordings[("docker-ha", True)])
    plan = build_plan(load_stack("docker-ha"))
    api = plan.host("api-1").interfaces["data"]
    node = _container(rec, "datanode-1")
    for item in node.inputs["labels"]:
        if item["label"] == ALLOWLIST:
            item["value"] = json.dumps(json.loads(item["value"]) + [["tcp", api, "22", "A13"]])
    assert any("tcp/22" in m and "maps to no catalog flow" in m for m in _messages(analyze_in_process(rec), "nothing-beyond-intent"))


def test_a_second_api_without_zookeeper_is_caught(recordings):
    rec = copy.deepcopy(recordings[("docker-distributed", True)])
    server = _container(rec, "server")
    twin = copy.deepcopy(server)
    twin.urn, twin.name = server.urn + "-2", server.name + "-2"
    for item in twin.inputs["labels"]:
        if item["label"] == "abiquo-lab.host":
            item["value"] = "server-2"
    twin.inputs["networksAdvanced"] = [{**n, "ipv4Address": n["ipv4Address"].rsplit(".", 1)[0] + ".99"}
                                       for n in twin.inputs["networksAdvanced"]]
    rec.records.append(twin)
    found = _messages(analyze_grpc(rec), "layout-completeness")
    assert any(m.startswith("lab.switches.zookeeper: must be true with more than one API node (nodes.api = 2): 'any API "
                            "clustered setup REQUIRES ZooKeeper'") and "counted from the stack's resources" in m for m in found)
    assert any("the lab has 2 resources carrying role api" in m for m in found)

    rec = copy.deepcopy(recordings[("aws-ha", True)])
    rec.records = [r for r in rec.records if not (r.type == INGRESS and r.inputs.get("fromPort") == 2181)]
    assert any(m.startswith("A11 api → datanode tcp/2181 is not allowed: no ingress rule on sg 'datanode' from sg 'api'")
               for m in _messages(analyze_in_process(rec), "required-connections"))


def test_a_twin_of_a_planned_host_is_one_host_too_many(recordings):
    for stack, kind, host in (("docker-distributed", CONTAINER, "server"), ("aws-ha", "aws:ec2/instance:Instance", "api-1")):
        rec = copy.deepcopy(recordings[(stack, True)])
        original = next(r for r in rec.records if r.type == kind and r.name.endswith(host))
        twin = copy.deepcopy(original)
        twin.urn, twin.name = original.urn + "-twin", original.name + "-twin"       # same host label, same roles
        rec.records.append(twin)
        found = _messages(analyze_grpc(rec), "layout-completeness")
        assert any("resources carrying role api (" in m and f"{original.name}, " in m and f"{twin.name})" in m
                   for m in found), found


def test_a_datacenter_without_nfs_is_caught(recordings):
    for stack, kind in (("docker-ha", CONTAINER), ("aws-ha", "aws:ec2/instance:Instance")):
        rec = copy.deepcopy(recordings[(stack, True)])
        rec.records = [r for r in rec.records if not (r.type == kind and r.name.endswith("nfs-dc2"))]
        found = analyze_grpc(rec)
        assert "datacenter 'dc2' has no nfs host; the plan places nfs on nfs-dc2" in _messages(found, "layout-completeness")


def test_resource_policies_catch_weak_instances_listeners_and_containers(recordings):
    rec = copy.deepcopy(recordings[("aws-distributed", True)])
    instance = rec.by_type("aws:ec2/instance:Instance")[0]
    instance.inputs["metadataOptions"]["httpTokens"] = "optional"
    instance.inputs["rootBlockDevice"]["encrypted"] = False
    instance.inputs["associatePublicIpAddress"] = True
    http = next(r for r in rec.by_type("aws:lb/listener:Listener") if r.inputs["port"] == 80)
    http.inputs["defaultActions"] = [{"type": "forward", "targetGroupArn": "x"}]
    found = analyze_grpc(rec)
    for policy in ("aws-instance-imdsv2", "aws-encrypted-volumes", "aws-instance-no-public-ip", "aws-http-redirects-to-https"):
        assert _messages(found, policy), policy

    rec = copy.deepcopy(recordings[("docker-distributed", True)])
    container = rec.by_type(CONTAINER)[0]
    container.inputs["privileged"] = True
    container.inputs["networkMode"] = "host"
    found = analyze_in_process(rec)
    assert _messages(found, "docker-not-privileged") and _messages(found, "docker-not-host-network")


def test_lifecycle_labels_missing_owner_is_caught(recordings):
    rec = copy.deepcopy(recordings[("aws-distributed", True)])
    vpc = rec.by_type("aws:ec2/vpc:Vpc")[0]
    del vpc.inputs["tags"]["abiquo-lab.owner"]
    assert any("abiquo-lab.owner" in m for m in _messages(analyze_in_process(rec), "lifecycle-labels"))


def test_config_exception_allows_an_extra_flow_and_level_override(recordings):
    rec = copy.deepcopy(recordings[("aws-ha", True)])
    rule = copy.deepcopy(next(r for r in rec.by_type(INGRESS) if r.inputs.get("fromPort") == 5672 and "from-api" in r.name))
    rule.urn, rule.name = rule.urn + "-x", rule.name + "-x"
    rule.inputs["fromPort"] = rule.inputs["toPort"] = 15672
    rec.records.append(rule)
    config = {"nothing-beyond-intent": {"extraAllowedFlows": [{"from": "api", "to": "services-vip", "port": 15672}]}}
    assert not analyze_grpc(rec, config)
    found = analyze_grpc(rec, {"nothing-beyond-intent": "advisory"})
    assert found and all(v.level == "advisory" for v in found)


def test_labctl_check_exit_status_and_formats(tmp_path, capsys):
    from labctl.cli import main
    assert main(["check", "--stack", "docker-distributed", "--format", "sarif"]) == 0
    sarif = json.loads(capsys.readouterr().out)
    assert sarif["version"] == "2.1.0" and sarif["runs"][0]["results"] == []
    assert main(["check", "--stack", "docker-distributed", "--format", "markdown"]) == 0
    assert capsys.readouterr().out.splitlines()[:4] == [
        "## Abiquo lab policy check", "", "| stack | mandatory | advisory |", "|---|---|---|"]
    config = tmp_path / "pack.json"
    config.write_text(json.dumps({"required-connections": {"requireRows": ["A01"]}}))
    assert main(["check", "--stack", "docker-distributed", "--format", "json", "--config", str(config)]) == 0
    capsys.readouterr()
    config.write_text(json.dumps({"no-such": "advisory"}))
    assert main(["check", "--stack", "docker-distributed", "--config", str(config)]) == 2     # bad input
    assert "unknown policy 'no-such'" in capsys.readouterr().err


@pytest.mark.slow
def test_the_pack_runs_from_a_venv_built_from_its_own_requirements(tmp_path, recordings):
    """As the Pulumi CLI does it: a fresh venv, `pip install -r requirements.txt` run in the pack's folder (which
    installs the project's core from `..`), then the pack started with that venv's python, over gRPC."""
    import subprocess
    import sys
    from labctl.check.analyzer import PACK_DIR, PackProcess
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    install = subprocess.run([python, "-m", "pip", "install", "-q", "-r", "requirements.txt"], cwd=PACK_DIR,
                             capture_output=True, text=True)
    assert install.returncode == 0, install.stderr[-2000:]
    probe = subprocess.run([python, "-c", "import abiquo_guard, abiquo_lab.catalog, sys; "
                                          "print(sorted(m for m in ('pulumi_docker', 'pulumi_aws', 'components', 'labctl') "
                                          "if m in sys.modules))"], capture_output=True, text=True, cwd=tmp_path)
    assert probe.returncode == 0 and probe.stdout.strip() == "[]", probe.stderr      # the pack needs only the core
    broken = copy.deepcopy(recordings[("docker-ha", True)])
    broken.records = [r for r in broken.records if not r.name.endswith("nfs-dc2")]
    with PackProcess(python=python, stack="docker-ha") as pack:
        pack.configure(pack.info())
        assert pack.analyze(recordings[("aws-ha", True)]) == []
        found = pack.analyze(broken)
    assert "datacenter 'dc2' has no nfs host; the plan places nfs on nfs-dc2" in _messages(found, "layout-completeness")


def _set_label(record, key, value):
    for item in record.inputs["labels"]:
        if item["label"] == key:
            item["value"] = value


@pytest.mark.parametrize("stack", ["docker-ha", "aws-ha"])
def test_each_machine_is_the_planned_host_with_its_roles_and_site(recordings, stack):
    """Totals per role and site can balance while hosts are wrong: swapped roles, swapped datacenters, a machine
    with no host identity or one that is not in the plan."""
    kind = CONTAINER if stack.startswith("docker") else "aws:ec2/instance:Instance"

    def mutant(change):
        rec = copy.deepcopy(recordings[(stack, True)])
        machines = {r.name.rsplit("-", 2)[-2] + "-" + r.name.rsplit("-", 1)[-1]: r for r in rec.by_type(kind)}
        change(machines)
        return _messages(analyze_in_process(rec), "layout-completeness")

    def relabel(record, key, value):
        if kind == CONTAINER:
            _set_label(record, key, value)
        else:
            record.inputs["tags"][key] = value

    def swap_roles(m):
        relabel(m["rs-dc1"], "abiquo-lab.roles", "bpm")
        relabel(m["bpm-dc1"], "abiquo-lab.roles", "rs guacd")
    found = mutant(swap_roles)
    assert any("is host rs-dc1 with roles bpm" in msg and "the plan gives it roles rs guacd" in msg for msg in found), found

    def swap_sites(m):
        relabel(m["rs-dc1"], "abiquo-lab.datacenter", "dc2")
        relabel(m["rs-dc2"], "abiquo-lab.datacenter", "dc1")
    assert any("is host rs-dc1 with roles rs guacd, datacenter dc2" in msg for msg in mutant(swap_sites))

    assert any("has host label 'ghost-1', which is not a host of the plan" in msg
               for msg in mutant(lambda m: relabel(m["api-1"], "abiquo-lab.host", "ghost-1")))
    assert any("has no host label" in msg for msg in mutant(lambda m: relabel(m["api-2"], "abiquo-lab.host", "")))


def test_routes_are_compared_in_full_on_docker(recordings):
    def mutant(change):
        rec = copy.deepcopy(recordings[("docker-ha", True)])
        lb = _container(rec, "lb-1")
        routes = json.loads(next(i["value"] for i in lb.inputs["labels"] if i["label"] == "abiquo-lab.routes"))
        _set_label(lb, "abiquo-lab.routes", change(routes))
        return _messages(analyze_in_process(rec), "layout-completeness")

    def to_redis(routes):
        api = next(r for r in routes if r[0] == "/api")
        api[1] = 6379
        return json.dumps(routes)
    assert any(m.startswith("no route /api on 'lb-1' to api-1") for m in mutant(to_redis))
    assert any(m.startswith("route /api on 'lb-1'") and "port 6379 is not in the plan" in m for m in mutant(to_redis))
    assert any("route /redis on 'lb-1'" in m and "is not in the plan" in m
               for m in mutant(lambda r: json.dumps(r + [["/redis", 6379, [["datanode-1", "10.93.2.10"]]]])))
    assert any("label abiquo-lab.routes is not a JSON list" in m for m in mutant(lambda r: "not json"))


def test_the_alb_must_forward_each_planned_path(recordings):
    rec = copy.deepcopy(recordings[("aws-ha", True)])
    for record in rec.by_type("aws:lb/listenerRule:ListenerRule"):
        record.inputs["actions"] = [{"type": "fixed-response", "fixedResponse": {"contentType": "text/plain", "statusCode": "503"}}]
    found = _messages(analyze_in_process(rec), "layout-completeness")
    assert any(m.startswith("no load balancer route /api for the api nodes: the HTTPS listener must forward /api") for m in found)
    rec = copy.deepcopy(recordings[("aws-ha", True)])
    https = next(r for r in rec.by_type("aws:lb/listener:Listener") if r.inputs.get("port") == 443)
    https.inputs["defaultActions"] = [{"type": "fixed-response", "fixedResponse": {"statusCode": "503", "contentType": "text/plain"}}]
    assert any(m.startswith("no load balancer route / for the ui nodes")
               for m in _messages(analyze_in_process(rec), "layout-completeness"))


def test_an_unlabelled_extra_container_is_not_invisible(recordings):
    rec = copy.deepcopy(recordings[("docker-ha", True)])
    api = _container(rec, "api-1")
    stray = copy.deepcopy(api)
    stray.urn, stray.name = api.urn + "-stray", api.name + "-stray"
    stray.inputs["labels"] = [i for i in stray.inputs["labels"] if i["label"] not in ("abiquo-lab.host", "abiquo-lab.roles")]
    rec.records.append(stray)
    found = analyze_in_process(rec)                                  # and no crash in the other policies
    assert any(f"'{stray.name}' has no host label" in m for m in _messages(found, "layout-completeness"))


def _rewrite_allowlist(record, change):
    for item in record.inputs["labels"]:
        if item["label"] == ALLOWLIST:
            item["value"] = json.dumps([change(row) for row in json.loads(item["value"])])


def test_a_vip_only_flow_admitted_on_the_members_own_address_is_caught(recordings):
    """HA: API nodes reach Redis only through the services VIP (A14). An allowlist row that drops the VIP's address
    admits api-1 to datanode-1's own Redis, which no flow asks for: nothing-beyond-intent names it."""
    rec = copy.deepcopy(recordings[("docker-ha", True)])
    plan = build_plan(load_stack("docker-ha"))
    vip = plan.vip("services-vip").address
    node = _container(rec, "datanode-1")
    _rewrite_allowlist(node, lambda row: row[:4] if row[2] == "6379" and len(row) == 5 else row)
    found = _messages(analyze_in_process(rec), "nothing-beyond-intent")
    api = plan.host("api-1").interfaces["data"]
    assert any(f"tcp/6379 from {api}" in m and "datanode-1" in m for m in found), found
    assert vip not in " ".join(found)


def test_a_vip_flow_admitted_only_on_another_address_is_missing(recordings):
    """The VIP flow's row must name the VIP's address (or none): a row for some other address does not carry it."""
    rec = copy.deepcopy(recordings[("docker-ha", True)])
    for member in ("datanode-1", "datanode-2", "datanode-3"):
        _rewrite_allowlist(_container(rec, member), lambda row: row[:4] + ["10.99.99.99"] if len(row) == 5 and row[2] == "6379" else row)
    found = _messages(analyze_in_process(rec), "required-connections")
    assert any("A14" in m for m in found), found
    assert _messages(analyze_in_process(rec), "nothing-beyond-intent")


def test_a_public_entry_limited_to_one_destination_does_not_carry_the_published_ports(recordings):
    """Published ports are DNAT'd to the frontend container's own address: a world entry limited to the frontend VIP
    (or to any address) drops them, so the public flows are not allowed."""
    from abiquo_lab.contract import ALLOW_ENV
    rec = copy.deepcopy(recordings[("docker-ha", False)])
    lb = _container(rec, "lb-1")
    vip = build_plan(load_stack("docker-ha")).vip("frontend-vip").address
    _rewrite_allowlist(lb, lambda row: row + [vip] if row[1] == "any" else row)
    label = next(item["value"] for item in lb.inputs["labels"] if item["label"] == ALLOWLIST)
    lb.inputs["envs"] = [f"{ALLOW_ENV}={label}" if str(e).startswith(ALLOW_ENV + "=") else e for e in lb.inputs["envs"]]
    found = _messages(analyze_in_process(rec), "required-connections")
    assert any("A02" in m and "lb-1" in m and "on its own address" in m for m in found), found


@pytest.mark.parametrize("preview", [False, True])
def test_an_internal_load_balancer_breaks_the_public_flows(recordings, preview):
    """Issue 12 class 5: with the ALB internal, no user reaches the lab: every public flow is reported on it."""
    rec = copy.deepcopy(recordings[("aws-ha", preview)])
    alb = next(r for r in rec.records if r.type == "aws:lb/loadBalancer:LoadBalancer"
               and r.inputs.get("loadBalancerType") == "application")
    alb.inputs["internal"] = True
    found = [m for m in _messages(analyze_in_process(rec), "required-connections") if "is internal" in m]
    assert any(m.startswith("A02") for m in found) and all("set internal: false" in m for m in found), found
