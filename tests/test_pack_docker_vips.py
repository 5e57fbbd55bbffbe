"""Issue 12, layout-completeness on Docker: what each node's VIP holder and proxy are told (envs LAB_VIPS,
LAB_VIP_PROXY) and its hosts file (input hosts: each VIP name -> its one address) are the plan's. Mutation tests in
both modes on every Docker stack the mutant applies to (a VIP-less stack gets the mutants that add what it must not
have); kill rate printed; all at 100%."""
import copy
import json

import pytest

from abiquo_lab.labspec import load_stack
from abiquo_lab.plan import build_plan
from labctl.check.analyzer import analyze_in_process
from labctl.preview import UNKNOWN_TEXT, record_stack
from test_pack_docker_classes import (CONTAINER, DOCKER_STACKS, HOST, MODES, _judge7, _kill, _labels, _plain_host,
                                      _report)


@pytest.fixture(scope="module")
def recordings():
    return {(s, mode): record_stack(s, preview=preview) for s in DOCKER_STACKS for mode, preview in MODES.items()}


def _container(rec, host):
    return next(r for r in rec.by_type(CONTAINER) if _labels(r).get(HOST) == host)


def _env(record, key):
    values = [e.split("=", 1)[1] for e in record.inputs["envs"] if isinstance(e, str) and e.startswith(f"{key}=")]
    return json.loads(values[-1]) if values else []


def _set_env(record, key, value, append=False):
    text = f"{key}=" + (value if isinstance(value, str) else json.dumps(value))
    if not append:
        record.inputs["envs"] = [e for e in record.inputs["envs"] if not (isinstance(e, str) and e.startswith(f"{key}="))]
    record.inputs["envs"].append(text)


def _mutants(plan):
    """(what, change, field, fix) for this plan's stack."""
    holder = next((v.members[0] for v in plan.vips), None)
    proxied = next((v.members[0] for v in plan.vips if v.listeners), None)
    plain = next(h.name for h in plan.hosts if not plan.vips_of(h.name))
    vip = plan.vips[0] if plan.vips else None

    def edit_env(host, key, change, append=False):
        def mutate(m):
            c = _container(m, host)
            _set_env(c, key, change(copy.deepcopy(_env(c, key))), append)
            return c
        return mutate

    def hosts(host, change):
        def mutate(m):
            c = _container(m, host)
            c.inputs["hosts"] = change(copy.deepcopy(c.inputs.get("hosts") or []))
            return c
        return mutate

    row = [["rogue-vip", "10.255.0.5", 24, 9, [[plain, plan.host(plain).address]]]]
    cases = [
        ("a host told to hold a VIP it is not a member of", edit_env(plain, "LAB_VIPS", lambda rows: rows + row),
         "envs LAB_VIPS differs", "write it from the plan"),
        ("a hosts entry pointing a host name elsewhere", hosts(plain, lambda e: e + [{"host": plan.hosts[0].name,
                                                                                      "ip": "10.255.0.66"}]),
         "hosts[", "remove or correct the entry"),
        ("a hosts entry for a name outside the plan", hosts(plain, lambda e: e + [{"host": "metadata", "ip": "169.254.169.254"}]),
         "hosts[", "remove or correct the entry"),
        ("LAB_VIPS not JSON", edit_env(plain, "LAB_VIPS", lambda rows: "[[vip"), "envs LAB_VIPS is not a JSON list",
         "write it from the plan"),
    ]
    if vip is None:
        return cases
    members = lambda rows, f: [[*r[:-1], f(r[-1])] for r in rows]          # noqa: E731
    cases += [
        ("a VIP's address changed", edit_env(holder, "LAB_VIPS", lambda rows: [[r[0], "10.255.0.9", *r[2:]] for r in rows]),
         "envs LAB_VIPS differs", "write it from the plan"),
        ("a VIP with a member too many", edit_env(holder, "LAB_VIPS",
                                                  lambda rows: members(rows, lambda ms: ms + [[plain, "10.255.0.7"]])),
         "envs LAB_VIPS differs", "write it from the plan"),
        ("a VIP's router id changed", edit_env(holder, "LAB_VIPS", lambda rows: [[*r[:3], r[3] + 1, r[4]] for r in rows]),
         "envs LAB_VIPS differs", "write it from the plan"),
        ("a VIP holder told nothing", edit_env(holder, "LAB_VIPS", lambda rows: []), "envs LAB_VIPS differs",
         "write it from the plan"),
        ("LAB_VIPS set twice, the last other", edit_env(holder, "LAB_VIPS", lambda rows: rows[:0], append=True),
         "sets LAB_VIPS 2 times", "set it once"),
        ("the VIP's hosts entry to another address", hosts(plain, lambda e: [{**x, "ip": "10.255.0.8"} if x["host"] == vip.name
                                                                             else x for x in e]),
         "hosts[", "the plan gives it"),
        ("the VIP's hosts entry missing", hosts(plain, lambda e: [x for x in e if x["host"] != vip.name]),
         "lacks the hosts entry", "add {host:"),
        ("the VIP's hosts entry twice", hosts(plain, lambda e: e + [x for x in e if x["host"] == vip.name]),
         "twice in its hosts file", "keep one entry"),
    ]
    if proxied:
        cases += [
            ("a proxy listener's backend port changed", edit_env(proxied, "LAB_VIP_PROXY",
                                                                 lambda rows: [[*r[:2], r[2] + 1, *r[3:]] for r in rows]),
             "envs LAB_VIP_PROXY differs", "write it from the plan"),
            ("a proxy listener added", edit_env(proxied, "LAB_VIP_PROXY",
                                                lambda rows: rows + [[rows[0][0], 22, 22, rows[0][3], rows[0][4]]]),
             "envs LAB_VIP_PROXY differs", "write it from the plan"),
        ]
    return cases


def test_vip_env_and_hosts_mutants_are_all_reported(recordings, capsys):
    results = {}
    for stack in DOCKER_STACKS:
        plan = build_plan(load_stack(stack))
        for mode in MODES:
            results[(stack, mode)] = _kill(_mutants(plan), recordings[(stack, mode)])
    total, survivors = _report(capsys, "layout-completeness (Docker VIPs and hosts)", results)
    with_vips = sum(1 for s in DOCKER_STACKS if build_plan(load_stack(s)).vips)
    assert total >= 2 * (4 * len(DOCKER_STACKS) + 8 * with_vips) and with_vips and not survivors, survivors[:5]


def test_unknown_hosts_are_an_advisory_and_hide_nothing(recordings):
    stack = next(s for s in DOCKER_STACKS if build_plan(load_stack(s)).vips)
    plan = build_plan(load_stack(stack))
    plain = _plain_host(plan)

    def hide(m):
        c = _container(m, plan.vips[0].members[0])
        c.inputs["hosts"] = UNKNOWN_TEXT
        return c, "hosts"

    def plant(m):
        c = _container(m, plain)
        _set_env(c, "LAB_VIPS", [["rogue-vip", "10.255.0.5", 24, 9, []]])
        return c, "envs LAB_VIPS differs", "write it from the plan"
    total, survivors = _judge7([("hosts unknown", hide, plant)], recordings[(stack, "preview")],
                               lambda recs: [analyze_in_process(r) for r in recs])
    assert total == 1 and not survivors, survivors


def test_the_pack_derives_the_vip_env_the_program_writes():
    """One fact, two readers: the pack's expectation equals components.nodes.cluster_env for every host."""
    from abiquo_guard.inventory import Inventory
    from abiquo_guard.stack_policies import _vip_rows, planned_vip_env
    from components.nodes import cluster_env
    for stack in DOCKER_STACKS:
        plan = build_plan(load_stack(stack))
        inv = Inventory.__new__(Inventory)
        inv.plan = plan
        zones = {z.name: z for z in plan.zones}
        for host in plan.hosts:
            env = cluster_env(plan, host)
            want = planned_vip_env(inv, host.name, zones)
            for key in ("LAB_VIPS", "LAB_VIP_PROXY"):
                assert want[key] == _vip_rows(json.loads(env.get(key, "[]"))), (stack, host.name, key)


ODD_HOSTS = [None, 5, "x", [], [5], [None], [{"host": 5, "ip": None}], [{"host": "frontend-vip"}], {"x": 1},
             [UNKNOWN_TEXT], [{"host": UNKNOWN_TEXT, "ip": "10.255.0.1"}]]
ODD_VIPS = ["5", "[[1]]", '[["a", [5]]]', '[["a", [[{}]]]]', "{}", '[[null, [[1, 2, 3]]]]', '[[[1], [["a", "b"]]]]',
            '[[1, [[1, 2], ["a", "b"]]]]']


def test_no_vip_env_or_hosts_of_any_shape_crashes_the_pack(recordings):
    rec = recordings[("docker-ha", "preview")]
    holder = build_plan(load_stack("docker-ha")).vips[0].members[0]
    problems = []
    for key, values in (("hosts", ODD_HOSTS), ("LAB_VIPS", ODD_VIPS), ("LAB_VIP_PROXY", ODD_VIPS)):
        for value in values:
            m = copy.deepcopy(rec)
            c = _container(m, holder)
            if key == "hosts":
                c.inputs["hosts"] = copy.deepcopy(value)
            else:
                _set_env(c, key, value)
            try:
                found = analyze_in_process(m)
            except Exception as exc:                   # noqa: BLE001 -- what is tested is that none escapes
                problems.append((key, value, repr(exc)[:120]))
                continue
            if any(v.message.startswith("can't run policy") for v in found):
                problems.append((key, value, "escaped as the SDK's advisory"))
            elif key != "hosts" and not any(key in v.message and v.level == "mandatory" for v in found):
                problems.append((key, value, "not reported"))
    assert not problems, problems[:5]
