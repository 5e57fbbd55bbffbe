"""Run the Pulumi program under mocks and record every resource: the offline preview.

One recording serves `labctl preview`, the realization and AWS tests, and the policy check. Each record has
the resource's type, name, parent, inputs (secrets masked, unknowns marked), dependencies and property
dependencies, as the Pulumi engine would send them.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from abiquo_lab.contract import CONFIG_KEY, PROJECT, config_key

SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
SIG_KEY = "4dabf18193072939515e22adb298388d"
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
MASK = "[secret]"
UNKNOWN_TEXT = "[unknown]"


@dataclass
class Record:
    type: str
    name: str
    urn: str
    parent: Optional[str]
    custom: bool
    inputs: dict
    dependencies: list[str] = field(default_factory=list)
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)
    secret_paths: list[str] = field(default_factory=list)
    id: Optional[str] = None
    outputs: dict = field(default_factory=dict)
    raw_inputs: dict = field(default_factory=dict, repr=False)   # secrets in the clear: for realization only, never printed

    def to_json(self) -> dict:
        """What the engine knows of the resource: a custom resource's inputs (and ID once created), a component's
        inputs and registered outputs (the outputs are what the engine hands an analyzer)."""
        extra = {"id": self.id} if self.custom else {"outputs": self.outputs}
        return {"type": self.type, "name": self.name, "urn": self.urn, "parent": self.parent, "custom": self.custom,
                "inputs": self.inputs, **extra, "dependencies": self.dependencies,
                "property_dependencies": self.property_dependencies}


@dataclass
class Recording:
    stack: str
    preview: bool
    records: list[Record]

    def by_type(self, type_: str) -> list[Record]:
        return [r for r in self.records if r.type == type_]

    def by_urn(self) -> dict[str, Record]:
        return {r.urn: r for r in self.records}

    def children(self, urn: str) -> list[Record]:
        return [r for r in self.records if r.parent == urn]

    def to_json(self) -> dict:
        return {"stack": self.stack, "preview": self.preview, "resources": [r.to_json() for r in self.records]}

    @classmethod
    def from_json(cls, data: dict) -> "Recording":
        """What `labctl preview --json` printed, back as a recording an analyzer can be driven with (secrets stay
        masked: the pack reads none)."""
        records = [Record(type=r["type"], name=r["name"], urn=r["urn"], parent=r.get("parent"), custom=r["custom"],
                          inputs=r.get("inputs") or {}, dependencies=list(r.get("dependencies") or []),
                          property_dependencies=dict(r.get("property_dependencies") or {}), id=r.get("id"),
                          outputs=r.get("outputs") or {}) for r in data["resources"]]
        return cls(stack=data["stack"], preview=data["preview"], records=records)


def _plain(value: Any, path: str, secrets: list[str], mask: bool = True) -> Any:
    """Wire-format values (as dicts) -> plain JSON: secrets masked (or unwrapped) and noted, unknowns marked."""
    if isinstance(value, dict):
        if value.get(SIG_KEY) == SECRET_SIG:
            secrets.append(path)
            return MASK if mask else _plain(value.get("value"), path, [], mask)
        return {k: _plain(v, f"{path}.{k}" if path else k, secrets, mask) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v, f"{path}[{i}]", secrets, mask) for i, v in enumerate(value)]
    if value == UNKNOWN:
        return UNKNOWN_TEXT
    return value


def computed_outputs(type_: str, name: str, inputs: dict) -> dict:
    """What providers compute that inputs do not say: without these, dependent inputs silently vanish under mocks."""
    if type_ == "random:index/randomPassword:RandomPassword":
        return {"result": "mock-" + name, "bcryptHash": "mock-hash"}
    if type_.startswith("aws:"):
        kind = type_.split(":")[-1].lower()
        return {"arn": f"arn:aws:mock:::{kind}/{name}", "dnsName": f"{name}.mock.elb.amazonaws.com", "zoneId": "ZMOCK",
                "availabilityZone": inputs.get("availabilityZone", "eu-west-1a"),
                "name": inputs.get("name") or f"{name}-mock"}       # auto-naming, as the provider does
    return {}


def mock_id(type_: str, name: str) -> str:
    """A resource's ID under mocks in update mode: stable across runs (registration order varies)."""
    return f"{name}-{type_.rsplit(':', 1)[-1].lower()}-id"


def computed_invoke(token: str, args: dict) -> dict:
    """Results of data-source lookups under mocks (the AMI lookup of the AWS backend)."""
    if token == "aws:ec2/getAmi:getAmi":
        return {"id": "ami-0mock0000000000000", "arn": "arn:aws:ec2:::image/ami-0mock", "name": "debian-12-amd64-mock",
                "architecture": "x86_64", "rootDeviceName": "/dev/xvda"}
    return {}


def record_program(stack: str, lab_config: dict, program: Callable[[], None], preview: bool = True,
                   outputs: Optional[Callable[[str, str, dict], dict]] = computed_outputs,
                   extra_config: Optional[dict[str, str]] = None) -> Recording:
    """Run `program` under Pulumi mocks with the stack's lab config; return what it registered."""
    import pulumi
    from google.protobuf import json_format
    from pulumi.runtime import mocks, settings
    from pulumi.runtime.stack import run_pulumi_func
    from pulumi.runtime.sync_await import _sync_await

    records: list[Record] = []

    class Mocks(pulumi.runtime.Mocks):
        def new_resource(self, args: pulumi.runtime.MockResourceArgs):
            state = dict(args.inputs)
            if outputs is not None:
                state.update(outputs(args.typ, args.name, args.inputs))
            return (None if preview else mock_id(args.typ, args.name)), state

        def call(self, args: pulumi.runtime.MockCallArgs):
            return computed_invoke(args.token, dict(args.args)), []

    class RecordingMonitor(mocks.MockMonitor):
        def RegisterResource(self, request):
            response = super().RegisterResource(request)
            if request.type != "pulumi:pulumi:Stack":
                raw = json_format.MessageToDict(request.object, preserving_proto_field_name=True) if request.object else {}
                secret_paths: list[str] = []
                inputs = _plain(raw, "", secret_paths)
                records.append(Record(
                    type=request.type, name=request.name, urn=response.urn, parent=request.parent or None,
                    custom=request.custom, inputs=inputs, dependencies=sorted(request.dependencies),   # the SDK sends sets
                    property_dependencies={k: sorted(v.urns) for k, v in request.propertyDependencies.items()},
                    secret_paths=secret_paths, id=response.id or None, raw_inputs=_plain(raw, "", [], mask=False)))
            return response

        def RegisterResourceOutputs(self, request):
            outputs = json_format.MessageToDict(request.outputs, preserving_proto_field_name=True) if request.outputs else {}
            for record in records:
                if record.urn == request.urn:
                    record.outputs = _plain(outputs, "", [])
            return super().RegisterResourceOutputs(request)

    settings.ROOT.set(None)                      # a fresh stack per recording
    pulumi.runtime.set_mocks(Mocks(), project=PROJECT, stack=stack, preview=preview, monitor=RecordingMonitor(Mocks()))
    pulumi.runtime.set_all_config({CONFIG_KEY: json.dumps(lab_config),
                                   **{config_key(k): v for k, v in (extra_config or {}).items()}})
    settings.SETTINGS.rpc_manager.clear()        # no outstanding RPCs from an earlier recording
    try:
        _sync_await(run_pulumi_func(program))
    except Exception as exc:
        exc.records = records                    # what was registered before the failure (should be nothing)
        raise
    return Recording(stack=stack, preview=preview, records=records)


def record_stack(stack: str, preview: bool = True, stacks_dir=None, outputs=computed_outputs,
                 extra_config: Optional[dict[str, str]] = None) -> Recording:
    from abiquo_lab.labspec import STACKS_DIR, read_stack_config
    from components.program import main
    config = read_stack_config(stack, stacks_dir or STACKS_DIR)
    return record_program(stack, config, main, preview=preview, outputs=outputs, extra_config=extra_config)


def tree(recording: Recording) -> str:
    children: dict[Optional[str], list[Record]] = {}
    urns = {r.urn for r in recording.records}
    for r in recording.records:
        children.setdefault(r.parent if r.parent in urns else None, []).append(r)
    lines: list[str] = []

    def walk(parent: Optional[str], depth: int) -> None:
        for r in children.get(parent, []):
            lines.append(f"{'  ' * depth}{r.type}  {r.name}")
            walk(r.urn, depth + 1)
    walk(None, 0)
    return "\n".join(lines) + "\n"
