#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Installs a HashRelay client or server on this machine: the port question first (nothing is changed before
# it is answered), packages, service user and folders, sudoers drop-in, binary, systemd unit, identity and
# config, ufw rules; then a server starts and waits for its clients to link, a client links and starts once
# the server accepts it (its first backup runs at install time).
# Exit: 0 installed; 1 failed; 2 usage; 3 unsupported distribution.
set -euo pipefail

HERE=$(cd "${BASH_SOURCE[0]%/*}" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
PROG=install.sh
# shellcheck source=lib/run.sh
. "$HERE/lib/run.sh"
# shellcheck source=lib/yaml-edit.sh
. "$HERE/lib/yaml-edit.sh"
# shellcheck source=lib/service-user.sh
. "$HERE/lib/service-user.sh"
# shellcheck source=lib/port-question.sh
. "$HERE/lib/port-question.sh"

BIN=/usr/local/bin/hashrelay
ETC=/etc/hashrelay
CONFIG=$ETC/hashrelay.yaml
UNIT_DIR=/etc/systemd/system
STATE=/var/lib/hashrelay
PLACEHOLDER_KEY='"ed25519:SET-BY-ssh-configuration-manager"'

usage() {
  cat <<'USAGE'
usage: install.sh server [--port N] [--from ADDR|CIDR|any]... [--listen ADDR] [--storage DIR]
                         [--transfer scp|http|none] [--http-bind ADDR] [--http-port N] [--timeout S] [--wait S] [options]
       install.sh client --server ADDR --path DIR... [--auto] [--port N] [--name NAME] [--schedule S]
                         [--fetch scp|http] [--login USER] [--ssh-port N] [--http-port N] [--sha256 HEX] [options]
options: [--binary FILE] [--enable-firewall] [--no-firewall] [--new-identity] [--no-packages] [--no-ssh] [--no-start]
         [--dry-run]

  server  HashRelay-server user, storage /home/HashRelay-server/backup, identity, config, ufw rules for --from,
          the RSA key for the clients; starts the service, then waits (--wait, default 600 s) for a client to
          link (--transfer: scp = the client fetches the key by scp; http = one download from --http-bind;
          none = link later). --http-port: the download's port (default: the agreed port; the service starts
          once the download is done).
  client  HashRelay-Client user, state /var/lib/hashrelay, identity, config backing up each --path (readable by
          HashRelay-Client: the service runs as that user), ufw rule out to the server; fetches the key and the
          server's SSH host keys (--fetch), links to --server, waits (--wait, default 60 s) for the server to
          accept it, then starts the service: the first backup runs now. --auto: find the server on the LAN
          at each backup instead of using its address.
  --port N       the agreed port, the same on both (asked first when not given and not in the config yet;
                 no answer takes 7373)
  --enable-firewall  enable ufw if it is inactive (SSH kept open; says what the default policy blocks).
                 Without it ufw's state is left as found: only HashRelay's rules are added
  --no-firewall  add no ufw rule at all
  --new-identity make a new identity even if one is kept from an earlier install (the old key is kept
                 beside it as KEY.replaced-DATE); by default a reinstall keeps the identity
  --binary FILE  the hashrelay binary to install (default: dist/hashrelay next to dependencies/)
  --no-ssh       skip the SSH link: paste keys by hand (README, "Set up a server and a client by hand")
USAGE
}

role=${1:-}
case $role in
  server | client) shift ;;
  -h | --help) usage; exit 0 ;;
  *) usage >&2; die "$EXIT_USAGE" "first argument: server or client" ;;
esac

port="" froms=() listen=0.0.0.0 storage=$SERVER_HOME/backup transfer=scp http_bind="" http_port="" timeout=300 wait_s=""
server="" auto=0 name="" paths=() schedule="every 1h" fetch=scp login=root ssh_port=22 sha256=""
binary="" packages=1 firewall=1 enable_firewall=0 new_identity=0 ssh=1 start=1
while [ $# -gt 0 ]; do
  case $1 in
    --port | --from | --listen | --storage | --transfer | --http-bind | --http-port | --timeout | --wait | --server | --name | \
      --path | --schedule | --fetch | --login | --ssh-port | --sha256 | --binary)
      [ $# -ge 2 ] || die "$EXIT_USAGE" "$1 needs a value"
      case $1 in
        --port) port=$2 ;; --from) froms+=("$2") ;; --listen) listen=$2 ;; --storage) storage=$2 ;;
        --transfer) transfer=$2 ;; --http-bind) http_bind=$2 ;; --http-port) http_port=$2 ;;
        --timeout) timeout=$2 ;; --wait) wait_s=$2 ;;
        --server) server=$2 ;; --name) name=$2 ;; --path) paths+=("$2") ;; --schedule) schedule=$2 ;;
        --fetch) fetch=$2 ;; --login) login=$2 ;; --ssh-port) ssh_port=$2 ;; --sha256) sha256=$2 ;;
        --binary) binary=$2 ;;
      esac
      shift 2
      ;;
    --auto) auto=1; shift ;;
    --no-packages) packages=0; shift ;;
    --no-firewall) firewall=0; shift ;;
    --enable-firewall) enable_firewall=1; shift ;;
    --new-identity) new_identity=1; shift ;;
    --no-ssh) ssh=0; shift ;;
    --no-start) start=0; shift ;;
    --dry-run) DRY_RUN=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "$EXIT_USAGE" "unknown argument $1" ;;
  esac
done
dry=()
[ "$DRY_RUN" = 1 ] && dry=(--dry-run)
if [ "$role" = client ]; then
  [ -n "$server" ] || die "$EXIT_USAGE" "client needs --server ADDR (the server's address; with --auto it is only used to link)"
  [ ${#paths[@]} -gt 0 ] || die "$EXIT_USAGE" "client needs at least one --path DIR: what to back up"
else
  [ ${#froms[@]} -gt 0 ] || [ "$firewall" = 0 ] || die "$EXIT_USAGE" "server needs --from ADDR|CIDR (the clients allowed through ufw; --from any for all)"
fi
[ -z "$wait_s" ] || [[ $wait_s =~ ^[0-9]+$ ]] || die "$EXIT_USAGE" "--wait must be whole seconds"
wait_s=${wait_s:-$([ "$role" = server ] && echo 600 || echo 60)}
need_root

# The one question comes first: nothing has changed yet when the admin is asked.
if [ -z "$port" ] && [ -f "$CONFIG" ]; then port=$(yaml_top_value "$CONFIG" port); fi
if [ -z "$port" ]; then port=$(ask_port 7373); fi
is_port "$port" || die "$EXIT_USAGE" "port \"$port\" is not a number in 1-65535"

USER_NAME=$([ "$role" = server ] && echo "$SERVER_USER" || echo "$CLIENT_USER")
UNIT=HashRelay.$role.service
KEY=$ETC/$role.key

step() { say "== $*"; }

# ---------------------------------------------------------------- 1. distribution and packages
step "distribution"
detected=$("$BASH" "$HERE/distro-and-pkgman-detect/distro-and-pkgman-detect.sh") || exit $?
eval "$detected"
say "$DISTRO_ID $DISTRO_VERSION ($DISTRO_FAMILY, $PKGMAN)"
if [ "$packages" = 1 ]; then
  step "packages"
  "$BASH" "$HERE/pkg-auto-install/pkg-auto-install.sh" --role "$role" ${dry[@]+"${dry[@]}"}
fi

# What the unit, binary and config come from; checked before anything changes.
UNIT_SRC=$ROOT/config/systemd/$UNIT
[ -f "$UNIT_SRC" ] || die "$EXIT_FAILED" "systemd unit $UNIT_SRC not found: install from a complete copy of HashRelay (its units live in config/systemd/)"
if [ -z "$binary" ]; then
  binary=$ROOT/dist/hashrelay
  [ -x "$binary" ] || [ ! -x "$BIN" ] || binary=$BIN
fi
[ -x "$binary" ] || die "$EXIT_FAILED" "no hashrelay binary at $binary: build it (npm install && npm run build) or pass --binary FILE"

# ---------------------------------------------------------------- 2. service user and folders
step "service user $USER_NAME"
if [ "$role" = server ]; then ensure_user "$SERVER_USER" /usr/sbin/nologin; else ensure_user "$CLIENT_USER" /bin/sh; fi
run install -d -m 755 "$ETC"

# own_tree USER DIR: DIR and everything in it belong to USER (a plain uninstall handed them to root).
own_tree() {
  if [ -d "$2" ] && [ -n "$(find "$2" \( ! -user "$1" -o ! -group "$1" \) -print -quit)" ]; then
    run chown -R "$1:$1" "$2"
    say "$2 (kept from an earlier install) handed back to $1"
  fi
  run install -d -m 750 -o "$1" -g "$1" "$2"
}
if [ "$role" = server ]; then own_tree "$SERVER_USER" "$storage"; else own_tree "$CLIENT_USER" "$STATE"; fi
# A storage file system that cannot share blocks (ext4) rewrites every archive whole at each backup (docs/storage.md).
if [ "$role" = server ] && [ "$DRY_RUN" != 1 ]; then
  probe=$(mktemp "$storage/.hashrelay-reflink.XXXXXX")
  remove_on_exit "$probe" "$probe.clone"
  if ! cp --reflink=always "$probe" "$probe.clone" 2>/dev/null; then
    warn "$storage cannot clone (no reflinks on $(stat -f -c %T "$storage")): each backup will write its whole archive and the trash keep whole copies; XFS (reflink=1), btrfs or ZFS 2.2+ write only what changed"
  fi
  rm -f "$probe" "$probe.clone"
fi

# ---------------------------------------------------------------- 3. sudo rights: exactly what the service needs
step "sudoers drop-in"
systemctl_path=$(command -v systemctl || echo /usr/bin/systemctl)
sudoers=/etc/sudoers.d/hashrelay-$role
alias_name=HASHRELAY_${role^^}_CMDS
sudoers_text=$(
  cat <<EOF
# HashRelay: what the $USER_NAME service user may run as root, and nothing else (written by dependencies/install.sh).
Cmnd_Alias $alias_name = $systemctl_path reload $UNIT, $systemctl_path restart $UNIT, $systemctl_path status $UNIT, \\
    $BIN status --config $CONFIG, $BIN status --config $CONFIG --json
$USER_NAME ALL=(root) NOPASSWD: $alias_name
EOF
)
if [ "$DRY_RUN" = 1 ]; then
  printf '%s\n' "$sudoers_text" | write_file "$sudoers" 440 root:root
  run visudo -c
else
  run install -d -m 750 /etc/sudoers.d
  candidate=$(mktemp /etc/sudoers.d/.hashrelay.XXXXXX) # a dot in the name: sudo ignores it until renamed
  remove_on_exit "$candidate"
  printf '%s\n' "$sudoers_text" >"$candidate"
  chmod 440 "$candidate"
  visudo -cf "$candidate" >/dev/null || die "$EXIT_FAILED" "visudo refused the sudoers drop-in: not installed"
  mv -f "$candidate" "$sudoers"
  visudo -c >/dev/null || { rm -f "$sudoers"; die "$EXIT_FAILED" "visudo -c failed with $sudoers: removed it"; }
fi

# ---------------------------------------------------------------- 4. binary and unit
step "binary and systemd unit"
if [ -f "$BIN" ] && cmp -s "$binary" "$BIN"; then
  say "$BIN is up to date"
else
  run install -m 755 "$binary" "$BIN"
fi
run install -d -m 755 "$UNIT_DIR"
run install -m 644 "$UNIT_SRC" "$UNIT_DIR/$UNIT"
run install -m 644 "$ROOT/hashrelay.example.yaml" "$ETC/hashrelay.example.yaml"

# ---------------------------------------------------------------- 5. key and config
step "identity and config"
public_key() { sed -n 's/^# public: //p' "$1" | head -n 1; }
if [ -f "$KEY" ] && [ "$new_identity" = 1 ]; then
  replaced=$KEY.replaced-$(date -u +%Y%m%dT%H%M%SZ)
  run mv "$KEY" "$replaced"
  run chown root:root "$replaced"
  say "identity $(public_key "$replaced") replaced (--new-identity); the old key is kept as $replaced"
  [ "$role" = client ] || say "clients that pinned it report the change until they link again or re-pin the new identity"
fi
if [ -f "$KEY" ]; then
  say "identity $KEY kept: $(public_key "$KEY") (--new-identity makes a new one)"
else
  run "$BIN" keygen --out "$KEY"
fi
run chown "$USER_NAME:$USER_NAME" "$KEY"
run chmod 600 "$KEY"

section_text() {
  if [ "$role" = server ]; then
    cat <<EOF
server:
  listen: $listen
  key: $KEY
  storage: $storage
  retention:
    keep: 1
    trashFor: 48h
  # Each client is added here when it links (ssh-configuration-manager.sh accept).
  clients: []
EOF
  else
    local p
    printf 'client:\n'
    # without name: the host name, slugified (ssh-configuration-manager.sh pins the name it links with)
    [ -z "$name" ] || printf '  name: %s\n' "$name"
    cat <<EOF
  server: $([ "$auto" = 1 ] && echo auto || echo "$server")
  serverKey: $PLACEHOLDER_KEY
  key: $KEY
  schedule: "$schedule"
  state: $STATE
  paths:
EOF
    for p in "${paths[@]}"; do printf '    - %s\n' "$p"; done
  fi
}

if [ ! -f "$CONFIG" ]; then
  {
    printf '# HashRelay config (written by dependencies/install.sh; every key: %s/hashrelay.example.yaml).\n' "$ETC"
    printf '# Check it with: hashrelay validate --config %s\n' "$CONFIG"
    printf 'version: 1\nport: %s\n' "$port"
    section_text
  } | write_file "$CONFIG" 644 root:root
elif ! yaml_has_section "$CONFIG" "$role"; then
  { yaml_set_top "$CONFIG" port "$port"; section_text; } | write_file "$CONFIG" 644 root:root
  say "added a $role: section to $CONFIG"
elif [ "$(yaml_top_value "$CONFIG" port)" != "$port" ]; then
  yaml_set_top "$CONFIG" port "$port" | write_file "$CONFIG" 644 root:root
else
  say "$CONFIG already has a $role: section: kept"
fi

# ---------------------------------------------------------------- 6. firewall
if [ "$firewall" = 1 ]; then
  step "firewall (ufw)"
  ufw_args=(--role "$role" --port "$port" --ssh-port "$ssh_port" --config "$CONFIG")
  if [ "$role" = server ]; then
    for from in "${froms[@]}"; do ufw_args+=(--from "$from"); done
  else
    ufw_args+=(--server "$([ "$auto" = 1 ] && echo auto || echo "$server")")
  fi
  [ "$enable_firewall" = 1 ] && ufw_args+=(--enable-firewall)
  "$BASH" "$HERE/ufw-configuration-manager/ufw-configuration-manager.sh" "${ufw_args[@]}" ${dry[@]+"${dry[@]}"}
fi

# ---------------------------------------------------------------- the service and the SSH link, in their order

enable_unit() {
  step "service $UNIT"
  if systemd_running; then
    run systemctl daemon-reload
    run systemctl enable "$UNIT"
  elif command -v systemctl >/dev/null 2>&1; then
    run systemctl enable "$UNIT" # offline: only the symlinks (chroot, image build)
  else
    run install -d -m 755 "$UNIT_DIR/multi-user.target.wants"
    run ln -sfn "$UNIT_DIR/$UNIT" "$UNIT_DIR/multi-user.target.wants/$UNIT"
    say "systemctl not found: $UNIT enabled by its multi-user.target.wants link"
  fi
}

# True when the service can start now: systemd runs, --no-start was not given, and the config validates.
can_start() {
  if [ "$start" = 0 ] || ! systemd_running; then
    say "$UNIT enabled; it starts with the machine (or: systemctl start $UNIT)"
    return 1
  fi
  [ "$DRY_RUN" = 1 ] && return 0
  "$BIN" validate --config "$CONFIG" >/dev/null 2>&1 && return 0
  say "$UNIT not started: $CONFIG is not complete yet (hashrelay validate --config $CONFIG says why)"
  return 1
}

start_unit() {
  run systemctl restart "$UNIT"
  say "started: systemctl status $UNIT"
}

# Asks the server for this client's archive list (an authenticated session) until it answers or --wait runs
# out: the client service then starts on a server that accepts it, and its first tick backs up at once.
wait_for_server() {
  local deadline=$((SECONDS + wait_s)) code output
  [ "$DRY_RUN" = 0 ] || { run "$BIN" ls --config "$CONFIG"; return 0; }
  say "waiting up to $wait_s s for the server to accept this client..."
  while :; do
    code=0
    output=$("$BIN" ls --config "$CONFIG" 2>&1) || code=$?
    case $code in
      0) say "the server accepts this client: its first backup starts now"; return 0 ;;
      2) say "$(printf '%s' "$output" | tail -n 1)"; return 0 ;;
    esac
    if [ "$SECONDS" -ge "$deadline" ]; then
      say "the server did not accept this client within $wait_s s ($(printf '%s' "$output" | tail -n 1)); the service starts anyway and backs up once the server answers"
      return 0
    fi
    sleep 1
  done
}

ssh_manager=("$BASH" "$HERE/ssh-configuration-manager/ssh-configuration-manager.sh")
no_start=()
[ "$start" = 1 ] || no_start=(--no-start)
if [ "$role" = server ]; then
  # The server runs before it waits for the link; the link's accept adds the client, which it applies live.
  enable_unit
  if [ "$ssh" = 0 ]; then
    if can_start; then start_unit; fi
  else
    say "$UNIT starts before the wait for the link (once the key is downloaded with --transfer http)"
    step "SSH link"
    "${ssh_manager[@]}" server --transfer "$transfer" --timeout "$timeout" --wait "$wait_s" --config "$CONFIG" \
      ${http_bind:+--http-bind "$http_bind"} ${http_port:+--http-port "$http_port"} ${no_start[@]+"${no_start[@]}"} \
      ${dry[@]+"${dry[@]}"}
  fi
else
  # The client starts after the link, once the server accepts it: its first tick is a backup, not "server down".
  if [ "$ssh" = 1 ]; then
    step "SSH link"
    link=(client --server "$server" --fetch "$fetch" --login "$login" --ssh-port "$ssh_port" --config "$CONFIG")
    [ -n "$sha256" ] && link+=(--sha256 "$sha256")
    [ -n "$http_port" ] && link+=(--http-port "$http_port")
    [ -n "$name" ] && link+=(--name "$name")
    [ "$auto" = 1 ] && link+=(--auto)
    "${ssh_manager[@]}" "${link[@]}" ${dry[@]+"${dry[@]}"}
  fi
  enable_unit
  if can_start; then
    wait_for_server
    start_unit
  fi
fi
say "done: HashRelay $role installed"
