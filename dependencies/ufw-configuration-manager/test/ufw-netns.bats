#!/usr/bin/env bats
# A real `ufw enable` inside network namespaces (each with bind-mounted copies of /etc/ufw): the allowed
# port connects across a veth pair, another port does not; --remove deletes exactly the script's rules.

setup() {
  [ "$(id -u)" = 0 ] || skip "needs root (network namespaces)"
  command -v ufw >/dev/null || skip "ufw missing"
  load ../../test-lib/netns.bash
  SCRIPT="$BATS_TEST_DIRNAME/../ufw-configuration-manager.sh"
  SRV="hr6fw-s-$$" CLI="hr6fw-c-$$" OTHER="hr6fw-o-$$"
  HOST_UFW=$(cat /etc/ufw/*.rules /etc/ufw/ufw.conf /etc/default/ufw | sha256sum)
  for ns in "$SRV" "$CLI" "$OTHER"; do
    netns_new "$ns"
    mkdir -p "$BATS_TEST_TMPDIR/$ns"
    cp -a /etc/ufw "$BATS_TEST_TMPDIR/$ns/etc-ufw"
    cp -a /etc/default/ufw "$BATS_TEST_TMPDIR/$ns/default-ufw"
  done
  netns_link "$SRV" 10.66.0.1/24 "$CLI" 10.66.0.2/24
  netns_link "$SRV" 10.66.1.1/24 "$OTHER" 10.66.1.2/24
  printf 'version: 1\nport: 7000\nserver:\n  key: ./server.key\n' >"$BATS_TEST_TMPDIR/hashrelay.yaml"
}

teardown() {
  [ -n "${SRV:-}" ] || return 0 # setup skipped: nothing was created
  netns_delete "$SRV" "$CLI" "$OTHER"
  # The host's firewall files never changed.
  [ "$(cat /etc/ufw/*.rules /etc/ufw/ufw.conf /etc/default/ufw | sha256sum)" = "$HOST_UFW" ]
}

# in_fw NS CMD...: runs CMD in NS with that namespace's own /etc/ufw and /etc/default/ufw.
in_fw() {
  local ns=$1
  shift
  ip netns exec "$ns" bash -c 'mount --bind "$1/etc-ufw" /etc/ufw && mount --bind "$1/default-ufw" /etc/default/ufw && shift && exec "$@"' \
    _ "$BATS_TEST_TMPDIR/$ns" "$@"
}

count_rules() { in_fw "$1" ufw show added | grep -c "comment '$2'" || true; }

@test "server: the agreed port from the listed client connects, another port and another address do not" {
  tcp_listen "$SRV" 7373 7374
  tcp_connects "$CLI" 10.66.0.1 7373
  tcp_connects "$CLI" 10.66.0.1 7374 # before ufw: everything is open (the test can fail)

  run in_fw "$SRV" "$SCRIPT" --role server --port 7373 --from 10.66.0.2 --ssh-port 22 --config "$BATS_TEST_TMPDIR/hashrelay.yaml"
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  in_fw "$SRV" ufw status | grep -q '^Status: active'
  tcp_connects "$CLI" 10.66.0.1 7373
  tcp_blocked "$CLI" 10.66.0.1 7374
  tcp_blocked "$OTHER" 10.66.1.1 7373
  # SSH stays reachable, the port is in the YAML.
  tcp_listen "$SRV" 22
  tcp_connects "$CLI" 10.66.0.1 22
  tcp_connects "$OTHER" 10.66.1.1 22
  grep -qx 'port: 7373' "$BATS_TEST_TMPDIR/hashrelay.yaml"

  # Idempotent: a second run adds nothing.
  [ "$(count_rules "$SRV" hashrelay-server)" -eq 2 ]
  in_fw "$SRV" "$SCRIPT" --role server --port 7373 --from 10.66.0.2 --ssh-port 22 --config "$BATS_TEST_TMPDIR/hashrelay.yaml"
  [ "$(count_rules "$SRV" hashrelay-server)" -eq 2 ]
  [ "$(count_rules "$SRV" hashrelay-ssh)" -eq 1 ]
}

@test "server --remove: exactly the script's rules go, the admin's own rule and SSH stay" {
  tcp_listen "$SRV" 7373 8080 22
  in_fw "$SRV" ufw allow in proto tcp to any port 8080
  in_fw "$SRV" "$SCRIPT" --role server --port 7373 --from 10.66.0.0/24 --ssh-port 22 --config "$BATS_TEST_TMPDIR/hashrelay.yaml"
  tcp_connects "$CLI" 10.66.0.1 7373

  run in_fw "$SRV" "$SCRIPT" --role server --remove
  [ "$status" -eq 0 ]
  [[ $output == *"kept the SSH rule"* ]]
  [ "$(count_rules "$SRV" hashrelay-server)" -eq 0 ]
  tcp_blocked "$CLI" 10.66.0.1 7373
  tcp_connects "$CLI" 10.66.0.1 8080
  tcp_connects "$CLI" 10.66.0.1 22

  in_fw "$SRV" "$SCRIPT" --role server --remove --remove-ssh
  [ "$(count_rules "$SRV" hashrelay-ssh)" -eq 0 ]
  in_fw "$SRV" ufw show added | grep -q 'allow 8080'
}

@test "client (outgoing denied by default): only the server's address and port get out" {
  tcp_listen "$SRV" 7373 7374
  in_fw "$CLI" ufw default deny outgoing
  run in_fw "$CLI" "$SCRIPT" --role client --port 7373 --server 10.66.0.1 --ssh-port 22 --config "$BATS_TEST_TMPDIR/hashrelay.yaml"
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  tcp_connects "$CLI" 10.66.0.1 7373
  tcp_blocked "$CLI" 10.66.0.1 7374
}
