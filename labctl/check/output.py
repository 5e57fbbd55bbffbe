"""`labctl check` output: table, JSON, markdown (a CI job summary) and SARIF 2.1.0 (code scanning)."""
from __future__ import annotations

import json

from ..views import report
from .analyzer import Violation

FORMATS = ("table", "json", "markdown", "sarif")
COLUMNS = ["stack", "policy", "level", "resource", "message"]


def rows(results: dict[str, list[Violation]]) -> list[dict]:
    return [{"stack": stack, **v.to_json()} for stack, found in results.items() for v in found]


def render(results: dict[str, list[Violation]], fmt: str, descriptions: dict[str, str]) -> str:
    if fmt == "json":
        return json.dumps({"stacks": {s: {"violations": [v.to_json() for v in found],
                                          "mandatory": sum(v.level == "mandatory" for v in found),
                                          "advisory": sum(v.level == "advisory" for v in found)}
                                      for s, found in results.items()}}, indent=2) + "\n"
    if fmt == "sarif":
        return json.dumps(sarif(results, descriptions), indent=2) + "\n"
    if fmt == "markdown":
        lines = ["## Abiquo lab policy check", "", "| stack | mandatory | advisory |", "|---|---|---|"]
        lines += [f"| {s} | {sum(v.level == 'mandatory' for v in f)} | {sum(v.level == 'advisory' for v in f)} |"
                  for s, f in results.items()]
        found = rows(results)
        if found:
            lines += ["", report.render(found, COLUMNS, "markdown").rstrip()]
        return "\n".join(lines) + "\n"
    found = rows(results)
    summary = ", ".join(f"{s}: {sum(v.level == 'mandatory' for v in f)} mandatory, "      # the markdown's words
                        f"{sum(v.level == 'advisory' for v in f)} advisory" for s, f in results.items())
    return (report.render(found, COLUMNS, "table") if found else "no violations\n") + summary + "\n"


def sarif(results: dict[str, list[Violation]], descriptions: dict[str, str]) -> dict:
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json", "version": "2.1.0",
        "runs": [{"tool": {"driver": {"name": "abiquo-lab-guard", "informationUri": "https://www.pulumi.com/docs/iac/crossguard/",
                                      "rules": [{"id": name, "shortDescription": {"text": text}}
                                                for name, text in sorted(descriptions.items())]}},
                  "results": [{"ruleId": v.policy, "level": "error" if v.level == "mandatory" else "warning",
                               "message": {"text": v.message},
                               "locations": [{"physicalLocation": {"artifactLocation": {"uri": f"stacks/Pulumi.{stack}.yaml"}},
                                              "logicalLocations": [{"fullyQualifiedName": v.urn or stack}]}]}
                              for stack, found in results.items() for v in found]}]}
