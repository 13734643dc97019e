#!/usr/bin/env bash
# Provision a moroccron VM of the development cluster (see the Vagrantfile): a virtualenv
# at /opt/moroccron with moroccron and its plugins from /vagrant, the database schema,
# /etc/moroccron.toml, /etc/moroccron/env and the systemd unit moroccron.service.
# Safe to run again (`vagrant rsync && vagrant provision moroccron1`): it reinstalls
# moroccron from /vagrant and restarts the service.
set -euo pipefail

INFRA_IP="${INFRA_IP:-192.168.56.10}"
: "${MOROCCRON_BIND:?set by the Vagrantfile, e.g. 192.168.56.11:4400}"
: "${MOROCCRON_DB_PASSWORD:?set by the Vagrantfile}"
: "${MOROCCRON_ADMIN_TOKEN:?set by the Vagrantfile}"
MOROCCRON_APPLY_EXAMPLES="${MOROCCRON_APPLY_EXAMPLES:-0}"

SRC=/vagrant
VENV=/opt/moroccron
ETC=/etc/moroccron

export DEBIAN_FRONTEND=noninteractive
log() { printf '==> %s\n' "$*"; }

log "installing Python 3 (Debian 12: 3.11) and venv"
apt-get update -qq
apt-get install -y -qq python3 python3-venv >/dev/null

log "installing moroccron and its plugins into ${VENV}"
[ -x "${VENV}/bin/python" ] || python3 -m venv "$VENV"
"${VENV}/bin/pip" install -q --upgrade pip
plugins=()
for dir in "${SRC}"/plugins/*/; do
  [ -f "${dir}pyproject.toml" ] && plugins+=("$dir")
done
# Local folders are always rebuilt and reinstalled, so a re-provision picks up new code.
"${VENV}/bin/pip" install -q "$SRC" "${plugins[@]}"

log "user, configuration and secrets"
getent passwd moroccron >/dev/null ||
  useradd --system --user-group --home-dir /var/lib/moroccron --shell /usr/sbin/nologin moroccron
install -d -m 0750 -o root -g moroccron "$ETC"
install -m 0640 -o root -g moroccron "${SRC}/deploy/moroccron.toml" /etc/moroccron.toml

# Only the hash of the token is stored on the VM (moroccron.auth.hash_token: the token is
# random, so its SHA-256 is checked in microseconds and reveals nothing); the token itself
# stays in .vagrant/moroccron-admin-token on the host. Read from stdin, so it never
# appears on a command line.
token_hash="$(printf '%s' "$MOROCCRON_ADMIN_TOKEN" |
  "${VENV}/bin/python" -c 'import sys; from moroccron.auth import hash_token; print(hash_token(sys.stdin.read()))')"
umask 027
cat >"${ETC}/env.new" <<EOF
# Written by deploy/vagrant/moroccron.sh; read by moroccron.service (EnvironmentFile=).
# Single quotes: the values are taken literally.
MOROCCRON_DB='postgresql://moroccron:${MOROCCRON_DB_PASSWORD}@${INFRA_IP}/moroccron'
MOROCCRON_AUTH_TOKENS='${token_hash}:admin'
MOROCCRON_BIND='${MOROCCRON_BIND}'
EOF
chgrp moroccron "${ETC}/env.new"
mv "${ETC}/env.new" "${ETC}/env"
umask 022

# `sudo moroccron ...` on the VM: the CLI with the service's database and config file.
cat >/usr/local/bin/moroccron <<'EOF'
#!/bin/sh
# Written by deploy/vagrant/moroccron.sh: run the moroccron CLI with the service's settings.
set -a
[ -r /etc/moroccron/env ] && . /etc/moroccron/env
set +a
MOROCCRON_CONFIG="${MOROCCRON_CONFIG:-/etc/moroccron.toml}"
export MOROCCRON_CONFIG
exec /opt/moroccron/bin/moroccron "$@"
EOF
chmod 0755 /usr/local/bin/moroccron

log "migrating the database schema (waiting for PostgreSQL on ${INFRA_IP} if needed)"
# The moroccron VMs may come up before infra has finished (vagrant-libvirt starts VMs in
# parallel), so retry for a while.
for attempt in $(seq 1 60); do
  if /usr/local/bin/moroccron db upgrade; then
    break
  fi
  if [ "$attempt" = 60 ]; then
    echo "ERROR: the database on ${INFRA_IP} did not answer; provision infra first" >&2
    exit 1
  fi
  sleep 5
done

if [ "$MOROCCRON_APPLY_EXAMPLES" = 1 ]; then
  # Before the service starts: a running leader reads jobs written straight into the
  # database (as `jobs apply` does) only when it next loads its state.
  log "loading the example jobs (${SRC}/examples/jobs)"
  /usr/local/bin/moroccron jobs apply "${SRC}/examples/jobs"
fi

log "starting moroccron.service"
install -m 0644 "${SRC}/deploy/systemd/moroccron.service" /etc/systemd/system/moroccron.service
systemctl daemon-reload
systemctl enable --quiet moroccron
systemctl restart moroccron

for _ in $(seq 1 30); do
  if python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' \
      "http://${MOROCCRON_BIND}/healthz" 2>/dev/null; then
    log "moroccron up: http://${MOROCCRON_BIND} (token: .vagrant/moroccron-admin-token on the host)"
    exit 0
  fi
  sleep 2
done
echo "WARNING: moroccron did not answer on http://${MOROCCRON_BIND}/healthz within a minute;" \
  "see 'journalctl -u moroccron'" >&2
