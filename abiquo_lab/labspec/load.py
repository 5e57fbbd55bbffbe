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


class DuplicateKey(yaml.YAMLError):
    """A key given twice in one mapping: YAML keeps the last silently, so a setting would vanish unseen."""


class _UniqueKeyLoader(yaml.SafeLoader):
    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise DuplicateKey(f"key {key!r} is given twice (lines {seen[key]} and {key_node.start_mark.line + 1}); "
                                   "keep one")
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


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
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader) or {}
    except DuplicateKey as exc:
        raise LabConfigError([Problem(path.name, str(exc))], f"stack {stack!r}") from None
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
