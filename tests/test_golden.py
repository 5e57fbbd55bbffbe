"""Golden files: each shipped stack -> its expected plan. A catalog or planner change shows up as a readable diff.

Regenerate after an intended change with:  UPDATE_GOLDEN=1 python -m pytest tests/test_golden.py
"""
import os
from pathlib import Path

import pytest

from abiquo_lab.plan import build_plan
from abiquo_lab.labspec import load_stack, stack_names
from labctl.views.views import plan_text
from conftest import SHIPPED_STACKS

GOLDEN = Path(__file__).with_name("golden")


def test_shipped_stacks_are_the_documented_set():
    assert set(SHIPPED_STACKS) <= set(stack_names())


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_plan_matches_golden(stack):
    text = plan_text(build_plan(load_stack(stack)))
    path = GOLDEN / f"{stack}.txt"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(text)
    assert path.exists(), f"no golden file {path.name}; run with UPDATE_GOLDEN=1 once and review it"
    assert text == path.read_text()


@pytest.mark.parametrize("stack", ["docker-ha", "aws-ha"])
def test_ha_stacks_have_the_documented_shape(stack):
    plan = build_plan(load_stack(stack))
    assert len(plan.hosts_with("ui")) >= 2 and len(plan.hosts_with("api")) >= 2
    assert len(plan.hosts_with("datanode")) == 3
    assert {h.datacenter for h in plan.hosts_with("rs")} == {"dc1", "dc2"}
    assert {h.datacenter for h in plan.hosts_with("nfs")} == {"dc1", "dc2"}
    assert {h.datacenter for h in plan.hosts_with("bpm")} == {"dc1", "dc2"}
    assert [h.region for h in plan.hosts_with("prs")] == ["eu"]
    assert any(f.id == "A11" for f in plan.flows), "ZooKeeper rows with more than one API"


def test_zookeeper_rows_only_with_more_than_one_api():
    assert not any(f.id == "A11" for f in build_plan(load_stack("docker-distributed")).flows)


def test_rs_reaches_only_its_own_datacenters_nfs():
    plan = build_plan(load_stack("docker-ha"))
    pairs = {(f.src, f.dst) for f in plan.flows if f.id == "A36"}
    assert pairs == {("rs-dc1", "nfs-dc1"), ("rs-dc2", "nfs-dc2")}


def test_same_host_flows_are_local_and_user_flows_public():
    plan = build_plan(load_stack("docker-monolithic"))
    a09 = [f for f in plan.flows if f.id == "A09"]
    assert a09 and all(f.local and f.src == f.dst == "server" for f in a09)
    public = [f for f in plan.flows if f.public]
    assert public and all(f.src == "@user" and "frontend" in plan.host(f.dst).roles for f in public)
