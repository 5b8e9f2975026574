#!/usr/bin/env bats
# ufw-configuration-manager.sh --dry-run: the exact ufw commands per role, the port question, the YAML.
# --dry-run changes nothing (the test checks the host's ufw rules are untouched).

bats_require_minimum_version 1.5.0

setup() {
  SCRIPT="$BATS_TEST_DIRNAME/../ufw-configuration-manager.sh"
  CONFIG="$BATS_TEST_TMPDIR/hashrelay.yaml"
  printf 'version: 1\nport: 7373\nclient:\n  server: 10.0.0.1\n' >"$CONFIG"
  # No sshd on PATH: the SSH port falls back to 22, whatever this machine runs.
  BIN="$BATS_TEST_TMPDIR/bin"
  mkdir -p "$BIN"
}

plan() {
  run --separate-stderr "$SCRIPT" --dry-run --config "$CONFIG" --ssh-port 22 "$@"
}

@test "server: incoming TCP and discovery UDP on the port from each client address or subnet, SSH first, then enable" {
  plan --role server --port 7373 --from 10.0.0.0/24 --from 192.168.1.20
  [ "$status" -eq 0 ]
  [ "$output" = "ufw allow in proto tcp to any port 22 comment hashrelay-ssh
ufw allow in proto tcp from 10.0.0.0/24 to any port 7373 comment hashrelay-server
ufw allow in proto udp from 10.0.0.0/24 to any port 7373 comment hashrelay-server
ufw allow in proto tcp from 192.168.1.20 to any port 7373 comment hashrelay-server
ufw allow in proto udp from 192.168.1.20 to any port 7373 comment hashrelay-server
ufw --force enable" ]
}

@test "client: outgoing TCP to the server's address and port only" {
  plan --role client --port 7444 --server 10.0.0.1
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = "ufw allow in proto tcp to any port 22 comment hashrelay-ssh" ]
  [ "${lines[1]}" = "ufw allow out proto tcp to 10.0.0.1 port 7444 comment hashrelay-client" ]
  [ "${lines[2]}" = "ufw --force enable" ]
  # then the YAML write (port 7444 replaces 7373), and nothing else
  [[ ${lines[3]} == "install -m 644 "* ]]
}

@test "client with server auto: TCP to any address on the port, and the UDP of LAN discovery" {
  plan --role client --port 7373 --server auto
  [ "$status" -eq 0 ]
  [ "$output" = "ufw allow in proto tcp to any port 22 comment hashrelay-ssh
ufw allow out proto tcp to any port 7373 comment hashrelay-client
ufw allow out proto udp to any port 7373 comment hashrelay-client
ufw allow in proto udp from any port 7373 comment hashrelay-client
ufw --force enable" ]
}

@test "no --port: the script asks, defaulting to the YAML's port" {
  run --separate-stderr "$SCRIPT" --dry-run --config "$CONFIG" --ssh-port 22 --role client --server 10.0.0.1 <<<"8123"
  [ "$status" -eq 0 ]
  [[ $stderr == *"Which TCP port do the HashRelay client and server use? (the same on both) [7373]"* ]]
  [[ $output == *"to 10.0.0.1 port 8123 "* ]]
  run --separate-stderr "$SCRIPT" --dry-run --config "$CONFIG" --ssh-port 22 --role client --server 10.0.0.1 <<<""
  [[ $output == *"to 10.0.0.1 port 7373 "* ]]
  run --separate-stderr "$SCRIPT" --dry-run --config "$CONFIG" --ssh-port 22 --role client --server 10.0.0.1 </dev/null
  [ "$status" -eq 2 ]
  [[ $stderr == *"pass --port N"* ]]
}

@test "the port goes into the YAML (shown as a file write under --dry-run, done for real otherwise)" {
  plan --role client --port 7444 --server 10.0.0.1 --no-enable
  # The file keeps its owner: root in CI, the user running the test elsewhere.
  [[ $output == *"install -m 644 -o $(stat -c '%U -g %G' "$CONFIG") /dev/stdin $CONFIG <<'HASHRELAY_EOF'"*"port: 7444"* ]]
  grep -qx 'port: 7373' "$CONFIG"
}

@test "usage errors: no role, bad port, client without server, server without --from" {
  plan --port 7373
  [ "$status" -eq 2 ]
  plan --role client --port 70000 --server 10.0.0.1
  [ "$status" -eq 2 ]
  [[ $stderr == *"not a number in 1-65535"* ]]
  plan --role client --port 7373
  [ "$status" -eq 2 ]
  [[ $stderr == *"--server"* ]]
  plan --role server --port 7373
  [ "$status" -eq 2 ]
  [[ $stderr == *"--from"* ]]
}

@test "--dry-run never touches the host's firewall" {
  before=$(cat /etc/ufw/user.rules /etc/ufw/ufw.conf 2>/dev/null | sha256sum)
  plan --role server --port 7373 --from 10.0.0.0/24
  plan --role server --remove
  after=$(cat /etc/ufw/user.rules /etc/ufw/ufw.conf 2>/dev/null | sha256sum)
  [ "$before" = "$after" ]
}
