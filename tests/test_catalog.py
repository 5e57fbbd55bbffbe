"""The catalog loads, covers every row of the spec, and a broken catalog fails naming the row and the field."""
import copy
import csv
from pathlib import Path

import pytest
import yaml

from abiquo_lab.catalog import CATALOG_FILE, CatalogError, UnknownNameError, load_catalog
from abiquo_lab.labspec import LabConfigError

SPEC_CSV = Path(__file__).resolve().parents[2] / "shared" / "spec" / "abiquo-connections.csv"
EXPECTED_IDS = [f"A{i:02d}" for i in range(1, 50) if i != 17] + [f"B{i:02d}" for i in range(1, 27)]


def raw():
    return yaml.safe_load(CATALOG_FILE.read_text())


def test_every_spec_row_is_encoded_or_excluded(catalog):
    assert [c.id for c in catalog.connections] == EXPECTED_IDS
    for row in catalog.connections:
        assert (row.excluded is None) == bool(row.edges), row.id
    assert {c.id for c in catalog.excluded} == {"A44", "B23", "B25"}
    assert all(len(c.excluded) > 20 for c in catalog.excluded)


@pytest.mark.skipif(not SPEC_CSV.exists(), reason="the spec folder (../shared/spec) is not beside this checkout")
def test_doc_text_is_verbatim_from_the_spec(catalog):
    rows = {r["id"]: r for r in csv.DictReader(SPEC_CSV.open())}
    assert set(rows) == {c.id for c in catalog.connections}
    for row in catalog.connections:
        spec = rows[row.id]
        assert (row.doc.from_, row.doc.to, row.doc.port, row.doc.proto) == (spec["from"], spec["to"], spec["port"], spec["proto"])
        assert row.purpose == spec["purpose"] and row.evidence == spec["evidence"]
        assert row.sources == [s.strip() for s in spec["sources"].split(",")]


def test_required_flags_follow_the_spec_wording(catalog):
    for row in catalog.encoded:
        words = row.doc.req_opt.lower()
        if words.startswith("optional") or words == "legacy":
            assert row.required is False, row.id
        if words.startswith("required") and "if" not in words:
            assert row.required is True, row.id


def test_every_source_key_resolves(catalog):
    keys = {k for c in catalog.connections for k in c.sources} | {k for r in catalog.roles for k in r.sources}
    assert keys <= set(catalog.sources)


def test_role_registry_answers_aliases_and_lists_valid_names(catalog):
    assert catalog.role("LB").name == "frontend"
    assert catalog.role("Services").name == "datanode"
    assert catalog.role("v2v").name == "bpm"
    with pytest.raises(UnknownNameError) as err:
        catalog.role("rabbit")
    assert str(err.value).startswith("unknown role 'rabbit'; valid roles: api, bpm, cloud, datanode, dhcp, frontend,")


def test_unknown_row_lists_valid_ids(catalog):
    with pytest.raises(UnknownNameError, match=r"unknown row 'A17'; valid rows: A01, A02"):
        catalog.connection("A17")


def _broken(mutate):
    data = raw()
    mutate(data)
    with pytest.raises(CatalogError) as err:
        load_catalog(data)
    return str(err.value)


def _row(data, row_id):
    return next(r for r in data["connections"] if r["id"] == row_id)


def test_unknown_role_in_an_edge_names_row_and_field():
    msg = _broken(lambda d: _row(d, "A13")["edges"][0].update({"to": "rabbitmq"}))
    assert "connections[A13].edges[0].to: unknown role 'rabbitmq'; valid roles: api," in msg


def test_bad_port_names_row_and_field():
    msg = _broken(lambda d: _row(d, "A36")["edges"][0].update({"ports": [2049, "70000"]}))
    assert "connections[A36].edges[0].ports" in msg and "'70000' out of range 1-65535" in msg


def test_unknown_name_in_condition_names_row_and_field():
    msg = _broken(lambda d: _row(d, "A11")["edges"][0].update({"when": "zookeper"}))
    assert "connections[A11].edges[0].when: unknown name(s) zookeper in 'zookeper'" in msg


def test_encoded_row_needs_required_flag():
    msg = _broken(lambda d: _row(d, "A02").pop("required"))
    assert "connections[A02]: Value error, an encoded row needs edges and required" in msg


def test_duplicate_row_id_is_reported():
    def dup(d):
        d["connections"].append(copy.deepcopy(_row(d, "A02")))
    assert "connections: duplicate 'A02'" in _broken(dup)


def test_unknown_port_switch_is_reported():
    msg = _broken(lambda d: _row(d, "A14")["edges"][0].update({"ports": ["$redis_prot"]}))
    assert "connections[A14].edges[0].ports: $redis_prot is not an int switch" in msg


def test_unsafe_expression_is_rejected():
    msg = _broken(lambda d: _row(d, "A11")["edges"][0].update({"when": "__import__('os')"}))
    assert "connections[A11].edges[0].when: Call is not allowed" in msg


# ---- a role's runtime is data, and the catalog holds itself to it at load ---------------------------------------
def _role(data, name):
    return next(r for r in data["roles"] if r["name"] == name)


def _service(data, role, name):
    return next(s for s in _role(data, role)["services"] if s["name"] == name)


def test_an_edge_port_the_destination_does_not_serve_names_row_and_field():
    msg = _broken(lambda d: _row(d, "A13")["edges"][0].update({"ports": [5673]}))
    assert ("connections[A13].edges[0].ports: 5673/tcp not served by role 'datanode'; add it to a service of the role "
            "(it serves ") in msg


def test_an_edge_port_served_by_another_protocol_is_not_served():
    msg = _broken(lambda d: _row(d, "A13")["edges"][0].update({"protocols": ["udp"]}))
    assert "connections[A13].edges[0].ports: 5672/udp not served by role 'datanode'" in msg


def test_a_switch_port_must_be_served_as_the_same_switch():
    msg = _broken(lambda d: _service(d, "datanode", "redis").update({"ports": ["6379/tcp"]}))
    assert "connections[A14].edges[0].ports: $redis_port/tcp not served by role 'datanode'" in msg


def test_every_edge_port_of_the_shipped_catalog_is_served(catalog):
    for row in catalog.encoded:
        for edge in row.edges:
            role = catalog.role(edge.to)
            if not role.external:
                served = set(role.served())
                assert all((proto, str(p)) in served for p in edge.ports for proto in edge.protocols), (row.id, edge.to)


def test_a_layout_placing_an_unknown_role_names_layout_and_field():
    msg = _broken(lambda d: d["layouts"]["ha"]["hosts"][0]["roles"].append("balancer"))
    assert "layouts.ha.hosts[lb].roles: unknown role 'balancer'; valid roles: api," in msg


def test_layouts_must_count_the_same_node_kinds():
    msg = _broken(lambda d: d["layouts"]["ha"]["nodes"].pop("monitoring"))
    assert "layouts.ha.nodes: must count the same node kinds as the other layouts" in msg


def test_a_host_count_must_be_a_node_kind_of_the_layout():
    msg = _broken(lambda d: d["layouts"]["ha"]["hosts"][0].update({"count": "lb_nodes"}))
    assert "layouts.ha.hosts[lb].count: 'lb_nodes' is neither a number from 1 to 16 nor one of api_nodes," in msg


def test_a_node_default_outside_its_bounds_is_rejected():
    msg = _broken(lambda d: d["layouts"]["ha"]["nodes"]["api"].update({"default": 1}))
    assert "layouts.ha.nodes.api: Value error, default 1 is outside min 2" in msg


def test_held_ports_must_be_served_and_started():
    msg = _broken(lambda d: _service(d, "datanode", "redis").update({"holds": ["6380/tcp"]}))
    assert "roles[datanode].services[redis]: Value error, holds 6380/tcp, which ports does not list" in msg
    msg = _broken(lambda d: _service(d, "datanode", "redis").pop("start"))
    assert "roles[datanode].services[redis]: Value error, holds needs start" in msg


def test_a_probe_client_must_be_known_and_for_a_held_port():
    msg = _broken(lambda d: _service(d, "datanode", "redis")["clients"].update({"6379/tcp": "memcache"}))
    assert "roles[datanode].services[redis].clients.6379/tcp: Input should be 'agent'" in msg
    msg = _broken(lambda d: _service(d, "datanode", "rabbitmq")["clients"].update({"35672/tcp": "tcp"}))
    assert "clients for 35672/tcp, which the service does not hold" in msg


def test_a_public_role_says_how_each_backend_exposes_it():
    msg = _broken(lambda d: _role(d, "frontend").pop("exposure"))
    assert "roles[frontend]: Value error, a public role says how each backend exposes it" in msg
    msg = _broken(lambda d: _role(d, "websockify")["exposure"].update({"aws": "floating-ip"}))
    assert "roles[websockify].exposure.aws: Input should be 'published' or 'load-balancer'" in msg


def test_capabilities_are_named_one_by_one():
    msg = _broken(lambda d: _role(d, "nfs").update({"capabilities": ["ALL"]}))
    assert "roles[nfs].capabilities: Value error, ALL: name capabilities one by one" in msg


def test_a_constraint_names_only_known_facts_and_switches():
    msg = _broken(lambda d: d["constraints"].append({"when": "api_count > 1", "field": "nodes.api", "message": "x"}))
    assert f"constraints[{len(raw()['constraints'])}].when: unknown name(s) api_count in 'api_count > 1'" in msg


def test_runtime_lookups(catalog):
    assert catalog.node_kinds == ["frontend", "ui", "api", "datanode", "monitoring"]
    assert {"ui_with_api", "api_nodes", "datanode_cluster", "version"} <= catalog.fact_names
    assert [r.name for r in catalog.roles if r.exposure.get("aws") == "load-balancer"] == ["frontend"]
    ports = catalog.datastore_ports()
    assert ports[("tcp", 3306)] == "mysql" and ports[("tcp", 6379)] == "redis" and ports[("udp", 2049)] == "nfs"
    assert ("tcp", 443) not in ports and ("tcp", 8009) not in ports


@pytest.mark.parametrize("mutate, words", [
    (lambda d: d["constraints"][0].update({"when": "layout > 1"}), "constraints[0].when: layout holds one of monolithic, distributed, ha: compare it with == or !="),
    (lambda d: d["constraints"][0].update({"when": "version < 'abc'"}), "not a version: 'abc'"),
    (lambda d: _row(d, "A11")["edges"][0].update({"when": "hypervisor == 'kvmm'"}), "'kvmm' is never a value of it"),
    (lambda d: _row(d, "A11")["edges"][0].update({"when": "api_nodes"}), "'api_nodes' is not a condition"),
    (lambda d: _row(d, "A11")["edges"][0].update({"when": "api_nodes > '1'"}), "comparing an int with a str"),
    (lambda d: d["constraints"][0].update({"message": "needs {zk_nodes}"}), "constraints[0].message: unknown name(s) zk_nodes"),
    (lambda d: next(s for s in d["switches"] if s["name"] == "redis_port").update({"default": "six"}),
     "switches[redis_port].default: 'six' is not a port number"),
    (lambda d: next(s for s in d["switches"] if s["name"] == "redis_port").update({"default": 70000}), "70000 is not a port number"),
    (lambda d: next(s for s in d["switches"] if s["name"] == "monitoring").update({"default": 5}),
     "switches[monitoring].default: 5 is neither true, false nor a condition"),
    (lambda d: d["layouts"]["ha"]["hosts"][0].update({"count": "0"}), "layouts.ha.hosts[lb].count: '0' is neither a number from 1 to 16"),
    (lambda d: d["layouts"]["ha"]["hosts"][0].update({"count": "\u00b2"}), "is neither a number from 1 to 16"),
    (lambda d: d["layouts"]["ha"]["hosts"][0].update({"count": "40"}), "'40' is neither a number from 1 to 16"),
    (lambda d: _row(d, "A02")["edges"][0].update({"protocols": []}), "an edge needs at least one protocol"),
    (lambda d: d["layouts"]["distributed"]["hosts"].append(dict(d["layouts"]["distributed"]["hosts"][4])),
     "layouts.distributed.hosts: duplicate 'rs'"),
    (lambda d: d["zones"].append(dict(d["zones"][0])), "zones: duplicate 'frontend'"),
    (lambda d: d["colocations"].append(dict(d["colocations"][0])), "colocations: duplicate 'ui_with_api'"),
    (lambda d: _role(d, "datanode")["services"].append(dict(_role(d, "datanode")["services"][0])),
     "roles[datanode].services: duplicate 'redis'"),
    (lambda d: d["layouts"]["distributed"]["hosts"][0]["roles"].append("user"),
     "layouts.distributed.hosts[server].roles: 'user' is outside the lab"),
    (lambda d: d["layouts"]["distributed"]["hosts"][4].update({"zone": "core"}),
     "layouts.distributed.hosts[rs].zone: zone 'core' is global, so the hosts must be global (no per)"),
    (lambda d: _role(d, "m").update({"frontend_path": "/api"}), "frontend paths: duplicate '/api'"),
    (lambda d: _role(d, "m").update({"frontend_path": "m"}), "roles[m].frontend_path: 'm' must start with '/'"),
    (lambda d: d["layouts"]["ha"].update({"sources": ["S99"]}), "layouts.ha.sources: unknown source key 'S99'"),
    (lambda d: _role(d, "nfs").update({"capabilities": ["CAP_SYS_MODULE"]}), "CAP_SYS_MODULE: name capabilities one by one"),
])
def test_the_catalog_refuses_what_would_mislead_a_later_stage(mutate, words):
    assert words in _broken(mutate)


# ---- the documented matrix, spoken faithfully ---------------------------------------------------------------
def _plan(**overrides):
    from abiquo_lab.labspec import check_spec
    from abiquo_lab.plan import build_plan
    from conftest import base_config
    return build_plan(check_spec(base_config(**overrides)))


def _ids(plan, row_id):
    return [f for f in plan.flows if f.id == row_id]


def test_a22_is_optional_and_only_in_the_distributed_layout_by_default(catalog):
    row = catalog.connection("A22")
    assert row.required is False and "distributed scalable" in row.doc.condition
    distributed = _ids(_plan(), "A22")
    assert distributed and all(not f.required for f in distributed)
    assert {(f.src_role, f.dst_role, f.port) for f in distributed} == {(s, "api", p) for s in ("rs", "bpm") for p in (8009, 8010)}
    assert _ids(_plan(layout="ha", datacenters=["dc1", "dc2"]), "A22") == []
    assert _ids(_plan(layout="monolithic"), "A22") == []          # one server: RS and API share the host


def test_a22_can_still_be_asked_for_outside_the_distributed_layout():
    asked = _ids(_plan(layout="ha", switches={"rs_to_server": True}), "A22")
    assert len(asked) == 2 * 2 * 2 and all(not f.required for f in asked)      # rs, bpm x 2 APIs x 8009/8010
    assert _ids(_plan(switches={"rs_to_server": False}), "A22") == []


def _routes(plan, path):
    return [(h.name, r.targets) for h in plan.hosts for r in h.routes if r.path == path]


@pytest.mark.parametrize("layout", ["monolithic", "distributed", "ha"])
def test_m_is_public_only_when_its_public_access_is_switched_on(layout):
    private = _plan(layout=layout)
    assert _routes(private, "/m") == []
    assert not [f for f in private.flows if f.id in ("A04", "A10", "B18")]
    assert [f for f in private.flows if f.id == "B17"], "M itself is still there (it consumes events)"
    public = _plan(layout=layout, switches={"m_public": True})
    assert _routes(public, "/m") and all(targets for _, targets in _routes(public, "/m"))
    assert [f for f in public.flows if f.id == "A04" and f.public]


def test_m_public_without_m_is_refused_and_plans_no_route():
    with pytest.raises(LabConfigError) as err:
        _plan(version="6.2", switches={"m_public": True})
    assert "lab.switches.m_public" in str(err.value)
    plan = _plan(version="6.2")
    assert _routes(plan, "/m") == [] and not [f for f in plan.flows if f.id in ("A04", "A10", "B18")]


def _flows(plan, row_id):
    return {(f.src, f.dst, f.port, f.protocol) for f in plan.flows if f.id == row_id}


def test_b01_zookeeper_peers_only_with_three_datanodes_or_more(catalog):
    assert "datanode_nodes >= 3" in catalog.connection("B01").edges[0].when
    assert _flows(_plan(layout="ha"), "B01") and not _flows(_plan(layout="ha", nodes={"datanode": 1}), "B01")


def test_a49_needs_monitoring_as_the_spec_writes():
    assert not _flows(_plan(switches={"collectd_metrics": True}), "A49")
    assert _flows(_plan(switches={"collectd_metrics": True, "monitoring": True}), "A49")


def test_b11_m_is_an_amqp_client_too(catalog):
    assert {(e.from_, e.when) for e in catalog.connection("B11").edges} >= {("m", "m and rabbitmq_tls")}
    plan = _plan(switches={"rabbitmq_tls": True})
    m_hosts = {h.name for h in plan.hosts_with("m")}
    assert m_hosts and m_hosts <= {f.src for f in plan.flows if f.id == "B11" and f.port == 5671}


def test_a15_a46_follow_the_api_location_scheme():
    plan = _plan(version="5.4", switches={"api_location_scheme": "https", "novnc": True})
    for row in ("A15", "A46"):
        assert {f.port for f in plan.flows if f.id == row} == {443}, row


def test_an_http_api_location_is_encoded_but_refused_by_the_lab(catalog):
    """The doc's http reading (port 80) stays in the catalog, and the lab refuses it: its frontends only redirect 80."""
    for row in ("A15", "A46"):
        edges = [e for e in catalog.connection(row).edges if "api_location_scheme == 'http'" in (e.when or "")]
        assert edges and all(e.ports == ["80"] or e.ports == [80] for e in edges), row
    with pytest.raises(LabConfigError) as err:
        _plan(version="5.4", switches={"api_location_scheme": "http", "novnc": True})
    assert "lab.switches.api_location_scheme" in str(err.value) and "allowed in this lab: https" in str(err.value)


def test_a44_says_why_it_is_not_encoded(catalog):
    row = catalog.connection("A44")
    assert row.excluded.startswith("legacy") and "extra_flows" in row.excluded and row.doc.req_opt == "legacy"


def test_monitoring_proxy_ports_are_switches():
    cluster = _plan(layout="ha", switches={"monitoring": True})
    assert {(f.dst, f.port) for f in cluster.flows if f.id == "A33" and f.dst_kind == "vip"} == {("monitoring-vip", 8080)}
    assert _flows(_plan(layout="ha", switches={"monitoring": True, "kairosdb_port": 18080}), "A33") >= {
        ("mon-1", "monitoring-vip", 18080, "tcp"), ("mon-1", "mon-2", 8080, "tcp")}
    assert {f.id for f in cluster.flows if f.port in (36638, 36639) and f.src_role == "api"} == {"A29"}
    direct = _plan(layout="ha", switches={"monitoring": True, "emmett_direct": True})
    assert {f.id for f in direct.flows if f.port in (36638, 36639) and f.src_role == "api"} == {"A32"}
    single = _plan(switches={"monitoring": True})
    assert {f.id for f in single.flows if f.src_role in ("api", "rs") and f.dst_role == "monitoring"} == {"A32"}
    assert {f.id for f in _plan(switches={"monitoring": True, "emmett_direct": False}).flows
            if f.src_role in ("api", "rs") and f.dst_role == "monitoring"} == {"A29", "A30"}


def test_prs_details_are_switches():
    plan = _plan(regions=["eu"])
    assert {f.port for f in plan.flows if f.id == "A20"} == {8009}
    assert {f.port for f in _plan(regions=["eu"], switches={"cpp_port": 8443}).flows if f.id == "A20"} == {8009, 8443}
    assert _flows(plan, "B19") and not _flows(_plan(regions=["eu"], switches={"prs_like_rs": False}), "B19")


def test_rabbitmq_on_the_server_moves_every_amqp_client_row():
    plan = _plan(regions=["eu"], switches={"rabbitmq_host": "server"})
    amqp = [f for f in plan.flows if f.port == 5672 and not f.local]
    assert amqp and {f.dst for f in amqp} == {"server"}
    assert {f.id for f in amqp} == {"A24", "A25", "B19"}             # A13/B17 are the server's own (local)
    assert "rabbitmq" in plan.host("server").runtime.start
    assert "rabbitmq" not in plan.host("datanode-1").runtime.start
    assert "tcp/5672" not in plan.host("datanode-1").runtime.holds
    default = _plan(regions=["eu"])
    assert {f.dst for f in default.flows if f.port == 5672} == {"datanode-1"}
    assert "rabbitmq" not in default.host("server").runtime.start


@pytest.mark.parametrize("overrides, words", [
    ({"layout": "ha", "switches": {"rabbitmq_host": "server"}},
     "lab.switches.rabbitmq_host: RabbitMQ on the server is the 'classic' distributed layout (S3, open question 4); "
     "layout ha keeps it on the datanodes"),
    ({"switches": {"rabbitmq_host": "server", "rabbitmq_tls": True}}, "lab.switches.rabbitmq_tls: AMQP over TLS (B11)"),
])
def test_rabbitmq_on_the_server_is_refused_where_the_docs_do_not_put_it(overrides, words):
    from abiquo_lab.labspec import LabConfigError
    with pytest.raises(LabConfigError) as err:
        _plan(**overrides)
    assert words in str(err.value)


def test_labctl_switches_lists_every_switch_and_colocation_with_evidence_and_rows(catalog, capsys):
    import json as json_module
    from labctl.cli import main
    assert main(["switches", "-f", "json"]) == 0
    listed = {row["name"]: row for row in json_module.loads(capsys.readouterr().out)}
    assert set(listed) == {s.name for s in catalog.switches} | {c.name for c in catalog.colocations}
    assert all(row["evidence"] and row["kind"] in ("switch", "colocation") and "default" in row for row in listed.values())
    assert listed["rs_to_server"]["rows"] == ["A22"] and listed["m_public"]["rows"] == ["A04", "A10", "B18"]
    assert listed["rabbitmq_host"]["question"] == 4 and "A24" in listed["rabbitmq_host"]["rows"]
    assert listed["mysql_on_datanode"]["kind"] == "colocation" and "A12" in listed["mysql_on_datanode"]["rows"]
    assert listed["ui_with_api"]["rows"] == []                  # it changes which hosts carry the roles only
    assert {"A26", "A33"} <= set(listed["monitoring"]["rows"])  # through the role it enables
    assert main(["switches"]) == 0
    header = capsys.readouterr().out.splitlines()[0].split()
    assert header == ["name", "kind", "type", "default", "allowed", "question", "evidence", "rows", "description"]


def test_every_open_question_the_catalog_answers_has_a_switch_with_rows(catalog):
    questions = {s.question for s in catalog.switches if s.question} | {c.question for c in catalog.colocations if c.question}
    assert {2, 3, 4, 6, 7, 8, 9, 14, 17} <= questions
    assert all(catalog.rows_changed_by(s.name) for s in catalog.switches)


def test_every_shipped_switch_and_colocation_names_its_evidence(catalog):
    assert [s.name for s in catalog.switches if not s.evidence] == []
    assert [c.name for c in catalog.colocations if not c.evidence] == []


def test_an_empty_evidence_is_refused():
    assert "colocations[ui_with_api].evidence: String should have at least 1 character" in _broken(
        lambda d: d["colocations"][0].update({"evidence": ""}))
