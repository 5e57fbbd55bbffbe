"""`labctl diff`: golden diffs for a set of changes, the exit statuses, and that each side is evaluated by its own code.

Regenerate the golden diffs after an intended change with:  UPDATE_GOLDEN=1 python -m pytest tests/test_diff.py
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from abiquo_lab.catalog import CATALOG_ENV, CATALOG_FILE
from labctl.cli import main
from labctl.diff import output
from project_copy import copy_project, widen_allowlists, widen_security_groups

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).with_name("golden") / "diff"
SENTINEL_MOVED = ("26379", "26380")           # Redis Sentinel's port in a catalog copy (row B09 follows the role's port)


def stacks_with(tmp_path: Path, stack: str, old: str, new: str) -> Path:
    """The shipped stacks folder with one line of one stack file changed."""
    folder = tmp_path / "stacks"
    shutil.copytree(ROOT / "stacks", folder)
    path = folder / f"Pulumi.{stack}.yaml"
    text = path.read_text()
    assert old in text, (stack, old)
    path.write_text(text.replace(old, new))
    return folder


def moved_catalog(path: Path) -> Path:
    text = CATALOG_FILE.read_text()
    assert text.count(SENTINEL_MOVED[0]) >= 1
    path.write_text(text.replace(*SENTINEL_MOVED))
    return path


def diff(capsys, *argv) -> tuple[int, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err, captured.err
    return code, captured.out


def golden(name: str, text: str, base: str) -> None:
    text = text.replace(base, "BASE")
    path = GOLDEN / f"{name}.txt"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"no golden file {path.name}; run with UPDATE_GOLDEN=1 once and review it"
    assert text == path.read_text()


def as_json(capsys, *argv) -> tuple[int, dict]:
    code, out = diff(capsys, *argv, "-f", "json")
    return code, json.loads(out)


# ---- golden diffs: the head is the working tree with one change -------------------------------------------------
def test_adding_a_datacenter(tmp_path, capsys):
    stacks = stacks_with(tmp_path, "docker-ha", "datacenters: [dc1, dc2]", "datacenters: [dc1, dc2, dc3]")
    code, out = diff(capsys, "--stacks-dir", str(stacks), "diff", "--base", str(ROOT), "--stack", "docker-ha")
    assert code == 0, out
    golden("docker-ha.add-datacenter", out, str(ROOT))
    code, data = as_json(capsys, "--stacks-dir", str(stacks), "diff", "--base", str(ROOT), "--stack", "docker-ha")
    s = data["stacks"]["docker-ha"]
    assert {"rs-dc3", "nfs-dc3", "bpm-dc3"} <= set(s["hosts"]["added"]) and not s["hosts"]["removed"]
    assert s["added"] and not s["removed"] and s["status"] == "changed"
    assert all(r["kind"] == "allow" and r["ids"] for r in s["rules"]["added"])
    assert any(f["src"] == "rs-dc3" or f["dst"] == "rs-dc3" for f in s["added"])


def test_dropping_a_region(tmp_path, capsys):
    stacks = stacks_with(tmp_path, "aws-ha", "regions: [eu]", "regions: []")
    code, out = diff(capsys, "--stacks-dir", str(stacks), "diff", "--base", str(ROOT), "--stack", "aws-ha")
    assert code == 0, out
    golden("aws-ha.drop-region", out, str(ROOT))
    code, data = as_json(capsys, "--stacks-dir", str(stacks), "diff", "--base", str(ROOT), "--stack", "aws-ha")
    s = data["stacks"]["aws-ha"]
    assert s["hosts"]["removed"] == ["prs-eu"] and s["removed"] and not s["added"]
    assert {h["name"]: list(h["changes"]) for h in s["hosts"]["changed"]} == {"api-1": ["interfaces"], "api-2": ["interfaces"]}
    assert {r["kind"] for r in s["rules"]["removed"]} == {"ingress", "egress"} and not s["rules"]["added"]
    assert all(r["evidence"] and all(r["evidence"].values()) for r in s["rules"]["removed"])


def test_flipping_a_switch(tmp_path, capsys):
    stacks = stacks_with(tmp_path, "docker-ha", "    owner: qa\n", "    owner: qa\n    switches: {rs_uses_zookeeper: true}\n")
    code, out = diff(capsys, "--stacks-dir", str(stacks), "diff", "--base", str(ROOT), "--stack", "docker-ha")
    assert code == 0, out
    golden("docker-ha.rs-uses-zookeeper", out, str(ROOT))
    _, data = as_json(capsys, "--stacks-dir", str(stacks), "diff", "--base", str(ROOT), "--stack", "docker-ha")
    s = data["stacks"]["docker-ha"]
    assert s["added"] and {f["id"] for f in s["added"]} == {"A11"}
    assert {(f["src"].split("-")[0], f["port"]) for f in s["added"]} == {("rs", 2181)}
    assert {r["port"] for r in s["rules"]["added"]} == {"2181"} and not s["removed"]


def test_a_catalog_port_change(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv(CATALOG_ENV, str(moved_catalog(tmp_path / "catalog.yaml")))
    code, out = diff(capsys, "diff", "--base", str(ROOT), "--stack", "docker-ha")
    assert code == 0, out
    golden("docker-ha.catalog-port", out, str(ROOT))
    _, data = as_json(capsys, "diff", "--base", str(ROOT), "--stack", "docker-ha")
    s = data["stacks"]["docker-ha"]
    assert s["changed"] and all(f["changes"]["port"] == [26379, 26380] for f in s["changed"])
    assert not s["added"] and not s["removed"]
    assert {r["port"] for r in s["rules"]["added"]} == {"26380"} and {r["port"] for r in s["rules"]["removed"]} == {"26379"}


def test_a_program_change_that_widens_a_rule_fails(tmp_path):
    """The head is a checkout whose renderer adds an allowlist row nobody asked for: exit 1, the rule listed as
    added and the pack's finding beside it."""
    head = copy_project(tmp_path / "head")
    widen_allowlists(head)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(head), str(head / "policies")]))
    done = subprocess.run([sys.executable, "-m", "labctl", "diff", "--base", str(ROOT), "--stack", "docker-ha"], cwd=head,
                          env=env, capture_output=True, text=True)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "FAIL: the head opens something beyond its intent" in done.stdout
    assert "lb-1 allows 0.0.0.0/0 22/tcp" in done.stdout and "nothing-beyond-intent" in done.stdout
    done = subprocess.run([sys.executable, "-m", "labctl", "diff", "--base", str(ROOT), "--stack", "docker-ha", "-f", "json"],
                          cwd=head, env=env, capture_output=True, text=True)
    s = json.loads(done.stdout)["stacks"]["docker-ha"]
    assert done.returncode == 1 and json.loads(done.stdout)["exit"] == 1
    assert not (s["added"] or s["removed"] or s["changed"] or s["rules"]["removed"])     # the plan did not change
    golden("docker-ha.widened-rule", "".join(f"{output.rule_text(r)}  {r['ids']}\n" for r in s["rules"]["added"]), str(ROOT))
    beyond = [v for v in s["violations"] if v["policy"] == "nothing-beyond-intent" and v["level"] == "mandatory"]
    assert len(beyond) == len(s["rules"]["added"]) == 16 and all("0.0.0.0/0" in v["message"] for v in beyond)


def test_a_program_change_that_widens_security_groups_fails(tmp_path):
    head = copy_project(tmp_path / "head")
    widen_security_groups(head)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(head), str(head / "policies")]))
    done = subprocess.run([sys.executable, "-m", "labctl", "diff", "--base", str(ROOT), "--stack", "aws-ha", "-f", "json"],
                          cwd=head, env=env, capture_output=True, text=True)
    assert done.returncode == 1, done.stderr[-2000:]
    s = json.loads(done.stdout)["stacks"]["aws-ha"]
    assert not (s["added"] or s["removed"] or s["changed"])                              # the plan did not change
    assert s["rules"]["added"] and all(r["port"] == "1-65535" and r["kind"] == "ingress" for r in s["rules"]["added"])
    assert {r["name"] for r in s["rules"]["removed"]} >= {r["name"] for r in s["rules"]["added"]}
    assert any(v["policy"] == "nothing-beyond-intent" for v in s["violations"] if v["level"] == "mandatory")


# ---- each side runs its own code ---------------------------------------------------------------------------------
def test_a_base_folder_is_evaluated_with_its_own_code_and_catalog(tmp_path, capsys):
    """The base is a checkout whose catalog moved a port: the diff shows it moving back. The head's installed
    modules would plan the base with the head's catalog and show nothing."""
    base = copy_project(tmp_path / "base")
    moved_catalog(base / "abiquo_lab" / "catalog" / "catalog.yaml")
    code, data = as_json(capsys, "diff", "--base", str(base), "--stack", "docker-ha")
    assert code == 0
    assert all(Path(where).is_relative_to(base) for where in data["base_code"].values()), data["base_code"]
    s = data["stacks"]["docker-ha"]
    assert s["changed"] and all(f["changes"]["port"] == [26380, 26379] for f in s["changed"])


def test_a_git_revision_is_extracted_and_evaluated_apart_from_the_working_tree(capsys):
    code, data = as_json(capsys, "diff", "--base", "HEAD", "--stack", "docker-ha")
    assert code == 0
    assert data["base_code"] and not any(Path(w).is_relative_to(ROOT) for w in data["base_code"].values())
    assert set(data["stacks"]) == {"docker-ha"}


def test_a_stack_on_one_side_only_is_added_or_removed(tmp_path, capsys):
    stacks = tmp_path / "stacks"
    shutil.copytree(ROOT / "stacks", stacks)
    (stacks / "Pulumi.docker-monolithic.yaml").unlink()
    text = (ROOT / "stacks" / "Pulumi.docker-distributed.yaml").read_text()
    (stacks / "Pulumi.docker-new.yaml").write_text(text.replace("name: ", "name: new", 1))
    code, data = as_json(capsys, "--stacks-dir", str(stacks), "diff", "--base", str(ROOT), "--all")
    assert code == 0
    assert data["stacks"]["docker-new"]["status"] == "added" and data["stacks"]["docker-new"]["added"]
    assert data["stacks"]["docker-monolithic"]["status"] == "removed" and data["stacks"]["docker-monolithic"]["removed"]
    assert data["stacks"]["docker-ha"]["status"] == "unchanged"
    assert not data["stacks"]["docker-new"]["removed"] and not data["stacks"]["docker-monolithic"]["added"]


# ---- formats ------------------------------------------------------------------------------------------------------
def test_markdown_and_sarif_carry_the_changes(tmp_path, capsys):
    stacks = stacks_with(tmp_path, "docker-ha", "datacenters: [dc1, dc2]", "datacenters: [dc1, dc2, dc3]")
    _, data = as_json(capsys, "--stacks-dir", str(stacks), "diff", "--base", str(ROOT), "--stack", "docker-ha")
    s = data["stacks"]["docker-ha"]
    count = (len(s["added"]) + len(s["removed"]) + len(s["changed"]) + sum(map(len, s["hosts"].values()))
             + len(s["rules"]["added"]) + len(s["rules"]["removed"]) + len(s["rules"]["changed"]))
    code, out = diff(capsys, "--stacks-dir", str(stacks), "diff", "--base", str(ROOT), "--stack", "docker-ha", "-f", "sarif")
    results = json.loads(out)["runs"][0]["results"]
    assert code == 0 and len(results) == count and {r["level"] for r in results} == {"note"}
    code, out = diff(capsys, "--stacks-dir", str(stacks), "diff", "--base", str(ROOT), "--stack", "docker-ha", "-f", "markdown")
    assert out.startswith("## Network diff against") and "| docker-ha | added | host | rs-dc3 |" in out
    assert "**ok: every change stays within" in out


# ---- rules in other forms are listed too ------------------------------------------------------------------------
def test_rules_written_inline_or_as_legacy_rules_are_listed(tmp_path):
    """The shipped program writes one aws:vpc rule resource per rule; a change that opens access another way (ingress
    blocks inside the group, the legacy rule type) still shows in the diff's rules."""
    from types import SimpleNamespace as R
    from labctl.diff.snapshot import aws_rules
    records = [
        R(type="aws:ec2/securityGroup:SecurityGroup", name="lab-sg-api", property_dependencies={}, inputs={
            "ingress": [{"protocol": "tcp", "fromPort": 22.0, "toPort": 22.0, "cidrBlocks": ["0.0.0.0/0"],
                         "description": "ssh"}], "egress": []}),
        R(type="aws:ec2/securityGroupRule:SecurityGroupRule", name="lab-extra", property_dependencies={}, inputs={
            "type": "ingress", "protocol": "-1", "fromPort": 0.0, "toPort": 0.0, "cidrBlocks": ["10.0.0.0/8"],
            "description": "A13 wide"}),
        R(type="aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", name="lab-ingress-api-from-bpm-tcp-8009",
          property_dependencies={"securityGroupId": ["urn::lab-sg-api"], "referencedSecurityGroupId": ["urn::lab-sg-bpm"]},
          inputs={"ipProtocol": "tcp", "fromPort": 8009.0, "toPort": 8009.0, "description": "A22 bpm->api"}),
    ]
    rules = [(r["kind"], r["group"], r["peer"], r["protocol"], r["port"], r["ids"]) for r in aws_rules(records, "lab")]
    assert rules == [("ingress", "api", "0.0.0.0/0", "tcp", "22", []), ("ingress", "lab-extra", "10.0.0.0/8", "-1", "all", ["A13"]),
                     ("ingress", "api", "sg:bpm", "tcp", "8009", ["A22"])]


def test_a_rule_written_twice_is_listed_as_added():
    from labctl.diff import compare_rules
    row = {"kind": "allow", "host": "api-1", "protocol": "tcp", "source": "10.0.0.1", "port": "8009", "ids": ["A22"]}
    plan = {"hosts": [], "vips": [], "flows": []}
    found = compare_rules({"rules": [row], "plan": plan}, {"rules": [row, dict(row)], "plan": plan}, ({}, {}))
    assert len(found["added"]) == 1 and not found["removed"]
    found = compare_rules({"rules": [row, dict(row)], "plan": plan}, {"rules": [row], "plan": plan}, ({}, {}))
    assert len(found["removed"]) == 1 and not found["added"]
