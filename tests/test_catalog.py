"""The catalog loads, covers every row of the spec, and a broken catalog fails naming the row and the field."""
import copy
import csv
from pathlib import Path

import pytest
import yaml

from abiquo_lab.catalog import CATALOG_FILE, CatalogError, UnknownNameError, load_catalog

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
