#!/usr/bin/env bash
# A real Active Directory for the tests: a Samba AD DC on loopback, freshly provisioned each run,
# with a certificate from a test CA that names 127.0.0.1 (so clients keep verifying
# certificates, as production must). Recipe: ../shared/notes/samba-ad-dc.md.
#
# start [NAME]: provisions and starts the DC, prints `export` lines for the tests.
# stop  [NAME]: stops it.
# NAME is corp (CORP.EXAMPLE.TEST on 127.0.0.1) or emea (EMEA.EXAMPLE.TEST on 127.0.0.2).
set -euo pipefail
STATE_DIR=${STATE_DIR:-$(cd "$(dirname "$0")/.." && pwd)/target/test-env}
NAME=${2:-corp}
case "$NAME" in
  corp) REALM=CORP.EXAMPLE.TEST; DOMAIN=CORP; HOST=dc1; IP=127.0.0.1; PREFIX=E2E_SAMBA ;;
  emea) REALM=EMEA.EXAMPLE.TEST; DOMAIN=EMEA; HOST=dc2; IP=127.0.0.2; PREFIX=E2E_SAMBA2 ;;
  *) echo "unknown DC $NAME (corp or emea)" >&2; exit 2 ;;
esac
DIR="$STATE_DIR/samba-$NAME"
ADMIN_PASSWORD='Passw0rd!Adm1n'
realm_lc=$(echo "$REALM" | tr 'A-Z' 'a-z')
BASE_DN=$(echo "$realm_lc" | sed 's/^/DC=/; s/\./,DC=/g')

stop_dc() {
  if [ -f "$DIR/run/samba.pid" ]; then
    pid=$(cat "$DIR/run/samba.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$DIR/run/samba.pid"
  fi
}

case "${1:-start}" in
start)
  stop_dc
  rm -rf "$DIR"
  mkdir -p "$DIR/run" "$DIR/tls"
  if [ "$IP" != 127.0.0.1 ] && ! ip addr show dev lo | grep -q "inet $IP/"; then
    ip addr add "$IP/32" dev lo
  fi
  # Test CA and a server certificate naming the DC's host name and IP.
  (
    cd "$DIR/tls"
    umask 077
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=SSO Test CA $NAME" \
      -keyout ca.key -out ca.pem 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=$HOST.$realm_lc" -keyout dc.key -out dc.csr 2>/dev/null
    printf 'subjectAltName=DNS:%s.%s,IP:%s\nextendedKeyUsage=serverAuth\n' "$HOST" "$realm_lc" "$IP" > ext.cnf
    openssl x509 -req -in dc.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 \
      -extfile ext.cnf -out dc.pem 2>/dev/null
    chmod 644 ca.pem dc.pem
  )
  samba-tool domain provision --realm="$REALM" --domain="$DOMAIN" --host-name="$HOST" --server-role=dc \
    --dns-backend=NONE --adminpass="$ADMIN_PASSWORD" --targetdir="$DIR" --use-rfc2307 \
    --option="interfaces=$IP" --option="bind interfaces only=yes" >"$DIR/provision.log" 2>&1 \
    || { cat "$DIR/provision.log" >&2; exit 1; }
  samba-tool domain passwordsettings set --min-pwd-age=0 -s "$DIR/etc/smb.conf" >/dev/null
  samba -s "$DIR/etc/smb.conf" -D \
    --option="pid directory=$DIR/run" \
    --option="server services=-dns -nbt -wrepl -kdc -drepl -winbindd -ntp_signd -dnsupdate -s3fs" \
    --option="tls enabled=yes" --option="tls keyfile=$DIR/tls/dc.key" \
    --option="tls certfile=$DIR/tls/dc.pem" --option="tls cafile=$DIR/tls/ca.pem" \
    --option="old password allowed period=0"
  for _ in $(seq 1 150); do
    if LDAPTLS_CACERT="$DIR/tls/ca.pem" LDAPTLS_REQCERT=demand ldapsearch -x -H "ldaps://$IP" \
        -D "Administrator@$realm_lc" -w "$ADMIN_PASSWORD" -b "$BASE_DN" -s base "(objectClass=*)" dn >/dev/null 2>&1; then
      break
    fi
    sleep 0.2
  done
  LDAPTLS_CACERT="$DIR/tls/ca.pem" LDAPTLS_REQCERT=demand ldapsearch -x -H "ldaps://$IP" \
    -D "Administrator@$realm_lc" -w "$ADMIN_PASSWORD" -b "$BASE_DN" -s base "(objectClass=*)" dn >/dev/null \
    || { echo "the Samba AD DC $NAME did not come up; see $DIR" >&2; exit 1; }
  cat <<ENV
export ${PREFIX}_URL=ldaps://$IP:636
export ${PREFIX}_BASE_DN=$BASE_DN
export ${PREFIX}_ADMIN=Administrator@$realm_lc
export ${PREFIX}_PASSWORD='$ADMIN_PASSWORD'
export ${PREFIX}_CA=$DIR/tls/ca.pem
export ${PREFIX}_SMB_CONF=$DIR/etc/smb.conf
export ${PREFIX}_NETBIOS=$DOMAIN
ENV
  ;;
stop)
  stop_dc
  ;;
*) echo "usage: $0 start|stop [corp|emea]" >&2; exit 2 ;;
esac
