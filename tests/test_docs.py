"""The docs read the catalog: the generated files must equal what `labctl docs` would write now."""
from pathlib import Path

from labctl.views import docs

ROOT = Path(__file__).resolve().parents[1]


def test_connections_doc_is_current():
    assert (ROOT / "docs" / "connections.md").read_text() == docs.connections_markdown(), "run `labctl docs`"


def test_readme_topology_is_current():
    text = (ROOT / "README.md").read_text()
    assert docs.readme_with_topology(text) == text, "run `labctl docs`"
    assert "```mermaid\nflowchart LR" in text


def test_readme_test_command_is_what_ci_runs():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "bash scripts/test.sh" in readme and "bash scripts/test.sh" in ci
    assert "bash scripts/run.sh" in readme


def test_files_outside_python_agree_with_the_contract():
    """Pulumi.yaml names the project and the node image labels itself; both must say what the contract says."""
    import re

    import yaml

    from abiquo_lab import contract
    root = Path(__file__).resolve().parents[1]
    assert yaml.safe_load((root / "Pulumi.yaml").read_text())["name"] == contract.PROJECT
    dockerfile = (root / "images" / "node" / "Dockerfile").read_text()
    keys = set(re.findall(r"(\S+)=\"\$\{?\w+\}?\"|(\S+)=\"true\"", dockerfile.split("LABEL", 1)[1].splitlines()[0]))
    assert {k for pair in keys for k in pair if k} == {contract.MANAGED, contract.LAB, contract.STACK}



def test_every_start_hook_and_probe_client_the_catalog_names_exists():
    """The catalog names the node image's start hooks and verify's protocol clients; both must be implemented."""
    import re

    from abiquo_lab.catalog import PROBE_CLIENTS, default_catalog
    from labctl.live import probe
    root = Path(__file__).resolve().parents[1]
    defined = set(re.findall(r"^start_([a-z0-9_]+)\(\)", (root / "images" / "node" / "entrypoint.sh").read_text(), re.M))
    hooks = {svc.start for role in default_catalog().roles for svc in role.services if svc.start}
    assert hooks and hooks <= defined, hooks - defined
    assert set(PROBE_CLIENTS) == set(probe.CLIENTS)
