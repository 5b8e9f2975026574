#!/usr/bin/env bats
# LAN discovery across veth pairs: a client namespace joined to two server namespaces, each running the real
# hashrelay server on the same port with its own identity. contact-ip.sh (hashrelay discover) finds the one
# whose key is pinned and ignores the other; a client with `server: auto` backs up to it.

bats_require_minimum_version 1.5.0

# Not root: each test skips in setup (bats 1.8, Debian 12's, counts a skip in setup_file as a failure).
setup_file() {
  [ "$(id -u)" = 0 ] || return 0
  load ../../test-lib/netns.bash
  export REPO BIN NC="hr6dc-c-$$" NA="hr6dc-a-$$" NB="hr6dc-b-$$" W="$BATS_FILE_TMPDIR"
  REPO=$(cd "$BATS_TEST_DIRNAME/../../.." && pwd)
  BIN=$REPO/dist/hashrelay
  [ -x "$BIN" ] || { echo "build dist/hashrelay first (npm run build)" >&2; return 1; }
  for ns in "$NC" "$NA" "$NB"; do netns_new "$ns"; done
  netns_link "$NC" 10.67.1.2/24 "$NA" 10.67.1.1/24
  netns_link "$NC" 10.67.2.2/24 "$NB" 10.67.2.1/24

  mkdir -p "$W/data" && echo "hello" >"$W/data/greeting.txt"
  export PUB_A PUB_B PUB_CLIENT
  PUB_A=$("$BIN" keygen --out "$W/a.key")
  PUB_B=$("$BIN" keygen --out "$W/b.key")
  PUB_CLIENT=$("$BIN" keygen --out "$W/client.key")
  for s in a b; do
    printf 'version: 1\nport: 7373\nserver:\n  key: ./%s.key\n  storage: ./nas-%s\n  clients:\n    - name: web01\n      key: "%s"\n' \
      "$s" "$s" "$PUB_CLIENT" >"$W/server-$s.yaml"
  done
  start_server "$NA" a
  start_server "$NB" b
}

setup() {
  [ "$(id -u)" = 0 ] || skip "needs root (network namespaces)"
}

teardown_file() {
  [ -n "${NC:-}" ] || return 0 # setup_file did nothing: nothing to delete
  load ../../test-lib/netns.bash
  netns_delete "$NC" "$NA" "$NB"
}

# start_server NS NAME: the real server in NS, in the background, until it answers on UDP 7373.
start_server() {
  ip netns exec "$1" "$BIN" server --config "$W/server-$2.yaml" >>"$W/server-$2.log" 2>&1 3>&- &
  for _ in $(seq 100); do
    ip netns exec "$1" ss -Hlun 'sport = :7373' | grep -q . && return 0
    sleep 0.1
  done
  cat "$W/server-$2.log" >&2
  return 1
}

# client_config FILE SERVER_KEY [SERVER]: a client config pinning SERVER_KEY, with server: SERVER (default auto).
client_config() {
  printf 'version: 1\nport: 7373\nclient:\n  name: web01\n  server: %s\n  serverKey: "%s"\n  key: ./client.key\n  state: ./state\n  paths:\n    - ./data\n' \
    "${3:-auto}" "$2" >"$1"
}

contact() { ip netns exec "$NC" "$BATS_TEST_DIRNAME/../contact-ip.sh" --binary "$BIN" "$@"; }

@test "server: auto finds the server whose key is pinned, among two that answer" {
  client_config "$W/pin-a.yaml" "$PUB_A"
  client_config "$W/pin-b.yaml" "$PUB_B"
  run contact --config "$W/pin-a.yaml"
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  [ "$output" = "10.67.1.1:7373" ]
  # The other server does answer: pinned, it is the one found.
  run contact --config "$W/pin-b.yaml"
  [ "$output" = "10.67.2.1:7373" ]
}

@test "only a responder with another key: ignored, exit 3 after the wait" {
  client_config "$W/pin-a.yaml" "$PUB_A"
  pkill_ns_server "$NA"
  started=$SECONDS
  run --separate-stderr contact --config "$W/pin-a.yaml"
  [ "$status" -eq 3 ]
  [ "$output" = "" ]
  [[ $stderr == *"no server answered LAN discovery on UDP port 7373"* ]]
  [ $((SECONDS - started)) -le 8 ]
  start_server "$NA" a
  run contact --config "$W/pin-a.yaml"
  [ "$output" = "10.67.1.1:7373" ]
}

@test "a client with server: auto backs up to the discovered server" {
  client_config "$W/pin-a.yaml" "$PUB_A"
  run ip netns exec "$NC" "$BIN" client --config "$W/pin-a.yaml" --once --json
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  [[ $output == *'"server":"up"'* && $output == *'"status":"sent"'* ]]
  ls "$W"/nas-a/web01/backup-data-*.tar.gz
  [ ! -e "$W/nas-b/web01" ]
}

@test "a configured address is printed as it is, no discovery needed" {
  client_config "$W/fixed.yaml" "$PUB_A" 10.67.1.1
  run contact --config "$W/fixed.yaml"
  [ "$output" = "10.67.1.1:7373" ]
  client_config "$W/fixed.yaml" "$PUB_A" nas.lan:7400
  run contact --config "$W/fixed.yaml"
  [ "$output" = "nas.lan:7400" ]
  client_config "$W/pin-a.yaml" "$PUB_A"
  run contact --config "$W/pin-a.yaml" --dry-run
  [ "$output" = "$BIN discover --config $W/pin-a.yaml" ]
}

# Stops the hashrelay server this test file started in NS (by the pids of that namespace only).
pkill_ns_server() {
  local pid
  for pid in $(ip netns pids "$1"); do
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = hashrelay ] && kill "$pid"
  done
  for _ in $(seq 50); do
    ip netns exec "$1" ss -Hlun 'sport = :7373' | grep -q . || return 0
    sleep 0.1
  done
  return 1
}
