"""Golden files of the rendered resources: every shipped stack, in preview and in update mode, as
`labctl preview --json [--update]` prints them (the project folder normalized to <project>). A change to the
program, the catalog or a renderer shows up here as a readable diff of resources and inputs.

Regenerate after an intended change with:  UPDATE_GOLDEN=1 python -m pytest tests/test_golden_resources.py
"""
import json
import os
from pathlib import Path

import pytest

from labctl.preview import record_stack
from conftest import ROOT, SHIPPED_STACKS

GOLDEN = Path(__file__).with_name("golden") / "resources"


def normalized(stack: str, preview: bool) -> str:
    recording = record_stack(stack, preview=preview).to_json()
    recording["resources"].sort(key=lambda r: r["urn"])          # registration order varies between runs
    text = json.dumps(recording, indent=1, sort_keys=True)
    return text.replace(str(ROOT), "<project>") + "\n"


@pytest.mark.parametrize("mode", ["preview", "update"])
@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_rendered_resources_match_golden(stack, mode):
    text = normalized(stack, preview=mode == "preview")
    path = GOLDEN / f"{stack}.{mode}.json"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"no golden file {path.name}; run with UPDATE_GOLDEN=1 once and review it"
    assert text == path.read_text(), f"{path.name} differs: review with UPDATE_GOLDEN=1 and git diff"


def test_golden_files_carry_no_absolute_paths_or_secrets():
    for path in GOLDEN.glob("*.json"):
        text = path.read_text()
        assert str(ROOT) not in text
        assert "LAB_DB_PASSWORD=" not in text and "mock-hash" not in text, f"{path.name}: a password in the clear"
        assert '"[secret]"' in text, f"{path.name}: the database password must show as a masked secret"
