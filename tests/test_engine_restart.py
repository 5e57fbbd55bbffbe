"""After the Docker daemon restarts, a lab comes back by itself: its containers restart (restart policy), each
entrypoint applies its allowlist again (idempotent), the services start, and `verify` passes, allowlists included.
The test stops the daemon this run uses and starts it again through scripts/ensure-docker.sh, as CI does; it runs
after every other test (marker restarts_engine, ordered in conftest) and only where it may (LAB_REQUIRE_DOCKER=1 or
LAB_ENGINE_RESTART=1), because it interrupts every container on the engine for a few seconds."""
import os
import subprocess
import time

import pytest
import yaml

from abiquo_lab.labspec import STACKS_DIR, load_stack, read_stack_config
from abiquo_lab.plan import build_plan
from labctl.live import cluster, engine, verify

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.restarts_engine,
              pytest.mark.skipif(os.environ.get("LAB_REQUIRE_DOCKER") != "1" and os.environ.get("LAB_ENGINE_RESTART") != "1",
                                 reason="restarts the Docker daemon: CI, or LAB_ENGINE_RESTART=1")]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _restart_daemon(client):
    subprocess.run(["pkill", "-TERM", "-x", "dockerd"], check=False)
    deadline = time.monotonic() + 60
    while subprocess.run(["pgrep", "-x", "dockerd"], capture_output=True).returncode == 0:
        assert time.monotonic() < deadline, "dockerd did not stop"
        time.sleep(0.5)
    done = subprocess.run(["bash", os.path.join(ROOT, "scripts", "ensure-docker.sh")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-500:]
    client.ping()


def test_a_lab_comes_back_healthy_and_verified_after_the_daemon_restarts(docker_client, tmp_path):
    stack = "t-restart"
    config = {**read_stack_config("docker-distributed", STACKS_DIR), "name": "trst", "address_pool": "10.184.0.0/16",
              "docker": {"https_port": 24443, "http_port": 24080}}
    (tmp_path / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump({"config": {"abiquo-lab:lab": config}}))
    plan = build_plan(load_stack(stack, stacks_dir=tmp_path))
    engine.teardown(docker_client, lab=plan.lab)
    recording = engine.record_for_engine(stack, stacks_dir=tmp_path)
    try:
        engine.Engine(docker_client).realize(recording)
        _restart_daemon(docker_client)
        engine.Engine(docker_client).wait_healthy(recording.by_type(engine.CONTAINER), timeout=240)
        assert all(c.ok for c in cluster.settle(docker_client, plan, timeout=60))
        failed = [o for o in verify.Verifier(docker_client, plan).run() if o.failed]
        assert not failed, [f"{o.ids} {o.src}->{o.dst} {o.port}: {o.detail}" for o in failed]
        from components.nodes import host_allow_rules
        assert verify.allowlist_drift(docker_client, plan, lambda host: host_allow_rules(plan, host)) == []
    finally:
        engine.teardown(docker_client, lab=plan.lab)
