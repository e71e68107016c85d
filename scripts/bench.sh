#!/usr/bin/env bash
# Benchmarks that need real servers: starts a fresh Samba AD DC (stopping one left running),
# runs the directory sync benchmark in release mode, stops the DC. Figures go to
# docs/benchmarks.md by hand, with the machine and the date.
#   BENCH=directory_sync (default) or key_rotation; BENCH_USERS=10000 (default; key_rotation: 1000)
#   BENCH_DATABASE_URL=postgres://… to measure on PostgreSQL
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export STATE_DIR="$ROOT/target/bench-env"
mkdir -p "$STATE_DIR"
bash scripts/install-deps.sh
trap 'bash scripts/samba-dc.sh stop corp || true' EXIT
eval "$(bash scripts/samba-dc.sh start corp)"
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -sr), $(date -u +%F)"
cargo bench --locked -p sso-server --bench "${BENCH:-directory_sync}"
