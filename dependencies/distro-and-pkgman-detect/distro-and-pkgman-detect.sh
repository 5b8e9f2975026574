#!/usr/bin/env bash
# Prints, as shell-sourceable lines, the Linux distribution and its package manager:
#   DISTRO_ID=  DISTRO_VERSION=  DISTRO_FAMILY= (debian|rhel|suse|arch|alpine)  PKGMAN= (apt|dnf|yum|zypper|pacman|apk)
# The family comes from ID, else from the first ID_LIKE word that names a known family.
# Exit: 0 known; 2 usage or unreadable file; 3 unsupported distribution.
set -euo pipefail

PROG=distro-and-pkgman-detect
usage() {
  cat <<'USAGE'
usage: distro-and-pkgman-detect.sh [--os-release FILE] [--dry-run]
  Prints DISTRO_ID=, DISTRO_VERSION=, DISTRO_FAMILY= and PKGMAN= lines (eval "$(... )" to use them).
  --os-release FILE  read FILE instead of /etc/os-release (then /usr/lib/os-release)
  --dry-run          accepted for uniformity: this script never changes anything
USAGE
}

file=""
while [ $# -gt 0 ]; do
  case $1 in
    --os-release) [ $# -ge 2 ] || { usage >&2; exit 2; }; file=$2; shift 2 ;;
    --dry-run) shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "$PROG: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
done
if [ -z "$file" ]; then
  file=/etc/os-release
  [ -r "$file" ] || file=/usr/lib/os-release
fi
[ -r "$file" ] || { echo "$PROG: error: cannot read $file (no os-release: is this Linux?)" >&2; exit 2; }

# os-release is KEY=value with optional quotes (freedesktop.org); read it without executing it.
declare -A osr=()
while IFS= read -r line || [ -n "$line" ]; do
  [[ $line =~ ^([A-Z0-9_]+)=(.*)$ ]] || continue
  key=${BASH_REMATCH[1]}
  value=${BASH_REMATCH[2]}
  if [[ $value =~ ^\"(.*)\"$ ]] || [[ $value =~ ^\'(.*)\'$ ]]; then value=${BASH_REMATCH[1]}; fi
  value=${value//\\\"/\"}
  osr[$key]=$value
done <"$file"

id=${osr[ID]:-}
id=${id,,}
like=${osr[ID_LIKE]:-}
like=${like,,}
version=${osr[VERSION_ID]:-${osr[BUILD_ID]:-rolling}}

# The distributions that define a family; derivatives (Mint, Rocky, Manjaro...) are found through ID_LIKE.
family_of() {
  case $1 in
    debian | ubuntu) echo debian ;;
    rhel | fedora | centos) echo rhel ;;
    suse | opensuse | opensuse-leap | opensuse-tumbleweed | sles) echo suse ;;
    arch) echo arch ;;
    alpine) echo alpine ;;
    *) return 1 ;;
  esac
}

family=""
for candidate in "$id" $like; do
  if family=$(family_of "$candidate"); then break; fi
  family=""
done
if [ -z "$family" ]; then
  echo "$PROG: error: unsupported distribution ID=${id:-?} ID_LIKE=${like:-none} (from $file);" \
    "supported families: debian, rhel, suse, arch, alpine" >&2
  exit 3
fi

case $family in
  debian) pkgman=apt ;;
  rhel)
    # dnf since RHEL/CentOS 8 and every Fedora; yum before.
    major=${version%%.*}
    if [ "$id" != fedora ] && [[ $major =~ ^[0-9]+$ ]] && [ "$major" -lt 8 ]; then pkgman=yum; else pkgman=dnf; fi
    ;;
  suse) pkgman=zypper ;;
  arch) pkgman=pacman ;;
  alpine) pkgman=apk ;;
esac

printf 'DISTRO_ID=%q\nDISTRO_VERSION=%q\nDISTRO_FAMILY=%s\nPKGMAN=%s\n' "$id" "$version" "$family" "$pkgman"
