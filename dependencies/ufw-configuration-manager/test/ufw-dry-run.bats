#!/usr/bin/env bats
# ufw-configuration-manager.sh --dry-run: the exact ufw commands per role and per state ufw is found in, the port
# question, the record, the YAML. A stand-in `ufw` answers the reads (status, show added) and refuses any write,
# so the plan does not depend on this machine's firewall, and --dry-run provably changes nothing.

bats_require_minimum_version 1.5.0

setup() {
  SCRIPT="$BATS_TEST_DIRNAME/../ufw-configuration-manager.sh"
  CONFIG="$BATS_TEST_TMPDIR/hashrelay.yaml"
  RECORD="$BATS_TEST_TMPDIR/records/ufw-found"
  printf 'version: 1\nport: 7373\nclient:\n  server: 10.0.0.1\n' >"$CONFIG"
  FAKE="$BATS_TEST_TMPDIR/bin"
  mkdir -p "$FAKE"
  cat >"$FAKE/ufw" <<'UFW'
#!/bin/sh
case "$1" in
  status) echo "Status: ${FAKE_UFW_STATUS:-inactive}" ;;
  show) echo "Added user rules (see 'ufw status' for running firewall):"; printf '%b' "${FAKE_UFW_RULES:-}" ;;
  *) echo "stand-in ufw: a dry run ran 'ufw $*'" >&2; exit 99 ;;
esac
UFW
  chmod +x "$FAKE/ufw"
  export PATH="$FAKE:$PATH" FAKE_UFW_STATUS=inactive FAKE_UFW_RULES=""
}

plan() {
  run --separate-stderr "$SCRIPT" --dry-run --config "$CONFIG" --record "$RECORD" --ssh-port 22 "$@"
}

# The ufw commands of the plan (the record and YAML writes are here-documents around them).
ufw_plan() { grep '^ufw ' <<<"$output" || true; }

as_root() { [ "$(id -u)" = 0 ] || skip "the script reads ufw's state only as root"; }

@test "server on an inactive ufw: only the rules, from each client address or subnet; ufw stays inactive" {
  as_root
  plan --role server --port 7373 --from 10.0.0.0/24 --from 192.168.1.20
  [ "$status" -eq 0 ]
  [ "$(ufw_plan)" = "ufw allow in proto tcp from 10.0.0.0/24 to any port 7373 comment hashrelay-server
ufw allow in proto udp from 10.0.0.0/24 to any port 7373 comment hashrelay-server
ufw allow in proto tcp from 192.168.1.20 to any port 7373 comment hashrelay-server
ufw allow in proto udp from 192.168.1.20 to any port 7373 comment hashrelay-server" ]
  [[ $stderr == *"ufw is inactive and stays so"*"nothing is filtered (--enable-firewall enables it)"* ]]
}

@test "--enable-firewall on an inactive ufw: SSH first, the rules, then enable, saying what the default policy blocks" {
  as_root
  plan --role server --port 7373 --from 10.0.0.0/24 --enable-firewall
  [ "$status" -eq 0 ]
  [ "$(ufw_plan)" = "ufw allow in proto tcp to any port 22 comment hashrelay-ssh
ufw allow in proto tcp from 10.0.0.0/24 to any port 7373 comment hashrelay-server
ufw allow in proto udp from 10.0.0.0/24 to any port 7373 comment hashrelay-server
ufw --force enable" ]
  [[ $stderr == *"enabling ufw (--enable-firewall; it was inactive). Its default policy: incoming "* ]]
  [[ $stderr == *"other machines reach this one only through SSH (port 22)"*"HashRelay's port 7373 from 10.0.0.0/24"* ]]
  [[ $stderr == *"uninstall.sh (the last role) disables ufw again"* ]]
}

@test "an active ufw: only the rules, no SSH rule, no policy change, even with --enable-firewall" {
  as_root
  export FAKE_UFW_STATUS=active FAKE_UFW_RULES="ufw allow 22/tcp\n"
  plan --role server --port 7373 --from 10.0.0.0/24 --enable-firewall
  [ "$status" -eq 0 ]
  [ "$(ufw_plan)" = "ufw allow in proto tcp from 10.0.0.0/24 to any port 7373 comment hashrelay-server
ufw allow in proto udp from 10.0.0.0/24 to any port 7373 comment hashrelay-server" ]
  [[ $stderr == *"ufw is active: HashRelay's rules added (hashrelay-server); its policy is unchanged"* ]]
  # No SSH rule of the admin's: a server says the link needs one.
  export FAKE_UFW_RULES=""
  plan --role server --port 7373 --from 10.0.0.0/24
  [[ $stderr == *"warning: no ufw rule allows SSH (port 22): clients link over SSH"* ]]
}

@test "client: outgoing TCP to the server's address and port only" {
  plan --role client --port 7444 --server 10.0.0.1
  [ "$status" -eq 0 ]
  [ "$(ufw_plan)" = "ufw allow out proto tcp to 10.0.0.1 port 7444 comment hashrelay-client" ]
  # then the YAML write (port 7444 replaces 7373)
  [[ $output == *"install -m 644 -o root -g root /dev/stdin $CONFIG <<'HASHRELAY_EOF'"*"port: 7444"* ]]
}

@test "client with server auto: TCP to any address on the port, and the UDP of LAN discovery" {
  plan --role client --port 7373 --server auto
  [ "$status" -eq 0 ]
  [ "$(ufw_plan)" = "ufw allow out proto tcp to any port 7373 comment hashrelay-client
ufw allow out proto udp to any port 7373 comment hashrelay-client
ufw allow in proto udp from any port 7373 comment hashrelay-client" ]
}

@test "the state ufw is found in is recorded root-only, once" {
  plan --role client --port 7373 --server 10.0.0.1
  [[ $output == *"install -d -m 700 ${RECORD%/*}"*"install -m 600 -o root -g root /dev/stdin $RECORD <<"* ]]
  mkdir -p "${RECORD%/*}"
  printf 'active=no\nenabled-by-hashrelay=yes\n' >"$RECORD"
  plan --role client --port 7373 --server 10.0.0.1
  [[ $output != *"$RECORD"* ]]
}

@test "no --port: the script asks, defaulting to the YAML's port; no answer at all (stdin closed) takes the default" {
  run --separate-stderr "$SCRIPT" --dry-run --config "$CONFIG" --record "$RECORD" --ssh-port 22 --role client --server 10.0.0.1 <<<"8123"
  [ "$status" -eq 0 ]
  [[ $stderr == *"Which TCP port do the HashRelay client and server use? (the same on both) [7373]"* ]]
  [[ $output == *"to 10.0.0.1 port 8123 "* ]]
  run --separate-stderr "$SCRIPT" --dry-run --config "$CONFIG" --record "$RECORD" --ssh-port 22 --role client --server 10.0.0.1 <<<""
  [[ $output == *"to 10.0.0.1 port 7373 "* ]]
  run --separate-stderr "$SCRIPT" --dry-run --config "$CONFIG" --record "$RECORD" --ssh-port 22 --role client --server 10.0.0.1 </dev/null
  [ "$status" -eq 0 ]
  [[ $stderr == *"no answer (stdin closed): port 7373"* ]]
  [[ $output == *"to 10.0.0.1 port 7373 "* ]]
}

@test "the port goes into the YAML (shown as a file write under --dry-run, done for real otherwise)" {
  plan --role client --port 7444 --server 10.0.0.1
  # The file keeps its owner: root in CI, the user running the test elsewhere.
  [[ $output == *"install -m 644 -o $(stat -c '%U -g %G' "$CONFIG") /dev/stdin $CONFIG <<'HASHRELAY_EOF'"*"port: 7444"* ]]
  grep -qx 'port: 7373' "$CONFIG"
}

@test "--remove --restore: ufw found inactive and enabled by HashRelay is disabled again, with its SSH rule" {
  as_root
  mkdir -p "${RECORD%/*}"
  others=$(printf '' | sha256sum | cut -c1-64)
  printf 'active=no\nenabled-by-hashrelay=yes\nothers=%s\n' "$others" >"$RECORD"
  export FAKE_UFW_STATUS=active
  export FAKE_UFW_RULES="ufw allow in proto tcp to any port 22 comment 'hashrelay-ssh'\nufw allow in proto tcp from 10.0.0.0/24 to any port 7373 comment 'hashrelay-server'\n"
  plan --role server --remove --restore
  [ "$status" -eq 0 ]
  [ "$(ufw_plan)" = "ufw delete allow in proto tcp from 10.0.0.0/24 to any port 7373
ufw delete allow in proto tcp to any port 22
ufw --force disable" ]
  [[ $output == *"rm -f $RECORD"* ]]
  [[ $stderr == *"ufw disabled again: it was inactive before HashRelay enabled it"* ]]

  # A rule the admin added since: ufw stays active, and so does the SSH rule.
  export FAKE_UFW_RULES="${FAKE_UFW_RULES}ufw allow 80/tcp\n"
  plan --role server --remove --restore
  [ "$(ufw_plan)" = "ufw delete allow in proto tcp from 10.0.0.0/24 to any port 7373" ]
  [[ $stderr == *"ufw holds rules added since HashRelay enabled it: left active"* ]]

  # Found active: left active.
  printf 'active=yes\nenabled-by-hashrelay=no\nothers=%s\n' "$others" >"$RECORD"
  plan --role server --remove --restore
  [ "$(ufw_plan)" = "ufw delete allow in proto tcp from 10.0.0.0/24 to any port 7373" ]
  [[ $stderr == *"ufw left active, as HashRelay found it"* ]]
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
  export PATH=${PATH#"$FAKE:"} # the real ufw this time
  plan --role server --port 7373 --from 10.0.0.0/24 --enable-firewall
  plan --role server --remove --restore
  after=$(cat /etc/ufw/user.rules /etc/ufw/ufw.conf 2>/dev/null | sha256sum)
  [ "$before" = "$after" ]
  [ ! -e "$RECORD" ]
}
