"""labctl: thin commands over the lab's stages (catalog -> lab spec -> plan -> render -> check) and the live lab.

Every error the project knows reaches the user as one line (or a list of problems) and an exit status:
0 ok, 1 a failure or mismatch, 2 bad input (contract.EXIT_*); never a traceback."""
from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path
from typing import Callable, Optional, Sequence

from abiquo_lab.catalog import default_catalog
from abiquo_lab.contract import (EXIT_FAIL, EXIT_OK, EXIT_USAGE, MANAGED_BY, MANAGED_BY_PULUMI, InputError, LabError,
                                  expiry)
from abiquo_lab.labspec import STACKS_DIR, load_stack, stack_names
from abiquo_lab.plan import build_plan

from .views import graph, report, views


def _plan(args):
    return build_plan(load_stack(args.stack, stacks_dir=args.stacks_dir))


def cmd_matrix(args) -> int:
    if args.catalog:
        rows, columns = views.catalog_rows(default_catalog()), views.CATALOG_COLUMNS
    else:
        plan = _plan(args)
        rows = [r for r in views.flow_rows(plan) if args.local or r["kind"] != "local"]
        columns = views.FLOW_COLUMNS
    sys.stdout.write(report.render(rows, columns, args.format))
    return EXIT_OK


def cmd_graph(args) -> int:
    if (args.diff or args.verify) and args.format != "html":
        raise InputError(f"{'--diff' if args.diff else '--verify'}: only with --format html (got --format {args.format})")
    from .views import page
    outcomes = page.load_outcomes(args.verify) if args.verify else None
    plan = _plan(args)
    if args.format == "html":
        import tempfile
        base = None
        if args.diff:
            from . import diff
            with tempfile.TemporaryDirectory(prefix="labctl-graph-") as workdir:
                base = diff.base_plan(args.diff, args.stack, Path(workdir), option="--diff")
        title = f"lab {plan.lab} ({args.stack})" + (f" against {args.diff}" if args.diff else "") + \
            (f", probes from {Path(args.verify).name}" if args.verify else "")
        text = page.render(plan.model_dump(mode="json"), args.level, base, outcomes, title)
        if args.output:
            Path(args.output).write_text(text, encoding="utf-8")
            print(f"wrote {args.output}")
        else:
            sys.stdout.write(text)
    elif args.format == "mermaid":
        sys.stdout.write(graph.mermaid(plan, args.level))
    elif args.format == "dot":
        sys.stdout.write(graph.dot(plan, args.level))
    else:
        data = graph.picture(plan, args.format, args.level)
        if args.output:
            Path(args.output).write_bytes(data)
            print(f"wrote {args.output}")
        else:
            sys.stdout.buffer.write(data)
    return EXIT_OK


def cmd_diff(args) -> int:
    import tempfile
    from . import diff
    from .diff import output
    with tempfile.TemporaryDirectory(prefix="labctl-diff-") as workdir:
        result = diff.run(args.base, Path(args.stacks_dir), args.stack, args.all, Path(workdir))
    status = diff.exit_status(result)
    sys.stdout.write(output.render(result, args.format, status))
    return status


def cmd_explain(args) -> int:
    catalog = default_catalog()
    plan = _plan(args) if args.stack else None
    sys.stdout.write(views.explain_id(catalog, args.id, plan))
    return EXIT_OK


def _stacks(args) -> list[str]:
    """--stack S, or with --all every stack file in the stacks folder (none found is bad input, not a pass)."""
    if not args.all:
        return [args.stack]
    found = stack_names(args.stacks_dir)
    if not found:
        raise InputError(f"--all: no stack files (Pulumi.<stack>.yaml) in {args.stacks_dir}")
    return found


def cmd_validate(args) -> int:
    stacks = _stacks(args)
    failed, checked = 0, {}
    for stack in stacks:
        try:
            spec = load_stack(stack, stacks_dir=args.stacks_dir)
            plan = build_plan(spec)
        except InputError as exc:                            # a broken stack file: report it, go on to the others
            failed += 1
            print(f"{stack}: {exc}", file=sys.stderr)
            continue
        print(f"{stack}: ok — lab {plan.lab!r}, {plan.layout} on {plan.backend}, {len(plan.hosts)} hosts, "
              f"{len(plan.zones)} zone networks, {len(plan.network_flows)} network flows")
        checked[stack] = (spec, plan)
    for problem in _clashes_between(checked):  # stacks that cannot live on one machine side by side
        failed += 1
        print(f"labctl: {problem}", file=sys.stderr)
    return EXIT_USAGE if failed else EXIT_OK                 # an invalid stack is bad input, as in every command


def _clashes_between(checked: dict) -> list[str]:
    """Lab names used twice; Docker labs whose address pools overlap or whose published ports collide."""
    import ipaddress
    problems, names, pools, ports = [], {}, {}, {}
    for stack, (checked_spec, plan) in checked.items():
        if plan.lab in names:
            problems.append(f"{stack}: lab.name {plan.lab!r} is also stack {names[plan.lab]}'s; a lab belongs to one stack")
        names.setdefault(plan.lab, stack)
        if plan.backend != "docker":
            continue
        spec = checked_spec.spec
        pool = ipaddress.ip_network(spec.address_pool)
        for other, other_pool in pools.items():
            if pool.overlaps(other_pool):
                problems.append(f"{stack}: lab.address_pool {pool} overlaps stack {other}'s {other_pool}; they cannot run side by side")
        pools[stack] = pool
        for host in plan.hosts:
            for item in host.published:
                key = (spec.docker_settings.publish_address, item.protocol, item.external)
                if key in ports and ports[key] != stack:
                    problems.append(f"{stack}: lab.docker.{item.setting or 'ports'} publishes {item.external}/{item.protocol}, "
                                    f"which stack {ports[key]} publishes too; they cannot run side by side")
                ports.setdefault(key, stack)
    return problems


def cmd_roles(args) -> int:
    catalog = default_catalog()
    rows = [{"role": r.name, "aliases": r.aliases, "scope": r.scope or "outside", "zone": r.zone, "public": r.public,
             "enabled_when": r.enabled_when or ("always" if not r.external else "-"),
             "listens": [p for s in r.services for p in s.ports], "title": r.title} for r in catalog.roles]
    if args.name:
        role = catalog.role(args.name)
        rows = [r for r in rows if r["role"] == role.name]
    sys.stdout.write(report.render(rows, ["role", "aliases", "scope", "zone", "public", "enabled_when", "listens", "title"], args.format))
    return EXIT_OK


def cmd_switches(args) -> int:
    sys.stdout.write(report.render(views.switch_rows(default_catalog()), views.SWITCH_COLUMNS, args.format))
    return EXIT_OK


def cmd_preview(args) -> int:
    import json as _json
    from . import preview
    recording = preview.record_stack(args.stack, preview=not args.update, stacks_dir=args.stacks_dir)
    if args.json:
        print(_json.dumps(recording.to_json(), indent=2))
    else:
        sys.stdout.write(preview.tree(recording))
        mode = "update" if args.update else "preview"
        print(f"{len(recording.records)} resources ({mode} under mocks; nothing was created)")
    return EXIT_OK


def _docker():
    import docker
    try:
        client = docker.from_env()
        client.ping()
    except Exception as exc:  # noqa: BLE001 - any reason the engine is unreachable
        raise LabError(f"no Docker engine reachable ({exc}); run: bash scripts/ensure-docker.sh") from None
    return client


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _ttl_expiry(ttl: Optional[str]) -> Optional[str]:
    try:
        return expiry(ttl) if ttl else None
    except ValueError as exc:
        raise InputError(f"--ttl: {exc}") from None


def cmd_realize(args) -> int:
    from .live import engine, preflight
    from .live.lock import lab_lock
    expires = _ttl_expiry(args.ttl)                      # bad input: a clear error before anything is touched
    checked = load_stack(args.stack, stacks_dir=args.stacks_dir)
    plan = build_plan(checked)
    client = _docker()
    preflight.refuse_foreign_owner(client, plan, args.stack)
    with lab_lock(plan.lab, f"realize --stack {args.stack}"):
        if engine.labelled(client, lab=plan.lab, stack=args.stack)["containers"]:
            raise LabError(f"lab {plan.lab!r} already has containers; run: labctl teardown --stack {args.stack}")
        preflight.check(client, plan, args.stack, checked.spec.docker_settings.publish_address)
        recording = engine.record_for_engine(args.stack, stacks_dir=args.stacks_dir, expires_at=expires)
        try:
            done = engine.Engine(client, progress=_say).realize(recording)
        except BaseException:                            # a failure, Ctrl-C or SIGTERM: leave nothing half-made
            if not args.keep_on_failure:
                _say("realize stopped; removing what it created (use --keep-on-failure to inspect)")
                engine.teardown(client, lab=plan.lab, stack=args.stack, images=False)
            raise
    print(f"lab {done.lab}: {len(done.networks)} networks, {len(done.containers)} containers healthy in "
          f"{done.seconds['total']:.1f}s")
    return EXIT_OK


def cmd_verify(args) -> int:
    from .live import verify
    plan = _plan(args)
    client = _docker()
    from .live import engine
    if not engine.labelled(client, lab=plan.lab)["containers"]:
        raise LabError(f"lab {plan.lab!r} has no containers on this engine; build it first: "
                           f"labctl realize --stack {args.stack} (or pulumi up --stack {args.stack})")
    from .live import cluster, faults
    in_force = faults.faults_in_force(client, plan.lab)
    if in_force:                       # their hosts' flows are expected to fail; say why before anything else
        _say("faults in force: " + "; ".join(f.describe() for f in in_force))
    down = frozenset(f.host for f in in_force if f.in_force and f.host and f.kind in faults.HOST_KINDS and f.kind != "loss")
    clusters = cluster.settle(client, plan, down=down, timeout=args.settle, progress=_say) if cluster.clustered_hosts(plan) else []
    outcomes = verify.Verifier(client, plan, progress=_say).run()
    from components.nodes import host_allow_rules
    drift = verify.allowlist_drift(client, plan, lambda host: host_allow_rules(plan, host))
    counts = verify.summary(outcomes)
    counts["clusters_fail"] = sum(not c.ok for c in clusters)
    counts["allowlist_drift"] = len(drift)
    shown = [o for o in outcomes if o.failed] if args.failures_only else outcomes
    if args.format == "json":
        print(json.dumps({"lab": plan.lab, "summary": counts, "faults": [f.row() for f in in_force], "allowlist_drift": drift,
                          "clusters": [vars(c) for c in clusters], "outcomes": verify.rows(shown, typed=True)}, indent=2))
    elif args.format == "matrix":
        sys.stdout.write(verify.matrix(outcomes))
    else:
        if shown or not args.failures_only:              # nothing failed: --failures-only prints the summary alone
            sys.stdout.write(report.render(verify.rows(shown), verify.COLUMNS, args.format))
        for check in clusters if not args.failures_only else [c for c in clusters if not c.ok]:
            print(check.line())
        for line in drift:
            print(f"FAIL  allowlist              {line}")
        print(f"documented: {counts['open_pass']} answered, {counts['open_fail']} failed; forbidden: "
              f"{counts['closed_pass']} unanswered, {counts['closed_fail']} answered; not probed: {counts['not_probed']}"
              + (f"; clusters: {len(clusters) - counts['clusters_fail']} whole, {counts['clusters_fail']} not" if clusters else "")
              + f"; allowlists: {'as planned' if not drift else f'{len(drift)} differences'}"
              + (f"; faults in force: {len(in_force)}" if in_force else ""))
    failed = counts["open_fail"] or counts["closed_fail"] or counts["clusters_fail"] or counts["allowlist_drift"]
    return EXIT_FAIL if failed else EXIT_OK


def cmd_teardown(args) -> int:
    from .live import engine
    try:
        lab = _plan(args).lab if args.stack else args.lab
    except InputError as exc:                            # a broken stack file must not keep a lab alive
        raise InputError(f"{exc}\nthe lab can still be removed by name: labctl teardown --lab NAME "
                         "(labctl reap --dry-run lists the labs on this engine)") from None
    stack = args.stack or None                           # --stack S removes only S's objects, never another stack's lab
    client = _docker()
    by_pulumi = [c.name for c in engine.labelled(client, lab=lab, stack=stack)["containers"]
                 if c.labels.get(MANAGED_BY, MANAGED_BY_PULUMI) == MANAGED_BY_PULUMI]
    if by_pulumi and not args.force:
        raise LabError(f"lab {lab!r} was made by Pulumi ({len(by_pulumi)} containers, e.g. {by_pulumi[0]}): remove it "
                           "with `labctl down NAME` or `pulumi destroy`, so its state stays true; --force removes it anyway")
    from .live.lock import lab_lock
    with lab_lock(lab, "teardown"):
        counts = engine.teardown(client, lab=lab, stack=stack, images=not args.keep_images, progress=_say)
    print(f"lab {lab}: removed " + ", ".join(f"{n} {kind}" for kind, n in counts.items()))
    return EXIT_OK


def cmd_fault(args) -> int:
    from .live import faults
    if not args.stack:
        raise InputError("fault: --stack S is required (the stack of the running lab)")
    plan = _plan(args)
    if args.action == "ls":
        client = _docker()
        found = faults.faults_in_force(client, plan.lab)
        if args.format != "table" or found:
            sys.stdout.write(report.render([f.row() for f in found], faults.COLUMNS + (["record"] if args.format == "json" else []),
                                           args.format))
        else:
            print(f"lab {plan.lab}: no faults recorded")
        return EXIT_OK
    if args.action == "heal":
        target = faults.heal_target(plan, args.target, args.all)        # bad input: before the engine is touched
        faults.heal(_docker(), plan, target, say=print, stack=args.stack)
        return EXIT_OK
    if args.action == "partition":
        values = [args.zone_a, args.zone_b]
    else:
        values = [args.host, args.pct] if args.action == "loss" else [args.host]
    request = faults.request(plan, args.action, values)                 # bad input: before the engine is touched
    print(faults.inject(_docker(), plan, request, stack=args.stack))
    return EXIT_OK


def cmd_check(args) -> int:
    from .check import analyzer, output
    from .preview import record_stack
    stacks = _stacks(args)
    user = analyzer.load_user_config(args.config)
    analyzer.policy_config(user)                        # unknown policy names: a clear error before anything runs
    recordings = []
    for stack in stacks:
        _say(f"recording {stack} (preview under mocks)")
        recordings.append(record_stack(stack, preview=not args.update, stacks_dir=args.stacks_dir))
    if args.in_process:
        found = [analyzer.analyze_in_process(r, user) for r in recordings]
    else:
        _say("starting the policy pack as the Pulumi CLI does (python -m pulumi.policy) and analyzing over gRPC")
        found = analyzer.analyze_many_grpc(recordings, user)
    results = dict(zip(stacks, found))
    sys.stdout.write(output.render(results, args.format, analyzer.policy_descriptions()))
    return EXIT_FAIL if any(v.level == "mandatory" for f in found for v in f) else EXIT_OK


def cmd_up(args) -> int:
    from . import lifecycle
    overrides = lifecycle.parse_settings(args.set or [])
    if args.address_pool:
        overrides["address_pool"] = args.address_pool
    result = lifecycle.up(args.name, args.template, args.ttl, args.owner, overrides, out=print, stacks_dir=args.stacks_dir)
    print(f"lab {result['name']} is up; expires {result['expires']}; remove with: labctl down {result['name']}")
    return EXIT_OK


def cmd_ls(args) -> int:
    """Every lab: Docker labs from the engine's labels (no CLI needed), Pulumi-made labs from the Pulumi backend where
    the CLI exists. What cannot be listed is said on stderr, never a failure."""
    from . import lifecycle
    from .live import inventory
    notes, docker_rows, pulumi_rows = [], [], None
    try:
        docker_rows = inventory.docker_labs(_docker())
    except LabError as exc:
        notes.append(f"Docker labs not listed: {str(exc).splitlines()[0]}")
    try:
        pulumi_rows = lifecycle.rows(lifecycle.labs())
    except lifecycle.PulumiMissing as exc:
        notes.append(f"Pulumi-made labs not listed: {str(exc).splitlines()[0]}")
    for note in notes:
        _say(note)
    if args.json:
        print(json.dumps({"docker": docker_rows, "pulumi": pulumi_rows}, indent=2))
        return EXIT_OK
    print("Docker labs on this engine:")
    sys.stdout.write(report.render(docker_rows, inventory.LS_COLUMNS, "table") if docker_rows else "  none\n")
    if pulumi_rows is not None:
        print("Pulumi stacks (labctl up):")
        sys.stdout.write(report.render(pulumi_rows, ["name", "backend", "layout", "owner", "template", "created", "expires",
                                                     "expired", "resources"], "table") if pulumi_rows else "  none\n")
    return EXIT_OK


def cmd_inspect(args) -> int:
    from .live import inventory
    rows = inventory.lab_hosts(_docker(), args.lab)
    if not rows:
        raise InputError(f"LAB: no lab {args.lab!r} on this engine; labctl ls lists the labs")
    sys.stdout.write(report.render(rows, inventory.HOST_COLUMNS, args.format))
    return EXIT_OK


def cmd_down(args) -> int:
    from . import lifecycle
    lifecycle.down(args.name, out=print)
    return EXIT_OK


def cmd_reap(args) -> int:
    from . import lifecycle
    try:
        client = _docker()
    except RuntimeError as exc:
        client = None
        _say(f"labctl: {exc}")
    summary = lifecycle.reap(args.dry_run, args.owner, client, args.aws_region, out=print, aws_delete=args.aws_delete)
    verb = "would remove" if args.dry_run else "removed"
    print(f"reap summary: labs {'would be destroyed' if args.dry_run else 'destroyed'}: {len(summary.labs_destroyed)}, "
          f"failed: {len(summary.labs_failed)}, kept: {len(summary.labs_kept)}; docker labs {verb}: "
          f"{len(summary.docker_removed)}, kept: {len(summary.docker_kept)}; aws expired: {len(summary.aws_expired)}, "
          f"deleted: {len(summary.aws_deleted)}")
    for note in summary.notes:
        print(f"note: {note}")
    return EXIT_FAIL if summary.labs_failed else EXIT_OK


def cmd_docs(args) -> int:
    from .views import docs
    for path in docs.write_all():
        print(f"wrote {path}")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="labctl", description="Abiquo lab clusters from the documented connection matrix")
    parser.add_argument("--stacks-dir", type=Path, default=STACKS_DIR, help="folder of Pulumi.<stack>.yaml files (default: stacks/)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, func: Callable, help_text: str, stack: Optional[str] = "required") -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        if stack == "required":
            p.add_argument("--stack", "-s", required=True, help="stack name (stacks/Pulumi.<stack>.yaml)")
        elif stack == "optional":
            p.add_argument("--stack", "-s", help="stack name (stacks/Pulumi.<stack>.yaml)")
        p.set_defaults(func=func)
        return p

    p = command("matrix", cmd_matrix, "the concrete flows of a stack (or, with --catalog, the catalog rows)", stack="optional")
    p.add_argument("--format", "-f", choices=report.FORMATS, default="table")
    p.add_argument("--catalog", action="store_true", help="print the catalog's rows instead of a stack's flows")
    p.add_argument("--local", action="store_true", help="include same-host (local) flows")
    p = command("graph", cmd_graph, "the topology of a stack as Mermaid, DOT, an SVG/PNG picture (Graphviz), or one "
                                    "self-contained HTML page (offline; --diff, --verify overlays)")
    p.add_argument("--format", "-f", choices=graph.GRAPH_FORMATS, default="mermaid")
    p.add_argument("--level", choices=("kind", "host"), default="kind", help="one node per host kind (default) or per host")
    p.add_argument("--output", "-o", help="file for svg/png/html output")
    p.add_argument("--diff", metavar="REF|DIR", help="html: colour the flows and hosts added (green) and removed (red) "
                                                     "since a git revision or a checkout folder")
    p.add_argument("--verify", metavar="FILE", help="html: overlay a saved `labctl verify -f json` result on the edges")
    p = command("diff", cmd_diff, "what a change does to the network against a base revision: flows, hosts and "
                                  "rendered rules added, removed and changed per stack, each side planned and rendered "
                                  "by its own code; exit 1 when the head opens anything beyond its intent or leaves a "
                                  "required flow unopened (the policy pack's verdict)", stack="optional")
    p.add_argument("--base", required=True, metavar="REF|DIR", help="a git revision of this project (e.g. HEAD~1, "
                                                                    "origin/main) or a folder holding a checkout of it")
    p.add_argument("--all", action="store_true", help="every stack on either side")
    p.add_argument("--format", "-f", choices=("table", "markdown", "json", "sarif"), default="table")
    p = command("explain", cmd_explain, "a catalog row with its evidence and sources (and its flows in a stack)", stack="optional")
    p.add_argument("id", help="row id, e.g. A13")
    p = command("validate", cmd_validate, "check a stack's lab config and plan it", stack="optional")
    p.add_argument("--all", action="store_true", help="every stack in the stacks folder")
    p = command("roles", cmd_roles, "the role registry (names, aliases, ports)", stack=None)
    p.add_argument("name", nargs="?", help="one role, by name or alias")
    p.add_argument("--format", "-f", choices=report.FORMATS, default="table")
    p = command("switches", cmd_switches, "every switch and co-location choice: default, evidence, the rows it changes", stack=None)
    p.add_argument("--format", "-f", choices=report.FORMATS, default="table")
    p = command("preview", cmd_preview, "run the Pulumi program offline under mocks and show what the stack would create")
    p.add_argument("--json", action="store_true", help="type, name, parent, inputs (components: registered outputs too; "
                                                       "custom resources: ID), dependencies, property dependencies")
    p.add_argument("--update", action="store_true", help="record in update mode (IDs and computed outputs known) "
                                                         "instead of preview")
    p = command("realize", cmd_realize, "create a Docker stack's recorded resources on the local engine (no Pulumi CLI needed)")
    p.add_argument("--keep-on-failure", action="store_true", help="leave a failed lab in place for inspection")
    p.add_argument("--ttl", help="time to live (e.g. 4h): labels the lab with expires-at so `labctl reap` removes it")
    p = command("verify", cmd_verify, "probe a running lab: documented flows must answer, everything else must not")
    p.add_argument("--format", "-f", choices=report.FORMATS + ("matrix",), default="table",
                   help="a row per probe (table/markdown/csv/json) or a host x host matrix")
    p.add_argument("--failures-only", action="store_true", help="list only mismatches (the summary counts all)")
    p.add_argument("--settle", type=float, default=90.0, metavar="SECONDS",
                   help="how long clusters may take to become whole (Galera, Redis, RabbitMQ, ZooKeeper, VIPs) (default 90)")
    p = command("teardown", cmd_teardown, "remove every Docker object labelled with the lab (from labels alone)", stack="optional")
    p.add_argument("--lab", help="lab name, when the stack file is gone")
    p.add_argument("--keep-images", action="store_true", help="keep the lab's node image")
    p.add_argument("--force", action="store_true", help="also remove a lab made by Pulumi (its state goes stale)")
    p = command("fault", cmd_fault, "inject a fault into a running Docker lab, heal it, list the faults in force (each "
                                    "fault is recorded on the lab as a labelled volume)", stack="optional")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")

    def fault_action(name: str, help_text: str) -> argparse.ArgumentParser:
        a = actions.add_parser(name, help=help_text, description=help_text.replace("%%", "%"))
        a.add_argument("--stack", "-s", default=argparse.SUPPRESS, help="stack name (stacks/Pulumi.<stack>.yaml)")
        return a

    host_help = "a host of the stack's plan (container <lab>-<host>)"
    fault_action("stop", "docker stop the host's container (heal: docker start)").add_argument("host", metavar="HOST", help=host_help)
    fault_action("kill", "docker kill the host's container (heal: docker start)").add_argument("host", metavar="HOST", help=host_help)
    fault_action("pause", "docker pause the host's container (heal: unpause)").add_argument("host", metavar="HOST", help=host_help)
    fault_action("isolate", "cut the host off, both directions, open connections too: nft table inet abiquo_fault_isolate "
                            "in the container drops all but loopback (heal: delete the table)").add_argument(
        "host", metavar="HOST", help=host_help)
    a = fault_action("partition", "cut two zone networks apart: each host whose home zone is ZONE_A drops packets to and "
                                  "from the addresses of ZONE_B's hosts and virtual IPs, and the other way round")
    a.add_argument("zone_a", metavar="ZONE_A", help="a zone network of the plan (e.g. core, data, dc-dc1)")
    a.add_argument("zone_b", metavar="ZONE_B", help="another zone network")
    a = fault_action("loss", "drop PCT%% of the host's packets, both directions (nft numgen; no delay: no netem here)")
    a.add_argument("host", metavar="HOST", help=host_help)
    a.add_argument("pct", metavar="PCT", help="share of packets dropped, a whole number from 1 to 100")
    a = fault_action("heal", "heal recorded faults and remove their records: HOST heals every fault on that host (stop, "
                             "kill, pause, isolate, loss) but not the partitions of its zone; ZONE_A ZONE_B heals "
                             "that partition; --all heals every fault of the lab")
    a.add_argument("target", nargs="*", metavar="TARGET", help="HOST, or ZONE_A ZONE_B")
    a.add_argument("--all", action="store_true", help="every fault of the lab")
    a = fault_action("ls", "the faults recorded on the lab: kind, target, since, and whether each is in force now")
    a.add_argument("--format", "-f", choices=report.FORMATS, default="table")
    p = command("check", cmd_check, "run the policy pack on a stack offline (mocks + the pack over gRPC); exit 1 on a "
                                    "mandatory violation", stack="optional")
    p.add_argument("--all", action="store_true", help="every stack in the stacks folder")
    p.add_argument("--format", "-f", choices=("table", "json", "markdown", "sarif"), default="table")
    p.add_argument("--config", help="pack config file (JSON/YAML), as for pulumi --policy-pack-config")
    p.add_argument("--update", action="store_true", help="record in update mode (IDs known) instead of preview")
    p.add_argument("--in-process", action="store_true", help="call the policies directly instead of over gRPC")
    p = command("up", cmd_up, "create lab NAME from a template stack with a time-to-live and run pulumi up "
                              "(Automation API, policy pack enforced)", stack=None)
    p.add_argument("name", help="lab (and stack) name")
    p.add_argument("--from", dest="template", required=True, help="template stack, e.g. docker-ha")
    p.add_argument("--ttl", required=True, help="time to live, e.g. 4h, 90m, 2d")
    p.add_argument("--owner", help="who the lab belongs to (default: the template's owner)")
    p.add_argument("--address-pool", help="the lab's address pool (to run beside another lab of the same template)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a lab setting, dotted for nested ones (YAML values), e.g. --set nodes.api=3 "
                        "--set docker.https_port=9543; repeatable")
    p = command("ls", cmd_ls, "every lab: Docker labs from the engine's labels (stack, owner, expiry, ready containers, "
                              "faults, frontend), and Pulumi-made labs where the Pulumi CLI exists", stack=None)
    p.add_argument("--json", action="store_true")
    p = command("inspect", cmd_inspect, "one Docker lab's hosts from its labels: roles, zone, addresses, state, health",
                stack=None)
    p.add_argument("lab", metavar="LAB")
    p.add_argument("--format", "-f", choices=report.FORMATS, default="table")
    p = command("down", cmd_down, "destroy lab NAME, then remove its stack (refuses stacks that are not labs)", stack=None)
    p.add_argument("name")
    p = command("reap", cmd_reap, "destroy expired labs, then sweep Docker orphans by labels; list expired AWS resources",
                stack=None)
    p.add_argument("--dry-run", action="store_true", help="say what would go; change nothing")
    p.add_argument("--owner", help="only labs of this owner")
    p.add_argument("--aws-region", help="also list expired tagged AWS resources in this region (needs boto3 and credentials)")
    p.add_argument("--aws-delete", action="store_true", help="delete those AWS resources too (default: report only)")
    command("docs", cmd_docs, "regenerate docs/connections.md and the README's topology picture from the catalog", stack=None)
    return parser


def _docker_errors():
    try:
        from docker.errors import DockerException
        return DockerException
    except ImportError:  # pragma: no cover - docker is a pinned dependency
        return ()


def _stack_from_path(args) -> None:
    """--stack also takes a stack file's path (stacks/Pulumi.docker-ha.yaml): its folder and stack name."""
    given = getattr(args, "stack", None)
    if not given or not (given.endswith((".yaml", ".yml")) or "/" in given):
        return
    path = Path(given)
    name = path.name
    if not (name.startswith("Pulumi.") and name.endswith(".yaml")) or name == "Pulumi.yaml":
        raise InputError(f"--stack {given}: a stack file is named Pulumi.<stack>.yaml (got {name})")
    if not path.exists():
        raise InputError(f"--stack {given}: no such file")
    args.stack, args.stacks_dir = name[len("Pulumi."):-len(".yaml")], path.resolve().parent


def _interrupted(signum, frame):
    raise KeyboardInterrupt


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "matrix" and not args.catalog and not args.stack:
        parser.error("matrix needs --stack S (or --catalog)")
    if args.command == "teardown" and not (args.stack or args.lab):
        parser.error("teardown needs --stack S or --lab L")
    if args.command == "check" and not args.all and not args.stack:
        parser.error("check needs --stack S or --all")
    if args.command == "validate" and not args.all and not args.stack:
        parser.error("validate needs --stack S or --all")
    signal.signal(signal.SIGTERM, _interrupted)      # SIGTERM like Ctrl-C: commands clean up what they started
    try:
        _stack_from_path(args)
        return args.func(args)
    except LabError as exc:                      # every error the project raises: bad input (2) or a failure (1)
        print(f"labctl: {exc}", file=sys.stderr)
        return exc.exit_code
    except _docker_errors() as exc:
        print(f"labctl: docker: {exc}", file=sys.stderr)
        return EXIT_FAIL
    except BrokenPipeError:
        return EXIT_OK
    except (FileNotFoundError, IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:   # a file named on the command line
        print(f"labctl: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("labctl: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
