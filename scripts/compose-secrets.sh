#!/usr/bin/env bash
# Writes the secrets docker-compose.yml needs, once: .env with random passwords (MinIO,
# PostgreSQL, SOTP's first admin, Grafana's admin) and secrets/master.key (the master key
# that seals device credentials, shared by every SOTP container). Existing files are
# kept. Both are in .gitignore; keep a copy of the master key apart from backups of the
# data it opens.
set -euo pipefail
cd "$(dirname "$0")/.."
rand() { head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
if [ ! -e .env ]; then
  umask 077
  {
    echo "MINIO_ROOT_USER=sotp"
    echo "MINIO_ROOT_PASSWORD=$(rand)"
    echo "POSTGRES_PASSWORD=$(rand)"
    echo "SOTP_ADMIN_PASSWORD=$(rand)"
    echo "GRAFANA_ADMIN_PASSWORD=$(rand)"
  } > .env
  echo "wrote .env (SOTP's admin password is SOTP_ADMIN_PASSWORD there)"
else
  echo ".env exists: kept"
fi
if [ ! -e secrets/master.key ]; then
  # Compose mounts the file as it is on the host, and SOTP runs as its own user in the
  # containers: the file is readable (0644) inside a directory only you can enter (0700).
  mkdir -p secrets
  chmod 700 secrets
  head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > secrets/master.key
  chmod 644 secrets/master.key
  echo "wrote secrets/master.key"
else
  echo "secrets/master.key exists: kept"
fi
