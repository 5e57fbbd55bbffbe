"""Issue 12, the Docker classes and the Lab's intent, by mutation: take a recorded stack (preview and update mode),
mutate it the way a user writes resources every day, run the pack, and require a mandatory violation that names the
resource, the field and the fix. Kill rates are printed per class; every class must be at 100%.

  class 4  Docker: what the node enforces (env LAB_ALLOW) is what is judged (the label); networks as planned; host
           identity present and unique; capabilities within the roles' runtime; no Docker socket, host PID/IPC,
           unconfined seccomp/AppArmor or privileged; no port-less tcp/udp row; each network's `internal` as planned
  class 6  intent: exactly one abiquo:lab:Lab; its spec there; the spec on its outputs equal to its inputs
           (reported by layout-completeness: without the one Lab there is no plan to judge against)
  class 7  preview: a value not known on one resource hides nothing else; it is an advisory naming resource and
           property, and everything known is still judged and mandatory
  class 8  malformed input: a violation naming resource and field, never a crash
"""
import copy
import ipaddress
import json

import pytest

import abiquo_guard
from abiquo_guard.inventory import ALLOW_ENV, ALLOWLIST_CAPABILITIES
from abiquo_lab.labspec import load_stack
from abiquo_lab.plan import build_plan
from labctl.check.analyzer import _state, _wire, analyze_in_process, analyze_many_grpc, policy_config
from labctl.preview import UNKNOWN_TEXT, record_stack
from conftest import SHIPPED_STACKS

CONTAINER, NETWORK, LAB = "docker:index/container:Container", "docker:index/network:Network", "abiquo:lab:Lab"
ALLOWLIST, HOST, ROUTES = "abiquo-lab.allowlist", "abiquo-lab.host", "abiquo-lab.routes"
DOCKER_STACKS = [s for s in SHIPPED_STACKS if s.startswith("docker")]
MODES = {"preview": True, "update": False}


@pytest.fixture(scope="module")
def recordings():
    return {(s, mode): record_stack(s, preview=preview) for s in SHIPPED_STACKS for mode, preview in MODES.items()}


# ---- recording helpers -----------------------------------------------------------------------------------------
def _labels(record) -> dict:
    return {item["label"]: item["value"] for item in record.inputs["labels"]}


def _container(rec, host):
    return next(r for r in rec.by_type(CONTAINER) if _labels(r).get(HOST) == host)


def _network(rec, zone):
    return next(r for r in rec.by_type(NETWORK) if _labels(r).get("abiquo-lab.zone") == zone)


def _set_label(record, key, value):
    record.inputs["labels"] = [i for i in record.inputs["labels"] if i["label"] != key] + (
        [] if value is None else [{"label": key, "value": value}])


def _edit_rows(record, change, label=True, env=True):
    """Change the allowlist rows in the label and/or in env LAB_ALLOW (the same change)."""
    if label:
        _set_label(record, ALLOWLIST, json.dumps(change(json.loads(_labels(record)[ALLOWLIST]))))
    if env:
        record.inputs["envs"] = [f"{ALLOW_ENV}=" + json.dumps(change(json.loads(e.split("=", 1)[1])))
                                 if e.startswith(f"{ALLOW_ENV}=") else e for e in record.inputs["envs"]]


def _attach(rec, record, zone, address):
    net = _network(rec, zone)
    record.inputs["networksAdvanced"].append({"name": net.inputs["name"], "ipv4Address": address})
    record.property_dependencies["networksAdvanced"] = sorted({*record.property_dependencies["networksAdvanced"], net.urn})


def _free_address(rec, zone):
    subnet = ipaddress.ip_network(_network(rec, zone).inputs["ipamConfigs"][0]["subnet"])
    return str(subnet.network_address + 200)


def _plain_host(plan):
    """A host whose roles add no capability (every stack has one)."""
    return next(h for h in plan.hosts if not h.runtime.capabilities).name


def _messages(found, level="mandatory"):
    return [v for v in found if v.level == level]


def _names(violation, target, field, fix) -> bool:
    """The violation names the resource (its URN, or its name in the message), the field and the fix."""
    named = violation.urn == target.urn or f"'{target.name}'" in violation.message if hasattr(target, "urn") \
        else target in violation.message
    return named and field in violation.message and fix in violation.message


# ---- class 4: Docker -------------------------------------------------------------------------------------------
def _class4(plan):
    """(what, change(rec) -> target record, field, fix): each a way users open or break a Docker lab."""
    nfs, plain = "nfs-dc1", _plain_host(plan)

    def env_extra(m):
        c = _container(m, nfs)
        _edit_rows(c, lambda rows: rows + [["tcp", "any", "22", "X"]], label=False)
        return c

    def env_missing(m):
        c = _container(m, nfs)
        c.inputs["envs"] = [e for e in c.inputs["envs"] if not e.startswith(f"{ALLOW_ENV}=")]
        return c

    def env_twice(m):
        c = _container(m, nfs)
        c.inputs["envs"].append(f'{ALLOW_ENV}=[["tcp", "any", "1-65535", "X"]]')
        return c

    def label_only_row(m):
        c = _container(m, plain)
        _edit_rows(c, lambda rows: rows + rows[:1], env=False)       # a documented row twice in the label only
        return c

    def extra_network(m):
        c = _container(m, nfs)
        _attach(m, c, "core", _free_address(m, "core"))
        return c

    def missing_network(m):
        c = _container(m, nfs)
        net = _network(m, "dc-dc1")
        c.inputs["networksAdvanced"] = [n for n in c.inputs["networksAdvanced"] if n["name"] != net.inputs["name"]]
        c.property_dependencies["networksAdvanced"] = [u for u in c.property_dependencies["networksAdvanced"] if u != net.urn]
        return c

    def wrong_address(m):
        c = _container(m, nfs)
        c.inputs["networksAdvanced"][0]["ipv4Address"] = _free_address(m, "dc-dc1")
        return c

    def dynamic_address(m):
        c = _container(m, nfs)
        del c.inputs["networksAdvanced"][0]["ipv4Address"]
        return c

    def default_bridge(m):
        c = _container(m, plain)
        c.inputs["networksAdvanced"].append({"name": "bridge"})
        return c

    def no_host_label(m):
        c = _container(m, nfs)
        _set_label(c, HOST, None)
        return c

    def duplicate_host(m):
        original = _container(m, nfs)
        twin = copy.deepcopy(original)
        twin.urn, twin.name = original.urn + "-twin", original.name + "-twin"
        twin.inputs["networksAdvanced"][0]["ipv4Address"] = _free_address(m, "dc-dc1")
        m.records.append(twin)
        return twin

    def caps(*adds):
        def change(m):
            c = _container(m, plain)
            c.inputs["capabilities"] = {"adds": ["NET_ADMIN", *adds]}
            return c
        return change

    def settings(**inputs):
        def change(m):
            c = _container(m, plain)
            c.inputs.update(copy.deepcopy(inputs))
            return c
        return change

    def port_less_row(m):
        c = _container(m, nfs)
        source = plan.host(plain).address
        _edit_rows(c, lambda rows: rows + [["tcp", source, "-", "A13"]])      # label and env alike
        return c

    def internal(zone, value):
        def change(m):
            net = _network(m, zone)
            net.inputs["internal"] = value
            return net
        return change

    return [
        ("env LAB_ALLOW admits more than the label", env_extra, ALLOW_ENV, "write both from the plan"),
        ("env LAB_ALLOW missing", env_missing, ALLOW_ENV, f"set envs {ALLOW_ENV}="),
        ("env LAB_ALLOW set twice, the last open", env_twice, ALLOW_ENV, "set it once"),
        ("label shows a row the env lacks", label_only_row, ALLOW_ENV, "write both from the plan"),
        ("joins an unplanned zone network", extra_network, "networksAdvanced[1]", "remove that entry"),
        ("left a planned network", missing_network, "networksAdvanced", "add {name:"),
        ("another address than planned", wrong_address, "networksAdvanced[0].ipv4Address", "set ipv4Address ="),
        ("no address: Docker picks one", dynamic_address, "networksAdvanced[0].ipv4Address", "set ipv4Address ="),
        ("joins Docker's default bridge", default_bridge, "'bridge'", "remove that entry"),
        ("on lab networks without a host label", no_host_label, HOST, "remove the container"),
        ("a second container with the same host label", duplicate_host, HOST, "remove '"),
        ("capabilities ALL", caps("ALL"), "capabilities.adds[1]", "remove it from capabilities.adds"),
        ("an undeclared capability", caps("SYS_ADMIN"), "capabilities.adds[1]", "declare it on the role"),
        ("a capability spelled cap_sys_module", caps("cap_sys_module"), "capabilities.adds[1]", "remove it"),
        ("Docker socket as a volume", settings(volumes=[{"hostPath": "/var/run/docker.sock",
                                                          "containerPath": "/var/run/docker.sock"}]),
         "volumes[0].hostPath", "remove the mount"),
        ("Docker socket as a bind mount", settings(mounts=[{"type": "bind", "source": "/run/docker.sock", "target": "/s"}]),
         "mounts[0].source", "remove the mount"),
        ("the folder holding the socket", settings(volumes=[{"hostPath": "/var/run/", "containerPath": "/h"}]),
         "volumes[0].hostPath", "remove the mount"),
        ("host PID namespace", settings(pidMode="host"), "pidMode", "remove pidMode"),
        ("host IPC namespace", settings(ipcMode="host"), "ipcMode", "remove ipcMode"),
        ("seccomp unconfined", settings(securityOpts=["seccomp=unconfined"]), "securityOpts[0]", "remove the option"),
        ("AppArmor unconfined", settings(securityOpts=["no-new-privileges", "apparmor:unconfined"]), "securityOpts[1]",
         "remove the option"),
        ("privileged", settings(privileged=True), "privileged", "drop privileged"),
        ("a tcp row without a port", port_less_row, ALLOWLIST, "name the port"),
        ("a zone network not internal", internal("dc-dc1", False), "internal", "set internal = True"),
        ("the frontend network internal", internal("frontend", True), "internal", "set internal = False"),
    ]


def _kill(cases, rec, analyze=analyze_in_process):
    """(total, survivors): a mutant survives unless a mandatory violation names its resource, field and fix.
    A crash is a survivor too (malformed input must be a violation, never an exception)."""
    survivors = []
    for what, change, field, fix in cases:
        mutant = copy.deepcopy(rec)
        target = change(mutant)
        try:
            found = analyze(mutant)
        except Exception as exc:                       # noqa: BLE001 -- a crash is what is being tested against
            survivors.append((what, f"crash: {exc!r}"))
            continue
        if not any(_names(v, target, field, fix) for v in _messages(found)):
            survivors.append((what, [v.message[:160] for v in _messages(found)][:3]))
    return len(cases), survivors


def _report(capsys, name, results):
    total = sum(t for t, _ in results.values())
    survivors = [(key, s) for key, (_, found) in results.items() for s in found]
    with capsys.disabled():
        print(f"\n  kill rate {name}: {total - len(survivors)}/{total}")
    return total, survivors


def _kill_on_docker_stacks(mutants_of, recordings) -> dict:
    """(stack, mode) -> _kill of the mutants `mutants_of(plan)` builds, on every Docker stack in both modes."""
    results = {}
    for stack in DOCKER_STACKS:
        plan = build_plan(load_stack(stack))
        for mode in MODES:
            results[(stack, mode)] = _kill(mutants_of(plan), recordings[(stack, mode)])
    return results


def test_class4_docker_mutants_are_all_reported(recordings, capsys):
    total, survivors = _report(capsys, "class 4 (Docker)", _kill_on_docker_stacks(_class4, recordings))
    assert total >= 3 * 2 * 20 and not survivors, survivors[:5]


# ---- class 6: intent -------------------------------------------------------------------------------------------
def _lab(rec):
    return next(r for r in rec.records if r.type == LAB)


def _class6():
    def removed(m):
        m.records = [r for r in m.records if r.type != LAB]
        return LAB

    def renamed(m):
        _lab(m).type = "abiquo:lab:LabV2"
        return LAB

    def two(m):
        lab = _lab(m)
        other = copy.deepcopy(lab)
        other.urn, other.name = lab.urn + "-2", lab.name + "-2"
        m.records.append(other)
        return f"2 {LAB} components"

    def spec_missing(m):
        del _lab(m).outputs["spec"]
        return _lab(m)

    return [("no Lab component", removed, LAB, "create them through components.Lab"),
            ("the Lab's type renamed", renamed, LAB, "create them through components.Lab"),
            ("two Lab components", two, "'", "create one Lab per stack"),
            ("no spec in the Lab's outputs", spec_missing, "(property spec)", "registers the lab spec")]


def _analyze_with_inputs(rec):
    """The stack checks as the pack runs them, for a driver that hands a component's inputs beside its outputs."""
    from pulumi_policy.deserialize import deserialize_properties
    from pulumi_policy.policy import PolicyResource
    from pulumi_policy.proxy import unknown_checking_proxy
    from labctl.check.analyzer import Violation
    resources = []
    for r in rec.records:
        res = PolicyResource(r.type, unknown_checking_proxy(deserialize_properties(_wire(_state(r)))), r.urn, r.name,
                             None, None, None, [], {})
        res.inputs = None if r.custom else unknown_checking_proxy(deserialize_properties(_wire(r.inputs)))
        resources.append(res)
    found = []
    for name, (_, check) in abiquo_guard.STACK_CHECKS.items():
        level = policy_config()[name]["enforcementLevel"]
        abiquo_guard.run_stack_check(check, resources, {}, lambda m, u=None, n=name, lv=level: found.append(Violation(n, lv, m, u or "")))
    return found


def _outputs_differ():
    def change(m):
        lab = _lab(m)
        spec = json.loads(lab.outputs["spec"])
        spec["owner"] = "someone-else"
        lab.outputs["spec"] = json.dumps(spec, sort_keys=True)
        return lab
    return [("the spec on the outputs is not the one in the inputs", change, "spec", "register the spec it was created with")]


def test_class6_intent_mutants_are_all_reported(recordings, capsys):
    results = {}
    for stack in SHIPPED_STACKS:
        for mode in MODES:
            rec = recordings[(stack, mode)]
            total, survivors = _kill(_class6(), rec)
            more, others = _kill(_outputs_differ(), rec, _analyze_with_inputs)
            results[(stack, mode)] = (total + more, survivors + others)
    total, survivors = _report(capsys, "class 6 (intent)", results)
    assert total == len(SHIPPED_STACKS) * 2 * 5 and not survivors, survivors[:5]


def test_without_a_plan_only_layout_completeness_reports_why(recordings):
    rec = copy.deepcopy(recordings[("docker-ha", "preview")])
    _lab(rec).type = "abiquo:lab:Renamed"
    found = analyze_in_process(rec)
    assert [(v.policy, v.level) for v in found] == [("layout-completeness", "mandatory")], found
    assert analyze_in_process(copy.deepcopy(recordings[("aws-ha", "update")])) == []
    empty = copy.deepcopy(rec)
    empty.records = []
    assert analyze_in_process(empty) == []                      # no resources at all: nothing to judge


# ---- class 8: malformed input ----------------------------------------------------------------------------------
def _class8(plan):
    nfs = "nfs-dc1"

    def label(key, value, host=nfs):
        def change(m):
            c = _container(m, host)
            _set_label(c, key, value)
            return c
        return change

    def rows(extra):
        def change(m):
            c = _container(m, nfs)
            _edit_rows(c, lambda r: r + [extra])
            return c
        return change

    def address(m):
        c = _container(m, nfs)
        c.inputs["networksAdvanced"][0]["ipv4Address"] = "ten.0.0.1"
        return c

    def env(m):
        c = _container(m, nfs)
        c.inputs["envs"] = [f"{ALLOW_ENV}=[[tcp" if e.startswith(f"{ALLOW_ENV}=") else e for e in c.inputs["envs"]]
        return c

    def port(m):
        c = _container(m, nfs)
        c.inputs["ports"] = [{"internal": "http", "external": 8080, "ip": "127.0.0.1", "protocol": "tcp"}]
        return c

    def subnet(m):
        net = _network(m, "dc-dc1")
        net.inputs["ipamConfigs"][0]["subnet"] = "bogus"
        return net

    def spec(value):
        def change(m):
            _lab(m).outputs["spec"] = value
            return _lab(m)
        return change

    return [
        ("allowlist label not JSON", label(ALLOWLIST, "[[tcp"), ALLOWLIST, "the program writes it"),
        ("allowlist label not a list", label(ALLOWLIST, '{"tcp": 1}'), ALLOWLIST, "the program writes it"),
        ("a short allowlist row", rows(["tcp", "any", "443"]), ALLOWLIST, "the program writes it"),
        ("a row with a bad source", rows(["tcp", "10.0.0.300", "443", "A02"]), ALLOWLIST, "the program writes it"),
        ("a row with an unknown protocol", rows(["icmp", "any", "-", "X"]), ALLOWLIST, "the program writes it"),
        ("a row with a port that is no number", rows(["tcp", "any", "http", "X"]), ALLOWLIST, "the program writes it"),
        ("a row of numbers", rows([6, 0, 443, 1]), ALLOWLIST, "the program writes it"),
        ("routes label not JSON", label(ROUTES, "not json"), ROUTES, "the program writes it"),
        ("a bad address", address, "networksAdvanced[0].ipv4Address", "the program writes it"),
        ("env LAB_ALLOW not JSON", env, ALLOW_ENV, "set it to its label"),
        ("a published port that is no number", port, "ports[0].internal", "as a number"),
        ("a subnet that is no CIDR", subnet, "ipamConfigs[0].subnet", "the program writes the zone's CIDR"),
        ("the spec not JSON", spec("{not json"), "property spec", "json.dumps"),
        ("the spec not a valid lab", spec(json.dumps({"name": "x", "backend": "nope"})), "property spec",
         "does not give a plan"),
        ("the spec not text", spec(5), "(property spec)", "registers the lab spec"),
    ]


def test_class8_malformed_input_is_a_violation_never_a_crash(recordings, capsys):
    total, survivors = _report(capsys, "class 8 (malformed, Docker and the Lab)", _kill_on_docker_stacks(_class8, recordings))
    assert total == 3 * 2 * 15 and not survivors, survivors[:5]


ODD = [None, 5, True, "x", "", [], {}, [None], [5], ["x"], [{}], {"x": 1}, UNKNOWN_TEXT, [UNKNOWN_TEXT]]


def test_no_input_of_any_shape_crashes_the_pack(recordings):
    """Every input of a container, a network and the Lab set to odd shapes, one at a time: a verdict, never a crash."""
    rec = recordings[("docker-distributed", "preview")]
    targets = [(CONTAINER, _container(rec, "server").name), (NETWORK, _network(rec, "core").name), (LAB, _lab(rec).name)]
    crashes = []
    for kind, name in targets:
        record = next(r for r in rec.records if r.type == kind and r.name == name)
        for key in sorted({*(record.outputs if kind == LAB else record.inputs), "capabilities", "volumes", "mounts",
                           "securityOpts", "pidMode", "ipcMode", "privileged", "ports", "internal", "ipamConfigs"}):
            for value in ODD:
                mutant = copy.deepcopy(rec)
                target = next(r for r in mutant.records if r.type == kind and r.name == name)
                (target.outputs if kind == LAB else target.inputs)[key] = copy.deepcopy(value)
                try:
                    analyze_in_process(mutant)
                except Exception as exc:                   # noqa: BLE001 -- what is tested is that none escapes
                    crashes.append((kind, key, value, repr(exc)[:120]))
    assert not crashes, crashes[:5]


# ---- class 7: preview ------------------------------------------------------------------------------------------
def _unknown_label(host, key):
    def change(m):
        c = _container(m, host)
        _set_label(c, key, UNKNOWN_TEXT)
        return c, f"labels.{key}"
    return change


def _unknown_input(host, path, value=UNKNOWN_TEXT):
    """Set inputs[path] (dotted, list indexes as numbers) to the unknown marker."""
    def change(m):
        c = _container(m, host)
        *parents, last = path.split(".")
        node = c.inputs
        for part in parents:
            node = node[int(part)] if part.isdigit() else node.setdefault(part, {})
        node[int(last) if last.isdigit() else last] = value
        shown = ".".join(f"[{p}]" if p.isdigit() else p for p in path.split(".")).replace(".[", "[")
        return c, shown
    return change


def _class7(plan):
    """(what, hide(rec) -> (record, property), plant(rec) -> (record, field, fix)): one value not known in preview
    on one resource, and a real violation elsewhere (or on the same resource's known fields)."""
    nfs, plain = "nfs-dc1", _plain_host(plan)
    other = next((h.name for h in plan.hosts if h.name not in (nfs, plain)), plain)    # monolithic: two hosts
    frontend = next(h.name for h in plan.hosts if h.published)

    def plant(host, field, fix, **inputs):
        def change(m):
            c = _container(m, host)
            c.inputs.update(inputs)
            return c, field, fix
        return change

    def plant_env(host):
        def change(m):
            c = _container(m, host)
            _edit_rows(c, lambda rows: rows + [["tcp", "any", "22", "X"]], label=False)
            return c, ALLOW_ENV, "write both from the plan"
        return change

    def plant_hostless(host):
        def change(m):
            c = _container(m, host)
            _set_label(c, HOST, None)
            return c, HOST, "remove the container"
        return change

    def plant_caps_on_same(field, adds):
        def change(m):
            c = _container(m, plain)
            c.inputs["capabilities"]["adds"][0] = adds
            return c, field, "remove"
        return change

    def hide_caps(m):
        c = _container(m, plain)
        c.inputs["capabilities"] = {"adds": ["NET_ADMIN", UNKNOWN_TEXT]}
        return c, "capabilities.adds[1]"

    def hide_internal(m):
        net = _network(m, "dc-dc1")
        net.inputs["internal"] = UNKNOWN_TEXT
        return net, "internal"

    def plant_internal(m):
        net = _network(m, "frontend")
        net.inputs["internal"] = True
        return net, "internal", "set internal = False"

    def hide_spec(m):
        _lab(m).outputs["spec"] = UNKNOWN_TEXT
        return _lab(m), "spec"

    def hide_volume(m):
        c = _container(m, plain)
        c.inputs["volumes"] = [UNKNOWN_TEXT]
        return c, "volumes[0]"

    return [
        ("allowlist label unknown", _unknown_label(nfs, ALLOWLIST), plant(other, "privileged", "drop privileged", privileged=True)),
        ("an address unknown", _unknown_input(nfs, "networksAdvanced.0.ipv4Address"), plant_env(other)),
        ("a host label unknown", _unknown_label(nfs, HOST), plant_hostless(other)),
        ("envs unknown", _unknown_input(nfs, "envs"), plant(other, "pidMode", "remove pidMode", pidMode="host")),
        ("one capability unknown, ALL known", hide_caps, plant_caps_on_same("capabilities.adds[0]", "ALL")),
        ("a network's internal unknown", hide_internal, plant_internal),
        ("published ports unknown", _unknown_input(frontend, "ports"),
         plant(nfs, "volumes[0].hostPath", "remove the mount", volumes=[{"hostPath": "/run/docker.sock", "containerPath": "/s"}])),
        ("the Lab's spec unknown", hide_spec, plant(other, "privileged", "drop privileged", privileged=True)),
        ("a volume unknown", hide_volume, plant(plain, "ipcMode", "remove ipcMode", ipcMode="host")),
        ("the roles label unknown", _unknown_label(other, "abiquo-lab.roles"),
         plant(nfs, "securityOpts[0]", "remove the option", securityOpts=["seccomp=unconfined"])),
    ]


def _judge7(cases, rec, analyze_many):
    """A case is killed when (1) the unknown alone gives no mandatory violation and an advisory naming the resource
    and the property, and (2) with a real violation planted, that violation is still mandatory."""
    batches, expect = [], []
    for what, hide, plant in cases:
        alone = copy.deepcopy(rec)
        hidden, prop = hide(alone)
        both = copy.deepcopy(rec)
        hide(both)
        planted, field, fix = plant(both)
        batches += [alone, both]
        expect.append((what, hidden, prop, planted, field, fix))
    found = analyze_many(batches)
    survivors = []
    for (what, hidden, prop, planted, field, fix), alone, both in zip(expect, found[0::2], found[1::2]):
        advisories = [v for v in alone if v.level == "advisory" and v.policy == "judged-at-update"]
        if _messages(alone):
            survivors.append((what, "the unknown alone gave mandatory findings", [v.message[:160] for v in _messages(alone)][:3]))
        elif not any(f"'{hidden.name}'" in v.message and f"{prop} is not known in preview" in v.message for v in advisories):
            survivors.append((what, "no advisory naming it", [v.message[:160] for v in alone][:3]))
        elif not any(_names(v, planted, field, fix) for v in _messages(both)):
            survivors.append((what, "the planted violation was hidden", [v.message[:160] for v in both][:3]))
    return len(cases), survivors


def test_class7_an_unknown_hides_nothing_and_is_an_advisory_naming_resource_and_property(recordings, capsys):
    def in_process(recs):
        return [analyze_in_process(r) for r in recs]
    results = {stack: _judge7(_class7(build_plan(load_stack(stack))), recordings[(stack, "preview")], in_process)
               for stack in DOCKER_STACKS}
    total, survivors = _report(capsys, "class 7 (preview, Docker and the Lab)", results)
    assert total == 3 * 10 and not survivors, survivors[:5]


# ---- the same verdicts over gRPC, as the Pulumi CLI drives the pack --------------------------------------------
def test_each_class_gets_the_same_verdicts_over_grpc(recordings):
    rec = recordings[("docker-ha", "preview")]
    plan = build_plan(load_stack("docker-ha"))
    total, survivors = _judge7(_class7(plan)[:4], rec, analyze_many_grpc)
    assert not survivors, survivors
    assert_same_verdicts_over_grpc(rec, _class4(plan)[::4] + _class8(plan)[::4] + _class6())


def assert_same_verdicts_over_grpc(rec, cases) -> None:
    """Each case's mutant of `rec`, judged over gRPC in one pack process, is named as the case says, with exactly the
    verdicts the in-process analyzer gives."""
    mutants, targets = [], []
    for what, change, field, fix in cases:
        mutant = copy.deepcopy(rec)
        targets.append((what, change(mutant), field, fix))
        mutants.append(mutant)
    for (what, target, field, fix), found, mutant in zip(targets, analyze_many_grpc(mutants), mutants):
        assert any(_names(v, target, field, fix) for v in _messages(found)), (what, [v.message[:120] for v in found][:3])
        assert sorted((v.policy, v.level, v.message) for v in found) == sorted(
            (v.policy, v.level, v.message) for v in analyze_in_process(mutant)), what


# ---- one definition of each fact, and the levels ---------------------------------------------------------------
def test_the_pack_reads_what_the_program_writes():
    """The node's allowlist env and the allowlist's capability are the renderer's, not copies that may drift."""
    from components.docker_backend import BASE_CAPABILITIES
    from components.nodes import node_env
    plan = build_plan(load_stack("docker-ha"))
    host = plan.host("api-1")
    assert tuple(BASE_CAPABILITIES) == ALLOWLIST_CAPABILITIES
    assert ALLOW_ENV in node_env(plan, host, [])


def test_judged_at_update_is_the_one_advisory_policy_and_every_level_is_stated():
    config = policy_config()
    assert {name for name, entry in config.items() if entry["enforcementLevel"] != "mandatory"} == {"judged-at-update"}
    assert config["judged-at-update"]["enforcementLevel"] == "advisory"
    assert set(config) == set(abiquo_guard.STACK_CHECKS) | set(abiquo_guard.RESOURCE_CHECKS)
