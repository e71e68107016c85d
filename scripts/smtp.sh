#!/usr/bin/env bash
# A real SMTP server for the tests: aiosmtpd (from PyPI) on 127.0.0.1:2525, storing every
# message in a Maildir the tests read.
#   start: installs aiosmtpd if missing, starts the server, prints `export E2E_SMTP_*` lines.
#   stop:  stops it.
set -euo pipefail
STATE_DIR=${STATE_DIR:-$(cd "$(dirname "$0")/.." && pwd)/target/test-env}
DIR="$STATE_DIR/smtp"
PORT=${SMTP_PORT:-2525}

stop_smtp() {
  if [ -f "$DIR/pid" ]; then
    kill "$(cat "$DIR/pid")" 2>/dev/null || true
    rm -f "$DIR/pid"
  fi
}

case "${1:-start}" in
start)
  stop_smtp
  python3 -c 'import aiosmtpd' 2>/dev/null || python3 -m pip install --quiet --root-user-action=ignore aiosmtpd >&2
  rm -rf "$DIR"
  mkdir -p "$DIR/maildir/tmp" "$DIR/maildir/new" "$DIR/maildir/cur"
  nohup python3 -m aiosmtpd -n -l "127.0.0.1:$PORT" -c aiosmtpd.handlers.Mailbox "$DIR/maildir" \
    >"$DIR/log" 2>&1 &
  echo $! > "$DIR/pid"
  for _ in $(seq 1 50); do
    if python3 - "$PORT" <<'PY' 2>/dev/null; then break; fi
import smtplib, sys
smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=1).quit()
PY
    sleep 0.2
  done
  cat <<ENV
export E2E_SMTP_HOST=127.0.0.1
export E2E_SMTP_PORT=$PORT
export E2E_SMTP_MAILDIR=$DIR/maildir
ENV
  ;;
stop)
  stop_smtp
  ;;
*) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
