"""`labctl diff`: what a change does to the network, stack by stack, against a base revision.

Both sides are evaluated by their own code: `snapshot.py` runs in a subprocess whose PYTHONPATH is the side's
folder (a git revision extracted with `git archive`, or a folder), and prints a JSON of each stack's plan, the rules
its rendered resources open, and (head only) the policy pack's findings. Here the two JSONs are compared."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Optional

from abiquo_lab.catalog import CATALOG_ENV
from abiquo_lab.contract import InputError, LabError

SNAPSHOT = Path(__file__).resolve().with_name("snapshot.py")
PROJECT_ROOT = Path(__file__).resolve().parents[2]        # the head: the checkout this labctl runs from
FORMATS = ("table", "markdown", "json", "sarif")
FLOW_FIELDS = ("id", "src", "dst", "port", "port_end", "protocol", "service", "required", "evidence")
FLOW_KEY = ("id", "src", "dst", "src_role", "dst_role", "service")
FLOW_COMPARED = ("port", "port_end", "protocol", "required", "evidence")
HOST_COMPARED = ("roles", "zone", "interfaces", "public", "published")   # what a host is reachable as, and where


# ---- the two sides ---------------------------------------------------------------------------------------------
def base_folder(base: str, workdir: Path, root: Path = PROJECT_ROOT, option: str = "--base") -> Path:
    """--base as a folder holding a checkout of the project, or a git revision of the head's repository extracted
    into workdir. Anything else is bad input naming the option."""
    path = Path(base)
    if path.is_dir():
        if not (path / "abiquo_lab").is_dir():
            raise InputError(f"{option} {base}: the folder holds no checkout of this project (no abiquo_lab/ in it)")
        return path.resolve()
    if path.exists():
        raise InputError(f"{option} {base}: a file; give a folder holding a checkout, or a git revision")
    found = subprocess.run(["git", "-C", str(root), "rev-parse", "--verify", "--quiet", f"{base}^{{commit}}"],
                           capture_output=True, text=True)
    if found.returncode != 0:
        raise InputError(f"{option} {base}: no such folder, and not a git revision of this project "
                         "(a commit, branch or tag, e.g. HEAD~1 or origin/main)")
    archive = subprocess.run(["git", "-C", str(root), "archive", "--format=tar", found.stdout.strip()],
                             capture_output=True)
    if archive.returncode != 0:
        raise LabError(f"{option} {base}: git archive failed: {archive.stderr.decode(errors='replace').strip()}")
    target = workdir / "base"
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(target, filter="data")
    if not (target / "abiquo_lab").is_dir():
        raise InputError(f"{option} {base}: that revision holds no abiquo_lab/ (not a revision of this project)")
    return target


def stack_names(stacks_dir: Path) -> list[str]:
    return sorted(p.name[len("Pulumi."):-len(".yaml")] for p in stacks_dir.glob("Pulumi.*.yaml"))


def evaluate(root: Path, stacks_dir: Path, stacks: list[str], verdict: bool, side: str,
             catalog_env: bool = True) -> dict:
    """Run snapshot.py against the code in root; check that root's modules, not the installed ones, were loaded."""
    if not stacks:
        return {"stacks": {}}
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and (catalog_env or k != CATALOG_ENV)}
    env["PYTHONPATH"] = os.pathsep.join([str(root), str(root / "policies")])
    command = [sys.executable, str(SNAPSHOT), "--stacks-dir", str(stacks_dir)] + [a for s in stacks for a in ("--stack", s)]
    done = subprocess.run(command + (["--verdict"] if verdict else []), cwd=root, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise LabError(f"the {side} ({root}) could not be evaluated with its own code: {last}")
    result = json.loads(done.stdout)
    for name, where in result["code"].items():
        if not Path(where).is_relative_to(root.resolve()):
            raise LabError(f"the {side}'s {name} was loaded from {where}, not from {root}")
    return result


# ---- comparing -------------------------------------------------------------------------------------------------
def _flow(row: dict) -> dict:
    return {k: row.get(k) for k in FLOW_FIELDS}


def _with_rows(flows: list[dict], catalog: dict) -> list[dict]:
    """Flows with their catalog row's purpose and evidence text (the flow's own `evidence` is its class: DOC, INF)."""
    return [{**f, "row": catalog.get(f["id"], {})} for f in flows]


def compare_flows(base: list[dict], head: list[dict]) -> tuple[list, list, list]:
    """Flows keyed by catalog row, ends and service: one on each side with the same key and other fields differing
    is changed; everything else is added or removed."""
    def by_key(flows):
        out: dict[tuple, list[dict]] = {}
        for f in flows:
            out.setdefault(tuple(f.get(k) for k in FLOW_KEY), []).append(f)
        return out
    old, new = by_key(base), by_key(head)
    added, removed, changed = [], [], []
    for key in sorted(set(old) | set(new), key=str):
        a, b = old.get(key, []), new.get(key, [])
        if len(a) == 1 and len(b) == 1:
            diff = {k: [a[0].get(k), b[0].get(k)] for k in FLOW_COMPARED if a[0].get(k) != b[0].get(k)}
            if diff:
                changed.append({**_flow(b[0]), "changes": diff})
            continue
        same = lambda f: tuple(f.get(k) for k in FLOW_COMPARED)
        a_rest, b_rest = [f for f in a if same(f) not in {same(g) for g in b}], [f for f in b if same(f) not in {same(g) for g in a}]
        if len(a_rest) == 1 and len(b_rest) == 1:         # one flow of the row between these ends moved
            changed.append({**_flow(b_rest[0]), "changes": {k: [a_rest[0].get(k), b_rest[0].get(k)]
                                                           for k in FLOW_COMPARED if a_rest[0].get(k) != b_rest[0].get(k)}})
            continue
        removed += [_flow(f) for f in a_rest]
        added += [_flow(f) for f in b_rest]
    return added, removed, changed


def _addresses(plan: dict) -> dict[str, str]:
    found = {}
    for host in plan.get("hosts", []):
        for address in [host.get("address"), *(host.get("interfaces") or {}).values()]:
            found.setdefault(address, host["name"])
    for vip in plan.get("vips", []):
        found.setdefault(vip.get("address"), vip["name"])
    return found




def _rule_key(rule: dict) -> str:
    """What a rule admits (direction, group or host, peer, protocol, ports): its catalog ids are what it is for, so a
    rule that admits the same and now serves other rows is changed, not added and removed."""
    skip = {"evidence", "source_host", "name", "ids"}
    return json.dumps({k: v for k, v in sorted(rule.items()) if k not in skip})


def _explained(rules: list[dict], plan: dict, catalog: dict) -> list[dict]:
    """Rules with the host behind a source address and the evidence of their catalog rows."""
    addresses = _addresses(plan)
    out = []
    for rule in rules:
        rule = dict(rule)
        if rule.get("source") in addresses:
            rule["source_host"] = addresses[rule["source"]]
        rule["evidence"] = {i: catalog.get(i, {}).get("evidence", "not a catalog row") for i in rule.get("ids", [])}
        out.append(rule)
    return out


def compare_rules(base: dict, head: dict, catalogs: tuple[dict, dict]) -> dict:
    """Rules as a multiset: a row written twice where it was once is an added row too."""
    def by_key(side: dict, catalog: dict) -> dict[str, list[dict]]:
        out: dict[str, list[dict]] = {}
        for rule in _explained(side.get("rules", []), side.get("plan", {}), catalog):
            out.setdefault(_rule_key(rule), []).append(rule)
        return out
    old, new = by_key(base, catalogs[0]), by_key(head, catalogs[1])
    changed = [{**new[k][0], "ids_before": sorted({i for r in old[k] for i in r.get("ids", [])})} for k in sorted(new)
               if k in old and {i for r in old[k] for i in r.get("ids", [])} != {i for r in new[k] for i in r.get("ids", [])}]
    return {"added": [r for k in sorted(new) for r in new[k][len(old.get(k, [])):]],
            "removed": [r for k in sorted(old) for r in old[k][len(new.get(k, [])):]], "changed": changed}


def compare_stack(base: Optional[dict], head: Optional[dict], catalogs: tuple[dict, dict] = ({}, {})) -> dict:
    status = "added" if base is None else "removed" if head is None else None
    base, head = base or {}, head or {}
    bplan, hplan = base.get("plan", {}), head.get("plan", {})
    network = lambda plan: [f for f in plan.get("flows", []) if not f.get("local")]
    added, removed, changed = compare_flows(network(bplan), network(hplan))
    bhosts, hhosts = {h["name"]: h for h in bplan.get("hosts", [])}, {h["name"]: h for h in hplan.get("hosts", [])}
    moved = [{"name": n, "changes": {k: [bhosts[n].get(k), hhosts[n].get(k)] for k in HOST_COMPARED
                                     if bhosts[n].get(k) != hhosts[n].get(k)}}
             for n in sorted(set(bhosts) & set(hhosts))]
    rules = compare_rules(base, head, catalogs)
    added, changed = _with_rows(added, catalogs[1]), _with_rows(changed, catalogs[1])
    removed = _with_rows(removed, catalogs[0])
    result = {"backend": head.get("backend") or base.get("backend"), "added": added, "removed": removed, "changed": changed,
              "hosts": {"added": sorted(set(hhosts) - set(bhosts)), "removed": sorted(set(bhosts) - set(hhosts)),
                        "changed": [m for m in moved if m["changes"]]},
              "rules": rules,
              "violations": head.get("violations", [])}
    if status is None:
        status = "changed" if (added or removed or changed or rules["added"] or rules["removed"] or rules["changed"]
                               or any(result["hosts"].values())) else "unchanged"
    result["status"] = status
    return result


def mandatory(stack: dict) -> list[dict]:
    return [v for v in stack.get("violations", []) if v.get("level") == "mandatory"]


# ---- the command -----------------------------------------------------------------------------------------------
def run(base: str, stacks_dir: Path, stack: Optional[str], all_stacks: bool, workdir: Path,
        root: Path = PROJECT_ROOT) -> dict:
    if not stack and not all_stacks:
        raise InputError("diff needs --stack S or --all")
    folder = base_folder(base, workdir, root)
    base_stacks_dir = folder / "stacks"
    on_base, on_head = set(stack_names(base_stacks_dir)), set(stack_names(stacks_dir))
    if stack and stack not in on_base | on_head:
        known = ", ".join(sorted(on_base | on_head)) or "none"
        raise InputError(f"--stack {stack}: no stack file Pulumi.{stack}.yaml in the base ({base}) nor the "
                         f"head ({stacks_dir}); known stacks: {known}")
    wanted = [stack] if stack else sorted(on_base | on_head)
    old = evaluate(folder, base_stacks_dir, [s for s in wanted if s in on_base], verdict=False, side="base",
                   catalog_env=False)
    new = evaluate(root, stacks_dir, [s for s in wanted if s in on_head], verdict=True, side="head")
    problems = [f"{side} stack {name}: {data['error']}" for side, got in (("base", old), ("head", new))
                for name, data in got["stacks"].items() if "error" in data]
    if problems:
        raise InputError("\n".join(problems))
    catalogs = (old.get("catalog", {}), new.get("catalog", {}))
    stacks = {s: compare_stack(old["stacks"].get(s), new["stacks"].get(s), catalogs) for s in wanted}
    return {"base": base, "base_code": old.get("code"), "stacks": stacks}


def base_plan(base: str, stack: str, workdir: Path, root: Path = PROJECT_ROOT, option: str = "--diff") -> dict:
    """The stack's plan at the base, as data (`labctl graph --diff`); a stack the base lacks is an empty plan."""
    folder = base_folder(base, workdir, root, option)
    if stack not in stack_names(folder / "stacks"):
        return {"lab": stack, "zones": [], "hosts": [], "vips": [], "flows": []}
    found = evaluate(folder, folder / "stacks", [stack], verdict=False, side="base", catalog_env=False)["stacks"][stack]
    if "error" in found:
        raise InputError(f"base stack {stack}: {found['error']}")
    return found["plan"]


def exit_status(result: dict) -> int:
    """1 when the head opens anything beyond its intent or leaves a required flow unopened (the policy pack's
    mandatory findings on the head), else 0."""
    return 1 if any(mandatory(s) for s in result["stacks"].values()) else 0
