"""labctl up / ls / down / reap on the Automation API, with a fake Pulumi CLI injected through
LocalWorkspaceOptions(pulumi_command=...) (LABCTL_PULUMI_ROOT): the exact CLI calls and the handling of canned
outputs, a failing destroy included. No real CLI, backend or cloud."""
import json
import os
import stat
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from labctl import lifecycle
from labctl.cli import main as labctl

FAKE = Path(__file__).parent / "fakes" / "fake_pulumi.py"


@pytest.fixture
def fake_cli(tmp_path, monkeypatch):
    root = tmp_path / "pulumi"
    (root / "bin").mkdir(parents=True)
    exe = root / "bin" / "pulumi"
    exe.write_text(f"#!{sys.executable}\nimport runpy, sys\nsys.argv[0] = {str(FAKE)!r}\nrunpy.run_path({str(FAKE)!r}, run_name='__main__')\n")
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    folder = tmp_path / "fake"
    folder.mkdir()
    monkeypatch.setenv("LABCTL_PULUMI_ROOT", str(root))
    monkeypatch.setenv("FAKE_PULUMI_DIR", str(folder))
    monkeypatch.setenv("ABIQUO_LAB_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PULUMI_BACKEND_URL", raising=False)

    class Fake:
        dir = folder

        def calls(self):
            log = folder / "calls.jsonl"
            lines = log.read_text().splitlines() if log.exists() else []
            return [json.loads(line) for line in lines]

        def argv(self):
            return [c["argv"] for c in self.calls() if c["argv"] != ["version"]]

        def state(self):
            return json.loads((folder / "state.json").read_text())

        def set_state(self, **changes):
            data = self.state() if (folder / "state.json").exists() else {"stacks": {}}
            data.update(changes)
            (folder / "state.json").write_text(json.dumps(data))
    return Fake()


def test_up_creates_the_stack_sets_config_and_tags_and_runs_up_with_the_policy_pack(fake_cli, capsys, tmp_path):
    assert labctl(["up", "lab1", "--from", "docker-ha", "--ttl", "4h", "--owner", "alice"]) == 0
    out = capsys.readouterr().out
    assert "+ 12 created" in out and "lab lab1 is up" in out                     # progress streamed
    argv = fake_cli.argv()
    assert argv[0] == ["stack", "init", "lab1"]
    sets = {a[2]: a[-1] for a in argv if a[:2] == ["config", "set"]}
    lab = json.loads(sets["abiquo-lab:lab"])
    assert lab["name"] == "lab1" and lab["owner"] == "alice" and lab["ttl"] == "4h" and lab["layout"] == "ha"
    created, expires = lifecycle.parse_stamp(sets["abiquo-lab:createdAt"]), lifecycle.parse_stamp(sets["abiquo-lab:expiresAt"])
    assert expires - created == timedelta(hours=4) and sets["abiquo-lab:template"] == "docker-ha"
    assert all(a[a.index("--stack") + 1] == "lab1" for a in argv if a[:2] == ["config", "set"])
    tags = {a[3]: a[4] for a in argv if a[:3] == ["stack", "tag", "set"]}
    assert tags["abiquo-lab:owner"] == "alice" and tags["abiquo-lab:expires-at"] == sets["abiquo-lab:expiresAt"]
    (up,) = [a for a in argv if a[:1] == ["up"]]
    assert up[:3] == ["up", "--yes", "--skip-preview"]
    assert up[up.index("--policy-pack") + 1] == str(lifecycle.PACK_DIR) and up[up.index("--stack") + 1] == "lab1"
    backends = {c["backend"] for c in fake_cli.calls() if c["argv"] != ["version"]}
    assert backends == {f"file://{tmp_path / 'home' / 'state'}"}                  # the default local file backend
    project = tmp_path / "home" / "labs" / "lab1" / "Pulumi.yaml"                 # labs never write into stacks/
    import yaml
    main = yaml.safe_load(project.read_text())["main"]
    assert not os.path.isabs(main) and (project.parent / main).resolve() == lifecycle.ROOT


def test_bad_input_is_refused_before_any_cli_call(fake_cli, capsys):
    assert labctl(["up", "Lab_1", "--from", "docker-ha", "--ttl", "4h"]) == 2
    assert "lab name 'Lab_1'" in capsys.readouterr().err
    assert labctl(["up", "lab2", "--from", "docker-ha", "--ttl", "soon"]) == 2
    assert "--ttl: 'soon' is not a duration" in capsys.readouterr().err
    assert labctl(["up", "lab2", "--from", "no-such-stack", "--ttl", "1h"]) == 2
    assert fake_cli.argv() == []


def test_settings_override_the_template_and_are_checked_first(fake_cli, capsys):
    assert labctl(["up", "lab7", "--from", "docker-ha", "--ttl", "1h", "--set", "nodes.api=3",
                   "--set", "docker.https_port=9543", "--address-pool", "10.97.0.0/16"]) == 0
    sets = {a[2]: a[-1] for a in fake_cli.argv() if a[:2] == ["config", "set"]}
    lab = json.loads(sets["abiquo-lab:lab"])
    assert lab["nodes"] == {"frontend": 2, "ui": 2, "api": 3, "datanode": 3} and lab["docker"]["https_port"] == 9543
    assert lab["address_pool"] == "10.97.0.0/16"
    calls = len(fake_cli.argv())
    assert labctl(["up", "lab8", "--from", "docker-ha", "--ttl", "1h", "--set", "nodes.api=0"]) == 2
    assert "lab.nodes.api: must be between 1 and 16 (got 0)" in capsys.readouterr().err
    assert labctl(["up", "lab8", "--from", "docker-ha", "--ttl", "1h", "--set", "nodes.api"]) == 2
    assert "use KEY=VALUE" in capsys.readouterr().err
    assert len(fake_cli.argv()) == calls                                       # refused before any CLI call


def test_backend_url_from_the_environment_is_honoured(fake_cli, monkeypatch):
    monkeypatch.setenv("PULUMI_BACKEND_URL", "s3://labs-state")
    assert labctl(["up", "lab3", "--from", "docker-distributed", "--ttl", "1h"]) == 0
    assert {c["backend"] for c in fake_cli.calls() if c["argv"] != ["version"]} == {"s3://labs-state"}


def test_ls_lists_labs_only_with_expiry(fake_cli, capsys):
    fake_cli.set_state(stacks={
        "old": {"config": {"abiquo-lab:lab": json.dumps({"layout": "ha"}), "abiquo-lab:createdAt": "2026-01-01T00:00:00Z",
                           "abiquo-lab:expiresAt": "2026-01-01T04:00:00Z", "abiquo-lab:owner": "bob",
                           "abiquo-lab:template": "docker-ha"}, "tags": {}, "resources": 30},
        "hand-made": {"config": {"abiquo-lab:lab": "{}"}, "tags": {}, "resources": 3}})
    assert labctl(["ls", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["pulumi"]
    assert [r["name"] for r in rows] == ["old"]
    assert rows[0] | {} == {**rows[0], "layout": "ha", "owner": "bob", "expired": True, "resources": 30, "backend": "local"}


def test_down_destroys_then_removes_and_refuses_non_labs(fake_cli, capsys):
    assert labctl(["up", "lab4", "--from", "docker-distributed", "--ttl", "1h"]) == 0
    fake_cli.set_state(stacks={**fake_cli.state()["stacks"], "hand-made": {"config": {}, "tags": {}, "resources": 3}})
    assert labctl(["down", "hand-made"]) == 2
    assert "is not a lab" in capsys.readouterr().err
    before = len(fake_cli.argv())
    assert labctl(["down", "lab4"]) == 0
    after = fake_cli.argv()[before:]
    destroy = [a for a in after if a[:1] == ["destroy"]]
    assert destroy and destroy[0][destroy[0].index("--stack") + 1] == "lab4"
    assert after[-1] == ["stack", "rm", "--yes", "lab4"]
    assert "lab4" not in fake_cli.state()["stacks"] and "hand-made" in fake_cli.state()["stacks"]


def test_a_failing_destroy_keeps_the_stack_and_says_how_to_retry(fake_cli, capsys):
    assert labctl(["up", "lab5", "--from", "docker-distributed", "--ttl", "1h"]) == 0
    fake_cli.set_state(fail_destroy=["lab5"])
    assert labctl(["down", "lab5"]) == 1
    err = capsys.readouterr().err
    assert "the stack and its state are kept" in err and "retry: labctl down lab5" in err and "still in use" in err
    assert "lab5" in fake_cli.state()["stacks"]
    assert not any(a[:2] == ["stack", "rm"] for a in fake_cli.argv())


def test_reap_destroys_expired_labs_only_and_dry_run_changes_nothing(fake_cli, capsys, monkeypatch):
    for name in ("fresh", "stale"):
        assert labctl(["up", name, "--from", "docker-distributed", "--ttl", "1h", "--owner", "carol"]) == 0
    stacks = fake_cli.state()["stacks"]
    stacks["stale"]["config"]["abiquo-lab:expiresAt"] = "2020-01-01T00:00:00Z"
    fake_cli.set_state(stacks=stacks)
    monkeypatch.setattr("labctl.cli._docker", lambda: (_ for _ in ()).throw(RuntimeError("no engine in this test")))
    before = len(fake_cli.argv())
    assert labctl(["reap", "--dry-run"]) == 0
    assert "lab stale: would destroy" in capsys.readouterr().out
    assert not any(a[:1] == ["destroy"] for a in fake_cli.argv()[before:])
    assert labctl(["reap", "--owner", "carol"]) == 0
    out = capsys.readouterr().out
    assert "lab stale: destroyed and removed" in out and "destroyed: 1" in out and "kept: 1" in out
    assert set(fake_cli.state()["stacks"]) == {"fresh"}


def test_no_tags_backend_is_noted_not_fatal(fake_cli, capsys):
    fake_cli.set_state(stacks={}, no_tags=True)
    assert labctl(["up", "lab6", "--from", "docker-distributed", "--ttl", "1h"]) == 0
    assert "stack tags not stored by this backend" in capsys.readouterr().out


def test_without_the_cli_commands_say_how_to_install_and_reap_still_runs(monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("LABCTL_PULUMI_ROOT", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))                                   # no pulumi anywhere
    monkeypatch.setenv("ABIQUO_LAB_HOME", str(tmp_path / "home"))
    for argv in (["up", "x", "--from", "docker-ha", "--ttl", "1h"], ["down", "x"]):
        assert labctl(argv) == 3                                                # a missing tool: its own status
        err = capsys.readouterr().err
        assert "the Pulumi CLI is not installed" in err and "get.pulumi.com" in err and "Traceback" not in err
    from abiquo_lab.contract import LabError
    monkeypatch.setattr("labctl.cli._docker", lambda: (_ for _ in ()).throw(LabError("no Docker engine reachable (test)")))
    assert labctl(["ls", "--json"]) == 0                                      # what can be listed is; the rest is said
    captured = capsys.readouterr()
    assert json.loads(captured.out) == {"docker": [], "pulumi": None}
    assert "Pulumi-made labs not listed" in captured.err and "Docker labs not listed: no Docker engine" in captured.err
    monkeypatch.setattr("labctl.cli._docker", lambda: (_ for _ in ()).throw(RuntimeError("no engine in this test")))
    assert labctl(["reap", "--dry-run"]) == 0
    assert "no Pulumi CLI" in capsys.readouterr().out
