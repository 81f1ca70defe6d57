#!/bin/bash
# Test TLS material for the peers and the proxy: a private CA and one server certificate,
# all PEM, under $PEERS_DIR/tls/. Idempotent: existing files that still verify (and are valid
# for at least 30 more days) are kept; anything missing or broken is made again.
#
#   tls.sh            create if needed, then print the paths (KEY=VALUE lines)
#   tls.sh paths      only print the paths (fails if the material does not exist)
#
# Files (mode 0644 except the keys, 0640 root:Debian-exim if that group exists, else 0600):
#   $PEERS_DIR/tls/ca.pem          the private CA ("EarlyPipe test CA"), ECDSA P-256, 10 years
#   $PEERS_DIR/tls/ca.key
#   $PEERS_DIR/tls/server.pem      server certificate, CN and SAN DNS:mx.earlypipe.test,
#                                  plus SAN DNS:localhost, IP:127.0.0.1, IP:198.18.0.2
#                                  (the netns server address), RSA 2048, signed by the CA, 2 years
#   $PEERS_DIR/tls/server.key      its private key (PKCS#8 PEM, unencrypted)
#   $PEERS_DIR/tls/server-chain.pem  server.pem followed by ca.pem
# Environment: TLS_CN (default mx.earlypipe.test). Needs only openssl; no root required
# (root only for the group ownership of the keys).
set -euo pipefail
PEERS_DIR=${PEERS_DIR:-/var/tmp/earlypipe-peers}
T=$PEERS_DIR/tls
CN=${TLS_CN:-mx.earlypipe.test}

die() { echo "tls.sh: $*" >&2; exit 1; }
command -v openssl >/dev/null || die "openssl is not installed (apt-get install openssl)"

print_paths() {
  echo "TLS_DIR=$T"
  echo "TLS_CA=$T/ca.pem"
  echo "TLS_CERT=$T/server.pem"
  echo "TLS_KEY=$T/server.key"
  echo "TLS_CHAIN=$T/server-chain.pem"
  echo "TLS_CN=$CN"
}

if [ "${1:-}" = paths ]; then
  for f in ca.pem server.pem server.key server-chain.pem; do [ -s "$T/$f" ] || die "$T/$f missing; run tls.sh"; done
  print_paths; exit 0
fi

valid() {  # the set verifies, has the wanted CN and lasts 30 more days
  [ -s "$T/ca.pem" ] && [ -s "$T/ca.key" ] && [ -s "$T/server.pem" ] && [ -s "$T/server.key" ] && [ -s "$T/server-chain.pem" ] || return 1
  openssl verify -CAfile "$T/ca.pem" "$T/server.pem" >/dev/null 2>&1 || return 1
  openssl x509 -in "$T/server.pem" -noout -checkend $((30 * 86400)) >/dev/null 2>&1 || return 1
  openssl x509 -in "$T/server.pem" -noout -subject 2>/dev/null | grep -q "CN *= *$CN\$" || return 1
  # the key belongs to the certificate
  [ "$(openssl x509 -in "$T/server.pem" -noout -pubkey | openssl sha256)" = \
    "$(openssl pkey -in "$T/server.key" -pubout | openssl sha256)" ]
}

protect_key() {
  if [ "$(id -u)" = 0 ] && getent group Debian-exim >/dev/null; then
    chown root:Debian-exim "$1"; chmod 640 "$1"
  else
    chmod 600 "$1"
  fi
}

mkdir -p "$T"
exec 9>"$T/.lock"; flock 9
if ! valid; then
  W=$(mktemp -d "$T/.new.XXXXXX")
  trap 'rm -rf "$W"' EXIT
  if [ -s "$T/ca.pem" ] && [ -s "$T/ca.key" ] && openssl x509 -in "$T/ca.pem" -noout -checkend $((365 * 86400)) >/dev/null 2>&1; then
    cp "$T/ca.pem" "$T/ca.key" "$W/"
  else
    openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -sha256 -days 3650 \
      -subj "/O=EarlyPipeProxy tests/CN=EarlyPipe test CA" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
      -keyout "$W/ca.key" -out "$W/ca.pem" 2>"$W/err" || { cat "$W/err" >&2; die "CA creation failed"; }
  fi
  openssl req -new -nodes -newkey rsa:2048 -subj "/O=EarlyPipeProxy tests/CN=$CN" \
    -keyout "$W/server.key" -out "$W/server.csr" 2>"$W/err" || { cat "$W/err" >&2; die "key/CSR creation failed"; }
  cat >"$W/ext.cnf" <<EOF
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:$CN, DNS:localhost, IP:127.0.0.1, IP:198.18.0.2
EOF
  openssl x509 -req -in "$W/server.csr" -CA "$W/ca.pem" -CAkey "$W/ca.key" -CAcreateserial -days 730 -sha256 \
    -extfile "$W/ext.cnf" -out "$W/server.pem" 2>"$W/err" || { cat "$W/err" >&2; die "signing failed"; }
  cat "$W/server.pem" "$W/ca.pem" >"$W/server-chain.pem"
  chmod 644 "$W/ca.pem" "$W/server.pem" "$W/server-chain.pem"; chmod 600 "$W/ca.key"
  protect_key "$W/server.key"
  for f in ca.key ca.pem server.key server.pem server-chain.pem; do mv -f "$W/$f" "$T/$f"; done
  valid || die "the new material does not verify"
  echo "tls.sh: created CA and server certificate ($CN) in $T" >&2
else
  protect_key "$T/server.key"
fi
print_paths
