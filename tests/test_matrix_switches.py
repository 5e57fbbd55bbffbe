"""The other readings of the open questions are whole labs: each renders under mocks and the policy pack finds
nothing mandatory (the pack re-derives the same plan from the spec on the Lab component)."""
import copy

import pytest

from abiquo_lab.labspec import read_stack_config
from components.program import main as program
from labctl.check.analyzer import analyze_in_process
from labctl.preview import record_program

CONTAINER = "docker:index/container:Container"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"


def _env(rec, host, key):
    container = next(r for r in rec.by_type(CONTAINER) if r.name.endswith(f"-{host}"))
    return next(e.partition("=")[2] for e in container.inputs["envs"] if e.startswith(f"{key}="))


def _rule(rec, on, port):
    return [r for r in rec.by_type(INGRESS) if f"-ingress-{on}-" in r.name and r.inputs.get("fromPort") == port]


READINGS = [
    ("docker-distributed", {"rabbitmq_host": "server", "rs_to_server": False},
     lambda rec: "rabbitmq" in _env(rec, "server", "LAB_START").split() and "tcp/5672" in _env(rec, "server", "LAB_LISTEN")
     and "rabbitmq" not in _env(rec, "datanode-1", "LAB_START").split()),
    ("aws-distributed", {"rabbitmq_host": "server"},
     lambda rec: _rule(rec, "api", 5672) and not _rule(rec, "datanode", 5672)),
    ("docker-ha", {"m_public": True, "rs_to_server": True},
     lambda rec: "/m" in _env(rec, "ui-1", "LAB_ROUTES") and "A22" in _env(rec, "api-1", "LAB_ALLOW")),
    ("docker-ha", {"monitoring": True, "kairosdb_port": 18080, "emmett_direct": True},
     lambda rec: "18080" in _env(rec, "mon-1", "LAB_VIP_PROXY") and "36638" in _env(rec, "mon-1", "LAB_ALLOW")),
    ("aws-ha", {"monitoring": True, "cpp_port": 8443, "prs_like_rs": False, "m_public": True},
     lambda rec: _rule(rec, "prs", 8443) and not [r for r in rec.by_type(INGRESS) if "from-prs" in r.name]),
]


@pytest.mark.parametrize("stack, switches, shows", READINGS, ids=lambda v: v if isinstance(v, str) else
                         ",".join(v) if isinstance(v, dict) else "")
def test_each_reading_renders_and_checks_clean(stack, switches, shows):
    config = copy.deepcopy(read_stack_config(stack))
    config["switches"] = {**config.get("switches", {}), **switches}
    recording = record_program(stack, config, program, preview=False)
    assert shows(recording)
    assert [v.message for v in analyze_in_process(recording) if v.level == "mandatory"] == []
