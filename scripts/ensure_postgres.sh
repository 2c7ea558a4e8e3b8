#!/usr/bin/env bash
# Start the machine's PostgreSQL cluster if it is down, so the PostgreSQL tests can run.
set -u
if command -v pg_isready >/dev/null && pg_isready -h 127.0.0.1 -p 5432 -q; then exit 0; fi
if command -v pg_ctlcluster >/dev/null; then
  for v in $(ls /etc/postgresql 2>/dev/null); do
    pg_ctlcluster --skip-systemctl-redirect "$v" main start 2>/dev/null || true
  done
  for _ in $(seq 1 20); do pg_isready -h 127.0.0.1 -p 5432 -q && exit 0; sleep 0.5; done
fi
echo "warning: PostgreSQL is not reachable on 127.0.0.1:5432; PostgreSQL tests will fail in CI and skip locally" >&2
exit 0
