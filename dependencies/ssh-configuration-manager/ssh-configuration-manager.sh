#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Links a HashRelay client to its server over SSH: the server creates an RSA key for the HashRelay-Client
# service user and lets that user in with this key only; the client fetches the key together with the server's
# SSH host keys (the link bundle, by scp or a one-shot HTTP download), pins those host keys, then uses the key
# once to swap HashRelay identities with the server.
# Exit: 0 done; 1 failed; 2 usage.
set -euo pipefail

HERE=$(cd "${BASH_SOURCE[0]%/*}" && pwd)
PROG=ssh-configuration-manager
# shellcheck source=../lib/run.sh
. "$HERE/../lib/run.sh"
# shellcheck source=../lib/yaml-edit.sh
. "$HERE/../lib/yaml-edit.sh"
# shellcheck source=../lib/service-user.sh
. "$HERE/../lib/service-user.sh"

EXCHANGE=/usr/local/lib/hashrelay/ssh-exchange.sh
SERVER_PUB=/etc/hashrelay/server.pub
PENDING=$CLIENT_HOME/pending
# What a client fetches: the server's SSH host keys and the RSA key, in one file covered by one SHA-256.
LINK_BUNDLE=$SERVER_HOME/.ssh/HashRelay-link.bundle
BUNDLE_NAME=HashRelay-link.bundle
CLIENT_KNOWN_HOSTS=$CLIENT_HOME/.ssh/known_hosts
SERVER_UNIT=HashRelay.server.service
DROP_IN_NAME=10-hashrelay.conf
BEGIN_MARK="# BEGIN HashRelay (ssh-configuration-manager.sh)"
END_MARK="# END HashRelay"
SLUG='^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$'
PUBLIC_KEY='^ed25519:[A-Za-z0-9+/]{43}=$'

usage() {
  cat <<'USAGE'
usage: ssh-configuration-manager.sh COMMAND [options] [--dry-run]

On the server:
  server [--transfer scp|http|none] [--http-bind ADDR] [--http-port N] [--timeout S] [--wait S]
         [--sshd-config FILE] [--no-reload] [--no-start] [--config FILE]
      Create the RSA key for the clients (/home/HashRelay-server/.ssh/HashRelay-client.key), let the
      HashRelay-Client user in with that key only (a Match block, checked with sshd -t, restored on failure),
      make the link bundle (that key and this machine's SSH host keys) available (scp: the client fetches
      it; http: one download from ADDR:N within S seconds) and print its SHA-256, start HashRelay.server
      when it is enabled and its config validates, then wait up to --wait seconds (default 600) for the
      client to link and add it to server.clients (the running server applies it live).
  sshd-config [--sshd-config FILE] [--no-reload] [--remove]    only the Match block
  serve-key --bind ADDR [--http-port N] [--timeout S] [--key FILE] [--host-key FILE]...
      only the one-shot HTTP download of the bundle (host keys: /etc/ssh/ssh_host_*_key.pub)
  accept [--wait S] [--no-start] [--config FILE]     add the clients that linked to server.clients
  remove server|client [--sshd-config FILE] [--no-reload]   undo what this script set up (install.sh's uninstall)

On a client:
  client --server ADDR [--fetch scp|http] [--login USER] [--ssh-port N] [--http-port N] [--sha256 HEX]
         [--name NAME] [--auto] [--refetch] [--config FILE]
      Fetch the link bundle (scp as --login, default root; or http, checked against --sha256), install its
      key 0600 for HashRelay-Client and pin its SSH host keys (the link never trusts a host key on first use),
      send this client's identity to the server with the key, and pin the server's identity
      (client.serverKey), address (client.server; "auto" with --auto) and port in the YAML.
  fetch-key --server ADDR [--fetch scp|http] [--login USER] [--ssh-port N] [--http-port N] [--sha256 HEX] --out FILE
            [--known-hosts FILE]
      only the download: the key into --out, the server's host keys as known_hosts lines into --known-hosts
USAGE
}

command=${1:-}
[ -n "$command" ] || { usage >&2; exit "$EXIT_USAGE"; }
shift
case $command in -h | --help) usage; exit 0 ;; esac

transfer=scp http_bind="" http_port="" timeout=300 wait_s=600 sshd_config=/etc/ssh/sshd_config reload=1
config=/etc/hashrelay/hashrelay.yaml server="" fetch=scp login=root ssh_port=22 sha256="" name="" auto=0
refetch=0 out="" key_file="" remove=0 role="" start=1 host_keys=() known_hosts_out=""
while [ $# -gt 0 ]; do
  case $1 in
    --transfer | --http-bind | --http-port | --timeout | --wait | --sshd-config | --config | --server | --fetch | \
      --login | --ssh-port | --sha256 | --name | --out | --key | --bind | --host-key | --known-hosts)
      [ $# -ge 2 ] || die "$EXIT_USAGE" "$1 needs a value"
      case $1 in
        --transfer) transfer=$2 ;; --http-bind | --bind) http_bind=$2 ;; --http-port) http_port=$2 ;;
        --timeout) timeout=$2 ;; --wait) wait_s=$2 ;; --sshd-config) sshd_config=$2 ;; --config) config=$2 ;;
        --server) server=$2 ;; --fetch) fetch=$2 ;; --login) login=$2 ;; --ssh-port) ssh_port=$2 ;;
        --sha256) sha256=${2,,} ;; --name) name=$2 ;; --out) out=$2 ;; --key) key_file=$2 ;;
        --host-key) host_keys+=("$2") ;; --known-hosts) known_hosts_out=$2 ;;
      esac
      shift 2
      ;;
    --no-reload) reload=0; shift ;;
    --no-start) start=0; shift ;;
    --auto) auto=1; shift ;;
    --refetch) refetch=1; shift ;;
    --remove) remove=1; shift ;;
    --dry-run) DRY_RUN=1; shift ;;
    server | client) [ "$command" = remove ] || die "$EXIT_USAGE" "unexpected argument $1"; role=$1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "$EXIT_USAGE" "unknown argument $1" ;;
  esac
done
[[ $timeout =~ ^[0-9]+$ ]] || die "$EXIT_USAGE" "--timeout must be whole seconds"
[[ $wait_s =~ ^[0-9]+$ ]] || die "$EXIT_USAGE" "--wait must be whole seconds"
is_port "$ssh_port" || die "$EXIT_USAGE" "--ssh-port must be a port number"
[ -z "$http_port" ] || is_port "$http_port" || die "$EXIT_USAGE" "--http-port must be a port number"
[ -z "$sha256" ] || [[ $sha256 =~ ^[0-9a-f]{64}$ ]] || die "$EXIT_USAGE" "--sha256 must be 64 hex digits"
case $transfer in scp | http | none) ;; *) die "$EXIT_USAGE" "--transfer must be scp, http or none" ;; esac
case $fetch in scp | http) ;; *) die "$EXIT_USAGE" "--fetch must be scp or http" ;; esac

# The agreed port: --http-port, else the YAML's port, else 7373.
agreed_port() {
  local port=""
  if [ -r "$config" ]; then port=$(yaml_top_value "$config" port); fi
  if is_port "${port:-x}"; then echo "$port"; else echo 7373; fi
}

# ---------------------------------------------------------------- sshd: the Match block

# match_block [KEYWORD]: the block; KEYWORD names the accepted key algorithms (PubkeyAcceptedKeyTypes before
# OpenSSH 8.5, e.g. RHEL 8).
match_block() {
  cat <<EOF
# HashRelay: the $CLIENT_USER service user logs in with its RSA key only (written by ssh-configuration-manager.sh).
Match User $CLIENT_USER
    PubkeyAuthentication yes
    ${1:-PubkeyAcceptedAlgorithms} rsa-sha2-512,rsa-sha2-256
    AuthenticationMethods publickey
    PasswordAuthentication no
    KbdInteractiveAuthentication no
    AllowTcpForwarding no
    X11Forwarding no
    PermitTTY no
EOF
}

# The drop-in folder sshd_config includes (Debian, Ubuntu, Fedora, RHEL 9...), or nothing.
drop_in_dir() {
  local pattern
  pattern=$(awk 'tolower($1) == "include" && $2 ~ /sshd_config\.d\/\*\.conf$/ { print $2; exit }' "$sshd_config")
  [ -n "$pattern" ] || return 0
  [[ $pattern == /* ]] || pattern="${sshd_config%/*}/$pattern"
  echo "${pattern%/*}"
}

# sshd_config without the marked HashRelay block.
without_marked_block() {
  awk -v begin="$BEGIN_MARK" -v end="$END_MARK" '$0 == begin { skip = 1; next } skip && $0 == end { skip = 0; next } !skip { print }' "$sshd_config"
}

sshd_bin() { command -v sshd || echo /usr/sbin/sshd; }

reload_sshd() {
  local pid
  [ "$reload" = 1 ] || { say "sshd not reloaded (--no-reload)"; return 0; }
  if systemd_running; then
    if systemctl cat ssh.service >/dev/null 2>&1; then run systemctl reload ssh; else run systemctl reload sshd; fi
  elif pid=$(cat /run/sshd.pid 2>/dev/null) && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = sshd ]; then
    # No systemd (a container, an OpenRC or sysvinit machine): SIGHUP is how sshd rereads its configuration.
    run kill -HUP "$pid"
  else
    say "sshd is not running here: it reads the new settings when it starts"
  fi
}

# set_sshd_block present|absent: writes (or removes) the Match block, checks with sshd -t, restores on failure.
set_sshd_block() {
  local want=$1 dir target backup="" new
  if [ ! -f "$sshd_config" ]; then
    [ "$want" = absent ] && { say "no $sshd_config: nothing to remove"; return 0; }
    die "$EXIT_FAILED" "$sshd_config not found: is openssh-server installed?"
  fi
  dir=$(drop_in_dir)
  if [ -n "$dir" ]; then
    target=$dir/$DROP_IN_NAME
  else
    target=$sshd_config
  fi
  local keyword accepted=0
  # new_text KEYWORD: what the target holds once the block is as wanted.
  new_text() {
    if [ -n "$dir" ]; then
      if [ "$want" = present ]; then match_block "$1"; fi
    else
      without_marked_block
      if [ "$want" = present ]; then printf '%s\n%s\n%s\n' "$BEGIN_MARK" "$(match_block "$1")" "$END_MARK"; fi
    fi
  }
  for keyword in PubkeyAcceptedAlgorithms PubkeyAcceptedKeyTypes; do
    if [ -f "$target" ] && [ "$(cat "$target")" = "$(new_text "$keyword")" ]; then
      say "sshd: the $CLIENT_USER Match block is already ${want}"
      return 0
    fi
  done
  if [ "$want" = absent ] && [ "$target" != "$sshd_config" ] && [ ! -f "$target" ]; then
    say "sshd: no HashRelay drop-in to remove"
    return 0
  fi
  if [ "$DRY_RUN" = 0 ] && [ -f "$target" ]; then
    backup=$(mktemp "${target%/*}/.${target##*/}.hashrelay-backup.XXXXXX")
    remove_on_exit "$backup"
    cp -p "$target" "$backup"
  fi
  for keyword in PubkeyAcceptedAlgorithms PubkeyAcceptedKeyTypes; do
    new=$(new_text "$keyword")
    if [ -z "$new" ] && [ "$target" != "$sshd_config" ]; then
      run rm -f "$target"
    else
      printf '%s\n' "$new" | write_file "$target" 644 root:root
    fi
    if run "$(sshd_bin)" -t -f "$sshd_config"; then
      accepted=1
      break
    fi
    # An sshd older than 8.5 (RHEL 8) knows the algorithms keyword by its old name: try that once, then give up.
    [ "$want" = present ] || break
  done
  if [ "$accepted" = 0 ]; then
    if [ -n "$backup" ]; then cp -p "$backup" "$target"; else rm -f "$target"; fi
    die "$EXIT_FAILED" "sshd -t refused the new configuration: $target restored, sshd not reloaded"
  fi
  say "sshd: $CLIENT_USER Match block ${want} in $target"
  reload_sshd
}

# ---------------------------------------------------------------- server side

# link_bundle RSA_KEY: the text a client fetches: one "host-key TYPE BASE64" line per SSH host key of this
# machine (--host-key FILE..., default /etc/ssh/ssh_host_*_key.pub), then the RSA private key. Fails when
# there is no host key: a client could not check whom it links to.
link_bundle() {
  local file type blob count=0
  printf '# HashRelay link bundle: the SSH host keys of %s, then the key HashRelay-Client logs in with.\n' "$(hostname)"
  if [ ${#host_keys[@]} -eq 0 ]; then host_keys=(/etc/ssh/ssh_host_*_key.pub); fi
  for file in "${host_keys[@]}"; do
    [ -r "$file" ] || continue
    read -r type blob _ <"$file"
    printf 'host-key %s %s\n' "$type" "$blob"
    count=$((count + 1))
  done
  [ "$count" -gt 0 ] || { warn "no SSH host key found (${host_keys[*]}): is openssh-server installed?"; return 1; }
  cat "$1"
}

# public_identity SECTION: the public identity of the client: or server: key file, from the "# public:" line
# hashrelay keygen writes into it (default /etc/hashrelay/SECTION.key); nothing when unreadable.
public_identity() {
  local key_path=""
  if [ -r "$config" ]; then key_path=$(yaml_section_value "$config" "$1" key); fi
  key_path=${key_path:-/etc/hashrelay/$1.key}
  [[ $key_path == /* ]] || key_path="$(cd "$(dirname "$config")" && pwd)/$key_path"
  [ -r "$key_path" ] || return 0
  sed -n 's/^# public: //p' "$key_path" | head -n 1
}

server_setup() {
  local pub identity line
  ensure_user "$SERVER_USER" /usr/sbin/nologin
  # HashRelay-Client on the server runs only the exchange (forced command), but sshd needs a shell to run it.
  ensure_user "$CLIENT_USER" /bin/sh
  run install -d -m 700 -o "$SERVER_USER" -g "$SERVER_USER" "$SERVER_HOME/.ssh"
  if [ -f "$SERVER_RSA_KEY" ]; then
    ssh-keygen -l -f "$SERVER_RSA_KEY" | grep -q '(RSA)$' || die "$EXIT_FAILED" "$SERVER_RSA_KEY exists and is not an RSA key"
    say "RSA key $SERVER_RSA_KEY exists: kept"
  else
    run ssh-keygen -q -t rsa -b 4096 -N '' -C "$CLIENT_USER@$(hostname)" -f "$SERVER_RSA_KEY"
  fi
  run chown "$SERVER_USER:$SERVER_USER" "$SERVER_RSA_KEY" "$SERVER_RSA_KEY.pub"
  run chmod 600 "$SERVER_RSA_KEY"
  local bundle="(the SSH host keys, then $SERVER_RSA_KEY)" # --dry-run before the key exists
  if [ -f "$SERVER_RSA_KEY" ]; then
    bundle=$(link_bundle "$SERVER_RSA_KEY") || die "$EXIT_FAILED" "no link bundle: clients could not check this server's SSH host key"
  fi
  printf '%s\n' "$bundle" | write_file "$LINK_BUNDLE" 600 "$SERVER_USER:$SERVER_USER"

  run install -d -m 755 "${EXCHANGE%/*}"
  run install -m 755 "$HERE/hashrelay-ssh-exchange.sh" "$EXCHANGE"
  identity=$(public_identity server)
  if [[ $identity =~ $PUBLIC_KEY ]]; then
    printf '%s\n' "$identity" | write_file "$SERVER_PUB" 644 root:root
  else
    warn "no server identity found (server.key in $config): clients cannot link until install.sh server creates it"
  fi

  # The key lets HashRelay-Client in for the exchange only: restrict = no tty, no forwarding.
  if [ "$DRY_RUN" = 1 ] && [ ! -f "$SERVER_RSA_KEY.pub" ]; then
    pub="ssh-rsa AAAA...(the new key) $CLIENT_USER@$(hostname)"
  else
    pub=$(cat "$SERVER_RSA_KEY.pub")
  fi
  line="restrict,command=\"$EXCHANGE\" $pub"
  run install -d -m 700 -o "$CLIENT_USER" -g "$CLIENT_USER" "$CLIENT_HOME/.ssh"
  {
    if [ -f "$CLIENT_HOME/.ssh/authorized_keys" ]; then grep -vF "command=\"$EXCHANGE\"" "$CLIENT_HOME/.ssh/authorized_keys" || true; fi
    printf '%s\n' "$line"
  } | write_file "$CLIENT_HOME/.ssh/authorized_keys" 600 "$CLIENT_USER:$CLIENT_USER"

  set_sshd_block present
}

# Serves the link bundle of --key (default the clients' RSA key) for one download, printing its SHA-256.
serve_key() {
  local file=${key_file:-$SERVER_RSA_KEY} port=${http_port:-$(agreed_port)} sum bundle
  [ -n "$http_bind" ] || die "$EXIT_USAGE" "--http-bind ADDR is required: the one address the client reaches this server on"
  case $http_bind in 0.0.0.0 | :: | "*") die "$EXIT_USAGE" "--http-bind must be one address, not $http_bind" ;; esac
  [ "$DRY_RUN" = 1 ] || [ -r "$file" ] || die "$EXIT_FAILED" "cannot read $file"
  if [ -r "$file" ]; then
    bundle=$(mktemp "${TMPDIR:-/tmp}/hashrelay-link.XXXXXX")
    remove_on_exit "$bundle"
    link_bundle "$file" >"$bundle" || die "$EXIT_FAILED" "no link bundle: the client could not check this server's SSH host key"
    sum=$(sha256sum "$bundle" | cut -d' ' -f1)
  else
    bundle="(the link bundle of $file)" sum="(its sha256)"
  fi
  say "serving the key and this machine's SSH host keys ONCE at http://$http_bind:$port/$BUNDLE_NAME for $timeout s"
  say "its SHA-256 is $sum: give it to the client (--sha256) to check the download"
  printf 'sha256 %s\nurl http://%s:%s/%s\n' "$sum" "$http_bind" "$port" "$BUNDLE_NAME"
  run python3 "$HERE/serve-once.py" --bind "$http_bind" --port "$port" --timeout "$timeout" --file "$bundle" --name "$BUNDLE_NAME"
}

# Starts (or restarts, for a new binary or unit) HashRelay.server when it is enabled and its config validates,
# so it already runs while the installer waits for a client; a config that does not validate yet is said.
start_server() {
  local bin=${HASHRELAY_BIN:-/usr/local/bin/hashrelay} problem
  if [ "$start" = 0 ] || ! systemd_running || ! systemctl is-enabled --quiet "$SERVER_UNIT" 2>/dev/null; then return 0; fi
  if problem=$("$bin" validate --config "$config" 2>&1); then
    run systemctl restart "$SERVER_UNIT"
    say "$SERVER_UNIT started: it serves while the clients link"
  else
    say "$SERVER_UNIT not started yet: $(printf '%s' "$problem" | head -n 1); it starts when the first client links"
  fi
}

# After an accept: the running server applies the new client list (live config); one not running starts.
apply_client_list() {
  systemd_running || return 0
  if systemctl is-active --quiet "$SERVER_UNIT"; then
    run systemctl reload "$SERVER_UNIT"
  elif [ "$start" = 1 ] && systemctl is-enabled --quiet "$SERVER_UNIT" 2>/dev/null; then
    run systemctl restart "$SERVER_UNIT"
  fi
}

# accept_clients WAIT: adds the clients waiting in ~HashRelay-Client/pending to server.clients, waiting up to
# WAIT seconds for at least one. Fails when the wait runs out with nobody linked.
accept_clients() {
  local wait=$1 deadline accepted=0 file client key listed
  deadline=$((SECONDS + wait))
  [ -f "$config" ] || die "$EXIT_FAILED" "$config not found (install.sh server writes it)"
  while :; do
    for file in "$PENDING"/*.pub; do
      [ -f "$file" ] || continue
      client=${file##*/}
      client=${client%.pub}
      key=$(head -c 200 "$file" | tr -d '[:space:]')
      if ! [[ $client =~ $SLUG ]] || ! [[ $key =~ $PUBLIC_KEY ]]; then
        warn "ignoring malformed $file"
        continue
      fi
      listed=$(yaml_client_key "$config" "$client")
      if [ "$listed" = "$key" ]; then
        say "client $client linked again: already listed with this key"
        accepted=$((accepted + 1))
      elif [ -n "$listed" ]; then
        warn "client $client is already listed with another key: $file left for you to check"
        continue
      elif grep -qF "\"$key\"" "$config"; then
        warn "the key of $client is already listed under another name: $file left for you to check"
        continue
      else
        yaml_add_client "$config" "$client" "$key" | replace_config "$config"
        say "client $client linked: added to server.clients with key $key"
        accepted=$((accepted + 1))
      fi
      run rm -f "$file"
    done
    [ "$accepted" -gt 0 ] && break
    if [ "$SECONDS" -ge "$deadline" ]; then
      [ "$wait" -eq 0 ] && { say "no client waiting to be linked"; return 0; }
      die "$EXIT_FAILED" "no client linked within $wait s (on the client: ssh-configuration-manager.sh client --server ADDR)"
    fi
    sleep 1
  done
  apply_client_list
}

bundle_sum() {
  if [ -r "$LINK_BUNDLE" ]; then sha256sum "$LINK_BUNDLE" | cut -d' ' -f1; else echo "(sha256 of $LINK_BUNDLE)"; fi
}

server_command() {
  need_root
  server_setup
  local port
  port=$(agreed_port)
  case $transfer in
    http)
      local started=$SECONDS
      # The download uses the agreed port: the server starts once it is done.
      serve_key || die "$EXIT_FAILED" "the key was not downloaded"
      say "key downloaded; waiting for the client to link"
      start_server
      [ "$DRY_RUN" = 1 ] || accept_clients $((wait_s > SECONDS - started ? wait_s - (SECONDS - started) : 1))
      ;;
    scp)
      say "on the client, run: install.sh client --server ${http_bind:-THIS-SERVER} --port $port --fetch scp --login ADMIN --sha256 $(bundle_sum)"
      say "(it fetches $LINK_BUNDLE by scp as ADMIN, who must be able to read it, e.g. root; --sha256 checks it)"
      printf 'sha256 %s\n' "$(bundle_sum)"
      start_server
      say "waiting up to $wait_s s for the client to link..."
      [ "$DRY_RUN" = 1 ] || accept_clients "$wait_s"
      ;;
    none)
      say "key ready in $LINK_BUNDLE; link a client later (scp, --sha256 below), then run: ssh-configuration-manager.sh accept"
      printf 'sha256 %s\n' "$(bundle_sum)"
      start_server
      ;;
  esac
}

# ---------------------------------------------------------------- client side

# fetch_key DEST HOSTS: downloads the link bundle by scp or HTTP, checks it (--sha256, or the admin's answer
# for HTTP), writes its RSA private key into DEST (a temp file) and known_hosts lines for --server (its SSH host
# keys) into HOSTS.
fetch_key() {
  local dest=$1 hosts=$2 port=${http_port:-$(agreed_port)} sum answer bundle
  [ -n "$server" ] || die "$EXIT_USAGE" "--server ADDR is required"
  if [ "$DRY_RUN" = 1 ]; then bundle=$dest.bundle; else bundle=$(mktemp "${dest%/*}/.bundle.XXXXXX"); fi
  remove_on_exit "$bundle"
  case $fetch in
    scp)
      run scp -q -P "$ssh_port" -o StrictHostKeyChecking=accept-new "$login@$server:$LINK_BUNDLE" "$bundle" ||
        die "$EXIT_FAILED" "scp of $LINK_BUNDLE from $login@$server failed (can $login read it? is the server side waiting?)"
      ;;
    http)
      run python3 - "http://$server:$port/$BUNDLE_NAME" "$bundle" <<'PY' || die "$EXIT_FAILED" "download from http://$server:$port/$BUNDLE_NAME failed"
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=30) as response:
    data = response.read(65537)
if len(data) > 65536:
    sys.exit("the download is larger than any key")
with open(sys.argv[2], "wb") as f:
    f.write(data)
PY
      ;;
  esac
  [ "$DRY_RUN" = 1 ] && return 0
  sum=$(sha256sum "$bundle" | cut -d' ' -f1)
  if [ -n "$sha256" ]; then
    [ "$sum" = "$sha256" ] || die "$EXIT_FAILED" "the download's SHA-256 is $sum, not $sha256 as given: refused"
  elif [ "$fetch" = http ]; then
    [ -t 0 ] || die "$EXIT_USAGE" "the key came over plain HTTP: pass --sha256 (printed by the server) to check it"
    printf 'The download'"'"'s SHA-256 is %s. Is it the one the server printed? [y/N] ' "$sum" >&2
    read -r answer
    [[ $answer == [yY]* ]] || die "$EXIT_FAILED" "key refused"
  fi
  # The host keys the server put in the bundle, as known_hosts lines for the address the link uses.
  local host=$server
  [ "$ssh_port" = 22 ] || host="[$server]:$ssh_port"
  awk -v host="$host" '$1 == "host-key" && NF >= 3 { print host, $2, $3 }' "$bundle" >"$hosts"
  [ -s "$hosts" ] || die "$EXIT_FAILED" "the download from $server holds no SSH host key (a HashRelay older than this installer on the server? run this version's install.sh server there)"
  sed -n '/^-----BEGIN /,/^-----END /p' "$bundle" >"$dest"
  chmod 600 "$dest"
  ssh-keygen -y -f "$dest" 2>/dev/null | grep -q '^ssh-rsa ' || die "$EXIT_FAILED" "what came from $server is not an RSA private key"
  say "fetched the key and $(wc -l <"$hosts") SSH host key(s) of $server by $fetch (SHA-256 $sum)"
}

client_name() {
  local n=$name
  if [ -z "$n" ] && [ -r "$config" ]; then n=$(yaml_section_value "$config" client name); fi
  if [ -z "$n" ]; then
    n=$(hostname)
    n=${n%%.*}
  fi
  n=${n,,}
  n=$(printf '%s' "$n" | tr -c 'a-z0-9' '-' | sed 's/--*/-/g; s/^-//; s/-$//')
  echo "${n:0:64}"
}

client_command() {
  need_root
  [ -n "$server" ] || die "$EXIT_USAGE" "client needs --server ADDR (the server's address for SSH)"
  [ -f "$config" ] || [ "$DRY_RUN" = 1 ] || die "$EXIT_FAILED" "$config not found (install.sh client writes it)"
  local identity me tmp answer server_key port
  ensure_user "$CLIENT_USER" /bin/sh
  run install -d -m 700 -o "$CLIENT_USER" -g "$CLIENT_USER" "$CLIENT_HOME/.ssh"
  if [ "$refetch" = 0 ] && [ -f "$CLIENT_RSA_KEY" ] && ssh-keygen -y -f "$CLIENT_RSA_KEY" 2>/dev/null | grep -q '^ssh-rsa '; then
    say "key $CLIENT_RSA_KEY already installed, with the server's host keys pinned in $CLIENT_KNOWN_HOSTS (--refetch fetches both again)"
  else
    local hosts
    if [ "$DRY_RUN" = 1 ]; then
      tmp=$CLIENT_RSA_KEY.part hosts=$CLIENT_KNOWN_HOSTS.part
    else
      tmp=$(mktemp "$CLIENT_HOME/.ssh/.key.XXXXXX")
      hosts=$(mktemp "$CLIENT_HOME/.ssh/.known_hosts.XXXXXX")
      remove_on_exit "$tmp" "$hosts"
    fi
    fetch_key "$tmp" "$hosts"
    run chown "$CLIENT_USER:$CLIENT_USER" "$tmp" "$hosts"
    run chmod 600 "$tmp"
    run chmod 644 "$hosts"
    run mv -f "$tmp" "$CLIENT_RSA_KEY"
    # The link trusts these host keys and no other (StrictHostKeyChecking=yes below): no trust on first use.
    run mv -f "$hosts" "$CLIENT_KNOWN_HOSTS"
  fi

  identity=$(public_identity client)
  [[ $identity =~ $PUBLIC_KEY ]] || [ "$DRY_RUN" = 1 ] ||
    die "$EXIT_FAILED" "no client identity (client.key in $config): create it with hashrelay keygen --out /etc/hashrelay/client.key"
  me=$(client_name)
  [[ $me =~ $SLUG ]] || die "$EXIT_USAGE" "client name \"$me\" is not usable: pass --name NAME"
  # The key's one use: send our identity, receive the server's (the server side runs only this exchange).
  local ssh_cmd=(ssh -i "$CLIENT_RSA_KEY" -p "$ssh_port" -o IdentitiesOnly=yes -o BatchMode=yes
    -o PreferredAuthentications=publickey -o StrictHostKeyChecking=yes -o "UserKnownHostsFile=$CLIENT_KNOWN_HOSTS"
    -o GlobalKnownHostsFile=/dev/null "$CLIENT_USER@$server" hello "$me" "${identity:-ed25519:...}")
  if [ "$DRY_RUN" = 1 ]; then
    run "${ssh_cmd[@]}"
    say "(then pins the server's answer into $config)"
    return 0
  fi
  answer=$("${ssh_cmd[@]}") || die "$EXIT_FAILED" "the exchange with $CLIENT_USER@$server failed (is the server side configured? \"Host key verification failed\": the server's SSH host key is not the one pinned in $CLIENT_KNOWN_HOSTS; --refetch fetches the bundle again)"
  server_key=$(awk '$1 == "server-key" { print $2; exit }' <<<"$answer")
  port=$(awk '$1 == "port" { print $2; exit }' <<<"$answer")
  if ! [[ $server_key =~ $PUBLIC_KEY ]] || ! is_port "${port:-x}"; then die "$EXIT_FAILED" "unexpected answer from the server: $answer"; fi
  say "linked as $me; the server's identity is $server_key, port $port"

  local text
  text=$(yaml_set_in_section "$config" client serverKey "\"$server_key\"") || die "$EXIT_FAILED" "$config has no client: section"
  text=$(printf '%s\n' "$text" | yaml_set_in_section /dev/stdin client server "$([ "$auto" = 1 ] && echo auto || echo "$server")")
  text=$(printf '%s\n' "$text" | yaml_set_in_section /dev/stdin client name "$me")
  text=$(printf '%s\n' "$text" | yaml_set_top /dev/stdin port "$port")
  printf '%s\n' "$text" | replace_config "$config"
  say "pinned in $config: client.serverKey, client.server, port"
}

fetch_key_command() {
  [ -n "$out" ] || die "$EXIT_USAGE" "fetch-key needs --out FILE"
  local tmp hosts
  if [ "$DRY_RUN" = 1 ]; then
    tmp=$out.part hosts=$out.hosts
  else
    tmp=$(mktemp "$(dirname "$out")/.key.XXXXXX")
    hosts=$(mktemp "$(dirname "$out")/.known_hosts.XXXXXX")
    remove_on_exit "$tmp" "$hosts"
  fi
  fetch_key "$tmp" "$hosts"
  run mv -f "$tmp" "$out"
  if [ -n "$known_hosts_out" ]; then run mv -f "$hosts" "$known_hosts_out"; fi
}

# ---------------------------------------------------------------- removal

remove_command() {
  need_root
  case $role in
    server)
      set_sshd_block absent
      if [ -f "$CLIENT_HOME/.ssh/authorized_keys" ]; then
        grep -vF "command=\"$EXCHANGE\"" "$CLIENT_HOME/.ssh/authorized_keys" | write_file "$CLIENT_HOME/.ssh/authorized_keys" 600 "$CLIENT_USER:$CLIENT_USER" || true
      fi
      run rm -f "$SERVER_RSA_KEY" "$SERVER_RSA_KEY.pub" "$LINK_BUNDLE" "$EXCHANGE" "$SERVER_PUB"
      run rm -rf "$PENDING"
      ;;
    client)
      run rm -f "$CLIENT_RSA_KEY" "$CLIENT_KNOWN_HOSTS"
      ;;
    *) die "$EXIT_USAGE" "remove needs server or client" ;;
  esac
  say "removed the $role side of the SSH link"
}

case $command in
  server) server_command ;;
  client) client_command ;;
  sshd-config)
    need_root
    if [ "$remove" = 1 ]; then set_sshd_block absent; else set_sshd_block present; fi
    ;;
  serve-key) need_root; serve_key ;;
  fetch-key) fetch_key_command ;;
  accept) need_root; accept_clients "$wait_s" ;;
  remove) remove_command ;;
  *) usage >&2; die "$EXIT_USAGE" "unknown command $command" ;;
esac
