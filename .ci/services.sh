#!/usr/bin/env bash
# Makes sure PostgreSQL (127.0.0.1:5432, database `test`) and Redis (127.0.0.1:6379) answer,
# starting them when they are installed but stopped, and drops the schemas earlier test runs left.
set -euo pipefail

answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if ! answers 5432; then
  echo "services.sh: starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
fi
if ! answers 6379; then
  echo "services.sh: starting Redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
fi
for _ in $(seq 1 50); do
  answers 5432 && answers 6379 && break
  sleep 0.2
done
answers 5432 || { echo "services.sh: PostgreSQL does not answer on 127.0.0.1:5432" >&2; exit 1; }
answers 6379 || { echo "services.sh: Redis does not answer on 127.0.0.1:6379" >&2; exit 1; }

# Each end-to-end server on PostgreSQL gets a schema named t_…; drop those of earlier runs, one
# transaction each (hundreds of schemas in one transaction run out of lock slots).
if command -v psql >/dev/null; then
  psql -Atq -h 127.0.0.1 -U postgres -d test -c \
    "SELECT format('DROP SCHEMA %I CASCADE;', nspname) FROM pg_namespace WHERE nspname LIKE 't\_%'" |
    psql -q -h 127.0.0.1 -U postgres -d test -v ON_ERROR_STOP=1 -c 'SET client_min_messages = warning' -f -
fi
