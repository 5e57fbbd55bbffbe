#!/bin/bash
# Node entrypoint: (1) default-deny inbound allowlist from LAB_ALLOW with nftables, (2) the real software named
# by LAB_START (start_<hook> below), (3) the role agent on every LAB_LISTEN port but LAB_REAL. Then wait.
# Which hooks run and which ports they hold is the catalog's (roles' services: start, holds), planned per host.
#   LAB_ALLOW   JSON rows [protocol, source address or "any", port or "a-b" or "-", catalog ids]
#   LAB_LISTEN  "tcp/8009 udp/2049 tcp/5900-5999 ..."
#   LAB_START   "redis rabbitmq zookeeper ..."      LAB_REAL  "tcp/6379 tcp/5672 ..." (held by that software)
#   LAB_AJP     "tcp/8010": ports where the role agent speaks AJP13 (CPing -> CPong), not its HTTP answer
#   LAB_ADDRESS / LAB_ADDRESSES   the host's home address / all its addresses (real software binds these, so a VIP's
#               proxy can bind the same port on the VIP's address)
#   LAB_PEERS, LAB_VIPS, LAB_VIP_PROXY   the clusters (components/nodes.py cluster_env): peers, VIPs, proxy listeners
set -euo pipefail
log() { echo "entrypoint[$(hostname)]: $*" >&2; }
BINDS="${LAB_ADDRESSES:-0.0.0.0}"; [ -n "${LAB_ADDRESSES:-}" ] && BINDS="$BINDS 127.0.0.1"

# peers ROLE: the addresses of ROLE's hosts, in plan order (empty outside a cluster); index ROLE: ours, from 1
peers() { python3 -c 'import json,os,sys; print(" ".join(a for _, a in json.loads(os.environ.get("LAB_PEERS") or "{}").get(sys.argv[1], [])))' "$1"; }
index_of() { python3 -c 'import json,os,sys; n=[h for h, _ in json.loads(os.environ.get("LAB_PEERS") or "{}").get(sys.argv[1], [])]; print(n.index(os.environ["LAB_HOST"]) + 1 if os.environ["LAB_HOST"] in n else 0)' "$1"; }
first_word() { echo "$1" | awk '{print $1}'; }
# work a hook finishes in the background: lab-health stays unhealthy while any is pending
pending() { mkdir -p /run/lab-pending && touch "/run/lab-pending/$1"; }
ready() { rm -f "/run/lab-pending/$1"; }

apply_allowlist() {
  local rules
  rules=$(python3 - <<'PY'
import json, os
for proto, src, port, ids, *dst in json.loads(os.environ.get("LAB_ALLOW", "[]")):
    saddr = "" if src == "any" else f"ip saddr {src} "
    daddr = f"ip daddr {dst[0]} " if dst else ""          # to a VIP's address only
    if proto == "vrrp":
        print(f"    {saddr}ip protocol vrrp accept comment \"{ids}\"")
    else:
        print(f"    {saddr}{daddr}{proto} dport {port} accept comment \"{ids}\"")
PY
)
  nft -f - <<NFT
table inet abiquo_lab
delete table inet abiquo_lab
table inet abiquo_lab {
  chain input {
    type filter hook input priority 0; policy drop;
    iif lo accept
    ct state established,related accept
    ct state invalid drop
$rules
  }
}
NFT
  log "allowlist applied: $(nft list chain inet abiquo_lab input | grep -c accept) accept rules, policy drop"
}

# ---- Redis: standalone, or in a cluster one master (the sentinels' choice, else the first datanode) and replicas
redis_master() {
  local peer answer
  for peer in $(peers datanode); do
    [ "$peer" = "$LAB_ADDRESS" ] && continue
    answer=$(timeout 2 redis-cli -h "$peer" -p 26379 SENTINEL get-master-addr-by-name abiquo 2>/dev/null | head -1)
    [ -n "$answer" ] && { echo "$answer"; return; }
  done
  first_word "$(peers datanode)"
}

start_redis() {
  mkdir -p /var/lib/redis-lab
  local args=(--bind $BINDS --protected-mode no --port 6379 --daemonize yes --save "" --appendonly no
              --dir /var/lib/redis-lab --logfile /var/log/redis.log)
  if [ -n "$(peers datanode)" ]; then
    REDIS_MASTER=$(redis_master)                 # asked once: the sentinel hook monitors the same master
    local master=$REDIS_MASTER
    # an isolated master stops taking writes within 5 s: no split brain
    args+=(--replica-announce-ip "$LAB_ADDRESS" --min-replicas-to-write 1 --min-replicas-max-lag 5)
    [ "$master" = "$LAB_ADDRESS" ] || args+=(--replicaof "$master" 6379)
    log "redis: master is $master"
  fi
  redis-server "${args[@]}"
}

start_sentinel() {
  local all; all=$(peers datanode)
  [ -n "$all" ] || { log "sentinel: no peers (LAB_PEERS), not started"; return 0; }
  local count; count=$(echo "$all" | wc -w)
  cat > /var/lib/redis-lab/sentinel.conf <<CFG
port 26379
bind $BINDS
protected-mode no
daemonize yes
logfile /var/log/sentinel.log
dir /var/lib/redis-lab
sentinel announce-ip $LAB_ADDRESS
sentinel monitor abiquo ${REDIS_MASTER:-$(redis_master)} 6379 $((count / 2 + 1))
sentinel down-after-milliseconds abiquo 1500
sentinel failover-timeout abiquo 6000
sentinel parallel-syncs abiquo 1
CFG
  redis-server /var/lib/redis-lab/sentinel.conf --sentinel
}

# ---- MariaDB: standalone, or a Galera node (start_galera first writes the cluster settings)
GALERA=""
start_galera() {
  local all; all=$(peers mysql)
  [ -n "$all" ] || { log "galera: no peers (LAB_PEERS), MariaDB runs standalone"; return 0; }
  cat > /etc/mysql/mariadb.conf.d/60-lab-galera.cnf <<CFG
[mysqld]
binlog_format=ROW
default_storage_engine=InnoDB
innodb_autoinc_lock_mode=2
innodb_buffer_pool_size=64M
wsrep_on=ON
wsrep_provider=/usr/lib/galera/libgalera_smm.so
wsrep_cluster_name=abiquo-lab
wsrep_cluster_address=gcomm://$(echo $all | tr ' ' ',')
wsrep_node_address=$LAB_ADDRESS
wsrep_node_name=$LAB_HOST
wsrep_sst_method=rsync
wsrep_provider_options="gcache.size=64M"
CFG
  GALERA=1
}

galera_args() {
  # Bootstrap only as the first node of a fresh cluster, or as the last one standing (safe_to_bootstrap) when no
  # peer answers; after an unclean stop, recover the position so a peer can send just the missing writes (IST).
  local state=/var/lib/mysql/grastate.dat
  if [ ! -f "$state" ]; then
    [ "$(index_of mysql)" = 1 ] && echo "--wsrep-new-cluster"
    return 0
  fi
  if grep -q "seqno: *-1" "$state"; then
    local position
    position=$(mariadbd --user=mysql --wsrep-recover --log-error=/var/log/mariadb-recover.log >/dev/null 2>&1;
               sed -n 's/.*WSREP: Recovered position: *//p' /var/log/mariadb-recover.log | tail -1)
    [ -n "$position" ] && echo "--wsrep_start_position=$position"
  fi
  if grep -q "safe_to_bootstrap: *1" "$state" && ! peer_answers 4567 20; then echo "--wsrep-new-cluster"; fi
  return 0
}

peer_answers() {   # PORT SECONDS: does any other mysql peer accept on PORT within SECONDS
  local port=$1 until=$((SECONDS + $2)) peer
  while [ $SECONDS -lt $until ]; do
    for peer in $(peers mysql); do
      [ "$peer" = "$LAB_ADDRESS" ] && continue
      nc -z -w 1 "$peer" "$port" 2>/dev/null && return 0
    done
    sleep 1
  done
  return 1
}

start_mariadb() {
  mkdir -p /run/mysqld /etc/lab && chown mysql:mysql /run/mysqld
  local fresh=""
  [ -f /var/lib/mysql/grastate.dat ] || fresh=1          # never started in a cluster (the package made the datadir)
  [ -d /var/lib/mysql/mysql ] || mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null
  local args=(--user=mysql --bind-address="$(echo $BINDS | tr ' ' ',')" --port=3306 --skip-name-resolve)
  [ -n "$GALERA" ] && args+=($(galera_args))
  log "mariadb: ${args[*]:3}"
  mariadbd "${args[@]}" >/var/log/mariadb.log 2>&1 &
  for _ in $(seq 1 240); do mariadb -uroot -e 'SELECT 1' >/dev/null 2>&1 && break; sleep 0.5; done
  # the users replicate in a cluster: the bootstrap node makes them; a joiner receives them with its snapshot
  if [ -z "$GALERA" ] || { [ -n "$fresh" ] && [ "$(index_of mysql)" = 1 ]; }; then
    mariadb -uroot -e "CREATE DATABASE IF NOT EXISTS kinton;
      CREATE USER IF NOT EXISTS 'abiquo'@'%' IDENTIFIED BY '${LAB_DB_PASSWORD:-abiquo}';
      GRANT ALL ON kinton.* TO 'abiquo'@'%';
      CREATE USER IF NOT EXISTS 'lab_check'@'%' IDENTIFIED BY '${LAB_DB_PASSWORD:-abiquo}'; FLUSH PRIVILEGES;"
  fi
  printf '[client]\nuser=lab_check\npassword=%s\n' "${LAB_DB_PASSWORD:-abiquo}" > /etc/lab/check.cnf
  chmod 600 /etc/lab/check.cnf
}

# ---- RabbitMQ: standalone, or one cluster of all datanodes (the first forms it, the others join it), with every
# classic queue mirrored on all nodes (RabbitMQ 3.10: no default quorum type) and the minority pausing on a split
start_rabbitmq() {
  export RABBITMQ_NODENAME="rabbit@$(hostname)"
  local conf=/etc/rabbitmq/rabbitmq.conf n=1 address
  echo "loopback_users = none" > "$conf"
  if [ -n "${LAB_ADDRESSES:-}" ]; then
    for address in $BINDS; do echo "listeners.tcp.$n = $address:5672" >> "$conf"; n=$((n + 1)); done
  fi
  # no scheduler busy-waiting: several brokers share a laptop's cores in an HA lab
  export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="+sbwt none +sbwtdcpu none +sbwtdio none +S 1:1"
  if [ -n "$(peers datanode)" ]; then
    [ -n "${LAB_ERLANG_COOKIE:-}" ] || { log "rabbitmq: LAB_ERLANG_COOKIE is not set"; exit 1; }
    local home; for home in /var/lib/rabbitmq /root; do
      mkdir -p "$home"; printf '%s' "$LAB_ERLANG_COOKIE" > "$home/.erlang.cookie"; chmod 400 "$home/.erlang.cookie"
    done
    chown rabbitmq:rabbitmq /var/lib/rabbitmq/.erlang.cookie
    echo "cluster_partition_handling = pause_minority" >> "$conf"
    rabbitmq-server >/var/log/rabbitmq.log 2>&1 &
    pending rabbitmq-cluster
    { rabbitmq_cluster && ready rabbitmq-cluster; } >/var/log/rabbitmq-cluster.log 2>&1 &
  else
    rabbitmq-server >/var/log/rabbitmq.log 2>&1 &
  fi
}

rabbitmq_cluster() {
  local first; first=$(python3 -c 'import json,os; print(json.loads(os.environ["LAB_PEERS"])["datanode"][0][0])')
  local tries=0
  until rabbitmqctl await_startup --timeout 10 >/dev/null 2>&1; do   # fails at once until the node registers
    tries=$((tries + 1)); [ $tries -lt 120 ] || { echo "rabbitmq: did not start"; return 1; }; sleep 1
  done
  if [ "$first" != "$LAB_HOST" ] && ! rabbitmqctl cluster_status 2>/dev/null | grep -q "rabbit@$first"; then
    until rabbitmqctl -n "rabbit@$first" await_startup --timeout 5 >/dev/null 2>&1; do sleep 1; done
    local attempt=0
    until rabbitmqctl stop_app && rabbitmqctl join_cluster "rabbit@$first" && rabbitmqctl start_app; do
      # two brokers joining at once can fail to merge Mnesia's schema (combine_error): start this node afresh and
      # join again a little later; a broker that cannot join stays unhealthy and says so
      attempt=$((attempt + 1)); [ $attempt -lt 6 ] || { echo "rabbitmq: could not join rabbit@$first"; return 1; }
      echo "rabbitmq: join failed (attempt $attempt), resetting this node"
      rabbitmqctl stop_app >/dev/null 2>&1; rabbitmqctl force_reset || true
      sleep $((attempt * 2 + RANDOM % 3))
    done
  fi
  rabbitmqctl set_policy --apply-to queues ha-all ".*" '{"ha-mode":"all","ha-sync-mode":"automatic"}' || return 1
  echo "rabbitmq: clustered"
}

start_zookeeper() {
  local dir=/var/lib/zookeeper-lab
  mkdir -p "$dir"
  cat > /etc/zookeeper-lab.cfg <<CFG
tickTime=1000
initLimit=10
syncLimit=3
dataDir=$dir
clientPort=2181
4lw.commands.whitelist=srvr,ruok,mntr
CFG
  if [ -n "$(peers datanode)" ]; then          # an ensemble over the datanodes: server.N, quorum 2888, election 3888
    local n=1 peer
    for peer in $(peers datanode); do echo "server.$n=$peer:2888:3888" >> /etc/zookeeper-lab.cfg; n=$((n + 1)); done
    echo "quorumListenOnAllIPs=true" >> /etc/zookeeper-lab.cfg
    index_of datanode > "$dir/myid"
  fi
  # a small, quick-starting JVM: three ZooKeepers share a laptop's cores with the brokers in an HA lab
  java -Xmx128m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto -cp "/etc/zookeeper/conf:/usr/share/java/*" org.apache.zookeeper.server.quorum.QuorumPeerMain \
    /etc/zookeeper-lab.cfg >/var/log/zookeeper.log 2>&1 &
}

start_nfs() {
  mkdir -p /export/repository && touch /export/repository/.abiquo_repository
  mkdir -p /var/run/ganesha   # netbase (/etc/services) lets rpcbind resolve "sunrpc" and bind 111
  rpcbind -w || rpcbind
  cat > /etc/ganesha/ganesha.conf <<CFG
NFS_CORE_PARAM { Protocols = 3, 4; NLM_Port = 0; }
EXPORT { Export_Id = 1; Path = /export/repository; Pseudo = /repository; Access_Type = RW; Squash = No_Root_Squash;
         Protocols = 3, 4; SecType = sys; FSAL { Name = VFS; } }
CFG
  ganesha.nfsd -L /var/log/ganesha.log -f /etc/ganesha/ganesha.conf
}

start_frontend() {
  [ -n "${LAB_ROUTES:-}" ] || return 0
  mkdir -p /etc/lab && openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=$(hostname)" \
    -keyout /etc/lab/key.pem -out /etc/lab/cert.pem >/dev/null 2>&1
  cat /etc/lab/cert.pem /etc/lab/key.pem > /etc/lab/frontend.pem
  python3 /usr/local/bin/lab-agent --haproxy-config > /etc/lab/haproxy.cfg
  haproxy -D -f /etc/lab/haproxy.cfg
}

# ---- a VIP: the proxy forwarding its services (HAProxy, checks per service) and keepalived holding the address
start_vip_proxy() {
  [ "${LAB_VIP_PROXY:-[]}" != "[]" ] || { log "vip proxy: no listeners (LAB_VIP_PROXY), not started"; return 0; }
  mkdir -p /etc/lab
  python3 /usr/local/bin/lab-agent --vip-proxy-config > /etc/lab/vip-proxy.cfg
  haproxy -D -f /etc/lab/vip-proxy.cfg -p /run/lab-vip-proxy.pid
}

start_keepalived() {
  [ "${LAB_VIPS:-[]}" != "[]" ] || { log "keepalived: no VIPs (LAB_VIPS), not started"; return 0; }
  mkdir -p /etc/keepalived
  python3 /usr/local/bin/lab-agent --keepalived-config > /etc/keepalived/keepalived.conf
  keepalived --dont-fork --log-console --use-file /etc/keepalived/keepalived.conf >/var/log/keepalived.log 2>&1 &
}

# docker stop: keepalived gives the VIP away at once, the databases close cleanly (Galera keeps its position)
stop_all() {
  log "stopping"
  pkill -TERM keepalived || true; sleep 0.2
  pkill -TERM -f 'haproxy|mariadbd|redis-server|beam.smp|QuorumPeerMain|ganesha' || true
  for _ in $(seq 1 40); do pgrep -f 'mariadbd|beam.smp' >/dev/null || break; sleep 0.2; done
  exit 0
}

main() {
  apply_allowlist
  local hook
  for hook in ${LAB_START:-}; do
    declare -F "start_$hook" >/dev/null || { log "no start hook start_$hook in this image"; exit 1; }
    "start_$hook"
  done
  trap stop_all TERM INT
  python3 /usr/local/bin/lab-agent &
  wait $!
}
main "$@"
