#!/usr/bin/env bash
# Refreshes the README's screenshots (docs/img/*.png) from the browser tests: starts the Samba
# AD DC and the SMTP server the tests need, runs the Chromium tests (which save every page they
# visit under target/console-screenshots/), and copies the sign-in page, the account page and
# the console's dashboard into docs/img/. Run by hand after a visible change; CI never does.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export STATE_DIR="$ROOT/target/test-env"
mkdir -p "$STATE_DIR"
trap 'bash scripts/samba-dc.sh stop corp || true; bash scripts/smtp.sh stop || true' EXIT
bash scripts/install-deps.sh
eval "$(bash scripts/samba-dc.sh start corp)"
eval "$(bash scripts/smtp.sh start)"
E2E_AXE_JS=$(bash scripts/axe.sh | tail -n 1)
export E2E_AXE_JS E2E_REQUIRE_SERVERS=1
cargo test --locked -p e2e --test console
SHOTS="$ROOT/target/console-screenshots"
mkdir -p docs/img
cp "$SHOTS/employee-sign-in.png" docs/img/sign-in.png
cp "$SHOTS/employee-account.png" docs/img/account.png
cp "$SHOTS/13-dashboard.png" docs/img/console-dashboard.png
ls -l docs/img
