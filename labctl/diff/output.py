"""`labctl diff` output: a table, markdown (a CI job summary), JSON and SARIF (changes as notes, the head's mandatory
policy findings as errors)."""
from __future__ import annotations

import json

from ..views import report
from . import mandatory

COLUMNS = ["stack", "change", "what", "item", "ids", "detail"]
SUMMARY_COLUMNS = ["stack", "backend", "status", "flows", "hosts", "rules", "violations"]
EVIDENCE_WIDTH = 70


def _ports(row: dict) -> str:
    port, end = row.get("port"), row.get("port_end")
    if port is None:
        return row["protocol"]
    return f"{port}/{row['protocol']}" if end in (None, port) else f"{port}-{end}/{row['protocol']}"


def flow_text(row: dict) -> str:
    return f"{row['src']} -> {row['dst']} {_ports(row)}"


def rule_text(rule: dict) -> str:
    kind, port = rule.get("kind"), f"{rule.get('port')}/{rule.get('protocol')}"
    if kind == "allow":
        source = rule.get("source_host") or rule.get("source")
        to = f" to {rule['destination']}" if rule.get("destination") else ""
        address = f" ({rule['source']})" if source != rule.get("source") else ""
        return f"{rule['host']} allows {source}{address}{to} {port}"
    if kind == "publish":
        return f"{rule['host']} publishes {port} on {rule.get('source')}"
    return f"sg {rule.get('group')} {kind} {rule.get('peer')} {port}"


def _short(text: str, width: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width or width <= 0 else text[:width - 1] + "…"


def _flow_detail(row: dict, width: int) -> str:
    evidence = (row.get("row") or {}).get("evidence") or row.get("evidence") or ""
    return f"{'required' if row.get('required') else 'optional'}; {_short(evidence, width)}"


def _changes(row: dict) -> str:
    return "; ".join(f"{k} {old} -> {new}" for k, (old, new) in row["changes"].items() if k != "port_end"
                     or row["changes"].get("port") is None)


def host_changes(changes: dict) -> str:
    words = []
    for key, (old, new) in changes.items():
        if key == "interfaces":
            old, new = old or {}, new or {}
            words += [f"joins {n} ({a})" for n, a in new.items() if n not in old]
            words += [f"leaves {n} ({a})" for n, a in old.items() if n not in new]
            words += [f"{n} address {old[n]} -> {a}" for n, a in new.items() if n in old and old[n] != a]
        elif key == "published":
            words.append(f"publishes {len(new or [])} ports (was {len(old or [])})")
        else:
            words.append(f"{key} {old} -> {new}")
    return "; ".join(words)


def rows(result: dict, width: int = EVIDENCE_WIDTH) -> list[dict]:
    out = []
    for stack, s in result["stacks"].items():
        if s["status"] in ("added", "removed"):
            out.append({"stack": stack, "change": f"stack {s['status']}", "what": "stack", "item": stack,
                        "detail": f"{len(s['added'] or s['removed'])} flows, "
                                  f"{len(s['hosts']['added'] or s['hosts']['removed'])} hosts"})
        else:
            for change in ("added", "removed"):
                out += [{"stack": stack, "change": change, "what": "flow", "item": flow_text(f), "ids": f["id"],
                         "detail": _flow_detail(f, width)} for f in s[change]]
            out += [{"stack": stack, "change": "changed", "what": "flow", "item": flow_text(f), "ids": f["id"],
                     "detail": _short(_changes(f), max(width, 0) * 2)} for f in s["changed"]]
            for change in ("added", "removed"):
                out += [{"stack": stack, "change": change, "what": "host", "item": h} for h in s["hosts"][change]]
            out += [{"stack": stack, "change": "changed", "what": "host", "item": h["name"],
                     "detail": host_changes(h["changes"])} for h in s["hosts"].get("changed", [])]
            for change in ("added", "removed"):
                out += [{"stack": stack, "change": change, "what": "rule", "item": rule_text(r), "ids": r.get("ids", []),
                         "detail": _short("; ".join(f"{i}: {e}" for i, e in r.get("evidence", {}).items()), width)}
                        for r in s["rules"][change]]
            out += [{"stack": stack, "change": "changed", "what": "rule", "item": rule_text(r), "ids": r.get("ids", []),
                     "detail": f"ids {' '.join(r['ids_before']) or '-'} -> {' '.join(r.get('ids', [])) or '-'}"}
                    for r in s["rules"].get("changed", [])]
        out += [{"stack": stack, "change": "violation", "what": v["policy"], "item": v.get("resource", ""),
                 "detail": v["message"]} for v in mandatory(s)]
    return out


def summary_rows(result: dict) -> list[dict]:
    return [{"stack": stack, "backend": s["backend"], "status": s["status"],
             "flows": f"+{len(s['added'])} -{len(s['removed'])} ~{len(s['changed'])}",
             "hosts": f"+{len(s['hosts']['added'])} -{len(s['hosts']['removed'])} ~{len(s['hosts'].get('changed', []))}",
             "rules": f"+{len(s['rules']['added'])} -{len(s['rules']['removed'])} ~{len(s['rules'].get('changed', []))}",
             "violations": len(mandatory(s))} for stack, s in result["stacks"].items()]


def verdict(result: dict, status: int) -> str:
    if status:
        return ("FAIL: the head opens something beyond its intent or leaves a required flow unopened "
                "(the policy pack's mandatory findings above)")
    return "ok: every change stays within the documented matrix and each stack's declared flows"


def render(result: dict, fmt: str, status: int) -> str:
    if fmt == "json":
        return json.dumps({**result, "exit": status}, indent=2) + "\n"
    if fmt == "sarif":
        return json.dumps(sarif(result), indent=2) + "\n"
    details = rows(result, width=EVIDENCE_WIDTH if fmt == "table" else 0)
    if fmt == "markdown":
        lines = [f"## Network diff against `{result['base']}`", "", report.render(summary_rows(result), SUMMARY_COLUMNS,
                                                                                     "markdown").rstrip()]
        if details:
            lines += ["", report.render(details, COLUMNS, "markdown").rstrip()]
        return "\n".join(lines + ["", f"**{verdict(result, status)}**"]) + "\n"
    table = report.render(details, COLUMNS, "table") if details else "no network change\n"
    return (f"diff against {result['base']}\n" + table + report.render(summary_rows(result), SUMMARY_COLUMNS, "table")
            + verdict(result, status) + "\n")


def sarif(result: dict) -> dict:
    from ..check import analyzer, output
    violations = {stack: [analyzer.Violation(v["policy"], v["level"], v["message"], v.get("urn", ""))
                          for v in mandatory(s)] for stack, s in result["stacks"].items()}
    doc = output.sarif(violations, analyzer.policy_descriptions())
    run = doc["runs"][0]
    run["tool"]["driver"]["rules"] += [{"id": f"diff/{what}-{change}", "shortDescription": {"text": f"{what} {change}"}}
                                       for what in ("flow", "host", "rule", "stack")
                                       for change in ("added", "removed", "changed")]
    for row in rows(result, width=0):
        if row["change"] == "violation":
            continue
        change = row["change"].replace("stack ", "")
        run["results"].append({"ruleId": f"diff/{row['what']}-{change}", "level": "note",
                               "message": {"text": f"{row['change']} {row['what']}: {row['item']}"
                                                   + (f" ({row['detail']})" if row.get("detail") else "")},
                               "locations": [{"physicalLocation": {"artifactLocation": {"uri": f"stacks/Pulumi.{row['stack']}.yaml"}},
                                              "logicalLocations": [{"fullyQualifiedName": row["stack"]}]}]})
    return doc
