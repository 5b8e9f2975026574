#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Removes what install.sh installed for a role: service, unit, sudoers drop-in, ufw rules (ufw back to the state
# it was found in, once no role is left), SSH link, service user; the binary once no role is left. Like
# `dpkg remove`, it keeps the identity, the config and the client's state (receipts, proofs) and says where;
# --purge deletes them too. Stored backups are never deleted: they are handed to root (or kept by the service
# user with --keep-user). Exit: 0 removed; 1 failed; 2 usage.
set -euo pipefail

HERE=$(cd "${BASH_SOURCE[0]%/*}" && pwd)
PROG=uninstall.sh
# shellcheck source=lib/run.sh
. "$HERE/lib/run.sh"
# shellcheck source=lib/yaml-edit.sh
. "$HERE/lib/yaml-edit.sh"
# shellcheck source=lib/service-user.sh
. "$HERE/lib/service-user.sh"

BIN=/usr/local/bin/hashrelay
ETC=/etc/hashrelay
CONFIG=$ETC/hashrelay.yaml
UNIT_DIR=/etc/systemd/system
STATE=/var/lib/hashrelay
INSTALL_RECORDS=/var/lib/hashrelay-install

usage() {
  cat <<'USAGE'
usage: uninstall.sh server|client [--purge] [--keep-user] [--sshd-config FILE] [--dry-run]
  Removes the role's service, unit, sudoers drop-in, ufw rules, SSH link and service user. When no role is
  left, ufw returns to the state the installer found it in (disabled again if the installer enabled it).
  Kept, and listed at the end (a reinstall reuses them): the identity /etc/hashrelay/ROLE.key, the config
  /etc/hashrelay/hashrelay.yaml and, on a client, its state /var/lib/hashrelay (receipts and proofs that
  restore and verify check against), all handed to root.
  --purge      delete the identity, the role's config section and the client's state as well
  --keep-user  keep the service user (and its ownership of what is kept); by default the user is deleted
               and what it owned is handed to root:root, so no later user inherits its uid
  Archives under the server's storage are never deleted.
USAGE
}

role=${1:-}
case $role in
  server | client) shift ;;
  -h | --help) usage; exit 0 ;;
  *) usage >&2; die "$EXIT_USAGE" "first argument: server or client" ;;
esac
sshd_config=/etc/ssh/sshd_config purge=0 keep_user=0
while [ $# -gt 0 ]; do
  case $1 in
    --sshd-config) [ $# -ge 2 ] || die "$EXIT_USAGE" "--sshd-config needs a value"; sshd_config=$2; shift 2 ;;
    --purge) purge=1; shift ;;
    --keep-user) keep_user=1; shift ;;
    --dry-run) DRY_RUN=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "$EXIT_USAGE" "unknown argument $1" ;;
  esac
done
dry=()
if [ "$DRY_RUN" = 1 ]; then dry=(--dry-run); fi
need_root

other=$([ "$role" = server ] && echo client || echo server)
UNIT=HashRelay.$role.service
USER_NAME=$([ "$role" = server ] && echo "$SERVER_USER" || echo "$CLIENT_USER")
KEY=$ETC/$role.key
installed() { [ -f "$UNIT_DIR/HashRelay.$1.service" ]; }
kept=()

# Read before anything is removed: where the archives are.
storage=$SERVER_HOME/backup
if [ "$role" = server ] && [ -f "$CONFIG" ]; then
  configured=$(yaml_section_value "$CONFIG" server storage)
  storage=${configured:-$storage}
fi

# to_root PATH...: what is kept after its service user goes belongs to root, recursively.
to_root() {
  [ "$keep_user" = 0 ] || return 0
  run chown -R root:root "$@"
}

say "== service $UNIT"
if systemd_running; then
  run systemctl disable --now "$UNIT" 2>/dev/null || true
fi
run rm -f "$UNIT_DIR/multi-user.target.wants/$UNIT" "$UNIT_DIR/$UNIT"
if systemd_running; then run systemctl daemon-reload; fi

say "== sudoers drop-in"
run rm -f "/etc/sudoers.d/hashrelay-$role"

say "== firewall"
if command -v ufw >/dev/null 2>&1; then
  ufw_args=(--role "$role" --remove)
  # The last role returns ufw to the state the installer found it in.
  installed "$other" || ufw_args+=(--restore --record "$INSTALL_RECORDS/ufw-found")
  "$BASH" "$HERE/ufw-configuration-manager/ufw-configuration-manager.sh" "${ufw_args[@]}" ${dry[@]+"${dry[@]}"}
fi

say "== SSH link"
"$BASH" "$HERE/ssh-configuration-manager/ssh-configuration-manager.sh" remove "$role" --sshd-config "$sshd_config" ${dry[@]+"${dry[@]}"}

say "== identity and config"
if [ "$purge" = 1 ]; then
  run rm -f "$KEY" "$KEY".replaced-*
  if [ -f "$CONFIG" ]; then
    if yaml_has_section "$CONFIG" "$other"; then
      yaml_remove_section "$CONFIG" "$role" | write_file "$CONFIG" 644 root:root
    else
      run rm -f "$CONFIG"
    fi
  fi
else
  if [ -f "$KEY" ]; then
    to_root "$KEY"
    kept+=("$KEY (this $role's identity: $(sed -n 's/^# public: //p' "$KEY" | head -n 1))")
  fi
  if [ -f "$CONFIG" ]; then kept+=("$CONFIG (the config)"); fi
fi

if [ "$role" = client ]; then
  say "== state"
  if [ "$purge" = 1 ]; then
    run rm -rf "$STATE"
  elif [ -d "$STATE" ]; then
    to_root "$STATE"
    kept+=("$STATE (receipts and proofs: hashrelay restore and verify check the archives against them)")
  fi
else
  say "== archives"
  # An empty storage folder goes; one holding archives stays (whatever --purge says), with the home around it.
  if [ -d "$storage" ]; then
    if [ "$DRY_RUN" = 1 ]; then
      run rmdir "$storage"
    elif ! rmdir "$storage" 2>/dev/null; then
      if [ "$keep_user" = 1 ]; then
        say "kept $storage and every archive in it, still owned by $SERVER_USER (--keep-user)"
      else
        to_root "$storage"
        say "kept $storage and every archive in it, handed to root:root: no later user gets $SERVER_USER's uid and with it the archives"
      fi
      kept+=("$storage (the archives)")
    fi
  fi
fi

# Removes a service user's home unless it still holds something that is not ours (backups, above all).
remove_home() {
  local home=$1 file
  [ -d "$home" ] || return 0
  run rm -rf "$home/.ssh"
  for file in .bashrc .bash_logout .profile; do
    if [ -f "$home/$file" ] && [ -f "/etc/skel/$file" ] && cmp -s "$home/$file" "/etc/skel/$file"; then run rm -f "$home/$file"; fi
  done
  if [ "$DRY_RUN" = 1 ]; then
    run rmdir "$home"
  elif ! rmdir "$home" 2>/dev/null; then
    run chown root:root "$home"
    say "kept $home (handed to root): it still holds $(find "$home" -mindepth 1 -maxdepth 1 -printf '%f ' | head -c 200)"
  fi
}

say "== service user"
if [ "$keep_user" = 1 ]; then
  say "kept the user $USER_NAME (--keep-user)"
elif [ "$role" = server ]; then
  remove_user "$SERVER_USER"
  remove_home "$SERVER_HOME"
fi
# HashRelay-Client is the client's service user and, on a server, the user its clients link through.
if ! installed client && ! installed server && ! { [ "$keep_user" = 1 ] && [ "$role" = client ]; }; then
  remove_user "$CLIENT_USER"
  remove_home "$CLIENT_HOME"
fi

if ! installed "$other"; then
  say "== binary (no HashRelay role left)"
  run rm -f "$BIN" "$ETC/hashrelay.example.yaml"
  run rm -rf /usr/local/lib/hashrelay
  if [ "$purge" = 1 ]; then run rm -rf "$INSTALL_RECORDS"; fi
  if [ -d "$ETC" ]; then
    if [ "$DRY_RUN" = 1 ]; then
      run rmdir "$ETC"
    elif ! rmdir "$ETC" 2>/dev/null && [ "$purge" = 1 ]; then
      say "kept $ETC: it holds files HashRelay did not write"
    fi
  fi
fi
if [ ${#kept[@]} -gt 0 ]; then
  say "kept (a reinstall reuses them; uninstall.sh $role --purge deletes all but the archives):"
  for line in "${kept[@]}"; do say "  $line"; done
fi
say "done: HashRelay $role removed"
