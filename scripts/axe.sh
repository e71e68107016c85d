#!/usr/bin/env bash
# Fetches axe-core (Deque's accessibility rules engine, npm package `axe-core`) once into the test
# tools cache and prints the path of its axe.min.js. The browser tests inject it into each page
# and fail on serious or critical violations. Idempotent.
set -euo pipefail
AXE_VERSION=4.11.0
CACHE=${SSO_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sso-test-tools}
AXE_HOME="$CACHE/axe-core-$AXE_VERSION"
if [ ! -f "$AXE_HOME/axe.min.js" ]; then
  command -v npm >/dev/null || { echo "axe.sh: npm is needed to fetch axe-core" >&2; exit 1; }
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "axe-core@$AXE_VERSION" >/dev/null)
  mkdir -p "$AXE_HOME.part"
  tar xzf "$tmp/axe-core-$AXE_VERSION.tgz" -C "$AXE_HOME.part" --strip-components=1
  rm -rf "$tmp" "$AXE_HOME"
  mv "$AXE_HOME.part" "$AXE_HOME"
fi
echo "$AXE_HOME/axe.min.js"
