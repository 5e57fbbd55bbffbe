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
