"""One error path: every error the project knows reaches the user as a clear message naming the setting, file or
option, with the documented exit status (1 a failure, 2 bad input) -- never a traceback, and before anything is
created. Each case runs labctl's own entry point in-process: an exception escaping main() fails the test."""
import subprocess
from pathlib import Path
import sys

import pytest

from abiquo_lab.catalog import CATALOG_ENV, CATALOG_FILE
from labctl.cli import main

BAD_STACK = "config:\n  abiquo-lab:lab: {name: b, backend: docker, layout: ha, nodes: {api: 0}}\n"
NOVNC_ON_AWS = ("config:\n  abiquo-lab:lab: {name: b, backend: aws, layout: distributed, version: '5.4', "
                "switches: {novnc: true}, aws: {certificate_arn: 'arn:aws:acm:eu-west-1:123456789012:certificate/x'}}\n")


AM_DIRECT = "config:\n  abiquo-lab:lab: {name: b, backend: %s, layout: distributed, switches: {am_direct: true}%s}\n"
EXTRA = ("config:\n  abiquo-lab:lab: {name: b, backend: docker, layout: distributed, extra_flows: [{source: rabbit, "
         "destination: api, port: 8443, protocol: tcp, reason: r}]}\n")
EXTRA_MYSQL = ("config:\n  abiquo-lab:lab: {name: b, backend: docker, layout: distributed, extra_flows: [{source: rs, "
               "destination: datanode, port: 3306, protocol: tcp, reason: r}]}\n")
EXTRA_TYPES = ("config:\n  abiquo-lab:lab: {name: b, backend: docker, layout: distributed, extra_flows: [{source: rs, "
               "destination: bpm, port: 9443.0, protocol: tcp, reason: \"two\\nlines\"}]}\n")
ACM = ", aws: {certificate_arn: 'arn:aws:acm:eu-west-1:123456789012:certificate/x'}"


@pytest.fixture
def stacks(tmp_path):
    (tmp_path / "Pulumi.bad.yaml").write_text(BAD_STACK)
    (tmp_path / "Pulumi.novnc.yaml").write_text(NOVNC_ON_AWS)
    (tmp_path / "Pulumi.amdocker.yaml").write_text(AM_DIRECT % ("docker", ""))
    (tmp_path / "Pulumi.extra.yaml").write_text(EXTRA)
    (tmp_path / "Pulumi.mysql.yaml").write_text(EXTRA_MYSQL)
    (tmp_path / "Pulumi.types.yaml").write_text(EXTRA_TYPES)
    (tmp_path / "Pulumi.amaws.yaml").write_text(AM_DIRECT % ("aws", ACM))
    (tmp_path / "Pulumi.latin.yaml").write_bytes(b"config:\n  abiquo-lab:lab:\n    name: \xff\n")
    (tmp_path / "bad.json").write_text("{bad")
    (tmp_path / "list.json").write_text("[1]")
    (tmp_path / "catalog.yaml").write_text("schema: [1\n")
    return tmp_path


SHIPPED_HA = str(Path(__file__).resolve().parents[1] / "stacks" / "Pulumi.docker-ha.yaml")
CASES = {  # name: (argv with {dir}, environment, exit status, words the message must hold)
    "unknown stack": (["validate", "--stack", "nosuch"], {}, 2, "no stack file Pulumi.nosuch.yaml"),
    "invalid stack": (["validate", "--stack", "bad"], {}, 2, "lab.nodes.api: must be between 1 and 16 (got 0)"),
    "invalid stack, preview": (["preview", "--stack", "bad"], {}, 2, "lab.nodes.api: must be between 1 and 16 (got 0)"),
    "invalid stack, check": (["check", "--stack", "bad", "--in-process"], {}, 2, "lab.nodes.api"),
    "invalid stack, matrix": (["matrix", "--stack", "bad"], {}, 2, "lab.nodes.api"),
    "invalid stack, graph": (["graph", "--stack", "bad"], {}, 2, "lab.nodes.api"),
    "a public role the backend cannot expose": (["preview", "--stack", "novnc"], {}, 2,
                                                "lab.switches.novnc: role websockify is public, and backend 'aws' cannot expose role websockify (it can on: docker)"),
    "the same, at validate": (["validate", "--stack", "novnc"], {}, 2, "lab.switches.novnc"),
    "users straight to RS on AWS": (["preview", "--stack", "amaws"], {}, 2, "lab.switches.am_direct: A05 lets users reach "
                                    "role rs directly, and backend 'aws' cannot expose role rs (it can on: none)"),
    "users straight to RS on Docker": (["validate", "--stack", "amdocker"], {}, 2, "lab.switches.am_direct: A05 lets users"),
    "not UTF-8": (["validate", "--stack", "latin"], {}, 2, "Pulumi.latin.yaml: not UTF-8 text"),
    "unknown row": (["explain", "A17"], {}, 2, "unknown row 'A17'; valid rows: A01"),
    "a declared flow without its stack": (["explain", "X1"], {}, 2, "is explained with --stack S"),
    "an extra flow naming no role or host": (["validate", "--stack", "extra"], {}, 2,
                                             "lab.extra_flows[0].source: 'rabbit' is neither a role nor a host of this lab"),
    "the same, at preview": (["preview", "--stack", "extra"], {}, 2, "lab.extra_flows[0].source: 'rabbit'"),
    "the same, at check": (["check", "--stack", "extra", "--in-process"], {}, 2, "lab.extra_flows[0].source"),
    "an extra flow of YAML types": (["validate", "--stack", "types"], {}, 2,
                                    "lab.extra_flows[0].port: must be a port 1-65535 or a span 'a-b' (e.g. 8443 or 5900-5999) (got 9443.0)"),
    "a reason of two lines": (["validate", "--stack", "types"], {}, 2, "lab.extra_flows[0].reason: must be one line"),
    "an extra flow onto MySQL's port": (["validate", "--stack", "mysql"], {}, 2,
                                        "lab.extra_flows[0].port: 3306/tcp on datanode-1 is"),
    "onto MySQL's port, at check": (["check", "--stack", "mysql", "--in-process"], {}, 2, "lab.extra_flows[0].port: 3306/tcp"),
    "unknown role": (["roles", "rabbit"], {}, 2, "unknown role 'rabbit'; valid roles: api"),
    "pack config missing": (["check", "--stack", "docker-ha", "--config", "{dir}/none.json"], {}, 2, "--config {dir}/none.json: cannot read it"),
    "pack config not JSON": (["check", "--stack", "docker-ha", "--config", "{dir}/bad.json"], {}, 2, "--config {dir}/bad.json: not valid JSON"),
    "pack config not a mapping": (["check", "--stack", "docker-ha", "--config", "{dir}/list.json"], {}, 2, "must hold a mapping"),
    "bad ttl": (["realize", "--stack", "docker-ha", "--ttl", "4 hours"], {}, 2, "--ttl: '4 hours' is not a duration"),
    "catalog file missing": (["validate", "--all"], {CATALOG_ENV: "{dir}/none.yaml"}, 2, "catalog: cannot read {dir}/none.yaml"),
    "catalog not YAML": (["matrix", "--catalog"], {CATALOG_ENV: "{dir}/catalog.yaml"}, 2, "catalog: {dir}/catalog.yaml is not valid YAML"),
    "validate --all over no stacks": (["--stacks-dir", "{dir}/empty", "validate", "--all"], {}, 2, "--all: no stack files"),
    "check --all over no stacks": (["--stacks-dir", "{dir}/empty", "check", "--all"], {}, 2, "--all: no stack files"),
    "diff: unknown revision": (["diff", "--base", "no-such-ref", "--all"], {}, 2,
                               "--base no-such-ref: no such folder, and not a git revision of this project"),
    "diff: missing folder": (["diff", "--base", "{dir}/none/", "--all"], {}, 2, "--base {dir}/none/: no such folder, and not a git revision"),
    "diff: a folder that is no checkout": (["diff", "--base", "{dir}/empty", "--all"], {}, 2,
                                           "--base {dir}/empty: the folder holds no checkout of this project"),
    "diff: unknown stack": (["diff", "--base", "HEAD", "--stack", "nosuch"], {}, 2,
                            "--stack nosuch: no stack file Pulumi.nosuch.yaml in the base (HEAD) nor the head"),
    "diff: neither --stack nor --all": (["diff", "--base", "HEAD"], {}, 2, "diff needs --stack S or --all"),
    "diff: an invalid head stack": (["diff", "--base", "HEAD", "--stack", "bad"], {}, 2, "head stack bad: "),
    "diff: a file as base": (["diff", "--base", "{dir}/bad.json", "--all"], {}, 2, "--base {dir}/bad.json: a file"),
    "graph: --diff without html": (["graph", "--stack", "docker-ha", "--diff", "HEAD"], {}, 2,
                                   "--diff: only with --format html (got --format mermaid)"),
    "graph: --verify file missing": (["graph", "--stack", SHIPPED_HA, "-f", "html", "--verify", "{dir}/none.json"], {}, 2,
                                     "--verify {dir}/none.json: cannot read it"),
    "graph: --verify not JSON": (["graph", "--stack", SHIPPED_HA, "-f", "html", "--verify", "{dir}/bad.json"], {}, 2,
                                 "--verify {dir}/bad.json: not valid JSON"),
    "graph: --verify not a verify result": (["graph", "--stack", SHIPPED_HA, "-f", "html", "--verify", "{dir}/list.json"],
                                            {}, 2, "--verify {dir}/list.json: not a `labctl verify -f json` result"),
    "graph: --diff unknown revision": (["graph", "--stack", SHIPPED_HA, "-f", "html", "--diff", "no-such-ref"], {}, 2,
                                       "--diff no-such-ref: no such folder"),
    "up with a bad name": (["up", "Bad_Name", "--from", "docker-ha", "--ttl", "4h"], {}, 2, "lab name 'Bad_Name'"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_every_error_is_a_message_and_an_exit_status(case, stacks, capsys, monkeypatch):
    argv, env, status, words = CASES[case]
    for key, value in env.items():
        monkeypatch.setenv(key, value.format(dir=stacks))
    argv = [a.format(dir=stacks) for a in argv]
    (stacks / "empty").mkdir(exist_ok=True)
    code = main(argv if argv[0] in ("up", "--stacks-dir") else ["--stacks-dir", str(stacks), *argv])
    err = capsys.readouterr().err
    assert code == status, err
    assert words.format(dir=stacks) in err and "Traceback" not in err


def test_graphviz_missing_is_a_failure_naming_the_package(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr("shutil.which", lambda name: None)
    code = main(["graph", "--stack", "docker-ha", "-f", "svg", "-o", str(tmp_path / "x.svg")])
    assert code == 1 and "Graphviz is not installed (apt-get install graphviz)" in capsys.readouterr().err


def test_an_error_from_a_real_process_prints_one_line_and_no_traceback(tmp_path):
    (tmp_path / "bad.json").write_text("{bad")
    proc = subprocess.run([sys.executable, "-m", "labctl", "check", "--stack", "docker-ha", "--config", str(tmp_path / "bad.json")],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.startswith("labctl: --config") and "Traceback" not in proc.stderr


def test_the_shipped_catalog_file_is_the_default(monkeypatch):
    monkeypatch.delenv(CATALOG_ENV, raising=False)
    from abiquo_lab.catalog import catalog_path
    assert catalog_path() == str(CATALOG_FILE)
    assert main(["validate", "--stack", "docker-ha"]) == 0



def test_a_relative_catalog_path_reaches_the_policy_pack(tmp_path, monkeypatch, capsys):
    """The pack runs in its own folder: a relative ABIQUO_LAB_CATALOG must still name the same file there."""
    (tmp_path / "copy.yaml").write_text(CATALOG_FILE.read_text())
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(CATALOG_ENV, "copy.yaml")
    assert main(["check", "--stack", "docker-distributed"]) == 0, capsys.readouterr().err


def test_validate_all_goes_on_after_a_broken_stack(tmp_path, capsys):
    (tmp_path / "Pulumi.a-latin.yaml").write_bytes(b"config:\n  abiquo-lab:lab:\n    name: \xff\n")
    (tmp_path / "Pulumi.b-good.yaml").write_text("config:\n  abiquo-lab:lab: {name: g, backend: docker, layout: distributed}\n")
    code = main(["--stacks-dir", str(tmp_path), "validate", "--all"])
    out, err = capsys.readouterr()
    assert code == 2 and "Pulumi.a-latin.yaml: not UTF-8" in err and "b-good: ok" in out
