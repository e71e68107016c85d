#!/usr/bin/env bash
# Installs the Debian packages the tests need, only those missing. Idempotent; needs root (or sudo).
set -euo pipefail

PACKAGES=(
  postgresql            # storage tests on PostgreSQL
  chromium chromium-driver   # the admin console tests drive headless Chromium over WebDriver
  samba samba-ad-dc samba-ad-provision samba-dsdb-modules winbind ldap-utils   # a real AD DC, ldapsearch
  openssl               # the test CA for the DC's certificate
  iproute2              # a second loopback address for the second domain
  openjdk-17-jre-headless libjna-java   # the Kotlin binding tests run on the host JVM with JNA
  binutils              # nm: the Swift binding check compares symbols with the libraries
  haproxy               # two server instances behind a load balancer (tests/server/cluster.rs)
)
# The Kotlin compiler comes from the npm registry (bindings/run-kotlin-tests.sh): npm is needed.
command -v npm >/dev/null || PACKAGES+=(npm)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "installing: ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
