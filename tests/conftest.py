import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SHIPPED_STACKS = ["docker-monolithic", "docker-distributed", "docker-ha", "aws-distributed", "aws-ha"]


@pytest.fixture(scope="session")
def catalog():
    from abiquo_lab.catalog import default_catalog
    return default_catalog()


def runtime_env(roles: str, stack: str = "docker-ha") -> dict[str, str]:
    """LAB_START / LAB_REAL / LAB_AJP for a hand-made node of these roles: the catalog's runtime with a shipped stack's
    facts (docker-ha: ZooKeeper on; docker-distributed: off), as the renderer sets them (LAB_AJP: every AJP port of
    the roles; the renderer keeps those the host serves)."""
    from abiquo_lab.catalog import default_catalog
    from abiquo_lab.labspec import load_stack
    from abiquo_lab.plan import host_runtime
    runtime = host_runtime(roles.split(), default_catalog(), load_stack(stack).facts)
    ajp = [port for ports in runtime.services.values() for port, client in ports.items() if client == "ajp"]
    return {"LAB_ROLES": roles, "LAB_START": " ".join(runtime.start), "LAB_REAL": " ".join(runtime.holds),
            "LAB_AJP": " ".join(ajp)}


def base_config(**overrides):
    """A small valid lab config to start bad-input tests from."""
    config = {"name": "t", "backend": "docker", "layout": "distributed", "datacenters": ["dc1"],
              "address_pool": "10.77.0.0/16"}
    config.update(overrides)
    return config


@pytest.fixture(scope="session")
def docker_client():
    """A Docker engine client. Missing engine: a failure when LAB_REQUIRE_DOCKER=1 (CI), else a skip."""
    import docker
    try:
        client = docker.from_env()
        client.ping()
    except Exception as exc:  # noqa: BLE001 - any reason the engine is unreachable
        if os.environ.get("LAB_REQUIRE_DOCKER") == "1":
            pytest.fail(f"Docker engine required (LAB_REQUIRE_DOCKER=1) but unreachable: {exc}")
        pytest.skip(f"no Docker engine: {exc}")
    return client


@pytest.fixture(scope="session")
def node_image(docker_client):
    """The project's node image, built from images/node on the local base image (classic builder)."""
    tag = "abiquo-lab-node:test"
    docker_client.images.build(path=str(ROOT / "images" / "node"), tag=tag, rm=True,
                               buildargs={"BASE_IMAGE": os.environ.get("BASE_IMAGE", "debian:bookworm-slim"), "LAB": "test"},
                               labels={"abiquo-lab.managed": "true", "abiquo-lab.lab": "test"})
    yield tag
    # The suite removes what it made, its image too; LAB_KEEP_IMAGES=1 keeps it. The untagged layers stay as the
    # build cache either way (`docker image prune` clears them), so the next run need not reinstall the packages.
    if os.environ.get("LAB_KEEP_IMAGES") != "1":
        try:
            docker_client.images.remove(tag, force=True, noprune=True)
        except Exception:  # noqa: BLE001 - already gone
            pass
        assert not docker_client.images.list(name="abiquo-lab-node", filters={"label": "abiquo-lab.lab=test"})


def pytest_collection_modifyitems(config, items):
    """Tests that restart the Docker daemon run last: they interrupt every container on the engine."""
    items.sort(key=lambda item: item.get_closest_marker("restarts_engine") is not None)
