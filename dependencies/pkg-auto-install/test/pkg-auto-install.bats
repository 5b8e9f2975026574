#!/usr/bin/env bats
# pkg-auto-install.sh --dry-run for every package-manager family, with a PATH the test controls
# (what is "present" is exactly what the test puts there). Nothing is installed.

bats_require_minimum_version 1.5.0

setup() {
  SCRIPT="$BATS_TEST_DIRNAME/../pkg-auto-install.sh"
  FIX="$BATS_TEST_DIRNAME/../../distro-and-pkgman-detect/test/fixtures"
  BIN="$BATS_TEST_TMPDIR/bin"
  mkdir -p "$BIN"
}

# present TOOL...: fake commands the script will find in PATH.
present() {
  local tool
  for tool in "$@"; do printf '#!/bin/sh\nexit 0\n' >"$BIN/$tool" && chmod +x "$BIN/$tool"; done
}

# plan FIXTURE ARGS...: the dry-run plan (stdout only) for that distribution.
plan() {
  local fixture=$1
  shift
  run --separate-stderr env PATH="$BIN" "$BASH" "$SCRIPT" --dry-run --os-release "$FIX/$fixture.os-release" "$@"
}

# Every family with nothing present: the exact commands.
@test "apt (Debian): update, then one install of the client's packages" {
  plan debian-12 --role client
  [ "$status" -eq 0 ]
  [ "$output" = "apt-get update
env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends tar gzip sudo passwd openssh-client python3 ufw" ]
}

@test "apt (Ubuntu): the server also gets openssh-server" {
  plan ubuntu-24.04 --role server
  [ "$status" -eq 0 ]
  [ "$output" = "apt-get update
env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends tar gzip sudo passwd openssh-client openssh-server python3 ufw" ]
}

@test "dnf (Rocky 9): EPEL first, in its own command, then the rest" {
  plan rocky-9.4 --role server
  [ "$status" -eq 0 ]
  [ "$output" = "dnf install -y epel-release
dnf install -y tar gzip sudo shadow-utils openssh-clients openssh-server python3 ufw" ]
}

@test "dnf (Fedora 40): no EPEL, ufw comes from Fedora itself" {
  plan fedora-40 --role client
  [ "$status" -eq 0 ]
  [ "$output" = "dnf install -y tar gzip sudo shadow-utils openssh-clients python3 ufw" ]
}

@test "yum (CentOS 7)" {
  plan centos-7 --role client
  [ "$status" -eq 0 ]
  [ "$output" = "yum install -y epel-release
yum install -y tar gzip sudo shadow-utils openssh-clients python3 ufw" ]
}

@test "zypper (openSUSE Tumbleweed)" {
  plan opensuse-tumbleweed --role server
  [ "$status" -eq 0 ]
  [ "$output" = "zypper --non-interactive install --no-recommends tar gzip sudo shadow openssh-clients openssh-server python3 ufw" ]
}

@test "pacman (Manjaro): one openssh package for client and server" {
  plan manjaro
  [ "$status" -eq 0 ]
  [ "$output" = "pacman -S --needed --noconfirm tar gzip sudo shadow openssh python ufw" ]
}

@test "apk (Alpine): split openssh packages, and gcompat unless its loader is there" {
  plan alpine-3.20 --role client
  [ "$status" -eq 0 ]
  local gcompat=" gcompat"
  [ -e /lib/ld-linux-x86-64.so.2 ] && gcompat=""
  [ "$output" = "apk add --no-cache tar gzip sudo shadow openssh-client openssh-keygen python3 ufw$gcompat" ]
}

@test "what is present is skipped and named on stderr" {
  present tar gzip ufw ssh ssh-keygen scp
  plan debian-12 --role client
  [ "$status" -eq 0 ]
  [ "$output" = "apt-get update
env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends sudo passwd python3" ]
  [[ $stderr == *"present: tar"* ]]
  [[ $stderr == *"present: ufw"* ]]
}

@test "everything present: no command at all, exit 0" {
  present tar gzip sudo useradd ssh ssh-keygen scp sshd python3 ufw
  plan debian-12
  [ "$status" -eq 0 ]
  [ "$output" = "" ]
  [[ $stderr == *"nothing to install"* ]]
}

@test "an absolute path in the check column is a file that must exist" {
  printf '%s  a  b  c  d  e  both\n' "$BATS_TEST_TMPDIR/marker" >"$BATS_TEST_TMPDIR/list"
  plan arch --list "$BATS_TEST_TMPDIR/list"
  [ "$output" = "pacman -S --needed --noconfirm d" ]
  touch "$BATS_TEST_TMPDIR/marker"
  plan arch --list "$BATS_TEST_TMPDIR/list"
  [ "$output" = "" ]
}

@test "unknown distribution: exit 3; bad role or malformed list: exit 2" {
  plan void
  [ "$status" -eq 3 ]
  plan debian-12 --role laptop
  [ "$status" -eq 2 ]
  printf 'tar tar tar\n' >"$BATS_TEST_TMPDIR/list"
  plan debian-12 --list "$BATS_TEST_TMPDIR/list"
  [ "$status" -eq 2 ]
  [[ $stderr == *"needs 7 columns"* ]]
}

@test "without --dry-run a non-root user is refused before anything runs" {
  local as_nobody=() # not root already: run as this user
  if [ "$(id -u)" = 0 ]; then
    command -v setpriv >/dev/null || skip "setpriv missing"
    as_nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups)
  fi
  run "${as_nobody[@]}" env PATH="$BIN" "$BASH" "$SCRIPT" --os-release "$FIX/debian-12.os-release"
  [ "$status" -eq 1 ]
  [[ $output == *"run as root"* ]]
}
