# shellcheck shell=bash
# Sourced by the installers (after run.sh): the one question they may ask, which port client and server agree on.

# ask_port DEFAULT: asks on stderr and prints the answer; an empty answer, or no answer at all (stdin closed,
# as under a pipe or in CI), takes DEFAULT.
ask_port() {
  local answer=""
  printf 'Which TCP port do the HashRelay client and server use? (the same on both) [%s]: ' "$1" >&2
  if ! read -r answer && [ -z "$answer" ]; then
    printf '\n' >&2
    say "no answer (stdin closed): port $1"
  fi
  printf '%s\n' "${answer:-$1}"
}
