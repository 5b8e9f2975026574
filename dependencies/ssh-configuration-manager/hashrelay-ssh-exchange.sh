#!/usr/bin/env bash
# Forced command of the HashRelay-Client RSA key on the server (installed as /usr/local/lib/hashrelay/ssh-exchange.sh):
# reads "hello NAME ed25519:KEY" from SSH_ORIGINAL_COMMAND, leaves the client's identity in ~/pending for the
# admin's `ssh-configuration-manager.sh accept`, and answers with the server's identity and the agreed port.
# It runs as HashRelay-Client, which can write nothing else on the server.
set -euo pipefail

CONFIG=/etc/hashrelay/hashrelay.yaml
SERVER_PUB=/etc/hashrelay/server.pub
PENDING=$HOME/pending

fail() {
  echo "error: $*" >&2
  exit 2
}

read -r -a words <<<"${SSH_ORIGINAL_COMMAND:-}"
if ! { [ "${#words[@]}" -eq 3 ] && [ "${words[0]}" = hello ]; }; then fail "expected: hello NAME ed25519:KEY"; fi
name=${words[1]}
key=${words[2]}
[[ $name =~ ^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$ ]] || fail "client name \"$name\" is not a slug (a-z, 0-9, -; at most 64)"
[[ $key =~ ^ed25519:[A-Za-z0-9+/]{43}=$ ]] || fail "\"$key\" is not an ed25519:... public key"

server_key=$(head -c 200 "$SERVER_PUB" 2>/dev/null | tr -d '[:space:]') || true
[[ $server_key =~ ^ed25519:[A-Za-z0-9+/]{43}=$ ]] || fail "the server has no identity in $SERVER_PUB yet (run install.sh server there)"
port=$(sed -n 's/^port:[[:space:]]*\([0-9][0-9]*\).*/\1/p' "$CONFIG" 2>/dev/null | head -n 1) || true

umask 077
mkdir -p "$PENDING"
printf '%s\n' "$key" >"$PENDING/.$name.tmp"
mv -f "$PENDING/.$name.tmp" "$PENDING/$name.pub"
echo "server-key $server_key"
echo "port ${port:-7373}"
