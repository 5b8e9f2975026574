#!/usr/bin/env bats
# install.sh / uninstall.sh refuse incomplete command lines before touching anything.

bats_require_minimum_version 1.5.0

setup() {
  DEPS="$BATS_TEST_DIRNAME/.."
}

@test "a role is required, and only server or client" {
  run "$DEPS/install.sh"
  [ "$status" -eq 2 ]
  run "$DEPS/install.sh" laptop
  [ "$status" -eq 2 ]
  run "$DEPS/uninstall.sh" laptop --dry-run
  [ "$status" -eq 2 ]
}

@test "a client needs the server's address and at least one path" {
  run --separate-stderr "$DEPS/install.sh" client --path /srv --dry-run
  [ "$status" -eq 2 ]
  [[ $stderr == *"client needs --server ADDR"* ]]
  run --separate-stderr "$DEPS/install.sh" client --server 10.0.0.1 --dry-run
  [ "$status" -eq 2 ]
  [[ $stderr == *"client needs at least one --path DIR"* ]]
}

@test "a server needs the clients' addresses for its firewall (unless --no-firewall)" {
  run --separate-stderr "$DEPS/install.sh" server --port 7373 --dry-run
  [ "$status" -eq 2 ]
  [[ $stderr == *"server needs --from ADDR|CIDR"* ]]
}

@test "an unknown option is named" {
  run --separate-stderr "$DEPS/install.sh" server --form 10.0.0.1 --dry-run
  [ "$status" -eq 2 ]
  [[ $stderr == *"unknown argument --form"* ]]
}

@test "the port is asked before anything changes; with stdin closed the answer is the default" {
  [ -x "$DEPS/../dist/hashrelay" ] || skip "dist/hashrelay missing (npm run build)"
  [ ! -e /etc/hashrelay/hashrelay.yaml ] || skip "this machine has /etc/hashrelay/hashrelay.yaml: its port would be taken"
  run --separate-stderr "$DEPS/install.sh" server --from 10.0.0.1 --transfer none --no-packages --dry-run </dev/null
  [ "$status" -eq 0 ] || { echo "$stderr"; false; }
  [[ $stderr == *"no answer (stdin closed): port 7373"* ]]
  [[ $output == *"port: 7373"* ]]
  # The question comes first: before the service user, the binary, the config.
  question=${stderr%%Which TCP port*}
  [[ $question != *"== "* ]]
}
