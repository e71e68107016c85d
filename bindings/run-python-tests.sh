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

# A real sso-server for the live tests.
source "$ROOT/bindings/live-server.sh"

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
