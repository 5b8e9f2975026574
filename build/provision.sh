#!/usr/bin/env bash
# Installs from Debian the commands `npm test` drives for real; the one list both the gate and .ci/run use.
#
# Usage: build/provision.sh [--check]
#   Nothing missing: prints nothing, exits 0 (the gate runs it every time; apt is not touched then).
#   Something missing, as root on Debian or Ubuntu: installs it with apt-get.
#   Something missing, not root or --check: names it and the command that installs it, exits 1.
set -euo pipefail

# command -> Debian package, for every command the gate, the bats suites and the tests run on this machine.
declare -A PACKAGES=(
  [bats]=bats [shellcheck]=shellcheck [git]=git [python3]=python3
  [tar]=tar [gzip]=gzip [zstd]=zstd
  [ip]=iproute2 [ss]=iproute2
  [setpriv]=util-linux [nsenter]=util-linux [unshare]=util-linux [flock]=util-linux [mount]=mount [script]=bsdutils
  [ufw]=ufw [sshd]=openssh-server [ssh]=openssh-client [ssh-keygen]=openssh-client [visudo]=sudo
  [debootstrap]=debootstrap [systemd-analyze]=systemd [systemd-notify]=systemd [systemd-nspawn]=systemd-container
  [losetup]=mount [mkfs.xfs]=xfsprogs [mkfs.btrfs]=btrfs-progs [mkfs.ext4]=e2fsprogs [filefrag]=e2fsprogs
  [ceph-mon]=ceph-mon [ceph-osd]=ceph-osd [radosgw]=radosgw [radosgw-admin]=ceph-common [ceph]=ceph-common
  [ceph-authtool]=ceph-common [monmaptool]=ceph-base
)

usage() {
  sed -n '2,7s/^# \{0,1\}//p' "$0"
}

check_only=false
case "${1:-}" in
  "") ;;
  --check) check_only=true ;;
  -h | --help)
    usage
    exit 0
    ;;
  *)
    usage >&2
    exit 2
    ;;
esac

# A non-root PATH on Debian leaves out the sbin folders, where sshd, ip, ufw and debootstrap live.
PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

# Prints "command package" for each command not found, in a stable order.
missing() {
  local tool
  for tool in "${!PACKAGES[@]}"; do
    command -v "$tool" >/dev/null 2>&1 || echo "$tool ${PACKAGES[$tool]}"
  done | sort
}

lacking=$(missing)
[ -z "$lacking" ] && exit 0
commands=$(cut -d' ' -f1 <<<"$lacking" | paste -sd' ')
mapfile -t packages < <(cut -d' ' -f2 <<<"$lacking" | sort -u)

if ! command -v apt-get >/dev/null 2>&1; then
  echo "npm test needs commands this machine lacks: $commands" >&2
  echo "No apt-get here: install them with your package manager (their Debian packages: ${packages[*]})." >&2
  exit 1
fi

if $check_only || [ "$(id -u)" -ne 0 ]; then
  cat >&2 <<EOF
npm test needs commands this machine lacks: $commands
Install them (Debian packages: ${packages[*]}), from the repository root, with:
  sudo $0
or, as root:
  apt-get update && apt-get install -y --no-install-recommends ${packages[*]}
EOF
  exit 1
fi

echo "provision: installing from Debian: ${packages[*]} (for $commands)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
still=$(missing)
if [ -n "$still" ]; then
  echo "provision: still missing after apt-get install: $(cut -d' ' -f1 <<<"$still" | paste -sd' ')" >&2
  exit 1
fi
