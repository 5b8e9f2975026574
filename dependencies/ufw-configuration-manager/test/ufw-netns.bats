#!/usr/bin/env bats
# A real ufw inside network namespaces (each with bind-mounted copies of /etc/ufw): an inactive ufw stays
# inactive unless --enable-firewall; once enabled the allowed port connects across a veth pair, another port
# does not; --remove deletes exactly the script's rules and --restore returns ufw to the state it was found in.

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

# manage NS ARGS...: the script in NS, with that namespace's own record of the state ufw was found in.
manage() {
  local ns=$1
  shift
  in_fw "$ns" "$SCRIPT" --record "$BATS_TEST_TMPDIR/$ns/ufw-found" "$@"
}

@test "inactive ufw stays inactive: the rules are added, nothing is filtered; --remove --restore leaves it so" {
  tcp_listen "$SRV" 7373 7374
  run manage "$SRV" --role server --port 7373 --from 10.66.0.2 --ssh-port 22 --config "$BATS_TEST_TMPDIR/hashrelay.yaml"
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  [[ $output == *"ufw is inactive and stays so"* ]]
  in_fw "$SRV" ufw status | grep -qx 'Status: inactive'
  [ "$(count_rules "$SRV" hashrelay-server)" -eq 2 ]
  [ "$(count_rules "$SRV" hashrelay-ssh)" -eq 0 ]
  tcp_connects "$CLI" 10.66.0.1 7374 # nothing filtered
  tcp_connects "$OTHER" 10.66.1.1 7373
  grep -qx 'active=no' "$BATS_TEST_TMPDIR/$SRV/ufw-found"
  [ "$(stat -c %a "$BATS_TEST_TMPDIR/$SRV/ufw-found")" = 600 ]

  run manage "$SRV" --role server --remove --restore
  [ "$status" -eq 0 ]
  [[ $output == *"ufw left inactive, as HashRelay found it"* ]]
  in_fw "$SRV" ufw status | grep -qx 'Status: inactive'
  [ -z "$(in_fw "$SRV" ufw show added | grep hashrelay)" ]
  [ ! -e "$BATS_TEST_TMPDIR/$SRV/ufw-found" ]
}

@test "server: the agreed port from the listed client connects, another port and another address do not" {
  tcp_listen "$SRV" 7373 7374
  tcp_connects "$CLI" 10.66.0.1 7373
  tcp_connects "$CLI" 10.66.0.1 7374 # before ufw: everything is open (the test can fail)

  run manage "$SRV" --role server --port 7373 --from 10.66.0.2 --ssh-port 22 --config "$BATS_TEST_TMPDIR/hashrelay.yaml" --enable-firewall
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  # It said what the default policy cuts off: the other listening port, by its process.
  [[ $output == *"Its default policy: incoming deny, outgoing allow"* ]]
  [[ $output == *"cut off from other machines: tcp/7374 (python3)"* ]]
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
  manage "$SRV" --role server --port 7373 --from 10.66.0.2 --ssh-port 22 --config "$BATS_TEST_TMPDIR/hashrelay.yaml" --enable-firewall
  [ "$(count_rules "$SRV" hashrelay-server)" -eq 2 ]
  [ "$(count_rules "$SRV" hashrelay-ssh)" -eq 1 ]
}

@test "--remove: exactly the script's rules go, the admin's own rule stays; --restore disables ufw it enabled" {
  tcp_listen "$SRV" 7373 8080 22
  in_fw "$SRV" ufw allow in proto tcp to any port 8080
  manage "$SRV" --role server --port 7373 --from 10.66.0.0/24 --ssh-port 22 --config "$BATS_TEST_TMPDIR/hashrelay.yaml" --enable-firewall
  tcp_connects "$CLI" 10.66.0.1 7373
  grep -qx 'enabled-by-hashrelay=yes' "$BATS_TEST_TMPDIR/$SRV/ufw-found"

  run manage "$SRV" --role server --remove
  [ "$status" -eq 0 ]
  [ "$(count_rules "$SRV" hashrelay-server)" -eq 0 ]
  tcp_blocked "$CLI" 10.66.0.1 7373
  tcp_connects "$CLI" 10.66.0.1 8080
  tcp_connects "$CLI" 10.66.0.1 22 # another role may still be installed: SSH stays open

  run manage "$SRV" --role server --remove --restore
  [ "$status" -eq 0 ]
  [[ $output == *"ufw disabled again"* ]]
  in_fw "$SRV" ufw status | grep -qx 'Status: inactive'
  [ "$(count_rules "$SRV" hashrelay-ssh)" -eq 0 ]
  in_fw "$SRV" ufw show added | grep -q 'allow 8080'
  [ ! -e "$BATS_TEST_TMPDIR/$SRV/ufw-found" ]
}

@test "an active ufw is found active and left active; a rule added since HashRelay enabled ufw keeps it active" {
  tcp_listen "$SRV" 7373 22
  in_fw "$SRV" ufw allow in proto tcp to any port 22
  in_fw "$SRV" ufw --force enable
  manage "$SRV" --role server --port 7373 --from 10.66.0.2 --ssh-port 22 --config "$BATS_TEST_TMPDIR/hashrelay.yaml"
  [ "$(count_rules "$SRV" hashrelay-ssh)" -eq 0 ]
  tcp_connects "$CLI" 10.66.0.1 7373
  run manage "$SRV" --role server --remove --restore
  [[ $output == *"ufw left active, as HashRelay found it"* ]]
  in_fw "$SRV" ufw status | grep -qx 'Status: active'
  tcp_connects "$CLI" 10.66.0.1 22

  # Found inactive, enabled by HashRelay, then the admin relied on it: not disabled behind their back.
  in_fw "$SRV" ufw --force disable
  manage "$SRV" --role server --port 7373 --from 10.66.0.2 --ssh-port 22 --config "$BATS_TEST_TMPDIR/hashrelay.yaml" --enable-firewall
  in_fw "$SRV" ufw allow in proto tcp to any port 8443
  run manage "$SRV" --role server --remove --restore
  [[ $output == *"ufw holds rules added since HashRelay enabled it: left active"* ]]
  in_fw "$SRV" ufw status | grep -qx 'Status: active'
}

@test "client (outgoing denied by default): only the server's address and port get out" {
  tcp_listen "$SRV" 7373 7374
  in_fw "$CLI" ufw default deny outgoing
  run manage "$CLI" --role client --port 7373 --server 10.66.0.1 --ssh-port 22 --config "$BATS_TEST_TMPDIR/hashrelay.yaml" --enable-firewall
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  tcp_connects "$CLI" 10.66.0.1 7373
  tcp_blocked "$CLI" 10.66.0.1 7374
}
