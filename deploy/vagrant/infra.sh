#!/usr/bin/env bash
# Provision the `infra` VM of the development cluster (see the Vagrantfile):
# ZooKeeper and PostgreSQL 15 from Debian 12, a Mesos master and a Mesos agent in Docker.
# Safe to run again (`vagrant provision infra`).
set -euo pipefail

# --------------------------------------------------------------------------- Mesos images
# Mesos is not packaged in Debian 12, and Apache Mesos has moved to the Apache Attic (no
# further releases or fixes). These defaults are the Apache Mesos project's own CentOS
# image, which has Mesos installed and no entrypoint of its own (we give one below). We
# have NOT verified that this exact tag is still published: check Docker Hub, pin a tag
# (or better, a digest) you trust, and override it from the host if needed:
#   MESOS_MASTER_IMAGE=mesos/mesos-centos:<tag> MESOS_AGENT_IMAGE=... vagrant provision infra
# Mesosphere's older images work the same way (mesosphere/mesos-master:<tag> and
# mesosphere/mesos-slave:<tag>; their binaries are mesos-master and mesos-agent too).
DEFAULT_MESOS_IMAGE="mesos/mesos-centos:1.11.x"
MESOS_MASTER_IMAGE="${MESOS_MASTER_IMAGE:-$DEFAULT_MESOS_IMAGE}"
MESOS_AGENT_IMAGE="${MESOS_AGENT_IMAGE:-$DEFAULT_MESOS_IMAGE}"

INFRA_IP="${INFRA_IP:-192.168.56.10}"
MOROCCRON_NETWORK="${MOROCCRON_NETWORK:-192.168.56.0/24}"
: "${MOROCCRON_DB_PASSWORD:?set by the Vagrantfile}"
PG_VERSION=15
SRC=/vagrant/deploy

export DEBIAN_FRONTEND=noninteractive
cd /   # so that runuser/psql do not complain about an unreadable working directory
log() { printf '==> %s\n' "$*"; }

log "installing ZooKeeper, PostgreSQL ${PG_VERSION} and Docker from Debian"
apt-get update -qq
apt-get install -y -qq zookeeperd "postgresql-${PG_VERSION}" docker.io curl >/dev/null

# --------------------------------------------------------------------------- ZooKeeper
# Debian's example configuration keeps data in /tmp; keep it somewhere that survives a reboot.
# Standalone (one server) is enough for development; production wants three or five.
log "configuring ZooKeeper (standalone, port 2181)"
ZOO_CFG=/etc/zookeeper/conf/zoo.cfg
install -d -o zookeeper -g zookeeper /var/lib/zookeeper
sed -i 's|^dataDir=.*|dataDir=/var/lib/zookeeper|' "$ZOO_CFG"
# ZooKeeper 3.5+ starts an admin HTTP server on port 8080; nothing here needs it.
grep -q '^admin.enableServer=' "$ZOO_CFG" || echo 'admin.enableServer=false' >>"$ZOO_CFG"
systemctl enable --quiet zookeeper
systemctl restart zookeeper

# --------------------------------------------------------------------------- PostgreSQL
log "configuring PostgreSQL ${PG_VERSION}: listen on the network, role and database 'moroccron'"
PG_ETC="/etc/postgresql/${PG_VERSION}/main"
cat >"${PG_ETC}/conf.d/moroccron.conf" <<EOF
# Written by deploy/vagrant/infra.sh
# '*' rather than ${INFRA_IP}: at boot the host-only interface may come up after PostgreSQL.
# pg_hba.conf lets the role 'moroccron' in from ${MOROCCRON_NETWORK} only.
listen_addresses = '*'
# Each moroccron process keeps up to 5 connections open and may open 10 more briefly.
max_connections = 100
EOF
HBA_LINE="host moroccron moroccron ${MOROCCRON_NETWORK} scram-sha-256"
grep -qxF "$HBA_LINE" "${PG_ETC}/pg_hba.conf" || echo "$HBA_LINE" >>"${PG_ETC}/pg_hba.conf"
systemctl restart "postgresql@${PG_VERSION}-main"

# psql variables (:'pw') quote the password; it never appears on a command line.
runuser -u postgres -- psql -q -v ON_ERROR_STOP=1 -v pw="$MOROCCRON_DB_PASSWORD" <<'SQL'
SELECT 'CREATE ROLE moroccron LOGIN'
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'moroccron')\gexec
ALTER ROLE moroccron WITH LOGIN PASSWORD :'pw';
SELECT 'CREATE DATABASE moroccron OWNER moroccron'
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'moroccron')\gexec
SQL

# --------------------------------------------------------------------------- Mesos
log "Mesos master and agent in Docker: ${MESOS_MASTER_IMAGE}, ${MESOS_AGENT_IMAGE}"
systemctl enable --quiet --now docker
install -d /var/lib/mesos/master /var/lib/mesos/agent
# Read by the mesos-master and mesos-agent units (deploy/systemd/).
cat >/etc/default/mesos-docker <<EOF
# Written by deploy/vagrant/infra.sh
MESOS_MASTER_IMAGE=${MESOS_MASTER_IMAGE}
MESOS_AGENT_IMAGE=${MESOS_AGENT_IMAGE}
MESOS_ZK=zk://${INFRA_IP}:2181/mesos
MESOS_IP=${INFRA_IP}
MESOS_AGENT_ATTRIBUTES=rack:vagrant
EOF
# Pull now, so that a missing image is reported here and not as a unit restarting forever.
for image in "$MESOS_MASTER_IMAGE" "$MESOS_AGENT_IMAGE"; do
  docker image inspect "$image" >/dev/null 2>&1 || docker pull -q "$image" || {
    echo "ERROR: cannot pull Mesos image '$image'; set MESOS_MASTER_IMAGE / MESOS_AGENT_IMAGE" \
      "on the host to an image you trust (see the top of deploy/vagrant/infra.sh)" >&2
    exit 1
  }
done
install -m 0644 "${SRC}/systemd/mesos-master.service" /etc/systemd/system/mesos-master.service
install -m 0644 "${SRC}/systemd/mesos-agent.service" /etc/systemd/system/mesos-agent.service
systemctl daemon-reload
systemctl enable --quiet mesos-master mesos-agent
systemctl restart mesos-master mesos-agent

log "waiting for the Mesos master to lead"
for _ in $(seq 1 60); do
  if curl -fsS "http://${INFRA_IP}:5050/master/state" 2>/dev/null | grep -q '"leader"'; then
    log "Mesos master up: http://${INFRA_IP}:5050"
    exit 0
  fi
  sleep 2
done
echo "WARNING: the Mesos master did not answer within 2 minutes; see 'journalctl -u mesos-master'" >&2
