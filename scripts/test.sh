#!/usr/bin/env bash
# Runs every test, on a fresh Debian machine or a used one: installs what is missing, starts
# PostgreSQL and a Samba AD DC, then runs the format check, clippy and the whole workspace's tests
# (storage tests on SQLite and on PostgreSQL), then the phone core's bindings: Swift layout check,
# Python and Kotlin (JVM) tests against a live server. Stops what it started.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export STATE_DIR="$ROOT/target/test-env"
mkdir -p "$STATE_DIR"

START=$SECONDS
step() { printf '\n==> [%ss] %s\n' "$((SECONDS - START))" "$*"; }

cleanup() {
  step "stopping test servers"
  bash scripts/samba-dc.sh stop corp || true
  bash scripts/samba-dc.sh stop emea || true
  bash scripts/postgres.sh stop || true
  bash scripts/smtp.sh stop || true
}
trap cleanup EXIT

# Packages download and install while cargo checks the code (the Rust build needs none of them).
step "installing missing packages (in the background, log in $STATE_DIR/install-deps.log)"
bash scripts/install-deps.sh >"$STATE_DIR/install-deps.log" 2>&1 &
INSTALL_PID=$!

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "waiting for the package installation"
if ! wait "$INSTALL_PID"; then
  cat "$STATE_DIR/install-deps.log" >&2
  echo "installing packages failed" >&2
  exit 1
fi
cat "$STATE_DIR/install-deps.log"

step "starting PostgreSQL"
E2E_POSTGRES_URL=$(bash scripts/postgres.sh start | tail -n 1)
export E2E_POSTGRES_URL

step "starting two Samba AD DCs (corp on 127.0.0.1, emea on 127.0.0.2)"
eval "$(bash scripts/samba-dc.sh start corp)"
eval "$(bash scripts/samba-dc.sh start emea)"

step "starting an SMTP server (aiosmtpd)"
eval "$(bash scripts/smtp.sh start)"

step "fetching axe-core for the browser tests' accessibility checks"
E2E_AXE_JS=$(bash scripts/axe.sh | tail -n 1)
export E2E_AXE_JS

# Tests that need these servers fail instead of skipping.
export E2E_REQUIRE_SERVERS=1

step "cargo test"
cargo test --workspace --locked

# The binding steps reuse this build instead of building crates again with other features.
export TEST_WORKSPACE_BUILD=1

step "generating the Kotlin, Swift and Python bindings of mobile-core"
bash bindings/generate.sh

step "checking the Swift binding's layout against the libraries (no Swift toolchain here)"
bash bindings/check-swift.sh

step "Python tests of the real mobile-core library (uniffi bindings), also against a live server"
bash bindings/run-python-tests.sh

step "Kotlin tests of the real mobile-core library on the JVM, against a live server"
bash bindings/run-kotlin-tests.sh

step "all tests passed"
