"""A fake `pulumi` CLI for Automation API tests: records every call (argv) and answers from a JSON state file.

State (FAKE_PULUMI_DIR/state.json): {"stacks": {name: {"config": {key: value}, "tags": {}, "resources": n}},
"fail_destroy": [names], "no_tags": bool}. Calls are appended to FAKE_PULUMI_DIR/calls.jsonl.
"""
import json
import os
import sys
from pathlib import Path

HOME = Path(os.environ["FAKE_PULUMI_DIR"])
STATE = HOME / "state.json"
HISTORY = [{"kind": "update", "startTime": "2026-11-23T10:00:00.000000Z", "message": "", "environment": {}, "config": {},
            "result": "succeeded", "endTime": "2026-11-23T10:01:00.000000Z", "resourceChanges": {"create": 12}}]


def load():
    return json.loads(STATE.read_text()) if STATE.exists() else {"stacks": {}}


def save(state):
    STATE.write_text(json.dumps(state))


def fail(message, code=255):
    sys.stderr.write(f"error: {message}\n")
    sys.exit(code)


def opt(args, name):
    return args[args.index(name) + 1] if name in args else None


def main(args):
    with (HOME / "calls.jsonl").open("a") as log:
        log.write(json.dumps({"argv": args, "backend": os.environ.get("PULUMI_BACKEND_URL", "")}) + "\n")
    state = load()
    stacks = state.setdefault("stacks", {})
    stack = opt(args, "--stack")
    if args[:1] == ["version"]:
        print("v3.272.0")
    elif args[:2] == ["stack", "init"]:
        name = args[2]
        if name in stacks:
            fail(f"stack '{name}' already exists")
        stacks[name] = {"config": {}, "tags": {}, "resources": 0}
    elif args[:2] == ["stack", "select"]:
        if stack not in stacks:
            fail(f"no stack named '{stack}' found")
    elif args[:2] == ["stack", "ls"]:
        print(json.dumps([{"name": n, "current": False, "updateInProgress": False, "resourceCount": s["resources"]}
                          for n, s in stacks.items()]))
    elif args[:2] == ["stack", "rm"]:
        stacks.pop(args[-1], None)
    elif args[:3] == ["stack", "tag", "set"]:
        if state.get("no_tags"):
            fail("stack tags are not supported by this backend")
        stacks[stack]["tags"][args[3]] = args[4]
    elif args[:2] == ["stack", "output"]:
        print("{}")
    elif args[:2] == ["stack", "history"]:
        print(json.dumps(HISTORY))
    elif args[:2] == ["config", "set"]:
        stacks[stack]["config"][args[2]] = args[-1]
    elif args[:1] == ["config"] and "--json" in args:
        if stack not in stacks:
            fail(f"no stack named '{stack}' found")
        print(json.dumps({k: {"value": v, "secret": False} for k, v in stacks[stack]["config"].items()}))
    elif args[:1] == ["up"]:
        print(f"Updating ({stack})\n    + 12 created\nResources: 12 created")
        stacks[stack]["resources"] = 12
    elif args[:1] == ["destroy"]:
        if stack in state.get("fail_destroy", []):
            print(f"Destroying ({stack})")
            fail("destroy failed: resource ha-core is still in use")
        print(f"Destroying ({stack})\nResources: 12 deleted")
        stacks[stack]["resources"] = 0
    else:
        fail(f"fake pulumi: unexpected call {args}", 2)
    save(state)


if __name__ == "__main__":
    main([a for a in sys.argv[1:] if a != "--non-interactive"])
