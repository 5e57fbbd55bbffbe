"""Reading a stack's lab config from the same files Pulumi reads (stacks/Pulumi.<stack>.yaml)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import yaml

from ..catalog import Catalog
from ..contract import CONFIG_KEY
from .errors import LabConfigError, Problem
from .validate import CheckedSpec, check_spec

PROJECT_DIR = Path(__file__).resolve().parents[2]
STACKS_DIR = PROJECT_DIR / "stacks"


def stack_file(stack: str, stacks_dir: Path = STACKS_DIR) -> Path:
    return stacks_dir / f"Pulumi.{stack}.yaml"


def stack_names(stacks_dir: Path = STACKS_DIR) -> list[str]:
    return sorted(p.name[len("Pulumi."):-len(".yaml")] for p in stacks_dir.glob("Pulumi.*.yaml"))


def read_stack_config(stack: str, stacks_dir: Path = STACKS_DIR) -> Any:
    path = stack_file(stack, stacks_dir)
    if not path.exists():
        known = ", ".join(stack_names(stacks_dir)) or "none"
        raise LabConfigError([Problem("stack", f"no stack file {path.name} in {stacks_dir}; known stacks: {known}")], f"stack {stack!r}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise LabConfigError([Problem(path.name, f"not valid YAML: {exc}")], f"stack {stack!r}") from None
    except UnicodeDecodeError as exc:
        raise LabConfigError([Problem(path.name, f"not UTF-8 text (byte {exc.start}); save the file as UTF-8")],
                             f"stack {stack!r}") from None
    config = data.get("config", {}) if isinstance(data, dict) else {}
    if not isinstance(config, dict) or CONFIG_KEY not in config:
        raise LabConfigError([Problem(f"config.{CONFIG_KEY}", "missing; the stack file must set the lab settings under this key")], f"stack {stack!r}")
    return config[CONFIG_KEY]


def load_stack(stack: str, catalog: Optional[Catalog] = None, stacks_dir: Path = STACKS_DIR) -> CheckedSpec:
    return check_spec(read_stack_config(stack, stacks_dir), catalog, source=f"stack {stack!r}")
