"""labctl: thin commands over the pipeline; each output is checked against the plan or catalog it came from."""
import csv
import io
import json
import subprocess
import sys


from labctl.cli import main
from abiquo_lab.plan import build_plan
from abiquo_lab.labspec import load_stack


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_matrix_json_equals_the_plans_network_flows(capsys):
    code, out, _ = run(capsys, "matrix", "--stack", "docker-ha", "--format", "json")
    plan = build_plan(load_stack("docker-ha"))
    rows = json.loads(out)
    assert code == 0
    assert [(r["id"], r["from"], r["to"], r["port"], r["protocol"]) for r in rows] == \
           [(f.id, f.src, f.dst, f.ports_text, f.protocol) for f in plan.network_flows]


def test_matrix_csv_and_markdown_have_the_same_rows(capsys):
    _, out_csv, _ = run(capsys, "matrix", "-s", "docker-distributed", "-f", "csv")
    _, out_md, _ = run(capsys, "matrix", "-s", "docker-distributed", "-f", "markdown")
    rows = list(csv.DictReader(io.StringIO(out_csv)))
    assert rows[0].keys() >= {"id", "from", "to", "port", "protocol", "evidence"}
    assert len(out_md.strip().splitlines()) == len(rows) + 2


def test_matrix_catalog_lists_every_row(capsys, catalog):
    _, out, _ = run(capsys, "matrix", "--catalog", "-f", "json")
    assert {r["id"] for r in json.loads(out)} == {c.id for c in catalog.connections}


def test_explain_shows_evidence_sources_and_flows(capsys):
    code, out, _ = run(capsys, "explain", "a36", "--stack", "docker-ha")
    assert code == 0
    assert "from      RS" in out and "2049 and 111 (RPC)" in out and "S7  VM repository folder" in out
    assert "rs-dc1 -> nfs-dc1  2049/tcp" in out and "rs-dc1 -> nfs-dc2" not in out


def test_explain_unknown_row_lists_valid_ids(capsys):
    code, _, err = run(capsys, "explain", "Z99")
    assert code == 2 and "unknown row 'Z99'; valid rows: A01, A02" in err


def test_validate_all_ok_and_bad_stack_fails(capsys, tmp_path):
    code, out, _ = run(capsys, "validate", "--all")
    assert code == 0 and out.count(": ok") >= 5
    (tmp_path / "Pulumi.bad.yaml").write_text("config:\n  abiquo-lab:lab: {name: b, backend: docker, layout: ha, nodes: {api: 0}}\n")
    code, _, err = run(capsys, "--stacks-dir", str(tmp_path), "validate", "--stack", "bad")
    assert code == 2 and "lab.nodes.api: must be between 1 and 16 (got 0)" in err      # bad input


def test_roles_unknown_name_lists_valid(capsys):
    code, _, err = run(capsys, "roles", "rabbit")
    assert code == 2 and "valid roles: api, bpm" in err
    code, out, _ = run(capsys, "roles", "LB")
    assert code == 0 and "frontend" in out and "443/tcp" in out


def test_graph_mermaid_and_dot_name_every_host_kind(capsys):
    plan = build_plan(load_stack("docker-ha"))
    _, mermaid, _ = run(capsys, "graph", "-s", "docker-ha")
    _, dot, _ = run(capsys, "graph", "-s", "docker-ha", "-f", "dot", "--level", "host")
    assert mermaid.startswith("flowchart LR")
    for host in plan.hosts:
        assert f'"{host.name}"' in dot
    assert '"@user" -> "frontend-vip"' in dot


def test_console_script_entry_point_runs():
    proc = subprocess.run([sys.executable, "-m", "labctl", "validate", "--stack", "docker-monolithic"],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and "docker-monolithic: ok" in proc.stdout


def test_teardown_of_a_broken_stack_file_says_how_to_remove_the_lab_by_name(tmp_path, capsys):
    from labctl.cli import main
    (tmp_path / "Pulumi.broken.yaml").write_text("config:\n  abiquo-lab:lab:\n    name: x\n    layout: nope\n")
    assert main(["--stacks-dir", str(tmp_path), "teardown", "--stack", "broken"]) == 2
    err = capsys.readouterr().err
    assert "lab.layout" in err and "labctl teardown --lab NAME" in err and "Traceback" not in err


def test_validate_all_refuses_stacks_that_cannot_live_side_by_side(tmp_path, capsys):
    """Two stacks with one lab name, overlapping Docker pools or the same published port: validate --all names them."""
    import yaml
    from labctl.cli import main

    def stack(name, lab, pool, https):
        (tmp_path / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump({"config": {"abiquo-lab:lab": {
            "name": lab, "backend": "docker", "layout": "monolithic", "address_pool": pool,
            "docker": {"https_port": https, "http_port": https + 1}}}}))
    stack("a", "one", "10.60.0.0/16", 9100)
    stack("b", "one", "10.60.128.0/17", 9100)
    assert main(["--stacks-dir", str(tmp_path), "validate", "--all"]) == 2
    err = capsys.readouterr().err
    assert "b: lab.name 'one' is also stack a's" in err
    assert "b: lab.address_pool 10.60.128.0/17 overlaps stack a's 10.60.0.0/16" in err
    assert "b: lab.docker.https_port publishes 9100/tcp, which stack a publishes too" in err
    stack("b", "two", "10.61.0.0/16", 9200)
    assert main(["--stacks-dir", str(tmp_path), "validate", "--all"]) == 0


def test_stack_may_be_given_as_its_files_path(tmp_path, capsys):
    from labctl.cli import main
    from abiquo_lab.labspec import STACKS_DIR
    assert main(["validate", "--stack", str(STACKS_DIR / "Pulumi.docker-ha.yaml")]) == 0
    assert "docker-ha: ok" in capsys.readouterr().out
    assert main(["validate", "--stack", str(tmp_path / "ha.yaml")]) == 2
    assert "a stack file is named Pulumi.<stack>.yaml (got ha.yaml)" in capsys.readouterr().err
    assert main(["validate", "--stack", str(tmp_path / "Pulumi.gone.yaml")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_check_output_counts_with_the_same_words_in_every_format():
    """The table's summary, the markdown and the JSON all count mandatory and advisory findings, by those names."""
    import json
    from labctl.check.analyzer import Violation
    from labctl.check.output import render
    results = {"s": [Violation("required-connections", "mandatory", "m1"), Violation("judged-at-update", "advisory", "a1"),
                     Violation("judged-at-update", "advisory", "a2")]}
    assert render(results, "table", {}).splitlines()[-1] == "s: 1 mandatory, 2 advisory"
    assert "| s | 1 | 2 |" in render(results, "markdown", {}) and "| stack | mandatory | advisory |" in render(results, "markdown", {})
    counts = json.loads(render(results, "json", {}))["stacks"]["s"]
    assert (counts["mandatory"], counts["advisory"]) == (1, 2)
