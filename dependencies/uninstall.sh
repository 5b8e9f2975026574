#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Removes what install.sh installed for a role: service, unit, sudoers drop-in, firewall rules, SSH link,
# identity, config section, state, service user; the binary once no role is left. Stored backups are never
# touched: the storage folder (and the home holding it) stays whenever it holds anything.
# Exit: 0 removed; 1 failed; 2 usage.
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

usage() {
  cat <<'USAGE'
usage: uninstall.sh server|client [--sshd-config FILE] [--dry-run]
  Removes the role's service, unit, sudoers drop-in, ufw rules, SSH link, identity and config section,
  its state and its service user. Archives under the server's storage are never removed.
USAGE
}

role=${1:-}
case $role in
  server | client) shift ;;
  -h | --help) usage; exit 0 ;;
  *) usage >&2; die "$EXIT_USAGE" "first argument: server or client" ;;
esac
sshd_config=/etc/ssh/sshd_config
while [ $# -gt 0 ]; do
  case $1 in
    --sshd-config) [ $# -ge 2 ] || die "$EXIT_USAGE" "--sshd-config needs a value"; sshd_config=$2; shift 2 ;;
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
installed() { [ -f "$UNIT_DIR/HashRelay.$1.service" ]; }

# Read before anything is removed: where the archives are.
storage=$SERVER_HOME/backup
if [ "$role" = server ] && [ -f "$CONFIG" ]; then
  configured=$(yaml_section_value "$CONFIG" server storage)
  storage=${configured:-$storage}
fi

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
  "$BASH" "$HERE/ufw-configuration-manager/ufw-configuration-manager.sh" --role "$role" --remove ${dry[@]+"${dry[@]}"}
fi

say "== SSH link"
"$BASH" "$HERE/ssh-configuration-manager/ssh-configuration-manager.sh" remove "$role" --sshd-config "$sshd_config" ${dry[@]+"${dry[@]}"}

say "== identity and config"
run rm -f "$ETC/$role.key"
if [ -f "$CONFIG" ]; then
  if yaml_has_section "$CONFIG" "$other"; then
    yaml_remove_section "$CONFIG" "$role" | write_file "$CONFIG" 644 root:root
  else
    run rm -f "$CONFIG"
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
    say "kept $home: it still holds $(find "$home" -mindepth 1 -maxdepth 1 -printf '%f ' | head -c 200)"
  fi
}

say "== service user"
if [ "$role" = server ]; then
  # An empty storage folder goes; one holding archives stays, and so does the home around it.
  if [ -d "$storage" ]; then
    if [ "$DRY_RUN" = 1 ]; then
      run rmdir "$storage"
    elif ! rmdir "$storage" 2>/dev/null; then
      say "kept $storage and every archive in it"
    fi
  fi
  remove_user "$SERVER_USER"
  remove_home "$SERVER_HOME"
else
  run rm -rf "$STATE"
fi
# HashRelay-Client is the client's service user and, on a server, the user its clients link through.
if ! installed client && ! installed server; then
  remove_user "$CLIENT_USER"
  remove_home "$CLIENT_HOME"
fi

if ! installed "$other"; then
  say "== binary (no HashRelay role left)"
  run rm -f "$BIN" "$ETC/hashrelay.example.yaml"
  run rm -rf /usr/local/lib/hashrelay
  if [ -d "$ETC" ]; then
    if [ "$DRY_RUN" = 1 ]; then run rmdir "$ETC"; else rmdir "$ETC" 2>/dev/null || say "kept $ETC: it holds files HashRelay did not write"; fi
  fi
fi
say "done: HashRelay $role removed"
