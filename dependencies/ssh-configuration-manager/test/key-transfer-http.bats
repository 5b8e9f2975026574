#!/usr/bin/env bats
# The link bundle's one-shot HTTP download between two network namespaces: one address, one download, a
# timeout; the SHA-256 the server prints is what the client checks, and it covers the server's SSH host keys,
# which the client pins (no trust on first use). (The scp path, from a real sshd, is in
# dependencies/test/two-machines.bats.)

bats_require_minimum_version 1.5.0

setup() {
  [ "$(id -u)" = 0 ] || skip "needs root (network namespaces)"
  load ../../test-lib/netns.bash
  SCRIPT="$BATS_TEST_DIRNAME/../ssh-configuration-manager.sh"
  SRV="hr6kt-s-$$" CLI="hr6kt-c-$$"
  netns_new "$SRV"
  netns_new "$CLI"
  netns_link "$SRV" 10.68.0.1/24 "$CLI" 10.68.0.2/24
  KEY="$BATS_TEST_TMPDIR/HashRelay-client.key"
  ssh-keygen -q -t rsa -b 2048 -N '' -f "$KEY"
  HOST_KEY="$BATS_TEST_TMPDIR/ssh_host_ed25519_key"
  ssh-keygen -q -t ed25519 -N '' -f "$HOST_KEY"
}

teardown() {
  [ -n "${SRV:-}" ] || return 0 # setup skipped: nothing was created
  netns_delete "$SRV" "$CLI"
}

# serve TIMEOUT: serve-key in the server namespace, in the background; its output in $BATS_TEST_TMPDIR/served,
# the SHA-256 it printed in $SUM.
serve() {
  ip netns exec "$SRV" "$SCRIPT" serve-key --bind 10.68.0.1 --http-port 7373 --timeout "$1" --key "$KEY" \
    --host-key "$HOST_KEY.pub" >"$BATS_TEST_TMPDIR/served" 2>&1 3>&- &
  SERVER_PID=$!
  for _ in $(seq 50); do
    if ip netns exec "$SRV" ss -Hltn 'sport = :7373' | grep -q .; then
      SUM=$(sed -n 's/^sha256 //p' "$BATS_TEST_TMPDIR/served")
      return 0
    fi
    sleep 0.1
  done
  cat "$BATS_TEST_TMPDIR/served"
  return 1
}

fetch() {
  ip netns exec "$CLI" "$SCRIPT" fetch-key --fetch http --server 10.68.0.1 --http-port 7373 "$@"
}

@test "one download, checked against the printed SHA-256, carrying the key and the server's SSH host key; the second is refused" {
  serve 20
  # Bound to the one address given, not to every address of the server.
  [ "$(ip netns exec "$SRV" ss -Hltn 'sport = :7373' | awk '{print $4}')" = 10.68.0.1:7373 ]
  tcp_blocked "$SRV" 127.0.0.1 7373
  [[ $SUM =~ ^[0-9a-f]{64}$ ]]

  run fetch --sha256 "$SUM" --out "$BATS_TEST_TMPDIR/got" --known-hosts "$BATS_TEST_TMPDIR/known_hosts"
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  cmp "$KEY" "$BATS_TEST_TMPDIR/got"
  [ "$(stat -c %a "$BATS_TEST_TMPDIR/got")" = 600 ]
  # The host key, pinned for the address the client links to: ssh then needs no first-use trust.
  [ "$(cat "$BATS_TEST_TMPDIR/known_hosts")" = "10.68.0.1 $(cut -d' ' -f1,2 "$HOST_KEY.pub")" ]
  wait "$SERVER_PID"
  grep -q "downloaded by 10.68.0.2" "$BATS_TEST_TMPDIR/served"

  run fetch --sha256 "$SUM" --out "$BATS_TEST_TMPDIR/again"
  [ "$status" -eq 1 ]
  [ ! -e "$BATS_TEST_TMPDIR/again" ]
}

@test "a download that does not match the SHA-256 is refused and not installed" {
  serve 20
  run fetch --sha256 "$(printf '0%.0s' $(seq 64))" --out "$BATS_TEST_TMPDIR/got"
  [ "$status" -eq 1 ]
  [[ $output == *"SHA-256 is $SUM, not 0000"*"refused"* ]]
  [ ! -e "$BATS_TEST_TMPDIR/got" ]
  [ -z "$(find "$BATS_TEST_TMPDIR" -name '.key.*' -o -name '.bundle.*' -o -name '.known_hosts.*')" ]
}

@test "without --sha256 and no terminal to ask, an HTTP download is refused" {
  serve 20
  run fetch --out "$BATS_TEST_TMPDIR/got" </dev/null
  [ "$status" -eq 2 ]
  [[ $output == *"pass --sha256"* ]]
  [ ! -e "$BATS_TEST_TMPDIR/got" ]
}

@test "no host key to pin: the server does not serve, the client refuses a download without one" {
  run ip netns exec "$SRV" "$SCRIPT" serve-key --bind 10.68.0.1 --http-port 7373 --timeout 2 --key "$KEY" --host-key /nonexistent.pub
  [ "$status" -eq 1 ]
  [[ $output == *"no SSH host key found"* ]]

  # An older server's bare key, checked by its SHA-256 but with no host key in it: refused all the same.
  ip netns exec "$SRV" python3 "$BATS_TEST_DIRNAME/../serve-once.py" --bind 10.68.0.1 --port 7373 --timeout 20 \
    --file "$KEY" --name HashRelay-link.bundle >/dev/null 2>&1 3>&- &
  for _ in $(seq 50); do ip netns exec "$SRV" ss -Hltn 'sport = :7373' | grep -q . && break; sleep 0.1; done
  run fetch --sha256 "$(sha256sum "$KEY" | cut -d' ' -f1)" --out "$BATS_TEST_TMPDIR/got"
  [ "$status" -eq 1 ]
  [[ $output == *"holds no SSH host key"* ]]
  [ ! -e "$BATS_TEST_TMPDIR/got" ]
}

@test "nobody downloads: the server gives up after its timeout" {
  local started=$SECONDS
  run ip netns exec "$SRV" "$SCRIPT" serve-key --bind 10.68.0.1 --http-port 7373 --timeout 2 --key "$KEY"
  [ "$status" -eq 1 ]
  [[ $output == *"nobody downloaded HashRelay-link.bundle within 2 s"* ]]
  [ $((SECONDS - started)) -ge 2 ]
  [ $((SECONDS - started)) -le 6 ]
  tcp_blocked "$CLI" 10.68.0.1 7373
}

@test "only one address: 0.0.0.0 is refused" {
  run ip netns exec "$SRV" "$SCRIPT" serve-key --bind 0.0.0.0 --key "$KEY"
  [ "$status" -eq 2 ]
}
