"""Issue 12 item 10: `labctl preview --json [--update]` prints what the engine hands an analyzer (a component's
registered outputs beside its inputs, a custom resource's inputs and, in update mode, its ID, dependencies and
property dependencies), so an external harness can drive the pack from the CLI's output alone."""
import copy
import json

import pytest

from labctl.check.analyzer import analyze_in_process, analyze_many_grpc
from labctl.cli import main
from labctl.preview import record_stack
from labctl.preview.recording import Recording


def _preview_json(capsys, stack, update):
    assert main(["preview", "--stack", stack, "--json", *(["--update"] if update else [])]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("stack,update", [("aws-ha", False), ("aws-ha", True), ("docker-ha", False)])
def test_the_pack_gives_the_same_verdicts_from_the_printed_json(capsys, stack, update):
    printed = _preview_json(capsys, stack, update)
    lab = next(r for r in printed["resources"] if r["type"] == "abiquo:lab:Lab")
    assert lab["outputs"]["spec"] and lab["inputs"]["spec"]              # outputs beside the inputs
    custom = [r for r in printed["resources"] if r["custom"]]
    assert all((r["id"] is not None) == update for r in custom if not r["type"].startswith("pulumi:providers:"))
    from_cli = Recording.from_json(printed)
    assert analyze_in_process(from_cli) == []
    # a mutant made on the printed JSON is judged like the same mutant on the recording itself
    direct = record_stack(stack, preview=not update)
    mutants = []
    for rec in (from_cli, direct):
        m = copy.deepcopy(rec)
        if stack.startswith("aws"):
            inst = min((r for r in m.records if r.type == "aws:ec2/instance:Instance"), key=lambda r: r.name)
            inst.inputs["associatePublicIpAddress"] = True
        else:
            net = next(r for r in m.records if r.type == "docker:index/network:Network" and r.name.endswith("-core"))
            net.inputs["internal"] = False
        mutants.append(m)
    found = analyze_many_grpc(mutants)
    assert found[0] and sorted((v.policy, v.message) for v in found[0]) == sorted((v.policy, v.message) for v in found[1])
