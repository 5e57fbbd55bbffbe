"""Stage 1, the catalog: what the Abiquo documentation says, as validated data."""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Union

import yaml
from pydantic import ValidationError

from ..contract import InputError

from .catalog import Catalog, UnknownNameError
from .model import BACKENDS, LAYOUTS, LOAD_BALANCER, PROBE_CLIENTS, PROTOCOLS, PUBLISHED, parse_port

CATALOG_FILE = Path(__file__).with_name("catalog.yaml")
CATALOG_ENV = "ABIQUO_LAB_CATALOG"      # another catalog file for every stage (program, pack, commands): try a change

__all__ = ["Catalog", "CatalogError", "UnknownNameError", "load_catalog", "default_catalog", "catalog_path",
           "CATALOG_FILE", "CATALOG_ENV",
           "BACKENDS", "LAYOUTS", "LOAD_BALANCER", "PROBE_CLIENTS", "PROTOCOLS", "PUBLISHED", "parse_port"]


class CatalogError(InputError):
    """The catalog file is broken; the message names the row id (or role, switch) and the field."""


def load_catalog(source: Union[Path, str, dict, None] = None) -> Catalog:
    """Load and validate a catalog from a path, YAML text or an already parsed mapping."""
    data = _read(source if source is not None else CATALOG_FILE)
    try:
        return Catalog.model_validate(data)
    except ValidationError as exc:
        raise CatalogError(_describe(exc, data)) from None


def default_catalog() -> Catalog:
    """The project's catalog, or the file ABIQUO_LAB_CATALOG names (loaded once per file)."""
    return _cached(catalog_path())


def catalog_path() -> str:
    """The catalog file every stage reads, absolute (the policy pack runs in another folder)."""
    return os.path.abspath(os.environ.get(CATALOG_ENV) or str(CATALOG_FILE))


@lru_cache(maxsize=4)
def _cached(path: str) -> Catalog:
    return load_catalog(Path(path))


def _read(source: Union[Path, str, dict]) -> dict:
    if isinstance(source, dict):
        return source
    is_file = isinstance(source, Path) or "\n" not in str(source)
    try:
        text = Path(source).read_text() if is_file else str(source)
        data = yaml.safe_load(text)
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(f"catalog: cannot read {source} ({getattr(exc, 'strerror', None) or exc}); "
                           f"{CATALOG_ENV} names another file") from None
    except yaml.YAMLError as exc:
        raise CatalogError(f"catalog: {source if is_file else 'the text'} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise CatalogError("catalog: the file must hold a mapping at the top level")
    return data


def _describe(exc: ValidationError, data: dict) -> str:
    """Pydantic locations use list indexes; name the row/role/switch instead so the error is findable."""
    lines = []
    for err in exc.errors():
        loc = list(err["loc"])
        if err["type"] == "value_error" and not loc:
            lines.append(str(err["ctx"]["error"]) if "ctx" in err else err["msg"])
            continue
        lines.append(f"{_location(loc, data)}: {err['msg']}")
    return "catalog is invalid:\n  " + "\n  ".join(lines)


def _location(loc: list, data: dict) -> str:
    parts, node = [], data
    for key in loc:
        label = str(key)
        if isinstance(key, int) and isinstance(node, list) and key < len(node):
            item = node[key]
            ident = item.get("id") or item.get("name") or item.get("kind") if isinstance(item, dict) else None
            label = f"[{ident}]" if ident else f"[{key}]"
            parts.append(label)
            node = item
            continue
        parts.append(("." if parts else "") + label)
        node = node.get(key) if isinstance(node, dict) else None
    return "".join(parts)
