"""Run the policy pack over a recorded stack: in-process, or exactly as the Pulumi CLI does, over gRPC.

gRPC path: start `python -u -m pulumi.policy <engine address> .` in the pack folder (the port is the first line
on stdout), then GetPluginInfo, GetAnalyzerInfo, Configure (every policy's level and properties: the pack's
initial config over its policies' defaults, then the user's config -- a policy config without a level would
mean advisory), ConfigureStack, Analyze for each custom resource and AnalyzeStack with all of them. A small
Engine service answers the pack's log calls. No Pulumi CLI, cloud credentials or Pulumi service involved.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent import futures
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional

import abiquo_guard
from abiquo_lab.contract import PROJECT, InputError, LabError
from abiquo_lab.labspec import PROJECT_DIR

from ..preview import UNKNOWN, UNKNOWN_TEXT, Recording

PACK_DIR = PROJECT_DIR / "policies"
LEVELS = {0: "advisory", 1: "mandatory", 2: "disabled", 3: "remediate"}
LEVEL_CODES = {name: code for code, name in LEVELS.items()}


@dataclass(frozen=True)
class Violation:
    policy: str
    level: str
    message: str
    urn: str = ""

    @property
    def resource(self) -> str:
        return self.urn.rsplit("::", 1)[-1] if self.urn else ""

    def to_json(self) -> dict:
        return {**asdict(self), "resource": self.resource}


def _wire(value: Any) -> Any:
    """Recorded plain values back to what the engine sends: unknowns as the engine's sentinel."""
    if isinstance(value, dict):
        return {k: _wire(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_wire(v) for v in value]
    return UNKNOWN if value == UNKNOWN_TEXT else value


def _state(record) -> dict:
    """What the engine hands a policy: a component's registered outputs, a custom resource's inputs."""
    return record.outputs if (not record.custom and record.outputs) else record.inputs


# ---- in-process ------------------------------------------------------------------------------------------------
def policy_config(user: Optional[dict] = None) -> dict[str, dict]:
    """The effective config per policy: the pack's initial config, then the user's (levels as names)."""
    config = {}
    for name, entry in abiquo_guard.initial_config().items():
        level = entry.get("enforcementLevel")
        config[name] = {**{k: v for k, v in entry.items() if k != "enforcementLevel"},
                        "enforcementLevel": getattr(level, "value", level)}
    schemas = abiquo_guard.config_properties()
    for name, entry in (user or {}).items():
        if name not in config:
            raise InputError(f"unknown policy {name!r} in the pack config; policies: {', '.join(sorted(config))}")
        entry = entry if isinstance(entry, dict) else {"enforcementLevel": entry}
        _check_entry(name, entry, schemas[name])
        config[name].update(entry)
    return config


def _check_entry(policy: str, entry: dict, properties: dict) -> None:
    """A policy's config as the pack takes it: a level (exactly one of LEVELS' names) and its schema's properties."""
    for key, value in entry.items():
        where = f"pack config {policy}.{key}"
        if key == "enforcementLevel":
            if not isinstance(value, str) or value not in LEVEL_CODES:
                raise InputError(f"{where}: {value!r} is not a level; levels: {', '.join(LEVEL_CODES)}")
        elif key not in properties:
            raise InputError(f"{where}: unknown setting; allowed: enforcementLevel"
                             + "".join(f", {k}" for k in properties))
        else:
            problem = _schema_problem(value, properties[key])
            if problem:
                raise InputError(f"{where}: {problem}")
    from abiquo_lab.catalog import default_catalog
    for row in entry.get("requireRows", []):
        default_catalog().connection(row)               # an unknown row id lists the valid ones


def _schema_problem(value: Any, schema: dict) -> Optional[str]:
    """The first way `value` breaks a (small) JSON schema: type, enum, required properties, array items."""
    kinds = {"array": list, "object": dict, "string": str, "integer": int, "boolean": bool}
    kind = schema.get("type")
    if kind in kinds and (not isinstance(value, kinds[kind]) or (kind == "integer" and isinstance(value, bool))):
        return f"must be {'an' if kind[0] in 'aeiou' else 'a'} {kind} (got {value!r})"
    if "enum" in schema and value not in schema["enum"]:
        return f"must be one of {', '.join(map(str, schema['enum']))} (got {value!r})"
    if kind == "object":
        missing = [k for k in schema.get("required", []) if k not in value]
        if missing:
            return f"needs {', '.join(missing)} (got {value!r})"
        for key, item in value.items():
            if key in schema.get("properties", {}):
                problem = _schema_problem(item, schema["properties"][key])
                if problem:
                    return f"{key}: {problem}"
    if kind == "array":
        for i, item in enumerate(value):
            problem = _schema_problem(item, schema.get("items", {}))
            if problem:
                return f"[{i}]: {problem}"
    return None


def analyze_in_process(recording: Recording, user_config: Optional[dict] = None) -> list[Violation]:
    """The pack's checks called directly on PolicyResource objects built like the SDK builds them."""
    from pulumi_policy.policy import PolicyResource
    from pulumi_policy.proxy import UnknownValueError, unknown_checking_proxy
    from pulumi_policy.deserialize import deserialize_properties

    config = policy_config(user_config)
    resources = {r.urn: PolicyResource(r.type, unknown_checking_proxy(deserialize_properties(_wire(_state(r)))), r.urn,
                                       r.name, None, None, None, [], {}) for r in recording.records}
    for r in recording.records:
        res = resources[r.urn]
        res.parent = resources.get(r.parent)
        res.dependencies = [resources[u] for u in r.dependencies if u in resources]
        res.property_dependencies = {k: [resources[u] for u in v if u in resources] for k, v in r.property_dependencies.items()}
    found: list[Violation] = []

    def guarded(name: str, run) -> None:
        """As the SDK does: a value a policy reads but preview does not know makes that policy an advisory."""
        try:
            run()
        except UnknownValueError as exc:
            found.append(Violation(name, "advisory", f"can't run policy '{name}' from policy pack "
                                   f"'{abiquo_guard.PACK_NAME}' during preview: {exc.message}"))
    for name, (_, check) in abiquo_guard.STACK_CHECKS.items():
        level = config[name]["enforcementLevel"]
        if level != "disabled":
            guarded(name, lambda c=check, n=name, lv=level: abiquo_guard.run_stack_check(
                c, list(resources.values()), config[n],
                lambda message, urn=None: found.append(Violation(n, lv, message, urn or ""))))
    for name, (_, check) in abiquo_guard.RESOURCE_CHECKS.items():
        level = config[name]["enforcementLevel"]
        if level == "disabled":
            continue
        for r in recording.records:
            if r.custom:
                guarded(name, lambda c=check, n=name, lv=level, r=r: c(
                    r.type, resources[r.urn].props, r.name,
                    lambda message, urn=None: found.append(Violation(n, lv, message, r.urn))))
    return found


# ---- over gRPC, as the CLI does --------------------------------------------------------------------------------
class _Engine:
    """The engine side the analyzer may call back (logging)."""

    def __init__(self):
        import grpc
        from pulumi.runtime.proto import engine_pb2_grpc
        from google.protobuf import empty_pb2
        self.logs: list[str] = []
        logs = self.logs

        class Servicer(engine_pb2_grpc.EngineServicer):
            def Log(self, request, context):
                logs.append(request.message)
                return empty_pb2.Empty()

        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        engine_pb2_grpc.add_EngineServicer_to_server(Servicer(), self.server)
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()

    def stop(self) -> None:
        self.server.stop(0)


class PackProcess:
    """The policy pack as a plugin process; use as a context manager."""

    def __init__(self, pack_dir: Path = PACK_DIR, python: str = sys.executable, stack: str = "check"):
        self.pack_dir, self.python, self.stack = pack_dir, python, stack

    def __enter__(self):
        import grpc
        from pulumi.runtime.proto import analyzer_pb2_grpc
        self.engine = _Engine()
        from abiquo_lab.catalog import CATALOG_ENV, catalog_path
        env = dict(os.environ, PULUMI_PROJECT=PROJECT, PULUMI_STACK=self.stack, PULUMI_DRY_RUN="true",
                   **{CATALOG_ENV: catalog_path()})          # absolute: the pack runs in its own folder
        self.proc = subprocess.Popen([self.python, "-u", "-m", "pulumi.policy", f"127.0.0.1:{self.engine.port}", "."],
                                     cwd=self.pack_dir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
        line = self.proc.stdout.readline().strip()
        if not line.isdigit():
            err = self.proc.stderr.read() if self.proc.poll() is not None else ""
            self.__exit__(None, None, None)
            raise LabError(f"policy pack did not start (first stdout line {line!r}): {err[-2000:]}")
        self.channel = grpc.insecure_channel(f"127.0.0.1:{line}")
        grpc.channel_ready_future(self.channel).result(timeout=30)
        self.stub = analyzer_pb2_grpc.AnalyzerStub(self.channel)
        return self

    def __exit__(self, *exc):
        if getattr(self, "channel", None):
            self.channel.close()
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        for stream in (self.proc.stdout, self.proc.stderr):
            stream.close()
        self.engine.stop()

    # ---- protocol steps ---------------------------------------------------------------------------------------
    def info(self):
        from google.protobuf import empty_pb2
        self.stub.GetPluginInfo(empty_pb2.Empty())
        return self.stub.GetAnalyzerInfo(empty_pb2.Empty())

    def configure(self, info, user_config: Optional[dict] = None) -> None:
        """As the CLI: each policy's default level, the pack's initial config, then the user's config."""
        from google.protobuf import json_format
        from pulumi.runtime.proto import analyzer_pb2
        request = analyzer_pb2.ConfigureAnalyzerRequest()
        for policy in info.policies:
            props, level = {}, policy.enforcementLevel
            for key, schema in json_format.MessageToDict(policy.configSchema.properties).items():
                if isinstance(schema, dict) and "default" in schema:
                    props[key] = schema["default"]
            if policy.name in info.initialConfig:
                initial = info.initialConfig[policy.name]
                props.update(json_format.MessageToDict(initial.properties))
                level = initial.enforcementLevel or level      # 0 (advisory) cannot be told from "unset"
            user = (user_config or {}).get(policy.name, {})
            user = user if isinstance(user, dict) else {"enforcementLevel": user}
            props.update({k: v for k, v in user.items() if k != "enforcementLevel"})
            if "enforcementLevel" in user:
                level = LEVEL_CODES[user["enforcementLevel"]]
            entry = request.policyConfig[policy.name]
            entry.enforcementLevel = level
            entry.properties.update(props)
        self.stub.Configure(request)
        self.stub.ConfigureStack(analyzer_pb2.AnalyzerStackConfigureRequest(stack=self.stack, project=PROJECT,
                                                                            organization="organization", dry_run=True))

    def analyze(self, recording: Recording) -> list[Violation]:
        found: list[Violation] = []
        for request in analyze_requests(recording):
            found += _violations(self.stub.Analyze(request))
        found += _violations(self.stub.AnalyzeStack(stack_request(recording)))
        return found


def _properties(record):
    from google.protobuf import struct_pb2
    struct = struct_pb2.Struct()
    struct.update(_wire(_state(record)))
    return struct


def analyze_requests(recording: Recording) -> list:
    """One AnalyzeRequest per custom resource, as the engine sends them."""
    from pulumi.runtime.proto import analyzer_pb2
    return [analyzer_pb2.AnalyzeRequest(type=r.type, properties=_properties(r), urn=r.urn, name=r.name)
            for r in recording.records if r.custom]


def stack_request(recording: Recording):
    """The AnalyzeStackRequest: every resource with its parent, dependencies and property dependencies."""
    from pulumi.runtime.proto import analyzer_pb2
    return analyzer_pb2.AnalyzeStackRequest(resources=[analyzer_pb2.AnalyzerResource(
        type=r.type, properties=_properties(r), urn=r.urn, name=r.name, parent=r.parent or "", dependencies=r.dependencies,
        propertyDependencies={k: analyzer_pb2.AnalyzerPropertyDependencies(urns=v) for k, v in r.property_dependencies.items()})
        for r in recording.records])


def _violations(response) -> list[Violation]:
    # the SDK prefixes each message with the policy's description and a newline; keep the finding itself
    return [Violation(d.policyName, LEVELS.get(d.enforcementLevel, str(d.enforcementLevel)),
                      d.message[len(d.description) + 1:] if d.description and d.message.startswith(d.description + "\n")
                      else d.message, d.urn)
            for d in response.diagnostics]


def analyze_grpc(recording: Recording, user_config: Optional[dict] = None, pack_dir: Path = PACK_DIR) -> list[Violation]:
    return analyze_many_grpc([recording], user_config, pack_dir)[0]


def analyze_many_grpc(recordings: list[Recording], user_config: Optional[dict] = None,
                      pack_dir: Path = PACK_DIR) -> list[list[Violation]]:
    """One pack process, configured once, analyzing several recordings in turn (as `labctl check --all`)."""
    import grpc
    try:
        with PackProcess(pack_dir, stack=recordings[0].stack if recordings else "check") as pack:
            pack.configure(pack.info(), user_config)
            return [pack.analyze(recording) for recording in recordings]
    except grpc.RpcError as exc:                       # the pack itself failed: say what it said, no gRPC traceback
        raise LabError(f"the policy pack failed: {exc.details() if hasattr(exc, 'details') else exc}") from None


def load_user_config(path: Optional[str]) -> Optional[dict]:
    """A pack config file as `pulumi preview --policy-pack-config` takes it (JSON or YAML)."""
    if not path:
        return None
    import yaml
    try:
        text = Path(path).read_text()
        data = (yaml.safe_load(text) or {}) if path.endswith((".yaml", ".yml")) else json.loads(text)
    except OSError as exc:
        raise InputError(f"--config {path}: cannot read it ({exc.strerror or exc})") from None
    except (ValueError, yaml.YAMLError) as exc:                # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise InputError(f"--config {path}: not valid {'YAML' if path.endswith(('.yaml', '.yml')) else 'JSON'}: {exc}") from None
    if not isinstance(data, dict):
        raise InputError(f"--config {path}: must hold a mapping of policy name -> level or settings (got {type(data).__name__})")
    return data


def policy_descriptions() -> dict[str, str]:
    """Every policy of the pack with its description (the pack's public metadata)."""
    return abiquo_guard.descriptions()


__all__ = ["Violation", "policy_descriptions", "analyze_in_process", "analyze_grpc", "PackProcess", "policy_config", "load_user_config"]
