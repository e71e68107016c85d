# Sourced by the binding test runners: starts a real sso-server (debug build) on a free port with
# its own data folder and short challenges, creates an admin, and exports E2E_SSO_URL,
# E2E_SSO_ADMIN and E2E_SSO_ADMIN_PASSWORD. The server is stopped and its folder removed when
# the sourcing script exits. Needs TARGET_DIR.
if [ -n "${TEST_WORKSPACE_BUILD:-}" ]; then
  # In the test command: the binary `cargo test --workspace` built (see generate.sh).
  cargo build --quiet --locked --workspace --all-targets
else
  cargo build --quiet -p sso-server --bin sso-server
fi
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
