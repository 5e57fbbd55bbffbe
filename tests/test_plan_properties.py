"""Property tests over random valid specs: required rows become flows between the right hosts, per-datacenter
rows stay in their datacenter, addresses are sound, and the plan is deterministic."""
import ipaddress

from hypothesis import HealthCheck, given, settings, strategies as st

from abiquo_lab.catalog import default_catalog, expr
from abiquo_lab.plan import build_plan
from abiquo_lab.labspec import check_spec

CATALOG = default_catalog()
SITE = st.from_regex(r"[a-z][a-z0-9]{0,5}", fullmatch=True)


@st.composite
def valid_specs(draw):
    layout = draw(st.sampled_from(["monolithic", "distributed", "ha"]))
    dcs = draw(st.lists(SITE, min_size=1, max_size=1 if layout == "monolithic" else 3, unique=True))
    regions = draw(st.lists(SITE.map(lambda s: "r" + s), max_size=2, unique=True))
    config = {"name": "p", "backend": draw(st.sampled_from(["docker", "aws"])), "layout": layout,
              "version": draw(st.sampled_from(["5.1", "6.0", "6.1", "6.2"])), "datacenters": dcs, "regions": regions,
              "address_pool": "10.60.0.0/16",
              "colocate": {k: draw(st.booleans()) for k in ("mysql_on_datanode", "dhcp_on_rs", "redis_on_rs")}}
    if config["backend"] == "aws":
        config["aws"] = {"certificate_arn": "arn:aws:acm:eu-west-1:123456789012:certificate/abc"}
    if layout == "ha":
        config["nodes"] = {"frontend": draw(st.integers(1, 3)), "ui": draw(st.integers(1, 3)),
                           "api": draw(st.integers(2, 4)), "datanode": draw(st.sampled_from([1, 3, 5])), "monitoring": draw(st.integers(1, 3))}
    switches = {"monitoring": draw(st.booleans()), "hypervisor": draw(st.sampled_from(["none", "kvm", "vmware"])),
                "dhcp": draw(st.sampled_from(["none", "isc", "dnsmasq"])), "external_storage": draw(st.booleans()),
                "rabbitmq_via_vip": draw(st.booleans()), "api_behind": draw(st.sampled_from(["lb", "ui"])),
                "redis_port": draw(st.sampled_from([6379, 6380])), "rs_uses_zookeeper": draw(st.booleans())}
    if config["version"] < "6.0" and config["backend"] == "docker":     # websockify is public only where published
        switches["novnc"] = draw(st.booleans())
    config["switches"] = switches
    return config


def _same_site(src_role, dst_role, src, dst):
    return all(not (src_role.scope == site == dst_role.scope) or getattr(src, site) == getattr(dst, site)
               for site in ("datacenter", "region"))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_specs())
def test_required_rows_become_flows_between_the_right_hosts(config):
    checked = check_spec(config)
    plan = build_plan(checked)
    flows = {(f.id, f.src, f.dst) for f in plan.flows}
    vip_of = {v.role: v.name for v in plan.vips}
    for row in CATALOG.encoded:
        if not row.required:
            continue
        for edge in row.edges:
            if edge.when and not expr.evaluate(edge.when, checked.facts):
                continue
            src_role, dst_role = CATALOG.role(edge.from_), CATALOG.role(edge.to)
            if src_role.external or dst_role.external:
                continue
            via = edge.via_when and expr.evaluate(edge.via_when, checked.facts) and dst_role.name in vip_of
            for src in plan.hosts_with(src_role.name):
                for dst in plan.hosts_with(dst_role.name):
                    same = src.name == dst.name
                    if (edge.placement == "same_host" and not same) or (edge.placement == "cross_host" and same):
                        continue
                    if via:
                        assert (row.id, src.name, vip_of[dst_role.name]) in flows, (row.id, src.name)
                    elif _same_site(src_role, dst_role, src, dst):
                        assert (row.id, src.name, dst.name) in flows, (row.id, src.name, dst.name)


@settings(max_examples=150, deadline=None)
@given(valid_specs())
def test_no_flow_crosses_datacenters_unless_a_global_role_is_involved(config):
    plan = build_plan(check_spec(config))
    hosts = {h.name: h for h in plan.hosts}
    for f in plan.flows:
        src, dst = hosts.get(f.src), hosts.get(f.dst)
        if src and dst and src.datacenter and dst.datacenter and src.datacenter != dst.datacenter:
            scopes = {CATALOG.role(f.src_role).scope, CATALOG.role(f.dst_role).scope}
            assert "global" in scopes, f


@settings(max_examples=100, deadline=None)
@given(valid_specs())
def test_plan_is_deterministic_and_addresses_are_sound(config):
    first, second = build_plan(check_spec(config)), build_plan(check_spec(dict(reversed(list(config.items())))))
    assert first == second
    cidrs = {z.name: ipaddress.ip_network(z.cidr) for z in first.zones}
    seen = set()
    for host in first.hosts:
        assert host.interfaces[host.zone] == host.address
        for zone, address in host.interfaces.items():
            assert ipaddress.ip_address(address) in cidrs[zone]
            assert address not in seen
            seen.add(address)
    for vip in first.vips:
        assert vip.address not in seen
    for f in first.flows:
        assert f.local == (f.src == f.dst)
        assert f.public == (f.src == "@user")
