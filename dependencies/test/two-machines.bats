#!/usr/bin/env bats
# From nothing to a running pair, as the README's "Install" section tells an admin: a server and two clients,
# each a Debian rootfs (chroot) in its own network namespace, joined by veth pairs. The server waits while
# the first client fetches the link bundle (the RSA key and the NAS's SSH host keys) by scp from the server's real
# sshd, the second by the one-shot HTTP download, each checked by the SHA-256 the server printed; both link, and
# both back up, finding the server by LAN discovery, through ufw where --enable-firewall turned it on (the NAS,
# web01) and with ufw left inactive as found on db01.

bats_require_minimum_version 1.5.0

# Why these tests cannot run here, or nothing. Each test skips in setup: bats 1.8 (Debian 12's) counts a
# skip in setup_file as a failure.
cannot_run() {
  if [ "$(id -u)" != 0 ]; then
    echo "needs root (chroot, network namespaces)"
  elif ! command -v debootstrap >/dev/null; then
    echo "debootstrap missing"
  fi
}

setup_file() {
  [ -z "$(cannot_run)" ] || return 0
  load ../test-lib/chroot.bash
  load ../test-lib/netns.bash
  export NS_S="hr6tm-s-$$" NS_C="hr6tm-c-$$" NS_D="hr6tm-d-$$" S="$BATS_FILE_TMPDIR/nas" C="$BATS_FILE_TMPDIR/web01" D="$BATS_FILE_TMPDIR/db01"
  rootfs_tarball >/dev/null # built once, before three extractions run side by side
  for m in "$S" "$C" "$D"; do machine_prepare "$m" & done
  wait
  for ns in "$NS_S" "$NS_C" "$NS_D"; do netns_new "$ns"; done
  netns_link "$NS_S" 10.69.0.1/24 "$NS_C" 10.69.0.2/24
  netns_link "$NS_S" 10.69.1.1/24 "$NS_D" 10.69.1.2/24
  # The admin's root key on web01 opens root on the NAS (what scp uses); each client has data to back up.
  in_machine "$NS_C" "$C" bash -c 'mkdir -p -m 700 /root/.ssh && ssh-keygen -q -t ed25519 -N "" -f /root/.ssh/id_ed25519'
  mkdir -p -m 700 "$S/root/.ssh"
  cp "$C/root/.ssh/id_ed25519.pub" "$S/root/.ssh/authorized_keys"
  for m in "$C" "$D"; do mkdir -p "$m/srv/data" && echo "report of ${m##*/}" >"$m/srv/data/report.txt"; done
  in_machine "$NS_S" "$S" /usr/sbin/sshd
}

teardown_file() {
  [ -n "${NS_S:-}" ] || return 0 # setup_file did nothing: nothing to delete
  load ../test-lib/netns.bash
  netns_delete "$NS_S" "$NS_C" "$NS_D"
}

setup() {
  local why
  why=$(cannot_run)
  [ -z "$why" ] || skip "$why"
  load ../test-lib/chroot.bash
}

# wait_for FILE TEXT: until FILE holds TEXT (60 s at most).
wait_for() {
  for _ in $(seq 600); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "timed out waiting for '$2' in $1:" >&2
  cat "$1" >&2
  return 1
}

@test "web01 links by scp while the server install waits for it" {
  in_machine "$NS_S" "$S" /opt/hashrelay/dependencies/install.sh server --port 7373 --from 10.69.0.2 --from 10.69.1.2 \
    --transfer scp --wait 60 --enable-firewall >"$BATS_FILE_TMPDIR/server-1.log" 2>&1 3>&- &
  server_install=$!
  wait_for "$BATS_FILE_TMPDIR/server-1.log" "waiting up to 60 s"
  sum=$(sed -n 's/^sha256 //p' "$BATS_FILE_TMPDIR/server-1.log")

  run in_machine "$NS_C" "$C" /opt/hashrelay/dependencies/install.sh client --server 10.69.0.1 --port 7373 --name web01 \
    --path /srv/data --fetch scp --login root --auto --sha256 "$sum" --enable-firewall
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  wait "$server_install" || { cat "$BATS_FILE_TMPDIR/server-1.log"; false; }
  grep -q "client web01 linked" "$BATS_FILE_TMPDIR/server-1.log"

  cmp "$S/home/HashRelay-server/.ssh/HashRelay-client.key" "$C/home/HashRelay-Client/.ssh/HashRelay-client.key"
  [ "$(sort "$C/home/HashRelay-Client/.ssh/known_hosts")" = "$(cat "$S"/etc/ssh/ssh_host_*_key.pub | awk '{print "10.69.0.1", $1, $2}' | sort)" ]
  grep -qx "      key: \"$(sed -n 's/^# public: //p' "$C/etc/hashrelay/client.key")\"" "$S/etc/hashrelay/hashrelay.yaml"
  grep -qx "  serverKey: \"$(cat "$S/etc/hashrelay/server.pub")\"" "$C/etc/hashrelay/hashrelay.yaml"
  grep -qx "  server: auto" "$C/etc/hashrelay/hashrelay.yaml"
  in_machine "$NS_S" "$S" hashrelay validate --config /etc/hashrelay/hashrelay.yaml
  in_machine "$NS_C" "$C" hashrelay validate --config /etc/hashrelay/hashrelay.yaml
  # On the NAS, HashRelay-Client may only use its key.
  run in_machine "$NS_C" "$C" ssh -o BatchMode=yes -o PreferredAuthentications=password,keyboard-interactive HashRelay-Client@10.69.0.1 true
  [[ $output == *"HashRelay-Client@10.69.0.1: Permission denied (publickey)."* ]]
}

@test "db01 links by the one-shot HTTP download, checked with the SHA-256 the server printed" {
  in_machine "$NS_S" "$S" /opt/hashrelay/dependencies/install.sh server --port 7373 --from 10.69.0.2 --from 10.69.1.2 \
    --transfer http --http-bind 10.69.1.1 --timeout 30 --wait 60 --enable-firewall >"$BATS_FILE_TMPDIR/server-2.log" 2>&1 3>&- &
  server_install=$!
  wait_for "$BATS_FILE_TMPDIR/server-2.log" "^sha256 "
  sum=$(sed -n 's/^sha256 //p' "$BATS_FILE_TMPDIR/server-2.log")
  [ "$sum" = "$(sha256sum <"$S/home/HashRelay-server/.ssh/HashRelay-link.bundle" | cut -d' ' -f1)" ]

  run in_machine "$NS_D" "$D" /opt/hashrelay/dependencies/install.sh client --server 10.69.1.1 --port 7373 --name db01 \
    --path /srv/data --fetch http --sha256 "$sum"
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  wait "$server_install" || { cat "$BATS_FILE_TMPDIR/server-2.log"; false; }
  grep -q "client db01 linked" "$BATS_FILE_TMPDIR/server-2.log"
  grep -qx "    - name: db01" "$S/etc/hashrelay/hashrelay.yaml"
  grep -qx "    - name: web01" "$S/etc/hashrelay/hashrelay.yaml"
  grep -qx "  server: 10.69.1.1" "$D/etc/hashrelay/hashrelay.yaml"
}

@test "the running pair: both clients back up to the NAS through ufw, web01 finding it on the LAN" {
  for m in "$NS_S:$S" "$NS_C:$C"; do
    in_machine "${m%%:*}" "${m#*:}" ufw status | grep -q '^Status: active'
  done
  in_machine "$NS_D" "$D" ufw status | grep -qx 'Status: inactive' # db01: no --enable-firewall, left as found
  in_machine "$NS_S" "$S" runuser -u HashRelay-server -- hashrelay server --config /etc/hashrelay/hashrelay.yaml \
    >"$BATS_FILE_TMPDIR/hashrelay-server.log" 2>&1 3>&- &
  wait_for "$BATS_FILE_TMPDIR/hashrelay-server.log" "LAN discovery answers"

  run in_machine "$NS_C" "$C" /opt/hashrelay/dependencies/contact-ip/contact-ip.sh
  [ "$output" = "10.69.0.1:7373" ]
  for m in "$NS_C:$C" "$NS_D:$D"; do
    run in_machine "${m%%:*}" "${m#*:}" runuser -u HashRelay-Client -- hashrelay client --config /etc/hashrelay/hashrelay.yaml --once --json
    [ "$status" -eq 0 ] || { echo "$output"; cat "$BATS_FILE_TMPDIR/hashrelay-server.log"; false; }
    [[ $output == *'"server":"up"'*'"status":"sent"'* ]]
  done
  for client in web01 db01; do
    archive=$(ls "$S"/home/HashRelay-server/backup/$client/backup-data-*.tar.gz)
    [ "$(tar -xzOf "$archive" data/report.txt)" = "report of $client" ]
  done
}
