#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Installs what HashRelay needs (packages.list) with the distribution's package manager; skips what is present.
# Exit: 0 everything present; 1 install failed or something still missing; 2 usage; 3 unsupported distribution.
set -euo pipefail

HERE=$(cd "${BASH_SOURCE[0]%/*}" && pwd)
PROG=pkg-auto-install
# shellcheck source=../lib/run.sh
. "$HERE/../lib/run.sh"

usage() {
  cat <<'USAGE'
usage: pkg-auto-install.sh [--role client|server|both] [--list FILE] [--os-release FILE] [--dry-run]
  Installs the packages of packages.list that the role needs and this machine lacks.
  --role        client, server or both (default both)
  --list        the package list (default: packages.list next to this script)
  --os-release  detect the distribution from FILE instead of /etc/os-release
  --dry-run     print the exact package manager commands instead of running them
USAGE
}

role=both
list=$HERE/packages.list
detect_args=()
while [ $# -gt 0 ]; do
  case $1 in
    --role) [ $# -ge 2 ] || die "$EXIT_USAGE" "--role needs a value"; role=$2; shift 2 ;;
    --list) [ $# -ge 2 ] || die "$EXIT_USAGE" "--list needs a value"; list=$2; shift 2 ;;
    --os-release) [ $# -ge 2 ] || die "$EXIT_USAGE" "--os-release needs a value"; detect_args+=(--os-release "$2"); shift 2 ;;
    --dry-run) DRY_RUN=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "$EXIT_USAGE" "unknown argument $1" ;;
  esac
done
case $role in client | server | both) ;; *) die "$EXIT_USAGE" "--role must be client, server or both, not $role" ;; esac
[ -r "$list" ] || die "$EXIT_USAGE" "cannot read package list $list"

detected=$("$BASH" "$HERE/../distro-and-pkgman-detect/distro-and-pkgman-detect.sh" ${detect_args[@]+"${detect_args[@]}"}) || exit $?
eval "$detected"
case $DISTRO_FAMILY in
  debian) column=1 ;; rhel) column=2 ;; suse) column=3 ;; arch) column=4 ;; alpine) column=5 ;;
esac

present() {
  if [[ $1 == /* ]]; then [ -e "$1" ]; else command -v "$1" >/dev/null 2>&1; fi
}

# Packages to install, in order, without repeats: "first" ones (prerequisites) in their own command.
# (Plain arrays and strings: the scripts run on bash 4.2, CentOS 7's.)
first=() later=() checks=() seen=" "
add_first() { case $seen in *" $1 "*) ;; *) first+=("$1"); seen+="$1 " ;; esac; }
add_later() { case $seen in *" $1 "*) ;; *) later+=("$1"); seen+="$1 " ;; esac; }

while read -r check debian rhel suse arch alpine want || [ -n "${check:-}" ]; do
  [ -z "${check:-}" ] || [[ $check == \#* ]] && continue
  [ -n "${want:-}" ] || die "$EXIT_USAGE" "$list: the line for $check needs 7 columns (check, 5 families, role)"
  [ "$want" = both ] || [ "$role" = both ] || [ "$want" = "$role" ] || continue
  packages=("$debian" "$rhel" "$suse" "$arch" "$alpine")
  spec=${packages[$((column - 1))]}
  [ "$spec" = - ] && continue
  checks+=("$check")
  if present "$check"; then
    say "present: $check"
    continue
  fi
  IFS=, read -r -a names <<<"$spec"
  for ((i = 0; i < ${#names[@]} - 1; i++)); do
    # Fedora ships ufw in its own repositories: EPEL is for the RHEL rebuilds.
    [ "${names[$i]}" = epel-release ] && [ "$DISTRO_ID" = fedora ] && continue
    add_first "${names[$i]}"
  done
  add_later "${names[${#names[@]} - 1]}"
done <"$list"

if [ ${#later[@]} -eq 0 ]; then
  say "nothing to install on $DISTRO_ID $DISTRO_VERSION ($PKGMAN): everything $role needs is present"
  exit 0
fi
need_root

# install PACKAGE...: one install command for this machine's package manager.
install() {
  case $PKGMAN in
    apt) run env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" ;;
    dnf) run dnf install -y "$@" ;;
    yum) run yum install -y "$@" ;;
    zypper) run zypper --non-interactive install --no-recommends "$@" ;;
    pacman) run pacman -S --needed --noconfirm "$@" ;;
    apk) run apk add --no-cache "$@" ;;
  esac
}

say "installing on $DISTRO_ID $DISTRO_VERSION with $PKGMAN: ${first[*]} ${later[*]}"
if [ "$PKGMAN" = apt ]; then run apt-get update; fi
if [ ${#first[@]} -gt 0 ]; then install "${first[@]}"; fi
install "${later[@]}"
[ "$DRY_RUN" = 1 ] && exit 0

missing=()
for check in "${checks[@]}"; do present "$check" || missing+=("$check"); done
[ ${#missing[@]} -eq 0 ] || die "$EXIT_FAILED" "still missing after install: ${missing[*]}"
say "installed; everything $role needs is present"
