"""Fuzzing stack config: generated bad configs end in LabConfigError, never a traceback of another kind."""
from hypothesis import HealthCheck, given, settings, strategies as st

from abiquo_lab.plan import build_plan
from abiquo_lab.labspec import CheckedSpec, LabConfigError, check_spec
from conftest import base_config

KEYS = ["name", "backend", "layout", "version", "nodes", "colocate", "datacenters", "regions", "switches", "address_pool",
        "zone_prefix", "subnets", "owner", "ttl", "docker", "aws", "bogus"]
SUBKEYS = {"nodes": ["api", "ui", "datanode", "frontend", "monitoring", "x"],
           "switches": ["zookeeper", "m", "hypervisor", "redis_port", "monitoring", "nope"],
           "colocate": ["ui_with_api", "mysql_on_datanode", "zz"], "docker": ["images", "https_port", "publish_address"],
           "subnets": ["core", "data", "dc-dc1", "cloud-x"]}
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-5, 70000), st.floats(allow_nan=True),
                    st.text(max_size=12), st.sampled_from(["ha", "docker", "10.0.0.0/8", "4h", "kvm", "dc1", "", "0"]))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=6), inner, max_size=3)), max_leaves=6)
@st.composite
def mutated(draw):
    config = base_config(layout=draw(st.sampled_from(["monolithic", "distributed", "ha"])))
    for _ in range(draw(st.integers(1, 3))):
        key = draw(st.sampled_from(KEYS))
        if key in SUBKEYS and draw(st.booleans()):
            config[key] = {draw(st.sampled_from(SUBKEYS[key])): draw(VALUES)}
        elif draw(st.booleans()):
            config.pop(key, None)
        else:
            config[key] = draw(VALUES)
    return config


def test_bad_configs_end_in_the_projects_error():
    """1,200 generated configs: each is rejected with LabConfigError (every problem with a field path) or accepted
    and plans; at least 1,000 must be rejections. One test, so the count never depends on which tests ran before."""
    counts = {"rejected": 0, "accepted": 0}

    @settings(max_examples=1200, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(mutated())
    def one(config):
        try:
            checked = check_spec(config)
        except LabConfigError as exc:
            counts["rejected"] += 1
            assert exc.problems and all(p.path.startswith(("lab", "stack", "config")) for p in exc.problems)
            return
        counts["accepted"] += 1
        assert isinstance(checked, CheckedSpec)
        build_plan(checked)          # a config that passes must plan

    one()
    assert counts["rejected"] >= 1000, counts
