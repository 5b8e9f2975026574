#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Opens exactly the agreed HashRelay port in ufw (client: out to the server; server: in from the clients),
# keeps SSH reachable before enabling ufw, removes exactly its own rules, and writes the port into the YAML.
# Exit: 0 done; 1 failed; 2 usage.
set -euo pipefail

HERE=$(cd "${BASH_SOURCE[0]%/*}" && pwd)
PROG=ufw-configuration-manager
# shellcheck source=../lib/run.sh
. "$HERE/../lib/run.sh"
# shellcheck source=../lib/yaml-edit.sh
. "$HERE/../lib/yaml-edit.sh"

DEFAULT_PORT=7373

usage() {
  cat <<'USAGE'
usage: ufw-configuration-manager.sh --role client|server [--port N] [--server ADDR|auto] [--from ADDR|CIDR|any]...
                                    [--ssh-port N] [--config FILE] [--no-enable] [--remove [--remove-ssh]] [--dry-run]
  --role client   allow outgoing TCP to the server's address and port (--server; "auto": to any address,
                  plus the UDP of LAN discovery)
  --role server   allow incoming TCP (and UDP, for LAN discovery) on the port from each --from
  --port N        the agreed port, the same on client and server; asked for when not given
  --ssh-port N    the SSH port kept open before ufw is enabled (default: sshd's, else 22)
  --config FILE   the HashRelay YAML that receives the port (default /etc/hashrelay/hashrelay.yaml)
  --no-enable     add the rules but leave ufw's state alone
  --remove        delete the rules this script added for the role (the SSH rule stays unless --remove-ssh)
  --dry-run       print the ufw commands instead of running them
USAGE
}

role="" port="" server="" froms=() ssh_port="" config=/etc/hashrelay/hashrelay.yaml enable=1 remove=0 remove_ssh=0
while [ $# -gt 0 ]; do
  case $1 in
    --role | --port | --server | --from | --ssh-port | --config)
      [ $# -ge 2 ] || die "$EXIT_USAGE" "$1 needs a value"
      case $1 in
        --role) role=$2 ;; --port) port=$2 ;; --server) server=$2 ;; --from) froms+=("$2") ;;
        --ssh-port) ssh_port=$2 ;; --config) config=$2 ;;
      esac
      shift 2
      ;;
    --no-enable) enable=0; shift ;;
    --remove) remove=1; shift ;;
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

# The rules ufw holds (as `ufw show added` prints them, one per line, without the leading "ufw ").
added_rules() {
  have_ufw && [ "$(id -u)" = 0 ] || return 0
  ufw show added 2>/dev/null | sed -n 's/^ufw //p'
}

# delete_tagged TAG: deletes every rule whose comment is TAG.
delete_tagged() {
  local rule words
  while IFS= read -r rule; do
    [[ $rule == *" comment '$1'" ]] || continue
    read -r -a words <<<"${rule% comment *}"
    run ufw delete "${words[@]}"
  done < <(added_rules)
}

if [ "$remove" = 1 ]; then
  need_root
  [ "$DRY_RUN" = 1 ] || have_ufw || { say "ufw is not installed: no rule to remove"; exit 0; }
  delete_tagged "$TAG"
  if [ "$remove_ssh" = 1 ]; then
    delete_tagged "$SSH_TAG"
  elif added_rules | grep -q " comment '$SSH_TAG'\$"; then
    say "kept the SSH rule ($SSH_TAG) so this machine stays reachable; --remove-ssh deletes it"
  fi
  say "removed the $TAG rules"
  exit 0
fi

if [ -z "$port" ]; then
  default=$DEFAULT_PORT
  if [ -r "$config" ]; then
    from_yaml=$(yaml_top_value "$config" port)
    is_port "${from_yaml:-x}" && default=$from_yaml
  fi
  printf 'Which TCP port do the HashRelay client and server use? (the same on both) [%s]: ' "$default" >&2
  read -r port || die "$EXIT_USAGE" "no port given: pass --port N"
  port=${port:-$default}
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
# ufw replaces the comment of an identical rule: never tag an SSH rule the admin already has.
if added_rules | grep -qE "^(allow|limit) (in )?(${ssh_port}(/tcp)?|OpenSSH|ssh)( |\$)|^(allow|limit) .*to any port ${ssh_port}( proto tcp)?( |\$)"; then
  say "SSH port $ssh_port already allowed"
else
  run ufw allow in proto tcp to any port "$ssh_port" comment "$SSH_TAG"
fi

for rule in "${rules[@]}"; do
  read -r -a words <<<"$rule"
  run ufw "${words[@]}" comment "$TAG"
done

if [ "$enable" = 1 ]; then
  if [ "$DRY_RUN" = 1 ] || ! ufw status 2>/dev/null | grep -q '^Status: active'; then
    run ufw --force enable
  fi
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
