#!/bin/bash
# Node entrypoint: (1) default-deny inbound allowlist from LAB_ALLOW with nftables, (2) the real software named
# by LAB_START (start_<hook> below), (3) the role agent on every LAB_LISTEN port but LAB_REAL. Then wait.
# Which hooks run and which ports they hold is the catalog's (roles' services: start, holds), planned per host.
#   LAB_ALLOW   JSON rows [protocol, source address or "any", port or "a-b" or "-", catalog ids]
#   LAB_LISTEN  "tcp/8009 udp/2049 tcp/5900-5999 ..."
#   LAB_START   "redis rabbitmq zookeeper ..."      LAB_REAL  "tcp/6379 tcp/5672 ..." (held by that software)
set -euo pipefail
log() { echo "entrypoint[$(hostname)]: $*" >&2; }

apply_allowlist() {
  local rules
  rules=$(python3 - <<'PY'
import json, os
for proto, src, port, ids in json.loads(os.environ.get("LAB_ALLOW", "[]")):
    saddr = "" if src == "any" else f"ip saddr {src} "
    if proto == "vrrp":
        print(f"    {saddr}ip protocol vrrp accept comment \"{ids}\"")
    else:
        print(f"    {saddr}{proto} dport {port} accept comment \"{ids}\"")
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

start_redis() {
  redis-server --bind 0.0.0.0 --protected-mode no --port 6379 --daemonize yes --save "" --appendonly no \
    --logfile /var/log/redis.log
}

start_mariadb() {
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
  [ -d /var/lib/mysql/mysql ] || mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null
  mariadbd --user=mysql --bind-address=0.0.0.0 --port=3306 --skip-name-resolve >/var/log/mariadb.log 2>&1 &
  for _ in $(seq 1 60); do mariadb -uroot -e 'SELECT 1' >/dev/null 2>&1 && break; sleep 0.5; done
  mariadb -uroot -e "CREATE DATABASE IF NOT EXISTS kinton;
    CREATE USER IF NOT EXISTS 'abiquo'@'%' IDENTIFIED BY '${LAB_DB_PASSWORD:-abiquo}';
    GRANT ALL ON kinton.* TO 'abiquo'@'%'; FLUSH PRIVILEGES;"
}

start_rabbitmq() {
  export RABBITMQ_NODENAME="rabbit@$(hostname)"
  echo "loopback_users = none" > /etc/rabbitmq/rabbitmq.conf
  # no scheduler busy-waiting: several brokers share a laptop's cores in an HA lab
  export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="+sbwt none +sbwtdcpu none +sbwtdio none +S 1:1"
  rabbitmq-server >/var/log/rabbitmq.log 2>&1 &
}

start_zookeeper() {
  local dir=/var/lib/zookeeper-lab
  mkdir -p "$dir"
  cat > /etc/zookeeper-lab.cfg <<CFG
tickTime=2000
dataDir=$dir
clientPort=2181
4lw.commands.whitelist=srvr,ruok
CFG
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

main() {
  apply_allowlist
  local hook
  for hook in ${LAB_START:-}; do
    declare -F "start_$hook" >/dev/null || { log "no start hook start_$hook in this image"; exit 1; }
    "start_$hook"
  done
  exec python3 /usr/local/bin/lab-agent
}
main "$@"
