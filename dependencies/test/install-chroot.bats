#!/usr/bin/env bats
# install.sh server, then install.sh client, then uninstall.sh (plain, --keep-user, --purge) and reinstalls, on
# one Debian "machine": a cached debootstrap rootfs run with chroot in its own network namespace (ufw, sshd and
# users live there, not on the host).

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
  export NS="hr6inst-$$" M="$BATS_FILE_TMPDIR/machine"
  machine_prepare "$M"
  netns_new "$NS"
  # The admin's own SSH access (root, by key): the client fetches the RSA key with it over scp.
  in_machine "$NS" "$M" bash -c 'mkdir -p -m 700 /root/.ssh && ssh-keygen -q -t ed25519 -N "" -f /root/.ssh/id_ed25519 &&
    cp /root/.ssh/id_ed25519.pub /root/.ssh/authorized_keys'
  in_machine "$NS" "$M" /usr/sbin/sshd
}

teardown_file() {
  [ -n "${NS:-}" ] || return 0 # setup_file did nothing: nothing to delete
  load ../test-lib/netns.bash
  netns_delete "$NS"
}

setup() {
  local why
  why=$(cannot_run)
  [ -z "$why" ] || skip "$why"
  load ../test-lib/chroot.bash
}

on() { in_machine "$NS" "$M" "$@"; }

# A digest of everything the installers write, to prove a second run (or a dry run) changes nothing.
snapshot() {
  on bash -c 'cd / && sha256sum etc/hashrelay/* etc/sudoers.d/hashrelay-* etc/systemd/system/HashRelay.* \
    etc/ssh/sshd_config etc/ssh/sshd_config.d/* etc/ufw/user.rules etc/ufw/user6.rules etc/passwd etc/group \
    home/HashRelay-Client/.ssh/authorized_keys home/HashRelay-server/.ssh/* usr/local/bin/hashrelay 2>/dev/null'
}

@test "without the systemd unit install.sh stops before changing anything" {
  mv "$M/opt/hashrelay/config/systemd/HashRelay.server.service" "$BATS_FILE_TMPDIR/unit"
  run on /opt/hashrelay/dependencies/install.sh server --port 7373 --from 127.0.0.1 --transfer none
  mv "$BATS_FILE_TMPDIR/unit" "$M/opt/hashrelay/config/systemd/HashRelay.server.service"
  [ "$status" -eq 1 ]
  [[ $output == *"systemd unit /opt/hashrelay/config/systemd/HashRelay.server.service not found"* ]]
  run on getent passwd HashRelay-server
  [ "$status" -ne 0 ]
}

@test "install.sh server: user, folders, sudoers (visudo), key-only SSH for HashRelay-Client (sshd -t, sshd -T), ufw, unit" {
  run on /opt/hashrelay/dependencies/install.sh server --port 7373 --from 127.0.0.1 --transfer none
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  [[ $output == *"nothing to install on debian"* ]]
  # The storage folder's file system cannot clone here (ext4, overlay...): install.sh says so; where it can, it does not.
  if on bash -c 'cd /tmp && : >p && cp --reflink=always p p.clone 2>/dev/null; r=$?; rm -f p p.clone; exit $r'; then
    [[ $output != *"cannot clone"* ]]
  else
    [[ $output == *"/home/HashRelay-server/backup cannot clone"* ]]
  fi
  [ -z "$(on find /home/HashRelay-server/backup -name '.hashrelay-reflink.*')" ]
  on getent passwd HashRelay-server
  on getent passwd HashRelay-Client # the user clients link through
  [ "$(on stat -c '%U %a' /home/HashRelay-server/backup)" = "HashRelay-server 750" ]
  [ "$(on stat -c '%U %a' /etc/hashrelay/server.key)" = "HashRelay-server 600" ]
  [ "$(on stat -c '%U %a' /home/HashRelay-server/.ssh/HashRelay-client.key)" = "HashRelay-server 600" ]
  on ssh-keygen -l -f /home/HashRelay-server/.ssh/HashRelay-client.key | grep -q '^4096 .*(RSA)$'

  on visudo -c
  [ "$(on stat -c %a /etc/sudoers.d/hashrelay-server)" = 440 ]
  # Only named commands: no "ALL" on the command side, and they are the service's own.
  run grep -E 'NOPASSWD: *ALL|\) *ALL|= *ALL' "$M/etc/sudoers.d/hashrelay-server"
  [ "$status" -eq 1 ]
  grep -q 'systemctl restart HashRelay.server.service' "$M/etc/sudoers.d/hashrelay-server"

  on sshd -t
  on sshd -T -C user=HashRelay-Client,host=client.lan,addr=10.0.0.2 | grep -qx 'passwordauthentication no'
  on sshd -T -C user=HashRelay-Client,host=client.lan,addr=10.0.0.2 | grep -qx 'kbdinteractiveauthentication no'
  on sshd -T -C user=HashRelay-Client,host=client.lan,addr=10.0.0.2 | grep -qx 'authenticationmethods publickey'
  on sshd -T -C user=root,host=client.lan,addr=10.0.0.2 | grep -qx 'authenticationmethods any'
  # The running sshd was reloaded: it offers HashRelay-Client nothing but a key.
  for _ in 1 2 3 4 5; do # sshd re-executes itself on SIGHUP: give it a moment
    run on ssh -o BatchMode=yes -o StrictHostKeyChecking=accept-new -o PreferredAuthentications=password,keyboard-interactive HashRelay-Client@127.0.0.1 true
    [[ $output == *"Permission denied"* ]] && break
    sleep 0.5
  done
  [[ $output == *"HashRelay-Client@127.0.0.1: Permission denied (publickey)."* ]]
  run on ssh -o BatchMode=yes -o PreferredAuthentications=password,keyboard-interactive nobody@127.0.0.1 true
  [[ $output == *"nobody@127.0.0.1: Permission denied (publickey,password)."* ]]

  # ufw was inactive: it stays so, with HashRelay's rules (and no SSH rule) added; what it was is recorded.
  on ufw status | grep -qx 'Status: inactive'
  on ufw show added | grep -qx "ufw allow from 127.0.0.1 to any port 7373 proto tcp comment 'hashrelay-server'"
  run on ufw show added
  [[ $output != *hashrelay-ssh* ]]
  [ "$(on stat -c '%U %a' /var/lib/hashrelay-install/ufw-found)" = "root 600" ]
  grep -qx 'active=no' "$M/var/lib/hashrelay-install/ufw-found"
  grep -qx 'port: 7373' "$M/etc/hashrelay/hashrelay.yaml"
  [ -L "$M/etc/systemd/system/multi-user.target.wants/HashRelay.server.service" ]
  [ -f "$M/etc/systemd/system/HashRelay.server.service" ]
  [ -x "$M/usr/local/bin/hashrelay" ]
}

@test "install.sh client on the same machine: links over scp, both identities land in the shared config" {
  run on /opt/hashrelay/dependencies/install.sh client --server 127.0.0.1 --port 7373 --name web01 --path /srv --fetch scp --login root
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  [ "$(on stat -c '%U %a' /home/HashRelay-Client/.ssh/HashRelay-client.key)" = "HashRelay-Client 600" ]
  cmp "$M/home/HashRelay-Client/.ssh/HashRelay-client.key" "$M/home/HashRelay-server/.ssh/HashRelay-client.key"
  [ "$(on stat -c '%U %a' /var/lib/hashrelay)" = "HashRelay-Client 750" ]
  on visudo -c
  grep -q 'HashRelay-Client ALL=(root) NOPASSWD: HASHRELAY_CLIENT_CMDS' "$M/etc/sudoers.d/hashrelay-client"
  # The server's SSH host keys came in the link bundle (no first-use trust): exactly this machine's.
  [ "$(sort "$M/home/HashRelay-Client/.ssh/known_hosts")" = "$(cat "$M"/etc/ssh/ssh_host_*_key.pub | awk '{print "127.0.0.1", $1, $2}' | sort)" ]
  # The server's identity is pinned; the client's waits for the server side to accept it.
  grep -qx "  serverKey: \"$(cat "$M/etc/hashrelay/server.pub")\"" "$M/etc/hashrelay/hashrelay.yaml"
  run on /opt/hashrelay/dependencies/ssh-configuration-manager/ssh-configuration-manager.sh accept --wait 0
  [[ $output == *"client web01 linked"* ]]
  grep -qx "      key: \"$(sed -n 's/^# public: //p' "$M/etc/hashrelay/client.key")\"" "$M/etc/hashrelay/hashrelay.yaml"
  on hashrelay validate --config /etc/hashrelay/hashrelay.yaml
  on sshd -t
}

@test "the key's one use: the exchange takes only a slug and a key; accept never overwrites a listed name or key" {
  key_login=(ssh -i /home/HashRelay-Client/.ssh/HashRelay-client.key -o IdentitiesOnly=yes -o BatchMode=yes
    -o UserKnownHostsFile=/home/HashRelay-Client/.ssh/known_hosts HashRelay-Client@127.0.0.1)
  other_key=$(on hashrelay keygen --out /tmp/other.key)
  run on "${key_login[@]}" hello ../../etc "$other_key"
  [ "$status" -eq 2 ]
  [[ $output == *"is not a slug"* ]]
  run on "${key_login[@]}" hello db01 "ed25519:not-a-key"
  [ "$status" -eq 2 ]
  run on "${key_login[@]}" cat /etc/passwd # the forced command runs instead
  [ "$status" -eq 2 ]
  [[ $output != *root:* ]]
  [ -z "$(ls -A "$M/home/HashRelay-Client/pending")" ]

  # web01 is listed: a new key under that name, or web01's key under a new name, waits for the admin.
  web01_key=$(sed -n 's/^# public: //p' "$M/etc/hashrelay/client.key")
  on "${key_login[@]}" hello web01 "$other_key"
  on "${key_login[@]}" hello impostor "$web01_key"
  before=$(sha256sum <"$M/etc/hashrelay/hashrelay.yaml")
  run on /opt/hashrelay/dependencies/ssh-configuration-manager/ssh-configuration-manager.sh accept --wait 0
  [[ $output == *"client web01 is already listed with another key"* ]]
  [[ $output == *"the key of impostor is already listed under another name"* ]]
  [ "$(sha256sum <"$M/etc/hashrelay/hashrelay.yaml")" = "$before" ]
  rm -f "$M/home/HashRelay-Client/pending/"*
}

@test "the link trusts only the host keys of the bundle: another SSH host key behind the address is refused" {
  cp -a "$M/home/HashRelay-Client/.ssh" "$BATS_FILE_TMPDIR/client-ssh"
  cp "$M/etc/hashrelay/hashrelay.yaml" "$BATS_FILE_TMPDIR/config"
  # A bundle whose host key is not the one sshd on 127.0.0.1 presents (what a machine in the middle would serve).
  on ssh-keygen -q -t ed25519 -N '' -f /tmp/impostor_host_key
  on /opt/hashrelay/dependencies/ssh-configuration-manager/ssh-configuration-manager.sh serve-key --bind 127.0.0.1 \
    --http-port 7999 --timeout 30 --host-key /tmp/impostor_host_key.pub >"$BATS_FILE_TMPDIR/served" 2>&1 3>&- &
  for _ in $(seq 100); do grep -q '^sha256 ' "$BATS_FILE_TMPDIR/served" && break; sleep 0.1; done
  sum=$(sed -n 's/^sha256 //p' "$BATS_FILE_TMPDIR/served")
  run on /opt/hashrelay/dependencies/ssh-configuration-manager/ssh-configuration-manager.sh client --server 127.0.0.1 \
    --fetch http --http-port 7999 --sha256 "$sum" --name web01 --refetch
  rm -rf "$M/home/HashRelay-Client/.ssh" && cp -a "$BATS_FILE_TMPDIR/client-ssh" "$M/home/HashRelay-Client/.ssh"
  [ "$status" -eq 1 ]
  [[ $output == *"Host key verification failed"* ]]
  [[ $output == *"the exchange with HashRelay-Client@127.0.0.1 failed"* ]]
  cmp "$BATS_FILE_TMPDIR/config" "$M/etc/hashrelay/hashrelay.yaml"
}

@test "idempotent: both installs again change nothing; --dry-run changes nothing either" {
  before=$(snapshot)
  on /opt/hashrelay/dependencies/install.sh server --port 7373 --from 127.0.0.1 --transfer none
  on /opt/hashrelay/dependencies/install.sh client --server 127.0.0.1 --port 7373 --name web01 --path /srv --fetch scp --login root
  on /opt/hashrelay/dependencies/ssh-configuration-manager/ssh-configuration-manager.sh accept --wait 0
  [ "$(snapshot)" = "$before" ]
  run --separate-stderr on /opt/hashrelay/dependencies/install.sh server --port 7444 --from 10.0.0.0/8 --transfer none --dry-run
  [ "$status" -eq 0 ]
  [[ $output == *"ufw allow in proto tcp from 10.0.0.0/8 to any port 7444 comment hashrelay-server"* ]]
  [[ $output == *"visudo -c"* ]]
  [ "$(snapshot)" = "$before" ]
}

# public_key ROLE: the public identity in /etc/hashrelay/ROLE.key.
public_key() { sed -n 's/^# public: //p' "$M/etc/hashrelay/$1.key"; }

# owners DIR: every distinct owner:group under DIR, DIR included.
owners() { on find "$1" -printf '%u:%g\n' | sort -u | paste -sd' '; }

@test "uninstall.sh server then client: the archives go to root, identities, config and state are kept and listed" {
  mkdir -p "$M/home/HashRelay-server/backup/web01"
  echo "an archive" >"$M/home/HashRelay-server/backup/web01/backup-etc-05-04-03-2026-11-26.tar.gz"
  on chown -R HashRelay-server:HashRelay-server /home/HashRelay-server/backup
  sum=$(sha256sum <"$M/home/HashRelay-server/backup/web01/backup-etc-05-04-03-2026-11-26.tar.gz")
  public_key server >"$BATS_FILE_TMPDIR/server.pub"
  public_key client >"$BATS_FILE_TMPDIR/client.pub"
  mkdir -p "$M/var/lib/hashrelay/receipts/etc" && echo '{}' >"$M/var/lib/hashrelay/receipts/etc/r.json"
  on chown -R HashRelay-Client:HashRelay-Client /var/lib/hashrelay

  run on /opt/hashrelay/dependencies/uninstall.sh server
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  [[ $output == *"kept /home/HashRelay-server/backup and every archive in it, handed to root:root"* ]]
  [[ $output == *"kept (a reinstall reuses them; uninstall.sh server --purge deletes all but the archives):"* ]]
  [[ $output == *"  /etc/hashrelay/server.key (this server's identity: $(cat "$BATS_FILE_TMPDIR/server.pub"))"* ]]
  [[ $output == *"  /home/HashRelay-server/backup (the archives)"* ]]
  run on getent passwd HashRelay-server
  [ "$status" -ne 0 ]
  # No archive is left to a uid the next system user would get.
  [ "$(owners /home/HashRelay-server)" = "root:root" ]
  [ "$(on stat -c '%U:%G %a' /etc/hashrelay/server.key)" = "root:root 600" ]
  [ ! -e "$M/etc/sudoers.d/hashrelay-server" ]
  [ ! -e "$M/etc/ssh/sshd_config.d/10-hashrelay.conf" ]
  [ ! -e "$M/etc/systemd/system/HashRelay.server.service" ]
  grep -q '^server:' "$M/etc/hashrelay/hashrelay.yaml" # the config is kept whole
  on sshd -t
  on visudo -c
  [ -x "$M/usr/local/bin/hashrelay" ] # the client still needs it
  [ -f "$M/var/lib/hashrelay-install/ufw-found" ] # the client's rules are still there

  run on /opt/hashrelay/dependencies/uninstall.sh client
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  [[ $output == *"  /etc/hashrelay/client.key (this client's identity: $(cat "$BATS_FILE_TMPDIR/client.pub"))"* ]]
  [[ $output == *"  /var/lib/hashrelay (receipts and proofs"* ]]
  [[ $output == *"ufw left inactive, as HashRelay found it"* ]]
  run on getent passwd HashRelay-Client
  [ "$status" -ne 0 ]
  [ "$(owners /var/lib/hashrelay)" = "root:root" ]
  [ "$(on stat -c '%U:%G %a' /etc/hashrelay/client.key)" = "root:root 600" ]
  [ ! -e "$M/usr/local/bin/hashrelay" ]
  [ ! -e "$M/home/HashRelay-Client" ]
  [ ! -e "$M/var/lib/hashrelay-install" ]
  [ -z "$(ls "$M/etc/systemd/system/multi-user.target.wants" | grep HashRelay)" ]
  run on ufw show added
  [[ $output != *hashrelay* ]]
  on ufw status | grep -qx 'Status: inactive'
  [ "$(sha256sum <"$M/home/HashRelay-server/backup/web01/backup-etc-05-04-03-2026-11-26.tar.gz")" = "$sum" ]
}

@test "a reinstall reuses the kept identities and hands the kept archives and state back to the service users" {
  run on /opt/hashrelay/dependencies/install.sh server --port 7373 --from 127.0.0.1 --transfer none
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  [[ $output == *"identity /etc/hashrelay/server.key kept: $(cat "$BATS_FILE_TMPDIR/server.pub")"* ]]
  [ "$(public_key server)" = "$(cat "$BATS_FILE_TMPDIR/server.pub")" ]
  [ "$(owners /home/HashRelay-server/backup)" = "HashRelay-server:HashRelay-server" ]
  [ "$(on stat -c %U /home/HashRelay-server)" = HashRelay-server ]
  [ "$(cat "$M/etc/hashrelay/server.pub")" = "$(cat "$BATS_FILE_TMPDIR/server.pub")" ]

  run on /opt/hashrelay/dependencies/install.sh client --server 127.0.0.1 --port 7373 --name web01 --path /srv --fetch scp --login root
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  [ "$(public_key client)" = "$(cat "$BATS_FILE_TMPDIR/client.pub")" ]
  [ "$(owners /var/lib/hashrelay)" = "HashRelay-Client:HashRelay-Client" ]
  # The server still lists this client with this key: the link is accepted as it is.
  run on /opt/hashrelay/dependencies/ssh-configuration-manager/ssh-configuration-manager.sh accept --wait 0
  [[ $output == *"client web01 linked again: already listed with this key"* ]]
  [ "$(grep -c '^    - name: web01$' "$M/etc/hashrelay/hashrelay.yaml")" = 1 ]
  on hashrelay validate --config /etc/hashrelay/hashrelay.yaml
}

@test "--new-identity replaces a kept identity and keeps the old key beside it" {
  run on /opt/hashrelay/dependencies/install.sh server --port 7373 --from 127.0.0.1 --transfer none --new-identity
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  [[ $output == *"identity $(cat "$BATS_FILE_TMPDIR/server.pub") replaced (--new-identity); the old key is kept as /etc/hashrelay/server.key.replaced-"* ]]
  [ "$(public_key server)" != "$(cat "$BATS_FILE_TMPDIR/server.pub")" ]
  [ "$(cat "$M/etc/hashrelay/server.pub")" = "$(public_key server)" ]
  old=$(ls "$M"/etc/hashrelay/server.key.replaced-*)
  [ "$(sed -n 's/^# public: //p' "$old")" = "$(cat "$BATS_FILE_TMPDIR/server.pub")" ]
  [ "$(on stat -c '%U %a' "${old#"$M"}")" = "root 600" ]
}

@test "uninstall.sh server --keep-user leaves the archives to the user it keeps; --purge deletes identities and state" {
  run on /opt/hashrelay/dependencies/uninstall.sh server --keep-user
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  [[ $output == *"still owned by HashRelay-server (--keep-user)"* ]]
  [[ $output == *"kept the user HashRelay-server (--keep-user)"* ]]
  on getent passwd HashRelay-server
  [ "$(owners /home/HashRelay-server/backup)" = "HashRelay-server:HashRelay-server" ]

  run on /opt/hashrelay/dependencies/uninstall.sh client --purge
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  [[ $output != *"kept (a reinstall"* ]]
  [ ! -e "$M/etc/hashrelay/client.key" ]
  [ ! -e "$M/var/lib/hashrelay" ]
  [ ! -e "$M/usr/local/bin/hashrelay" ]
  run grep -c '^client:' "$M/etc/hashrelay/hashrelay.yaml"
  [ "$output" = 0 ]

  # The server's leftovers, purged in a second pass: identity, old identity and config go; the archives stay, root's.
  run on /opt/hashrelay/dependencies/uninstall.sh server --purge
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  [ ! -e "$M/etc/hashrelay" ]
  run on getent passwd HashRelay-server
  [ "$status" -ne 0 ]
  [ "$(owners /home/HashRelay-server)" = "root:root" ]
  [ -f "$M/home/HashRelay-server/backup/web01/backup-etc-05-04-03-2026-11-26.tar.gz" ]
}
