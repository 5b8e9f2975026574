#!/usr/bin/env bats
# The Match block for HashRelay-Client on copies of this machine's sshd_config, checked by the real sshd
# (sshd -t, sshd -T -C): key-only for that user, nothing changed for the others, restored when sshd -t refuses.

bats_require_minimum_version 1.5.0

setup() {
  [ "$(id -u)" = 0 ] || skip "needs root (sshd -t reads host keys)"
  command -v sshd >/dev/null || [ -x /usr/sbin/sshd ] || skip "openssh-server missing"
  SCRIPT="$BATS_TEST_DIRNAME/../ssh-configuration-manager.sh"
  T=$BATS_TEST_TMPDIR
  mkdir -p "$T/sshd_config.d"
  # This machine's sshd_config, with its Include pointed at a private drop-in folder.
  sed "s#/etc/ssh/sshd_config.d#$T/sshd_config.d#" /etc/ssh/sshd_config >"$T/sshd_config"
  grep -q "^Include $T/sshd_config.d/\*.conf" "$T/sshd_config"
  # The same without any Include (CentOS 7, RHEL 8 style): the block goes into sshd_config between markers.
  grep -v '^Include' /etc/ssh/sshd_config >"$T/sshd_config.flat"
  cp "$T/sshd_config.flat" "$T/sshd_config.flat.orig"
}

# sshd needs its privilege separation folder even for -t: give it one on a private /run.
with_run() {
  unshare -m bash -c 'mount --make-rprivate / && mount -t tmpfs tmpfs /run && mkdir -m 755 /run/sshd && exec "$@"' _ "$@"
}

# effective FILE USER KEY: the value sshd -T reports for KEY when USER logs in.
effective() {
  with_run "$(command -v sshd || echo /usr/sbin/sshd)" -T -f "$1" -C "user=$2,host=client.lan,addr=10.0.0.2" | awk -v k="$3" '$1 == k { print $2 }'
}

@test "drop-in: HashRelay-Client is key-only (RSA), every other user keeps the machine's settings" {
  run with_run "$SCRIPT" sshd-config --sshd-config "$T/sshd_config" --no-reload
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  [ -f "$T/sshd_config.d/10-hashrelay.conf" ]
  grep -qx 'Match User HashRelay-Client' "$T/sshd_config.d/10-hashrelay.conf"
  with_run sshd -t -f "$T/sshd_config"
  [ "$(effective "$T/sshd_config" HashRelay-Client passwordauthentication)" = no ]
  [ "$(effective "$T/sshd_config" HashRelay-Client kbdinteractiveauthentication)" = no ]
  [ "$(effective "$T/sshd_config" HashRelay-Client authenticationmethods)" = publickey ]
  [ "$(effective "$T/sshd_config" HashRelay-Client pubkeyacceptedalgorithms)" = rsa-sha2-512,rsa-sha2-256 ]
  # alice gets what sshd_config alone gives her
  cp "$T/sshd_config" "$T/bare" && sed -i '/^Include/d' "$T/bare"
  [ "$(effective "$T/sshd_config" alice passwordauthentication)" = "$(effective "$T/bare" alice passwordauthentication)" ]
  [ "$(effective "$T/sshd_config" alice authenticationmethods)" = any ]
}

@test "drop-in: idempotent, and --remove takes it away" {
  with_run "$SCRIPT" sshd-config --sshd-config "$T/sshd_config" --no-reload
  run with_run "$SCRIPT" sshd-config --sshd-config "$T/sshd_config" --no-reload
  [[ $output == *"already present"* ]]
  run with_run "$SCRIPT" sshd-config --sshd-config "$T/sshd_config" --no-reload --remove
  [ "$status" -eq 0 ]
  [ ! -e "$T/sshd_config.d/10-hashrelay.conf" ]
  [ "$(effective "$T/sshd_config" HashRelay-Client authenticationmethods)" = any ]
}

@test "no Include: a marked block at the end of sshd_config; --remove gives back the exact original" {
  run with_run "$SCRIPT" sshd-config --sshd-config "$T/sshd_config.flat" --no-reload
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  tail -n 1 "$T/sshd_config.flat" | grep -qx '# END HashRelay'
  [ "$(effective "$T/sshd_config.flat" HashRelay-Client passwordauthentication)" = no ]
  cp "$T/sshd_config.flat" "$T/once"
  with_run "$SCRIPT" sshd-config --sshd-config "$T/sshd_config.flat" --no-reload
  cmp "$T/once" "$T/sshd_config.flat"
  with_run "$SCRIPT" sshd-config --sshd-config "$T/sshd_config.flat" --no-reload --remove
  cmp "$T/sshd_config.flat.orig" "$T/sshd_config.flat"
}

@test "sshd -t refuses: the old file comes back and nothing is reloaded" {
  mkdir -p "$T/bin"
  printf '#!/bin/sh\necho "fake sshd: bad configuration" >&2\nexit 255\n' >"$T/bin/sshd"
  chmod +x "$T/bin/sshd"
  run env PATH="$T/bin:$PATH" "$SCRIPT" sshd-config --sshd-config "$T/sshd_config.flat"
  [ "$status" -eq 1 ]
  [[ $output == *"sshd -t refused the new configuration"*"restored"* ]]
  cmp "$T/sshd_config.flat.orig" "$T/sshd_config.flat"
  run env PATH="$T/bin:$PATH" "$SCRIPT" sshd-config --sshd-config "$T/sshd_config"
  [ "$status" -eq 1 ]
  [ ! -e "$T/sshd_config.d/10-hashrelay.conf" ]
  [ -z "$(ls -A "$T/sshd_config.d")" ]
}

@test "--dry-run prints the drop-in and the sshd -t check, writes nothing" {
  run --separate-stderr "$SCRIPT" sshd-config --sshd-config "$T/sshd_config" --dry-run
  [ "$status" -eq 0 ]
  [[ $output == *"install -m 644 -o root -g root /dev/stdin $T/sshd_config.d/10-hashrelay.conf"*"Match User HashRelay-Client"* ]]
  [[ $output == *"sshd -t -f $T/sshd_config"* ]]
  [ ! -e "$T/sshd_config.d/10-hashrelay.conf" ]
}

@test "an sshd older than 8.5 (RHEL 8): the algorithms keyword falls back to PubkeyAcceptedKeyTypes" {
  # A stand-in for OpenSSH 8.0's sshd -t: it does not know PubkeyAcceptedAlgorithms.
  mkdir -p "$T/bin"
  printf '#!/bin/sh\nif grep -rqs "PubkeyAcceptedAlgorithms" "%s/sshd_config.d"; then echo "Bad configuration option: PubkeyAcceptedAlgorithms" >&2; exit 255; fi\nexit 0\n' "$T" >"$T/bin/sshd"
  chmod +x "$T/bin/sshd"
  run env PATH="$T/bin:$PATH" "$SCRIPT" sshd-config --sshd-config "$T/sshd_config" --no-reload
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  grep -qx '    PubkeyAcceptedKeyTypes rsa-sha2-512,rsa-sha2-256' "$T/sshd_config.d/10-hashrelay.conf"
  run env PATH="$T/bin:$PATH" "$SCRIPT" sshd-config --sshd-config "$T/sshd_config" --no-reload
  [[ $output == *"already present"* ]]
  # and the real sshd accepts the old name too
  with_run sshd -t -f "$T/sshd_config"
}
