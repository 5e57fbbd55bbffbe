"""The reaper's Docker sweep on a real engine, from labels alone: a crashed lab's leftovers (container, network,
volume) go; an unlabelled bystander and a lab that has not expired stay; --dry-run changes nothing."""
import uuid

import pytest

from labctl.cli import main as labctl
from labctl.live import sweep

pytestmark = [pytest.mark.docker]
BASE = "debian:bookworm-slim"


@pytest.fixture
def scene(docker_client, monkeypatch):
    import docker
    run = uuid.uuid4().hex[:8]
    owner, marker = f"sweep-{run}", {"abiquo-lab.test-run": run}
    monkeypatch.delenv("LABCTL_PULUMI_ROOT", raising=False)
    monkeypatch.setenv("PATH", "/usr/bin:/bin:/usr/sbin:/sbin")            # no Pulumi CLI: sweep by labels only

    def labels(lab, expires, managed_by="pulumi"):
        return {"abiquo-lab.managed": "true", "abiquo-lab.lab": lab, "abiquo-lab.stack": f"{lab}-stack",
                "abiquo-lab.owner": owner, "abiquo-lab.expires-at": expires, "abiquo-lab.managed-by": managed_by, **marker}

    crashed, alive = labels(f"crash{run}", "2020-01-01T00:00:00Z"), labels(f"alive{run}", "2999-01-01T00:00:00Z")
    made = {
        "crashed_net": docker_client.networks.create(f"crash{run}-core", internal=True, labels=crashed, ipam=docker.types.IPAMConfig(
            pool_configs=[docker.types.IPAMPool(subnet="10.251.9.0/24", gateway="10.251.9.1")])),
        "crashed_vol": docker_client.volumes.create(f"crash{run}-data", labels=crashed),
    }
    made["crashed_box"] = docker_client.containers.run(BASE, ["sleep", "600"], name=f"crash{run}-api-1", labels=crashed,
                                                       network=made["crashed_net"].name, init=True, detach=True)
    made["alive_box"] = docker_client.containers.run(BASE, ["sleep", "600"], name=f"alive{run}-api-1", labels=alive,
                                                     network_mode="none", init=True, detach=True)
    made["bystander"] = docker_client.containers.run(BASE, ["sleep", "600"], name=f"bystander{run}", labels=marker,
                                                     network_mode="none", init=True, detach=True)
    yield run, owner, made
    for c in docker_client.containers.list(all=True, filters={"label": f"abiquo-lab.test-run={run}"}):
        c.remove(force=True)
    for n in docker_client.networks.list(filters={"label": f"abiquo-lab.test-run={run}"}):
        n.remove()
    for v in docker_client.volumes.list(filters={"label": f"abiquo-lab.test-run={run}"}):
        v.remove(force=True)


def _exists(client, kind, obj):
    try:
        getattr(client, kind).get(obj.id if kind != "volumes" else obj.name)
        return True
    except Exception:  # noqa: BLE001 - docker.errors.NotFound
        return False


def test_dry_run_changes_nothing_and_the_sweep_removes_only_the_crashed_lab(docker_client, scene, capsys):
    run, owner, made = scene
    assert labctl(["reap", "--dry-run", "--owner", owner]) == 0
    out = capsys.readouterr().out
    assert f"docker lab crash{run}: would remove 3 object(s) -- expired" in out
    assert f"docker lab alive{run}: keep" in out
    kinds = {"crashed_net": "networks", "crashed_vol": "volumes", "crashed_box": "containers", "alive_box": "containers",
             "bystander": "containers"}
    assert all(_exists(docker_client, kinds[k], made[k]) for k in kinds)

    assert labctl(["reap", "--owner", owner]) == 0
    out = capsys.readouterr().out
    assert f"docker lab crash{run}: removed 3 object(s)" in out and "no Pulumi CLI" in out
    assert not any(_exists(docker_client, kinds[k], made[k]) for k in ("crashed_net", "crashed_vol", "crashed_box"))
    assert _exists(docker_client, "containers", made["alive_box"]) and _exists(docker_client, "containers", made["bystander"])
    assert not docker_client.containers.list(all=True, filters={"label": [f"abiquo-lab.lab=crash{run}"]})


def test_unlabelled_objects_are_never_gathered_and_orphans_need_a_known_stack_list(docker_client, scene):
    run, owner, made = scene
    groups = sweep.gather(docker_client)
    assert f"bystander{run}" not in {c.name for g in groups.values() for c in g.containers}
    alive = groups[f"alive{run}"]
    from datetime import datetime, timezone
    at = datetime(2026, 11, 23, tzinfo=timezone.utc)
    assert sweep.decide(alive, at, None).action == "keep"
    assert sweep.decide(alive, at, {f"alive{run}-stack"}).action == "keep"
    orphan = sweep.decide(alive, at, {"some-other-stack"})
    assert orphan.action == "remove" and "orphan" in orphan.reason
    alive.managed_by = "realize"                       # realized labs have no stack: never orphans
    assert sweep.decide(alive, at, {"some-other-stack"}).action == "keep"
