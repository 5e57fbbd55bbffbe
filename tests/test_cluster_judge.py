"""labctl verify's judgement of the clusters, from the members' own views (no engine): a whole HA lab passes, and
each ordinary way a cluster can be broken fails the check that names it."""
import copy

import pytest

from abiquo_lab.labspec import load_stack
from abiquo_lab.plan import build_plan
from labctl.live import cluster

PLAN = build_plan(load_stack("docker-ha"))
DN = [h.name for h in PLAN.hosts_with("datanode")]
ADDR = {h.name: h.address for h in PLAN.hosts}
VIP, FVIP = PLAN.vip("services-vip"), PLAN.vip("frontend-vip")


def healthy_views():
    views = {}
    for i, name in enumerate(DN):
        views[name] = {
            "addresses": [ADDR[name]] + ([VIP.address] if i == 0 else []),
            "galera": {"wsrep_cluster_size": "3", "wsrep_ready": "ON", "wsrep_local_state_comment": "Synced",
                       "wsrep_cluster_status": "Primary", "wsrep_cluster_state_uuid": "u1"},
            "redis": {"role": "master" if i == 0 else "slave", "replicas": 2 if i == 0 else 0,
                      "master_host": "" if i == 0 else ADDR[DN[0]], "link": "" if i == 0 else "up"},
            "sentinel_master": ADDR[DN[0]], "sentinel_peers": 2,
            "rabbitmq": [f"rabbit@{n}" for n in DN], "rabbitmq_partitions": {},
            "zookeeper": "leader" if i == 2 else "follower",
            "proxy": {f"{l.check}_{l.port}": {m: ("UP" if l.check != "redis-master" or m == DN[0] else "DOWN") for m in DN}
                      for l in VIP.listeners} if i == 0 else {},
        }
    for i, lb in enumerate(FVIP.members):
        views[lb] = {"addresses": [ADDR[lb]] + ([FVIP.address] if i == 0 else [])}
    return views


def failing(views, down=frozenset()):
    return {c.service for c in cluster.judge(PLAN, views, down) if not c.ok}


def test_a_whole_ha_lab_passes_every_check():
    checks = cluster.judge(PLAN, healthy_views())
    assert {c.service for c in checks} == {"vip:services-vip", "vip:frontend-vip", "proxy:services-vip", "galera", "redis",
                                           "sentinel", "rabbitmq", "zookeeper"}
    assert all(c.ok for c in checks), [c.line() for c in checks]


def _edit(change):
    views = healthy_views()
    change(views)
    return views


@pytest.mark.parametrize("name, change, broken", [
    ("an unreadable member that is not faulted", lambda v: v.update({DN[1]: None}),
     {"galera", "redis", "sentinel", "rabbitmq", "zookeeper", "vip:services-vip", "proxy:services-vip"}),
    ("Galera members non-Primary", lambda v: [v[n]["galera"].update(wsrep_cluster_status="non-Primary") for n in DN], {"galera"}),
    ("two Galera clusters", lambda v: v[DN[2]]["galera"].update(wsrep_cluster_state_uuid="u2"), {"galera"}),
    ("a Galera member still joining", lambda v: v[DN[1]]["galera"].update(wsrep_local_state_comment="Joining"), {"galera"}),
    ("two Redis masters", lambda v: v[DN[1]]["redis"].update(role="master", master_host="", link=""), {"redis", "sentinel"}),
    ("a replica of a non-master", lambda v: v[DN[2]]["redis"].update(master_host=ADDR[DN[1]]), {"redis"}),
    ("a replica whose link is down", lambda v: v[DN[2]]["redis"].update(link="down"), {"redis"}),
    ("a sentinel naming another master", lambda v: v[DN[1]].update(sentinel_master=ADDR[DN[1]]), {"sentinel"}),
    ("a sentinel that sees no peers", lambda v: v[DN[1]].update(sentinel_peers=0), {"sentinel"}),
    ("a member without a Redis view", lambda v: v[DN[1]].pop("redis"), {"redis"}),
    ("a RabbitMQ node outside the cluster", lambda v: v[DN[2]].update(rabbitmq=[f"rabbit@{DN[2]}"]), {"rabbitmq"}),
    ("a RabbitMQ partition", lambda v: v[DN[0]].update(rabbitmq_partitions={f"rabbit@{DN[0]}": [f"rabbit@{DN[2]}"]}), {"rabbitmq"}),
    ("two ZooKeeper leaders", lambda v: v[DN[0]].update(zookeeper="leader"), {"zookeeper"}),
    ("a standalone ZooKeeper", lambda v: v[DN[0]].update(zookeeper="standalone"), {"zookeeper"}),
    ("the VIP on two members", lambda v: v[DN[1]]["addresses"].append(VIP.address), {"vip:services-vip"}),
    ("the VIP on nobody", lambda v: v[DN[0]]["addresses"].remove(VIP.address), {"vip:services-vip"}),
    ("the VIP on a non-member", lambda v: v[FVIP.members[0]]["addresses"].append(VIP.address), {"vip:services-vip"}),
    ("the proxy reaches only its own broker", lambda v: v[DN[0]]["proxy"]["amqp_5672"].update({DN[1]: "DOWN", DN[2]: "DOWN"}),
     {"proxy:services-vip"}),
    ("the proxy sees two Redis masters", lambda v: v[DN[0]]["proxy"]["redis-master_6379"].update({DN[1]: "UP"}),
     {"proxy:services-vip"}),
    ("the proxy has no Galera writer", lambda v: v[DN[0]]["proxy"]["galera_3306"].update({n: "DOWN" for n in DN}),
     {"proxy:services-vip"}),
])
def test_each_broken_cluster_fails_its_check(name, change, broken):
    assert failing(_edit(change)) == broken, name


def test_a_faulted_member_is_left_out_and_the_rest_must_still_be_whole():
    views = healthy_views()
    views[DN[2]] = None                                     # stopped by a fault: the other two must form the cluster
    for n in DN[:2]:
        views[n]["galera"]["wsrep_cluster_size"] = "2"
        views[n]["sentinel_peers"] = 2                     # a sentinel still knows the one that is down
        views[n]["rabbitmq"] = [f"rabbit@{m}" for m in DN[:2]]
    views[DN[0]]["redis"]["replicas"] = 1
    views[DN[0]]["zookeeper"] = "leader"
    for states in views[DN[0]]["proxy"].values():
        states[DN[2]] = "DOWN"
    assert failing(views, down=frozenset({DN[2]})) == set()
    assert failing(views) >= {"galera", "redis", "rabbitmq", "zookeeper"}     # not faulted: unreadable fails
