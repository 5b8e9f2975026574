#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Adds exactly the ufw rules HashRelay needs (client: out to the server; server: in from the clients) and
# writes the agreed port into the YAML. It never changes ufw's policy on its own: an inactive ufw stays
# inactive unless --enable-firewall. The state ufw was in is recorded once, so --remove --restore returns
# ufw to it. Exit: 0 done; 1 failed; 2 usage.
set -euo pipefail

HERE=$(cd "${BASH_SOURCE[0]%/*}" && pwd)
PROG=ufw-configuration-manager
# shellcheck source=../lib/run.sh
. "$HERE/../lib/run.sh"
# shellcheck source=../lib/yaml-edit.sh
. "$HERE/../lib/yaml-edit.sh"
# shellcheck source=../lib/port-question.sh
. "$HERE/../lib/port-question.sh"

usage() {
  cat <<'USAGE'
usage: ufw-configuration-manager.sh --role client|server [--port N] [--server ADDR|auto] [--from ADDR|CIDR|any]...
                                    [--ssh-port N] [--config FILE] [--enable-firewall] [--record FILE] [--dry-run]
       ufw-configuration-manager.sh --role client|server --remove [--restore] [--remove-ssh] [--record FILE] [--dry-run]
  --role client   allow outgoing TCP to the server's address and port (--server; "auto": to any address,
                  plus the UDP of LAN discovery)
  --role server   allow incoming TCP (and UDP, for LAN discovery) on the port from each --from
  --port N        the agreed port, the same on client and server; asked for when not given
  --ssh-port N    the SSH port kept open when this script enables ufw (default: sshd's, else 22)
  --config FILE   the HashRelay YAML that receives the port (default /etc/hashrelay/hashrelay.yaml)
  --enable-firewall  if ufw is inactive, enable it: first allow SSH, then say what its default policy blocks.
                  Without it ufw's state is left alone (an inactive ufw keeps the rules for when it is enabled)
  --record FILE   where the state ufw was found in is kept (default /var/lib/hashrelay-install/ufw-found)
  --remove        delete the rules this script added for the role
  --restore       with --remove, when no HashRelay role is left: return ufw to the recorded state (disable it
                  if this script enabled it, with its SSH rule), then forget the record
  --remove-ssh    with --remove: delete the SSH rule this script added, whatever the record says
  --dry-run       print the commands instead of running them
USAGE
}

role="" port="" server="" froms=() ssh_port="" config=/etc/hashrelay/hashrelay.yaml enable=0 remove=0 restore=0
remove_ssh=0 record=/var/lib/hashrelay-install/ufw-found
while [ $# -gt 0 ]; do
  case $1 in
    --role | --port | --server | --from | --ssh-port | --config | --record)
      [ $# -ge 2 ] || die "$EXIT_USAGE" "$1 needs a value"
      case $1 in
        --role) role=$2 ;; --port) port=$2 ;; --server) server=$2 ;; --from) froms+=("$2") ;;
        --ssh-port) ssh_port=$2 ;; --config) config=$2 ;; --record) record=$2 ;;
      esac
      shift 2
      ;;
    --enable-firewall) enable=1; shift ;;
    --no-enable) enable=0; shift ;; # the default since issue 15; still accepted
    --remove) remove=1; shift ;;
    --restore) restore=1; shift ;;
    --remove-ssh) remove_ssh=1; shift ;;
    --dry-run) DRY_RUN=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "$EXIT_USAGE" "unknown argument $1" ;;
  esac
done
case $role in client | server) ;; *) usage >&2; die "$EXIT_USAGE" "--role client or --role server is required" ;; esac
TAG=hashrelay-$role
SSH_TAG=hashrelay-ssh

have_ufw() { command -v ufw >/dev/null 2>&1; }

# ufw's rules and state, read once (each ufw call starts Python): the rules this script adds or deletes are all
# tagged, and no read below depends on them having been applied.
RULES="" ACTIVE=no
if have_ufw && [ "$(id -u)" = 0 ]; then
  RULES=$(ufw show added 2>/dev/null | sed -n 's/^ufw //p')
  if ufw status 2>/dev/null | grep -q '^Status: active'; then ACTIVE=yes; fi
fi

# The rules ufw held when this script started (as `ufw show added` prints them, without the leading "ufw ").
added_rules() { [ -z "$RULES" ] || printf '%s\n' "$RULES"; }

# delete_tagged TAG: deletes every rule whose comment is TAG.
delete_tagged() {
  local rule words
  while IFS= read -r rule; do
    [[ $rule == *" comment '$1'" ]] || continue
    read -r -a words <<<"${rule% comment *}"
    run ufw delete "${words[@]}"
  done < <(added_rules)
}

has_tagged() { added_rules | grep -q " comment '$1'\$"; }

ufw_active() { [ "$ACTIVE" = yes ]; }

# A digest of the rules that are not HashRelay's: tells whether the admin added or removed any since the record.
others_digest() { added_rules | { grep -v " comment 'hashrelay-" || true; } | sha256sum | cut -c1-64; }

# ---------------------------------------------------------------- the record of the state found

# record_get KEY: the value of KEY=VALUE in the record (empty when absent).
record_get() { [ -f "$record" ] && sed -n "s/^$1=//p" "$record" | head -n 1; }

# record_write TEXT: the record, root-only (it tells what the machine's firewall was before HashRelay).
record_write() {
  run install -d -m 700 "${record%/*}"
  printf '%s\n' "$1" | write_file "$record" 600 root:root
}

# Records ufw's state the first time HashRelay touches it; a later install keeps the first record (by then
# the state may be HashRelay's own doing).
record_found() {
  [ -f "$record" ] && return 0
  record_write "# ufw as HashRelay's installers found it (read by uninstall.sh to return ufw to it)
recorded=$(date -u +%Y-%m-%dT%H:%M:%SZ)
active=$(ufw_active && echo yes || echo no)
enabled-by-hashrelay=no
others=$(others_digest)"
}

# Returns ufw to the recorded state once no HashRelay role is left, and forgets the record.
restore_found() {
  if [ ! -f "$record" ]; then
    if has_tagged "$SSH_TAG"; then
      say "no record of ufw's state before HashRelay (installed by an older version): ufw left as it is, with its SSH rule ($SSH_TAG)"
    fi
    return 0
  fi
  if [ "$(record_get active)" = no ] && [ "$(record_get enabled-by-hashrelay)" = yes ] && ufw_active; then
    if [ "$(others_digest)" != "$(record_get others)" ]; then
      say "ufw holds rules added since HashRelay enabled it: left active, with the SSH rule ($SSH_TAG); 'ufw disable' returns it to the state found"
    else
      delete_tagged "$SSH_TAG"
      run ufw --force disable
      say "ufw disabled again: it was inactive before HashRelay enabled it (--enable-firewall)"
    fi
  else
    say "ufw left $([ "$ACTIVE" = yes ] && echo active || echo inactive), as HashRelay found it (recorded $(record_get recorded): $([ "$(record_get active)" = yes ] && echo active || echo inactive))"
  fi
  run rm -f "$record"
  if [ "$DRY_RUN" = 0 ]; then rmdir "${record%/*}" 2>/dev/null || true; fi
}

if [ "$remove" = 1 ]; then
  need_root
  [ "$DRY_RUN" = 1 ] || have_ufw || { say "ufw is not installed: no rule to remove"; exit 0; }
  delete_tagged "$TAG"
  say "removed the $TAG rules"
  if [ "$remove_ssh" = 1 ]; then delete_tagged "$SSH_TAG"; fi
  if [ "$restore" = 1 ]; then restore_found; fi
  exit 0
fi

if [ -z "$port" ]; then
  default=7373
  if [ -r "$config" ]; then
    from_yaml=$(yaml_top_value "$config" port)
    is_port "${from_yaml:-x}" && default=$from_yaml
  fi
  port=$(ask_port "$default")
fi
is_port "$port" || die "$EXIT_USAGE" "port \"$port\" is not a number in 1-65535"

# An IPv4/IPv6 address or CIDR as ufw takes it; host names are resolved.
addresses_of() {
  if [[ $1 =~ ^[0-9.]+(/[0-9]+)?$ ]] || [[ $1 =~ ^[0-9A-Fa-f:]+(/[0-9]+)?$ ]] || [ "$1" = any ]; then
    echo "$1"
  else
    getent ahosts "$1" | awk '{print $1}' | sort -u
  fi
}

rules=()
case $role in
  client)
    [ -n "$server" ] || die "$EXIT_USAGE" "--role client needs --server ADDR (or --server auto)"
    if [ "$server" = auto ]; then
      # LAN discovery: broadcast out on the port, the server's answer comes back from that port.
      rules+=("allow out proto tcp to any port $port" "allow out proto udp to any port $port" "allow in proto udp from any port $port")
    else
      resolved=$(addresses_of "$server")
      [ -n "$resolved" ] || die "$EXIT_FAILED" "cannot resolve $server"
      for address in $resolved; do rules+=("allow out proto tcp to $address port $port"); done
    fi
    ;;
  server)
    [ ${#froms[@]} -gt 0 ] || die "$EXIT_USAGE" "--role server needs at least one --from ADDR|CIDR (or --from any)"
    for from in "${froms[@]}"; do
      resolved=$(addresses_of "$from")
      [ -n "$resolved" ] || die "$EXIT_FAILED" "cannot resolve $from"
      for address in $resolved; do
        rules+=("allow in proto tcp from $address to any port $port" "allow in proto udp from $address to any port $port")
      done
    done
    ;;
esac

need_root
[ "$DRY_RUN" = 1 ] || have_ufw || die "$EXIT_FAILED" "ufw is not installed (dependencies/pkg-auto-install/pkg-auto-install.sh installs it)"

if [ -z "$ssh_port" ]; then
  ssh_port=$(sshd -T 2>/dev/null | awk '$1 == "port" { print $2; exit }' || true)
  ssh_port=${ssh_port:-22}
fi
is_port "$ssh_port" || die "$EXIT_USAGE" "SSH port \"$ssh_port\" is not a number in 1-65535"

# True when a rule the admin wrote already lets SSH in (ufw would only replace its comment with ours).
ssh_allowed() {
  added_rules | grep -qE "^(allow|limit) (in )?(${ssh_port}(/tcp)?|OpenSSH|ssh)( |\$)|^(allow|limit) .*to any port ${ssh_port}( proto tcp)?( |\$)"
}

# "incoming deny, outgoing allow, routed deny": ufw's default policy as /etc/default/ufw sets it.
default_policy() {
  local file=/etc/default/ufw direction key value words=()
  for direction in incoming:INPUT outgoing:OUTPUT routed:FORWARD; do
    key=DEFAULT_${direction#*:}_POLICY
    value=$(sed -n "s/^$key=\"\\{0,1\\}\\([A-Z]*\\)\"\\{0,1\\}.*/\\1/p" "$file" 2>/dev/null | head -n 1)
    case $value in ACCEPT) value=allow ;; REJECT) value=reject ;; DROP | "") value=deny ;; esac
    words+=("${direction%%:*} $value")
  done
  local IFS=,
  printf '%s' "${words[*]}" | sed 's/,/, /g'
}

# The services listening for other machines that no rule lets in: what enabling ufw cuts off ("tcp/80 (nginx)").
blocked_listeners() {
  command -v ss >/dev/null 2>&1 || return 0
  ss -Hlntup 2>/dev/null | awk -v ssh="$ssh_port" -v mine="$([ "$role" = server ] && echo "$port")" '
    { n = split($5, a, ":"); p = a[n]; addr = substr($5, 1, length($5) - length(p) - 1) }
    addr ~ /^(127\.|\[::1\]|::1)/ || p == ssh || p == mine { next }
    { name = ""; if (match($0, /\("[^"]+"/)) name = " (" substr($0, RSTART + 2, RLENGTH - 3) ")"; print $1 "/" p name }
  ' | sort -u | while IFS= read -r service; do
    port_only=${service#*/}
    port_only=${port_only%% *}
    added_rules | grep -qE "^allow .*(^| |port )${port_only}(/(tcp|udp))?( |\$)" || printf '%s\n' "$service"
  done
}

if [ "$DRY_RUN" = 0 ]; then record_found; elif [ ! -f "$record" ]; then record_write "(the state ufw is found in)"; fi
if ufw_active; then found=active; else found=inactive; fi

if [ "$enable" = 1 ] && [ "$found" = inactive ]; then
  # SSH first: enabling ufw must not cut the admin off.
  if ssh_allowed; then
    say "SSH port $ssh_port already allowed"
  else
    run ufw allow in proto tcp to any port "$ssh_port" comment "$SSH_TAG"
  fi
fi
for rule in "${rules[@]}"; do
  read -r -a words <<<"$rule"
  run ufw "${words[@]}" comment "$TAG"
done

if [ "$found" = active ]; then
  say "ufw is active: HashRelay's rules added ($TAG); its policy is unchanged ($(default_policy))"
  if [ "$role" = server ] && ! ssh_allowed && ! has_tagged "$SSH_TAG"; then
    warn "no ufw rule allows SSH (port $ssh_port): clients link over SSH, allow it from them (e.g. ufw allow proto tcp from ${froms[0]} to any port $ssh_port)"
  fi
elif [ "$enable" = 1 ]; then
  say "enabling ufw (--enable-firewall; it was inactive). Its default policy: $(default_policy)."
  say "once enabled, other machines reach this one only through SSH (port $ssh_port) and the rules of 'ufw status'$([ "$role" = server ] && echo ", HashRelay's port $port from ${froms[*]} among them")"
  blocked=$(blocked_listeners | paste -sd, - | sed 's/,/, /g')
  if [ -n "$blocked" ]; then
    say "services listening here that no rule allows, cut off from other machines: $blocked (allow each with ufw allow)"
  else
    say "no other listening service is cut off"
  fi
  run ufw --force enable
  if [ "$DRY_RUN" = 0 ]; then
    record_write "$(grep -v '^enabled-by-hashrelay=' "$record")
enabled-by-hashrelay=yes"
  fi
  say "uninstall.sh (the last role) disables ufw again"
else
  say "ufw is inactive and stays so: HashRelay's rules are added for when it is enabled; nothing is filtered (--enable-firewall enables it)"
fi

if [ -f "$config" ]; then
  if [ "$(yaml_top_value "$config" port)" != "$port" ]; then
    yaml_set_top "$config" port "$port" | write_file "$config" "$(stat -c %a "$config")" "$(stat -c %U:%G "$config")"
    say "port $port written into $config"
  fi
else
  say "no $config yet: install.sh writes the port there when it creates it"
fi
say "$role: port $port open for HashRelay${server:+ (server $server)}${froms:+ (from ${froms[*]})}"
