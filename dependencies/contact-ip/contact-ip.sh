#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Prints ADDR:PORT of the HashRelay server this client talks to: client.server from the YAML, or, with
# `server: auto`, the server that answers LAN discovery with the pinned serverKey (`hashrelay discover`).
# Exit: 0 printed; 2 usage or config error; 3 no server answered.
set -euo pipefail

HERE=$(cd "${BASH_SOURCE[0]%/*}" && pwd)
PROG=contact-ip
# shellcheck source=../lib/run.sh
. "$HERE/../lib/run.sh"
# shellcheck source=../lib/yaml-edit.sh
. "$HERE/../lib/yaml-edit.sh"

usage() {
  cat <<'USAGE'
usage: contact-ip.sh [--config FILE] [--wait DURATION] [--binary FILE] [--dry-run]
  --config FILE  the client's YAML (default: $HASHRELAY_CONFIG, else /etc/hashrelay/hashrelay.yaml)
  --wait D       how long LAN discovery waits for an answer (default 2s)
  --binary FILE  the hashrelay binary (default /usr/local/bin/hashrelay, else hashrelay on PATH)
  --dry-run      print the discovery command instead of running it
USAGE
}

config=${HASHRELAY_CONFIG:-/etc/hashrelay/hashrelay.yaml} wait="" bin=""
while [ $# -gt 0 ]; do
  case $1 in
    --config | --wait | --binary)
      [ $# -ge 2 ] || die "$EXIT_USAGE" "$1 needs a value"
      case $1 in --config) config=$2 ;; --wait) wait=$2 ;; --binary) bin=$2 ;; esac
      shift 2
      ;;
    --dry-run) DRY_RUN=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "$EXIT_USAGE" "unknown argument $1" ;;
  esac
done
[ -r "$config" ] || die "$EXIT_USAGE" "cannot read $config"
server=$(yaml_section_value "$config" client server)
[ -n "$server" ] || die "$EXIT_USAGE" "$config has no client.server"
port=$(yaml_top_value "$config" port)
port=${port:-7373}

if [ "$server" != auto ]; then
  # host, host:port, [v6]:port or a bare IPv6 address: print it with its port, as client.server means it.
  if [[ $server =~ ^\[.*\]:[0-9]+$ ]] || [[ $server =~ ^[^:]+:[0-9]+$ ]]; then
    echo "$server"
  elif [[ $server == *:* ]]; then
    echo "[$server]:$port"
  else
    echo "$server:$port"
  fi
  exit 0
fi

if [ -z "$bin" ]; then
  bin=/usr/local/bin/hashrelay
  [ -x "$bin" ] || bin=$(command -v hashrelay || true)
fi
[ -x "${bin:-/nonexistent}" ] || die "$EXIT_USAGE" "hashrelay binary not found: pass --binary FILE"
run "$bin" discover --config "$config" ${wait:+--wait "$wait"}
