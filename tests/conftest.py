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


def base_config(**overrides):
    """A small valid lab config to start bad-input tests from."""
    config = {"name": "t", "backend": "docker", "layout": "distributed", "datacenters": ["dc1"],
              "address_pool": "10.77.0.0/16"}
    config.update(overrides)
    return config
