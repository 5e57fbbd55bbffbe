"""Bad lab specs end in one LabConfigError whose lines name the field and the allowed values (exact text)."""
import pytest

from abiquo_lab.labspec import LabConfigError, check_spec, load_stack
from conftest import base_config

SWITCHES = ("aim_port, am_direct, api_behind, api_location_scheme, cassandra_extra_ports, collectd_metrics, cpp_port, dhcp, "
            "emmett_direct, external_storage, guacamole, http_redirect, hypervisor, internet_templates, kairosdb_port, m, m_public, "
            "maxscale_port, monitoring, mysql_direct, novnc, prs_like_rs, rabbitmq_cluster, rabbitmq_host, rabbitmq_tls, "
            "rabbitmq_via_vip, redis_port, rs_to_server, rs_uses_zookeeper, smtp_port, smtp_relay, webmks_direct, zookeeper")
ROLES = "api, bpm, datanode, dhcp, frontend, guacd, hypervisor, m, monitoring, mysql, nfs, prs, rs, storage, ui, websockify"

ACM = "arn:aws:acm:eu-west-1:123456789012:certificate/abc"
CASES = {
    "unknown layout": (base_config(layout="cluster"),
                       ["lab.layout: Input should be 'monolithic', 'distributed' or 'ha' (got 'cluster')"]),
    "unknown backend": (base_config(backend="k8s"), ["lab.backend: Input should be 'docker' or 'aws' (got 'k8s')"]),
    "zero datacenters": (base_config(datacenters=[]),
                         ["lab.datacenters: needs at least one datacenter (each gets RS, BPM and NFS) (got [])"]),
    "API count 0": (base_config(layout="ha", nodes={"api": 0}), ["lab.nodes.api: must be between 1 and 16 (got 0)"]),
    "one API in ha": (base_config(layout="ha", nodes={"api": 1}),
                      ["lab.nodes.api: layout 'ha' needs at least 2 api nodes; use layout 'distributed' for one (got 1)"]),
    "two APIs in distributed": (base_config(nodes={"api": 2}),
                                ["lab.nodes.api: layout 'distributed' has exactly 1 api node(s); use layout 'ha' for more (got 2)"]),
    "ZooKeeper off with 2 APIs": (base_config(layout="ha", switches={"zookeeper": False}),
                                  ["lab.switches.zookeeper: must be true with more than one API node (nodes.api = 2): "
                                   "'any API clustered setup REQUIRES ZooKeeper' (S9, S10)"]),
    "unknown switch": (base_config(switches={"zookeper": True}), [f"lab.switches.zookeper: unknown switch; valid switches: {SWITCHES}"]),
    "enum switch": (base_config(switches={"hypervisor": "xen"}), ["lab.switches.hypervisor: must be one of none, kvm, vmware (got 'xen')"]),
    "switches of other YAML types": (base_config(layout="ha", switches={"monitoring": True, "kairosdb_port": 9090.5,
                                                                      "cpp_port": 8009.0, "m_public": [True], "rabbitmq_host": None}),
                                     ["lab.switches.cpp_port: must be a port number 1-65535 (got 8009.0)",
                                      "lab.switches.kairosdb_port: must be a port number 1-65535 (got 9090.5)",
                                      "lab.switches.m_public: must be true or false (got [True])",
                                      "lab.switches.rabbitmq_host: must be one of datanode, server (got None)"]),
    "bool switch": (base_config(switches={"monitoring": "yes"}), ["lab.switches.monitoring: must be true or false (got 'yes')"]),
    "overlapping address pools": (base_config(subnets={"core": "10.77.0.0/24", "data": "10.77.0.128/25"}),
                                  ["lab.subnets.data: 10.77.0.128/25 overlaps subnets.core (10.77.0.0/24)"]),
    "subnet outside pool": (base_config(subnets={"core": "10.78.0.0/24"}),
                            ["lab.subnets.core: 10.78.0.0/24 is outside the address pool 10.77.0.0/16"]),
    "pool overlaps docker bridge": (base_config(address_pool="172.17.0.0/16"),
                                    ["lab.address_pool: overlaps Docker's default bridge 172.17.0.0/16 (got 172.17.0.0/16)"]),
    "public pool": (base_config(address_pool="8.8.0.0/16"),
                    ["lab.address_pool: must be a private IPv4 range (10/8, 172.16/12, 192.168/16) (got 8.8.0.0/16)"]),
    "pool too small": (base_config(address_pool="10.77.0.0/23"),
                       ["lab.address_pool: 10.77.0.0/23 holds 2 zone networks of /24; this lab needs 5 (use a larger pool or a longer zone_prefix)"]),
    "unknown role": (base_config(docker={"images": {"rabbit": "x"}}), [f"lab.docker.images.rabbit: unknown role; valid roles: {ROLES}"]),
    "unknown setting": (base_config(colour="red"),
                        ["lab.colour: unknown setting; allowed here: name, backend, layout, version, nodes, colocate, datacenters, "
                         "regions, switches, extra_flows, address_pool, zone_prefix, subnets, owner, ttl, docker, aws"]),
    "unknown node kind": (base_config(nodes={"apis": 2}), ["lab.nodes.apis: unknown setting; allowed here: frontend, ui, api, datanode, monitoring"]),
    "bad ttl": (base_config(ttl="4 hours"), ["lab.ttl: '4 hours' is not a duration; use days/hours/minutes like '4h', '90m', '2d', '1h30m'"]),
    "monolithic with two datacenters": (base_config(layout="monolithic", datacenters=["a", "b"]),
                                        ["lab.datacenters: layout 'monolithic' has exactly one datacenter on its server (got 2)"]),
    "other backend's settings": (base_config(aws={"region": "eu-west-1"}),
                                 ["lab.aws: settings for backend 'aws' but backend is 'docker'"]),
    "aws without a certificate": (base_config(backend="aws"), [
        "lab.aws.certificate_arn: required setting is missing: the frontend load balancer's HTTPS listener needs an ACM "
        "certificate ARN (arn:aws:acm:<region>:<account>:certificate/<id>)"]),
    "aws certificate not from ACM": (base_config(backend="aws", aws={"certificate_arn": "arn:aws:iam::1:server-certificate/x"}), [
        "lab.aws.certificate_arn: not an ACM certificate ARN (got 'arn:aws:iam::1:server-certificate/x'); expected "
        "arn:aws:acm:<region>:<account>:certificate/<id>"]),
    "aws bootstrap egress": (base_config(backend="aws", aws={"certificate_arn": ACM, "bootstrap_egress": ["anywhere:443"]}),
                             ["lab.aws.bootstrap_egress[0]: must be CIDR:PORT like '0.0.0.0/0:443' (got 'anywhere:443')"]),
    "aws subnets too small": (base_config(backend="aws", zone_prefix=27, aws={"certificate_arn": ACM, "availability_zones": 3}), [
        "lab.zone_prefix: zone network frontend (10.77.0.0/27) split over 3 availability zones gives /29 subnets; AWS allows "
        "/28 at the smallest: use at most /26 or fewer availability zones"]),
    "M after 6.2": (base_config(version="6.2", switches={"m": True}),
                    ["lab.switches.m: M (outbound API) was removed in 6.2; cannot be true with version 6.2"]),
    "an http API location reaches only the redirect": (base_config(switches={"api_location_scheme": "http"}), [
        "lab.switches.api_location_scheme: 'http' makes M (A15) and websockify (A46) call the API on port 80, where the "
        "lab's frontends (HAProxy, the ALB) only redirect to 443 (A01), so no API call would arrive; allowed in this lab: https"]),
    "M public without M": (base_config(version="6.2", switches={"m_public": True}), [
        "lab.switches.m_public: opens M's public access (/m), but this lab has no M (switches.m is false; M was removed in "
        "6.2); set m_public false"]),
    "noVNC on aws cannot be exposed": (base_config(backend="aws", version="5.4", switches={"novnc": True}, aws={"certificate_arn": ACM}), [
        "lab.switches.novnc: role websockify is public, and backend 'aws' cannot expose role websockify (it can on: "
        "docker); turn it off or use one of those backends"]),
    "unknown colocation": (base_config(colocate={"mysql_on_rs": True}),
                           ["lab.colocate.mysql_on_rs: unknown setting; allowed here: ui_with_api, mysql_on_datanode, dhcp_on_rs, "
                            "redis_on_rs"]),
    "API count differs from UI with ui_with_api": (base_config(layout="ha", colocate={"ui_with_api": True}, nodes={"ui": 3, "api": 2}),
        ["lab.nodes.api: with colocate.ui_with_api every ui node carries api too, so nodes.api must equal nodes.ui (3) or "
         "be unset (got 2)"]),
    "ui_with_api leaves ha one API": (base_config(layout="ha", colocate={"ui_with_api": True}, nodes={"ui": 1}),
        ["lab.nodes.ui: with colocate.ui_with_api the ui nodes are the api nodes, and layout 'ha' needs at least 2 api "
         "nodes (got 1)"]),
    "ttl beyond any clock": (base_config(ttl="9999999999d"), ["lab.ttl: '9999999999d' is longer than a lab may live (365d)"]),
    "a boolean node count": (base_config(nodes={"datanode": True}), ["lab.nodes.datanode: Input should be a valid integer (got True)"]),
    "a number for a colocation": (base_config(colocate={"mysql_on_datanode": 0}),
                                  ["lab.colocate.mysql_on_datanode: Input should be a valid boolean (got 0)"]),
    "not a mapping": (["x"], ["lab: must be a mapping of settings (got list)"]),
    "missing name": ({"backend": "docker", "layout": "ha"}, ["lab.name: required setting is missing"]),
    "datanode cluster without a majority": (base_config(layout="ha", nodes={"datanode": 2}), [
        "lab.nodes.datanode: 2 datanode nodes cannot keep a majority when half of them fail or are cut off (the cluster "
        "has no arbitrator); allowed: 1, 3, 5, 7, 9, 11, 13, 15 (got 2)"]),
    "distributed datanodes without a majority": (base_config(nodes={"datanode": 4}), [
        "lab.nodes.datanode: 4 datanode nodes cannot keep a majority when half of them fail or are cut off (the cluster "
        "has no arbitrator); allowed: 1, 3, 5, 7, 9, 11, 13, 15 (got 4)"]),
    "extra flow: bad port, protocol, no reason": (
        base_config(extra_flows=[{"source": "rs", "destination": "api", "port": "80-70", "protocol": "icmp"}]),
        ["lab.extra_flows[0].port: must be a port 1-65535 or a span 'a-b' (e.g. 8443 or 5900-5999) (got '80-70')",
         "lab.extra_flows[0].protocol: Input should be 'tcp' or 'udp' (got 'icmp')",
         "lab.extra_flows[0].reason: required setting is missing"]),
    "extra flow: a switch port, an empty reason, an unknown key": (
        base_config(extra_flows=[{"source": "rs", "destination": "api", "port": "$redis_port", "protocol": "tcp",
                                  "reason": "  ", "why": "x"}]),
        ["lab.extra_flows[0].port: must be a port 1-65535 or a span 'a-b' (e.g. 8443 or 5900-5999) (got '$redis_port')",
         "lab.extra_flows[0].reason: must say why the stack needs the flow (got '  ')",
         "lab.extra_flows[0].why: unknown setting; allowed here: source, destination, port, protocol, reason"]),
    "extra flow: missing ends, a port past 65535": (
        base_config(extra_flows=[{"port": 70000, "protocol": "udp", "reason": "r"}]),
        ["lab.extra_flows[0].destination: required setting is missing",
         "lab.extra_flows[0].port: must be a port 1-65535 or a span 'a-b' (e.g. 8443 or 5900-5999) (got 70000)",
         "lab.extra_flows[0].source: required setting is missing"]),
    "extra flow: a port of another YAML type": (
        base_config(extra_flows=[{"source": "rs", "destination": "api", "port": p, "protocol": "tcp", "reason": "r"}
                                 for p in (8443.0, True, None, [80, 443])]),
        [f"lab.extra_flows[{i}].port: must be a port 1-65535 or a span 'a-b' (e.g. 8443 or 5900-5999) (got {g})"
         for i, g in enumerate(("8443.0", "True", "None", "[80, 443]"))]),
    "extra flow: a span wider than a vendor's ports": (
        base_config(extra_flows=[{"source": "rs", "destination": "api", "port": "1-65535", "protocol": "tcp", "reason": "r"}]),
        ["lab.extra_flows[0].port: a span opens at most 1000 ports (this one 65535); declare the ports the vendor "
         "documents (got '1-65535')"]),
    "extra flow: a reason of several lines or too long": (
        base_config(extra_flows=[{"source": "rs", "destination": "api", "port": 8443, "protocol": "tcp", "reason": r}
                                 for r in ("ok\n  X9 user -> api 22/tcp public", "x" * 201, "tab\there")]),
        ["lab.extra_flows[0].reason: must be one line of at most 200 printable characters (it is printed in the plan "
         "and its views) (got 'ok\\n  X9 user -> api 22/tcp public')",
         "lab.extra_flows[1].reason: must be one line of at most 200 printable characters (it is printed in the plan "
         f"and its views) (got {'x' * 201!r:.57}...)",
         "lab.extra_flows[2].reason: must be one line of at most 200 printable characters (it is printed in the plan "
         "and its views) (got 'tab\\there')"]),
    "extra flows: too many": (
        base_config(extra_flows=[{"source": "rs", "destination": "api", "port": 20000 + i, "protocol": "tcp", "reason": "r"}
                                 for i in range(33)]),
        ["lab.extra_flows: at most 32 entries (got 33): a stack declares a few vendor ports; a flow many labs need is a "
         "catalog row"]),
    "extra flows: not a list": (base_config(extra_flows={"source": "rs"}),
                                ["lab.extra_flows: Input should be a valid list (got {'source': 'rs'})"]),
    "several problems at once": (base_config(layout="ha", nodes={"api": 0}, datacenters=["dc1", "dc1"], version="6.2", switches={"m": True}),
                                 ["lab.datacenters: duplicate name(s): dc1", "lab.nodes.api: must be between 1 and 16 (got 0)",
                                  "lab.switches.m: M (outbound API) was removed in 6.2; cannot be true with version 6.2"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_spec_gives_exact_messages(case):
    config, expected = CASES[case]
    with pytest.raises(LabConfigError) as err:
        check_spec(config)
    assert [str(p) for p in err.value.problems] == expected
    assert str(err.value).splitlines()[0] == f"invalid lab config ({len(expected)} problem{'s' if len(expected) > 1 else ''}):"


def test_a_zone_network_too_small_for_its_hosts_names_the_setting():
    from abiquo_lab.plan import build_plan
    with pytest.raises(LabConfigError) as err:
        build_plan(check_spec(base_config(layout="ha", zone_prefix=28, nodes={"ui": 6})))
    assert [str(p) for p in err.value.problems] == [
        "lab.zone_prefix: zone network core (10.77.0.16/28) has no free address for ui-6 (9 are kept for the gateway and "
        "virtual IPs); give it a larger subnet (a shorter zone_prefix)"]
    with pytest.raises(LabConfigError, match=r"lab.subnets.core: zone network core \(10.77.200.0/28\) has no free address"):
        build_plan(check_spec(base_config(layout="ha", subnets={"core": "10.77.200.0/28"}, nodes={"ui": 4})))
    build_plan(check_spec(base_config(zone_prefix=28)))          # a distributed lab fits in /28 zone networks


@pytest.mark.parametrize("docker, words", [
    ({"https_port": 8443, "http_port": 8442}, "lab.docker.http_port: lb-2 would publish 80/tcp on 8443, which lb-1 (443/tcp) "
                                              "already publishes; published ports must not overlap"),
    ({"https_port": 8080, "http_port": 8080}, "lab.docker.http_port: lb-1 would publish 80/tcp on 8080, which lb-1 (443/tcp)"),
    ({"https_port": 65535}, "lab.docker.https_port: lb-2 would publish 443/tcp on 65536, past 65535"),
])
def test_published_ports_of_one_lab_never_collide(docker, words):
    from abiquo_lab.plan import build_plan
    with pytest.raises(LabConfigError) as err:
        build_plan(check_spec(base_config(layout="ha", docker=docker)))
    assert any(words in str(p) for p in err.value.problems), err.value.problems


def test_a_published_port_of_another_role_cannot_collide_either():
    from abiquo_lab.plan import build_plan
    with pytest.raises(LabConfigError, match=r"lab.docker: ws would publish 41337/tcp on 41337, which lb-1 \(80/tcp\)"):
        build_plan(check_spec(base_config(layout="ha", version="5.4", switches={"novnc": True}, docker={"http_port": 41337})))


def test_webmks_direct_is_named_as_the_switch_that_asks_for_it():
    with pytest.raises(LabConfigError, match=r"lab.switches.webmks_direct: B16 lets users reach role hypervisor directly"):
        check_spec(base_config(switches={"hypervisor": "vmware", "webmks_direct": True}))


def test_a_public_role_is_accepted_where_its_backend_can_expose_it():
    checked = check_spec(base_config(version="5.4", switches={"novnc": True}))
    assert checked.switches["novnc"] is True


def test_unknown_stack_lists_known_ones(tmp_path):
    (tmp_path / "Pulumi.a.yaml").write_text("config:\n  abiquo-lab:lab: {name: a, backend: docker, layout: distributed}\n")
    with pytest.raises(LabConfigError) as err:
        load_stack("b", stacks_dir=tmp_path)
    assert str(err.value.problems[0]) == f"stack: no stack file Pulumi.b.yaml in {tmp_path}; known stacks: a"


def test_stack_without_lab_key(tmp_path):
    (tmp_path / "Pulumi.a.yaml").write_text("config:\n  aws:region: eu-west-1\n")
    with pytest.raises(LabConfigError) as err:
        load_stack("a", stacks_dir=tmp_path)
    assert str(err.value.problems[0]) == "config.abiquo-lab:lab: missing; the stack file must set the lab settings under this key"


def test_defaults_follow_the_layout():
    checked = check_spec(base_config(layout="ha"))
    assert dict(checked.nodes) == {"frontend": 2, "ui": 2, "api": 2, "datanode": 3, "monitoring": 3}
    assert checked.switches["zookeeper"] is True and checked.switches["m"] is True
    assert check_spec(base_config(version="6.2")).switches["m"] is False
    assert check_spec(base_config()).switches["zookeeper"] is False


@pytest.mark.parametrize("layout, switches, words", [
    ("distributed", {"redis_port": 3306}, "lab.switches.redis_port: 3306/tcp puts redis (A14) on the port mysql already "
                                          "serves on datanode-1; choose another port"),
    ("ha", {"redis_port": 3306}, "lab.switches.redis_port: 3306/tcp puts redis (A14) on the port maxscale already serves "
                                 "on services-vip; choose another port"),
    ("ha", {"maxscale_port": 5672}, "lab.switches.maxscale_port: 5672/tcp puts maxscale (B06) on the port rabbitmq "
                                    "already serves on services-vip; choose another port"),
])
def test_a_switch_that_puts_a_service_on_anothers_port_is_refused(layout, switches, words):
    """No silent clash: one port at one destination, one service (a VIP's listeners included)."""
    from abiquo_lab.plan import build_plan
    with pytest.raises(LabConfigError) as err:
        build_plan(check_spec(base_config(layout=layout, switches=switches)))
    assert words in [str(p) for p in err.value.problems], err.value.problems


def test_services_that_share_a_port_by_design_are_not_clashes():
    """M runs in the API's Tomcat (8009), Galera and MySQL are one MariaDB (3306), Sentinel talks to Redis on 6379:
    the shipped stacks and the defaults plan without a clash."""
    from abiquo_lab.plan import build_plan
    for layout in ("monolithic", "distributed", "ha"):
        build_plan(check_spec(base_config(layout=layout)))
    build_plan(check_spec(base_config(layout="ha", switches={"redis_port": 6380, "maxscale_port": 4006})))


def test_an_unquoted_version_gets_a_hint():
    with pytest.raises(LabConfigError) as err:
        check_spec(base_config(version=6.1))
    assert [str(p) for p in err.value.problems] == [
        "lab.version: write the version in quotes, version: '6.1' (YAML reads an unquoted 6.10 as the number 6.1) "
        "(got the number 6.1)"]


def test_a_key_given_twice_in_a_stack_file_is_refused(tmp_path):
    """YAML keeps the last of two equal keys silently: a setting would vanish; the file and both lines are named."""
    from abiquo_lab.labspec import read_stack_config
    (tmp_path / "Pulumi.twice.yaml").write_text("config:\n  abiquo-lab:lab:\n    name: a\n    layout: ha\n    name: b\n")
    with pytest.raises(LabConfigError) as err:
        read_stack_config("twice", tmp_path)
    assert [str(p) for p in err.value.problems] == [
        "Pulumi.twice.yaml: key 'name' is given twice (lines 3 and 5); keep one"]


@pytest.mark.parametrize("overrides, expected", [
    ({"name": "Lab_1"}, "lab.name: must be lowercase letters, digits and '-', starting with a letter, at most 24 characters (got 'Lab_1')"),
    ({"owner": "Bad Owner!"}, "lab.owner: must be letters, digits and . _ @ -, 1 to 64 characters (no spaces) (got 'Bad Owner!')"),
    ({"docker": {"https_port": True}}, "lab.docker.https_port: Input should be a valid integer (got True)"),
])
def test_name_rules_are_in_words_and_booleans_are_not_numbers(overrides, expected):
    with pytest.raises(LabConfigError) as err:
        check_spec(base_config(**overrides))
    assert [str(p) for p in err.value.problems] == [expected]
