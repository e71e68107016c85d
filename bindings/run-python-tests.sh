#!/usr/bin/env bash
# Runs the Python tests of mobile-core: builds the library (debug, feature `test-support`),
# generates the Python binding into target/bindings/test/python (the library copied beside it),
# and runs bindings/tests/python/test_*.py with the standard library's unittest. Needs python3;
# the tests that need the `cryptography` package (shipped with Debian's python3 and the machine
# image) are skipped without it. Idempotent; works from any folder.
#
# usage: bindings/run-python-tests.sh [TEST_NAME_PATTERN...]   (unittest -k patterns)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

TARGET_DIR=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps --offline 2>/dev/null \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])' 2>/dev/null \
  || echo "$ROOT/target")
OUT="$TARGET_DIR/bindings/test"

bash "$ROOT/bindings/generate.sh" --test-support --out "$OUT" python

# The tests check the library's signatures independently with `cryptography`; install it once.
python3 -c 'import cryptography' 2>/dev/null || python3 -m pip install --quiet cryptography

# A real sso-server for the live tests: its own data folder, free port, short challenges.
cargo build --quiet -p sso-server --bin sso-server
SERVER_BIN="$TARGET_DIR/debug/sso-server"
SERVER_DIR=$(mktemp -d)
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$SERVER_DIR/sso.toml" <<TOML
listen = "127.0.0.1:$PORT"
public_url = "http://localhost:$PORT"
data_dir = "$SERVER_DIR/data"
[log]
level = "warn"
[directory]
schedule_enabled = false
[push]
challenge_ttl_seconds = 3
TOML
ADMIN_PASSWORD=$(python3 -c 'import secrets; print(secrets.token_urlsafe(18))')
# The server reads SSO_* variables as configuration: start it before exporting anything else.
echo "$ADMIN_PASSWORD" | "$SERVER_BIN" --config "$SERVER_DIR/sso.toml" admin create --username admin --password-stdin >/dev/null
"$SERVER_BIN" --config "$SERVER_DIR/sso.toml" serve >"$SERVER_DIR/log" 2>&1 &
SERVER_PID=$!
trap 'kill $SERVER_PID 2>/dev/null || true; rm -rf "$SERVER_DIR"' EXIT
for _ in $(seq 1 100); do
  python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$PORT/healthz')" 2>/dev/null && break
  sleep 0.1
done
export E2E_SSO_URL="http://localhost:$PORT" E2E_SSO_ADMIN=admin E2E_SSO_ADMIN_PASSWORD="$ADMIN_PASSWORD"

cd "$ROOT/bindings/tests/python"
export PYTHONPATH="$OUT/python${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONDONTWRITEBYTECODE=1
python3 - "$@" <<'PY'
import os
import sys
import unittest

loader = unittest.TestLoader()
loader.testNamePatterns = [f"*{p}*" for p in sys.argv[1:]] or None
suite = loader.discover(".", pattern="test_*.py")
result = unittest.TextTestRunner(verbosity=2).run(suite)
failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
skipped = len(result.skipped)
passed = result.testsRun - failed - skipped
print(f"python: {passed} passed, {failed} failed, {skipped} skipped")
# Under the test script nothing may be skipped: a skip would hide a missing install step.
strict = os.environ.get("E2E_REQUIRE_SERVERS") == "1"
sys.exit(0 if result.wasSuccessful() and passed > 0 and not (strict and skipped) else 1)
PY
