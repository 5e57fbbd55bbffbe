"""What one revision of the project makes of its stacks, as JSON: the plan (zones, hosts, VIPs, flows), the rules
the rendered resources open (Docker allowlists and published ports, AWS security-group rules) and, with --verdict,
the policy pack's findings.

`labctl diff` runs this file as a script in a subprocess whose PYTHONPATH is the revision's folder (and its
`policies/`), so `abiquo_lab`, `components` and `labctl.preview` are that revision's own modules, not the installed
ones; the JSON names the files it loaded (`code`), so the caller can check that. Standard library only here: the
file runs against any revision's modules."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

DOCKER_CONTAINER = "docker:index/container:Container"
AWS_RULES = {"aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": "ingress",
             "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": "egress"}
ALLOWLIST_LABEL = "abiquo-lab.allowlist"
HOST_LABEL = "abiquo-lab.host"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
LEGACY_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"


def _span(low, high) -> str:
    low, high = (int(low) if low is not None else None), (int(high) if high is not None else None)
    if low is None or low == -1:
        return "all"
    return str(low) if high in (None, low) else f"{low}-{high}"


def _ports(protocol, low, high) -> str:
    """An AWS rule's port range; protocol -1 (all) opens every port whatever the range says."""
    return "all" if str(protocol) in ("-1", "all") else _span(low, high)


def _labels(inputs: dict) -> dict:
    return {item.get("label"): item.get("value") for item in inputs.get("labels") or []}


def docker_rules(records) -> list[dict]:
    """Each container's allowlist (from its label) and published ports, one entry per rule."""
    rules = []
    for rec in records:
        if rec.type != DOCKER_CONTAINER:
            continue
        labels = _labels(rec.inputs)
        host = labels.get(HOST_LABEL) or rec.name
        for row in json.loads(labels.get(ALLOWLIST_LABEL) or "[]"):
            protocol, source, port, ids = (list(row) + [None] * 4)[:4]
            entry = {"kind": "allow", "host": host, "protocol": protocol, "source": source, "port": port or "",
                     "ids": str(ids or "").replace(",", " ").split()}
            if len(row) > 4:
                entry["destination"] = row[4]
            rules.append(entry)
        for port in rec.inputs.get("ports") or []:
            rules.append({"kind": "publish", "host": host, "protocol": port.get("protocol", "tcp"),
                          "source": port.get("ip") or "any", "port": f"{_span(port.get('internal'), None)}"
                          f"<-{_span(port.get('external'), None)}", "ids": []})
    return rules


def _group(urns, lab_prefix: str) -> str:
    name = urns[0].rsplit("::", 1)[-1] if urns else "?"
    return name[len(lab_prefix):] if name.startswith(lab_prefix) else name


def _ids(description) -> list[str]:
    return [w for w in str(description or "").split() if w[:1].isalpha() and w[1:].isdigit() and len(w) == 3]


def _inline_rules(rec, prefix: str) -> list[dict]:
    """Rules written inside an aws:ec2/SecurityGroup (ingress/egress blocks) or as a legacy aws:ec2/SecurityGroupRule:
    the shipped program uses neither, so a change that does is listed too, one entry per peer."""
    blocks = ([("ingress", b) for b in rec.inputs.get("ingress") or []] + [("egress", b) for b in rec.inputs.get("egress") or []]
              if rec.type == SECURITY_GROUP else [(rec.inputs.get("type"), rec.inputs)])
    group = rec.name[len(prefix):] if rec.name.startswith(prefix) else rec.name
    rules = []
    for direction, block in blocks:
        peers = (list(block.get("cidrBlocks") or []) + list(block.get("ipv6CidrBlocks") or [])
                 + [f"sg:{g}" for g in block.get("securityGroups") or []] + (["self"] if block.get("self") else [])
                 + ([f"sg:{block['sourceSecurityGroupId']}"] if block.get("sourceSecurityGroupId") else []))
        for peer in peers or ["?"]:
            rules.append({"kind": str(direction), "group": group, "peer": peer, "protocol": str(block.get("protocol")),
                          "port": _ports(block.get("protocol"), block.get("fromPort"), block.get("toPort")),
                          "ids": _ids(block.get("description")),
                          "name": rec.name})
    return rules


def aws_rules(records, lab: str) -> list[dict]:
    """Each security-group rule: direction, group, the peer (a group or an address range), protocol, ports, ids."""
    rules, prefix = [], f"{lab}-sg-"
    for rec in records:
        if rec.type in (SECURITY_GROUP, LEGACY_RULE):
            rules += _inline_rules(rec, prefix)
            continue
        direction = AWS_RULES.get(rec.type)
        if direction is None:
            continue
        inputs, deps = rec.inputs, rec.property_dependencies
        peer = (inputs.get("cidrIpv4") or inputs.get("cidrIpv6") or inputs.get("prefixListId")
                or (f"sg:{_group(deps.get('referencedSecurityGroupId'), prefix)}" if deps.get("referencedSecurityGroupId") else "?"))
        ids = _ids(inputs.get("description"))
        rules.append({"kind": direction, "group": _group(deps.get("securityGroupId"), prefix), "peer": peer,
                      "protocol": str(inputs.get("ipProtocol")),
                      "port": _ports(inputs.get("ipProtocol"), inputs.get("fromPort"), inputs.get("toPort")),
                      "ids": ids, "name": rec.name})
    return rules


def snapshot_stack(stack: str, stacks_dir: Path, verdict: bool) -> dict:
    from abiquo_lab.labspec import load_stack
    from abiquo_lab.plan import build_plan
    from labctl.preview import record_stack
    plan = build_plan(load_stack(stack, stacks_dir=stacks_dir))
    recording = record_stack(stack, preview=True, stacks_dir=stacks_dir)
    rules = docker_rules(recording.records) if plan.backend == "docker" else aws_rules(recording.records, plan.lab)
    out = {"lab": plan.lab, "backend": plan.backend, "layout": plan.layout, "plan": plan.model_dump(mode="json"),
           "rules": rules}
    if verdict:
        from labctl.check import analyzer
        out["violations"] = [v.to_json() for v in analyzer.analyze_in_process(recording, None)]
    return out


def catalog_rows() -> dict:
    """Each catalog row's evidence and purpose (the side's catalog: ABIQUO_LAB_CATALOG or its own file)."""
    from abiquo_lab.catalog import default_catalog
    return {row.id: {"evidence": row.evidence, "purpose": row.purpose} for row in default_catalog().connections}


def loaded_code() -> dict:
    import abiquo_lab
    import components
    import labctl.preview
    return {name: str(Path(module.__file__).resolve().parent) for name, module in
            (("abiquo_lab", abiquo_lab), ("components", components), ("labctl", sys.modules["labctl"]))}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stacks-dir", type=Path, required=True)
    parser.add_argument("--stack", action="append", default=[])
    parser.add_argument("--verdict", action="store_true", help="also run the policy pack on each stack")
    args = parser.parse_args(argv)
    from abiquo_lab.contract import LabError
    stacks = {}
    for stack in args.stack:
        try:
            stacks[stack] = snapshot_stack(stack, args.stacks_dir, args.verdict)
        except LabError as exc:
            stacks[stack] = {"error": str(exc)}
    json.dump({"code": loaded_code(), "catalog": catalog_rows(), "stacks": stacks}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
