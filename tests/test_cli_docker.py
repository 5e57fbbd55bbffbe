"""labctl's Docker commands on a real engine, where no lab runs: clear errors, no traceback."""
import pytest

from labctl.cli import main as labctl

pytestmark = [pytest.mark.docker]


def test_verify_without_a_running_lab_says_how_to_build_it(docker_client, tmp_path, capsys):
    import yaml
    (tmp_path / "Pulumi.nolab.yaml").write_text(yaml.safe_dump({"config": {"abiquo-lab:lab": {
        "name": "nolab-x1", "backend": "docker", "layout": "monolithic", "address_pool": "10.252.0.0/16"}}}))
    assert labctl(["--stacks-dir", str(tmp_path), "verify", "--stack", "nolab"]) == 1
    err = capsys.readouterr().err
    assert "lab 'nolab-x1' has no containers on this engine" in err and "labctl realize --stack nolab" in err
    assert labctl(["--stacks-dir", str(tmp_path), "teardown", "--stack", "nolab"]) == 0
    assert "removed 0 containers, 0 networks" in capsys.readouterr().out


def test_teardown_refuses_a_pulumi_made_lab_unless_forced(docker_client, capsys):
    import uuid
    lab = f"pl{uuid.uuid4().hex[:6]}"
    labels = {"abiquo-lab.managed": "true", "abiquo-lab.lab": lab, "abiquo-lab.managed-by": "pulumi"}
    box = docker_client.containers.create("debian:bookworm-slim", ["true"], name=f"{lab}-api-1", labels=labels)
    try:
        assert labctl(["teardown", "--lab", lab]) == 1
        assert "was made by Pulumi" in capsys.readouterr().err
        assert docker_client.containers.get(box.id)
        assert labctl(["teardown", "--lab", lab, "--force"]) == 0
        assert not docker_client.containers.list(all=True, filters={"label": f"abiquo-lab.lab={lab}"})
    finally:
        for c in docker_client.containers.list(all=True, filters={"label": f"abiquo-lab.lab={lab}"}):
            c.remove(force=True)


# ---- a lab belongs to one stack; conflicts are found before anything is created ------------------------------------
def _stack(folder, stack, name, pool, https=23443, http=23080):
    import yaml
    (folder / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump({"config": {"abiquo-lab:lab": {
        "name": name, "backend": "docker", "layout": "monolithic", "address_pool": pool,
        "docker": {"https_port": https, "http_port": http}}}}))


def _made_by(client, stack):
    from labctl.live import engine
    return {kind: [o.name for o in objs] for kind, objs in engine.labelled(client, stack=stack).items() if objs}


@pytest.fixture
def neighbour(docker_client):
    """Another stack's lab named 'nb-own' on this engine (a labelled network and container stand for it)."""
    import uuid
    run = uuid.uuid4().hex[:6]
    labels = {"abiquo-lab.managed": "true", "abiquo-lab.lab": "nb-own", "abiquo-lab.stack": "theirs",
              "abiquo-lab.test-run": run}
    import docker
    net = docker_client.networks.create("nb-own-core", internal=True, labels=labels, ipam=docker.types.IPAMConfig(
        pool_configs=[docker.types.IPAMPool(subnet="10.247.0.0/24", gateway="10.247.0.1")]))
    box = docker_client.containers.create("debian:bookworm-slim", ["sleep", "60"], name="nb-own-server", labels=labels)
    try:
        yield net, box
    finally:
        for c in docker_client.containers.list(all=True, filters={"label": f"abiquo-lab.test-run={run}"}):
            c.remove(force=True)
        for n in docker_client.networks.list(filters={"label": f"abiquo-lab.test-run={run}"}):
            n.remove()


def test_realize_refuses_a_lab_name_another_stack_owns_and_teardown_spares_it(docker_client, neighbour, tmp_path, capsys):
    _stack(tmp_path, "mine", "nb-own", "10.246.0.0/16")
    assert labctl(["--stacks-dir", str(tmp_path), "realize", "--stack", "mine"]) == 2
    err = capsys.readouterr().err
    assert "lab.name: lab 'nb-own' belongs to stack theirs on this engine" in err and "Traceback" not in err
    assert not _made_by(docker_client, "mine")                                     # nothing created
    assert labctl(["--stacks-dir", str(tmp_path), "teardown", "--stack", "mine"]) == 0
    assert docker_client.containers.get(neighbour[1].id) and docker_client.networks.get(neighbour[0].id)   # spared
    assert labctl(["--stacks-dir", str(tmp_path), "fault", "--stack", "mine", "stop", "server"]) == 2
    assert "belongs to stack theirs, not mine" in capsys.readouterr().err
    assert docker_client.containers.get(neighbour[1].id).status == "created"      # untouched


def test_realize_refuses_a_pool_overlapping_a_docker_network(docker_client, neighbour, tmp_path, capsys):
    _stack(tmp_path, "overlap", "ovl-lab", "10.247.0.0/16")
    assert labctl(["--stacks-dir", str(tmp_path), "realize", "--stack", "overlap"]) == 2
    err = capsys.readouterr().err
    assert "lab.address_pool: zone network" in err and "overlaps Docker network nb-own-core (10.247.0.0/24, lab nb-own)" in err
    assert not _made_by(docker_client, "overlap")


def test_realize_refuses_a_published_port_in_use(docker_client, tmp_path, capsys):
    import socket
    _stack(tmp_path, "busy", "busy-lab", "10.245.0.0/16", https=23443)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 23443))
        taken.listen(1)
        assert labctl(["--stacks-dir", str(tmp_path), "realize", "--stack", "busy"]) == 2
    err = capsys.readouterr().err
    assert "lab.docker.https_port: server would publish 443/tcp on 127.0.0.1:23443, which is in use" in err
    assert not _made_by(docker_client, "busy")


def test_ls_and_inspect_show_a_docker_lab_from_its_labels_alone(docker_client, tmp_path, capsys, monkeypatch):
    """No stack file and no Pulumi CLI: `ls` lists the lab (stack, who made it, owner, expiry, ready containers,
    faults recorded, frontend) and `inspect` its hosts."""
    import json
    import uuid
    monkeypatch.setenv("PATH", "/usr/bin:/bin")                               # no pulumi
    lab, run = f"ls{uuid.uuid4().hex[:6]}", uuid.uuid4().hex[:6]
    labels = {"abiquo-lab.managed": "true", "abiquo-lab.lab": lab, "abiquo-lab.stack": "s-ls", "abiquo-lab.owner": "qa",
              "abiquo-lab.expires-at": "2030-01-01T00:00:00Z", "abiquo-lab.managed-by": "realize",
              "abiquo-lab.host": "api-1", "abiquo-lab.roles": "api m", "abiquo-lab.zone": "core", "abiquo-lab.test-run": run}
    up = docker_client.containers.run("debian:bookworm-slim", ["sleep", "60"], name=f"{lab}-api-1", labels=labels,
                                      detach=True, ports={"443/tcp": ("127.0.0.1", None)})
    down = docker_client.containers.create("debian:bookworm-slim", ["true"], name=f"{lab}-api-2",
                                           labels={**labels, "abiquo-lab.host": "api-2"})
    fault = docker_client.volumes.create(f"{lab}.fault.stop.api-2", labels={**labels, "abiquo-lab.fault": "stop"})
    try:
        assert labctl(["ls", "--json"]) == 0
        captured = capsys.readouterr()
        row = next(r for r in json.loads(captured.out)["docker"] if r["name"] == lab)
        up.reload()
        port = up.attrs["NetworkSettings"]["Ports"]["443/tcp"][0]["HostPort"]
        assert port != "0"
        created = row.pop("created")
        assert row.pop("instance") == "-"                          # made by hand here, not by one realize
        assert created == min(up.attrs["Created"], docker_client.containers.get(down.id).attrs["Created"])[:19] + "Z"
        assert row == {"name": lab, "stack": "s-ls", "backend": "docker", "made_by": "realize", "owner": "qa",
                       "expires": "2030-01-01T00:00:00Z", "state": "1/2 ready", "faults": 1,
                       "frontend": f"https://127.0.0.1:{port}/"}
        assert "Pulumi-made labs not listed" in captured.err
        assert labctl(["inspect", lab, "-f", "json"]) == 0
        hosts = json.loads(capsys.readouterr().out)
        assert [(h["host"], h["roles"], h["state"]) for h in hosts] == [("api-1", "api m", "running"), ("api-2", "api m", "created")]
        assert labctl(["inspect", "no-such-lab"]) == 2
        assert "no lab 'no-such-lab' on this engine" in capsys.readouterr().err
    finally:
        up.remove(force=True)
        down.remove(force=True)
        fault.remove(force=True)


def test_a_second_realize_of_a_busy_lab_is_refused(tmp_path, monkeypatch, capsys):
    """realize and teardown hold the lab's lock: a second one is refused while the first runs (here the lock is
    held by this test), naming what holds it."""
    from labctl.live.lock import lab_lock
    monkeypatch.setenv("ABIQUO_LAB_HOME", str(tmp_path / "home"))
    _stack(tmp_path, "locked", "lock-lab", "10.244.0.0/16", https=23543, http=23180)
    with lab_lock("lock-lab", "realize --stack locked"):
        assert labctl(["--stacks-dir", str(tmp_path), "realize", "--stack", "locked"]) == 1
        assert "lab 'lock-lab' is busy: pid" in capsys.readouterr().err
        assert labctl(["--stacks-dir", str(tmp_path), "teardown", "--stack", "locked"]) == 1
    assert labctl(["--stacks-dir", str(tmp_path), "teardown", "--stack", "locked"]) == 0     # released


def test_an_interrupted_realize_leaves_nothing_and_the_next_one_works(docker_client, tmp_path):
    """SIGTERM (as Ctrl-C) in the middle of realize: what it made is removed, and realize runs again cleanly."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from labctl.live import engine
    _stack(tmp_path, "cut", "cut-lab", "10.243.0.0/16", https=23643, http=23280)
    env = dict(os.environ, ABIQUO_LAB_HOME=str(tmp_path / "home"))
    command = [sys.executable, "-m", "labctl", "--stacks-dir", str(tmp_path), "realize", "--stack", "cut"]
    try:
        proc = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        while not docker_client.containers.list(all=True, filters={"label": "abiquo-lab.lab=cut-lab", "name": "cut-lab-"}):
            assert time.monotonic() < deadline and proc.poll() is None, "realize ended before making a container"
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 130 and "removing what it created" in err, err
        left = engine.labelled(docker_client, lab="cut-lab")
        assert not left["containers"] and not left["networks"], left
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
    finally:
        engine.teardown(docker_client, lab="cut-lab")
