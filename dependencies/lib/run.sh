# shellcheck shell=bash
# Sourced by the installers: messages, failures with exit codes, and `run`, which executes a command or,
# under --dry-run, prints it as a shell line on stdout (messages go to stderr, so stdout is the plan).

DRY_RUN=${DRY_RUN:-0}
PROG=${PROG:-${0##*/}}

# Exit codes shared by every installer script (used by the scripts that source this file).
# shellcheck disable=SC2034
readonly EXIT_FAILED=1 EXIT_USAGE=2 EXIT_UNSUPPORTED=3

say() { printf '%s: %s\n' "$PROG" "$*" >&2; }
warn() { printf '%s: warning: %s\n' "$PROG" "$*" >&2; }

# die CODE MESSAGE...: prints the message and exits with CODE.
die() {
  local code=$1
  shift
  printf '%s: error: %s\n' "$PROG" "$*" >&2
  exit "$code"
}

# The words as one line a shell reads back to the same words.
quote_words() {
  local out="" word
  for word in "$@"; do out+="$(printf '%q' "$word") "; done
  printf '%s' "${out% }"
}

# run CMD ARGS...: runs it, or under --dry-run prints it.
run() {
  if [ "$DRY_RUN" = 1 ]; then
    printf '%s\n' "$(quote_words "$@")"
  else
    "$@"
  fi
}

# write_file PATH MODE OWNER:GROUP < content: replaces PATH atomically (temp file in the same folder, then mv);
# under --dry-run prints the equivalent install command with the content as a here-document.
write_file() {
  local path=$1 mode=$2 owner=$3 content tmp
  content=$(cat; printf x)
  content=${content%x}
  if [ "$DRY_RUN" = 1 ]; then
    printf 'install -m %s -o %s -g %s /dev/stdin %s <<'"'"'HASHRELAY_EOF'"'"'\n%sHASHRELAY_EOF\n' \
      "$mode" "${owner%%:*}" "${owner##*:}" "$(printf '%q' "$path")" "$content"
    return 0
  fi
  tmp=$(mktemp "${path%/*}/.${path##*/}.XXXXXX")
  printf '%s' "$content" >"$tmp"
  chmod "$mode" "$tmp"
  chown "$owner" "$tmp"
  mv -f "$tmp" "$path"
}

need_root() {
  [ "$DRY_RUN" = 1 ] || [ "$(id -u)" = 0 ] || die "$EXIT_FAILED" "run as root (sudo $0 ...), or add --dry-run to see what it would do"
}

# True when systemd is the running init (false in chroots and containers without it).
systemd_running() { [ -d /run/systemd/system ]; }

# is_port N: a whole number 1-65535.
is_port() { [[ $1 =~ ^[0-9]+$ ]] && [ "$1" -ge 1 ] && [ "$1" -le 65535 ]; }

# remove_on_exit FILE...: temp files that must not outlive the script, whatever ends it.
REMOVE_ON_EXIT=()
remove_on_exit() {
  REMOVE_ON_EXIT+=("$@")
  trap 'rm -f -- "${REMOVE_ON_EXIT[@]}"' EXIT
}
