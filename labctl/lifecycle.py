"""Ephemeral labs on the Pulumi Automation API: up with a time-to-live, list, down, reap.

A lab is a Pulumi stack made by `labctl up` from a template stack's config. Its own workspace folder
(~/.abiquo-lab/labs/<name>, `ABIQUO_LAB_HOME` to move it) holds the stack settings, so labs never write into the
project's stacks/ folder; the project file there points `main` at the project. State lives in a local file
backend (~/.abiquo-lab/state) unless `PULUMI_BACKEND_URL` says otherwise. Owner, created-at and expires-at are
recorded as stack config (the program turns them into labels/tags) and, where the backend supports them, as
stack tags. The policy pack is enforced on every `up`.
"""
from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Callable, Optional

from abiquo_lab.contract import EXIT_MISSING_TOOL, labctl_home
from abiquo_lab.contract import (CONFIG_CREATED_AT, CONFIG_EXPIRES_AT, CONFIG_KEY, CONFIG_OWNER, CONFIG_TEMPLATE,
                                  PROJECT, InputError, LabError, config_key, expiry, now, parse_stamp, parse_ttl, stamp)
from abiquo_lab.labspec import PROJECT_DIR, STACKS_DIR, check_spec, read_stack_config, stack_file
from abiquo_lab.labspec.model import NAME

ROOT = PROJECT_DIR
PACK_DIR = ROOT / "policies"
CREATED, EXPIRES, TEMPLATE, OWNER = map(config_key, (CONFIG_CREATED_AT, CONFIG_EXPIRES_AT, CONFIG_TEMPLATE, CONFIG_OWNER))
INSTALL_HINT = ("the Pulumi CLI is not installed (no `pulumi` on PATH). Install it: "
                "`curl -fsSL https://get.pulumi.com | sh` (or see https://www.pulumi.com/docs/install/), "
                "then open a new shell. Without it, `labctl realize` builds a Docker lab and `labctl reap` still "
                "sweeps expired Docker labs.")
Out = Callable[[str], None]


class LifecycleError(LabError):
    """A lifecycle step failed; the message says what is kept and how to retry."""


class PulumiMissing(LifecycleError):
    """The CLI is needed and absent: its own exit status (3), so a script can tell it from bad input."""
    exit_code = EXIT_MISSING_TOOL


class LabInputError(LifecycleError, InputError):
    """Bad arguments, refused before any CLI call (exit 2)."""


def home() -> Path:
    return labctl_home()


def backend_url() -> str:
    return os.environ.get("PULUMI_BACKEND_URL") or f"file://{home() / 'state'}"


def backend_kind(url: str) -> str:
    scheme = url.split("://", 1)[0] if "://" in url else "cloud"
    return {"file": "local", "s3": "s3", "azblob": "azblob", "gs": "gcs", "https": "cloud"}.get(scheme, scheme)


def pulumi_command():
    """The Pulumi CLI to drive: `LABCTL_PULUMI_ROOT` (a folder with bin/pulumi), else `pulumi` on PATH."""
    from pulumi.automation import PulumiCommand
    root = os.environ.get("LABCTL_PULUMI_ROOT")
    if not root:
        found = shutil.which("pulumi")
        if not found:
            raise PulumiMissing(INSTALL_HINT)
        root = str(Path(found).resolve().parent.parent)
    return PulumiCommand(root=root, skip_version_check=True)


def _workspace(name: str, command):
    from pulumi.automation import LocalWorkspace, ProjectRuntimeInfo, ProjectSettings
    folder = home() / "labs" / name
    folder.mkdir(parents=True, exist_ok=True)
    if backend_url().startswith("file://"):
        Path(backend_url()[len("file://"):]).mkdir(parents=True, exist_ok=True)
    settings = ProjectSettings(name=PROJECT, runtime=ProjectRuntimeInfo(name="python", options={"virtualenv": str(ROOT / "venv")}),
                               main=os.path.relpath(ROOT, folder),     # relative: the CLI joins it to the folder
                               description="Abiquo lab (made by labctl up)")
    env = {"PULUMI_BACKEND_URL": backend_url(), "PULUMI_CONFIG_PASSPHRASE": os.environ.get("PULUMI_CONFIG_PASSPHRASE", "")}
    return LocalWorkspace(work_dir=str(folder), pulumi_command=command, env_vars=env, project_settings=settings)


@dataclass
class LabInfo:
    name: str
    backend: str
    layout: str
    owner: str
    template: str
    created: str
    expires: str
    expired: bool
    resources: Optional[int]


# ---- up ------------------------------------------------------------------------------------------------------
def lab_config(name: str, template: str, ttl: str, owner: Optional[str], overrides: Optional[dict] = None,
               stacks_dir: Path = STACKS_DIR) -> tuple[dict, dict]:
    """(lab config, other config keys of the template) -- checked before anything is created."""
    if not re.match(NAME, name):
        raise LabInputError(f"lab name {name!r}: lowercase letters, digits and '-', up to 24, starting with a letter")
    try:
        parse_ttl(ttl)
    except ValueError as exc:
        raise LabInputError(f"--ttl: {exc}") from None
    config = _merge({**read_stack_config(template, stacks_dir), "name": name, "ttl": ttl}, overrides or {})
    if owner:
        config["owner"] = owner
    check_spec(config, source=f"lab {name!r} from stack {template!r}")
    import yaml
    raw = yaml.safe_load(stack_file(template, stacks_dir).read_text()).get("config", {})
    others = {k: v for k, v in raw.items() if k != CONFIG_KEY and isinstance(v, (str, int, float, bool))}
    return config, others


def parse_settings(items: list[str]) -> dict:
    """["nodes.api=3", "docker.https_port=9543"] -> {"nodes": {"api": 3}, "docker": {"https_port": 9543}}."""
    import yaml
    result: dict = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise LabInputError(f"--set {item!r}: use KEY=VALUE, e.g. --set nodes.api=3")
        *parents, leaf = key.split(".")
        node = result
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = yaml.safe_load(text)
    return result


def _merge(base: dict, extra: dict) -> dict:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def up(name: str, template: str, ttl: str, owner: Optional[str] = None, overrides: Optional[dict] = None,
       out: Out = print, command=None, stacks_dir: Path = STACKS_DIR) -> dict:
    from pulumi.automation import ConfigValue, errors
    config, others = lab_config(name, template, ttl, owner, overrides, stacks_dir)
    command = command or pulumi_command()
    created = now()
    values = {CONFIG_KEY: json.dumps(config, sort_keys=True), CREATED: stamp(created),
              EXPIRES: expiry(ttl, created), TEMPLATE: template, OWNER: config.get("owner", "unknown"),
              **{k: str(v) for k, v in others.items()}}
    ws = _workspace(name, command)
    try:
        stack = _create(ws, name)
    except errors.StackAlreadyExistsError:
        raise LifecycleError(f"a stack named {name!r} already exists in {backend_url()}; pick another name or "
                             f"`labctl down {name}`") from None
    for key, value in values.items():
        stack.set_config(key, ConfigValue(value=value))
    _tag(stack, {f"{PROJECT}:owner": values[OWNER], f"{PROJECT}:created-at": values[CREATED],
                 f"{PROJECT}:expires-at": values[EXPIRES], f"{PROJECT}:template": template}, out)
    out(f"lab {name}: up from {template}, owner {values[OWNER]}, expires {values[EXPIRES]} (backend {backend_url()})")
    try:
        stack.up(on_output=out, policy_packs=[str(PACK_DIR)])
    except errors.CommandError as exc:
        raise LifecycleError(f"`pulumi up` of lab {name!r} failed; the stack and whatever was created are kept. "
                             f"Fix the cause and rerun `labctl up` with another name, or clean up with "
                             f"`labctl down {name}`.\n{exc}") from None
    return {"name": name, "expires": values[EXPIRES], "backend": backend_url()}


def _create(ws, name: str):
    from pulumi.automation import Stack
    return Stack.create(name, ws)


def _tag(stack, tags: dict[str, str], out: Out) -> None:
    from pulumi.automation import errors
    for key, value in tags.items():
        try:
            stack.workspace.set_tag(stack.name, key, value)
        except errors.CommandError as exc:      # some backends keep no stack tags; the config has the same facts
            out(f"note: stack tags not stored by this backend ({str(exc).strip().splitlines()[-1][:120]}); "
                "owner and expiry are in the stack config")
            return


# ---- ls / down -------------------------------------------------------------------------------------------------
def labs(command=None, at: Optional[datetime] = None, listing: Optional[tuple] = None) -> list[LabInfo]:
    """Every stack made by labctl up. `listing` = (workspace, stack summaries) when the caller has listed already."""
    ws, summaries = listing or _listing(command or pulumi_command())
    found = []
    for summary in summaries:
        config = {k: v.value for k, v in ws.get_all_config(summary.name).items()}
        if CREATED not in config:
            continue                              # not made by labctl up
        lab = json.loads(config.get(CONFIG_KEY, "{}"))
        expires = parse_stamp(config.get(EXPIRES, ""))
        found.append(LabInfo(summary.name, backend_kind(backend_url()), lab.get("layout", "?"), config.get(OWNER, "?"),
                             config.get(TEMPLATE, "?"), config.get(CREATED, "?"), config.get(EXPIRES, "?"),
                             bool(expires and expires <= (at or now())), summary.resource_count))
    return found


def down(name: str, out: Out = print, command=None) -> None:
    from pulumi.automation import Stack, errors
    command = command or pulumi_command()
    ws = _workspace(name, command)
    try:
        config = ws.get_all_config(name)
    except errors.CommandError as exc:
        raise LifecycleError(f"no stack {name!r} in {backend_url()}: {str(exc).strip().splitlines()[-1]}") from None
    if CREATED not in config:
        raise LabInputError(f"stack {name!r} is not a lab (no {CREATED} in its config); labctl down only removes "
                             "labs made by labctl up -- use `pulumi destroy` for other stacks")
    stack = Stack.select(name, ws)
    try:
        stack.destroy(on_output=out)
    except errors.CommandError as exc:
        raise LifecycleError(f"destroy of lab {name!r} failed; the stack and its state are kept. Fix the cause and "
                             f"retry: labctl down {name}\n{str(exc).strip()[-800:]}") from None
    ws.remove_stack(name)
    shutil.rmtree(home() / "labs" / name, ignore_errors=True)
    out(f"lab {name}: destroyed and removed")


def rows(found: list[LabInfo]) -> list[dict]:
    return [asdict(x) for x in found]


# ---- reap -----------------------------------------------------------------------------------------------------
@dataclass
class ReapSummary:
    labs_destroyed: list[str]
    labs_failed: list[str]
    labs_kept: list[str]
    docker_removed: list[str]
    docker_kept: list[str]
    aws_expired: list[str]
    aws_deleted: list[str]
    notes: list[str]


def reap(dry_run: bool = False, owner: Optional[str] = None, docker_client=None, aws_region: Optional[str] = None,
         out: Out = print, command=None, at: Optional[datetime] = None, aws_delete: bool = False) -> ReapSummary:
    """Destroy expired labs (Pulumi), then sweep Docker orphans by labels, then list expired AWS resources."""
    at = at or now()
    summary = ReapSummary([], [], [], [], [], [], [], [])
    stacks: Optional[set[str]] = None
    try:
        command = command or pulumi_command()
    except PulumiMissing:
        command = None
        summary.notes.append("no Pulumi CLI: stacks not listed; Docker labs swept by their expiry labels only")
    if command is not None:
        listing = _listing(command)
        listed = labs(command, at, listing)
        stacks = {s.name for s in listing[1]}
        for lab in listed:
            if owner and lab.owner != owner:
                continue
            if not lab.expired:
                summary.labs_kept.append(lab.name)
                continue
            if dry_run:
                out(f"lab {lab.name}: would destroy (expired {lab.expires})")
                summary.labs_destroyed.append(lab.name)
                continue
            try:
                down(lab.name, out, command)
                summary.labs_destroyed.append(lab.name)
                stacks.discard(lab.name)
            except LifecycleError as exc:
                out(str(exc))
                summary.labs_failed.append(lab.name)
    if docker_client is not None:
        from .live.sweep import sweep
        for decision in sweep(docker_client, at, stacks, dry_run, owner, out):
            (summary.docker_removed if decision.action == "remove" else summary.docker_kept).append(decision.lab)
    else:
        summary.notes.append("no Docker engine reachable: Docker sweep skipped")
    if aws_region:
        summary.aws_expired, summary.aws_deleted = aws_expired(aws_region, at, owner, summary.notes,
                                                               delete=aws_delete and not dry_run, out=out)
    return summary


def _listing(command) -> tuple:
    ws = _workspace("_ls", command)
    return ws, ws.list_stacks()


def aws_expired(region: str, at: datetime, owner: Optional[str], notes: list[str], delete: bool = False,
                out: Out = print) -> tuple[list[str], list[str]]:
    """(expired ARNs, deleted ARNs) of resources tagged by a lab whose expires-at has passed."""
    import importlib.util
    if importlib.util.find_spec("boto3") is None:
        notes.append("AWS: boto3 is not installed (pip install boto3); AWS resources not listed")
        return [], []
    from .live import aws_sweep
    try:
        found = aws_sweep.find_expired(region, at, owner)
    except Exception as exc:  # noqa: BLE001 - credentials or network: report, do not stop the sweep
        notes.append(f"AWS: listing failed ({type(exc).__name__}: {exc})")
        return [], []
    for f in found:
        out(f"aws: expired {f.kind} {f.ident} (lab {f.lab}, expired {f.expires})" + ("" if delete else " -- report only"))
    if not delete:
        return [f.arn for f in found], []
    result = aws_sweep.delete(region, found, out)
    if result.failed:
        notes.append(f"AWS: {len(result.failed)} resource(s) could not be deleted; rerun to retry")
    return [f.arn for f in found], result.deleted
