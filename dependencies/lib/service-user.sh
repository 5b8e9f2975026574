# shellcheck shell=bash
# Sourced by the installers (after run.sh): the HashRelay service users and the paths that belong to them.

# shellcheck disable=SC2034  # used by the scripts that source this file
readonly SERVER_USER=HashRelay-server CLIENT_USER=HashRelay-Client
# shellcheck disable=SC2034
readonly SERVER_HOME=/home/HashRelay-server CLIENT_HOME=/home/HashRelay-Client
# The RSA key the server creates for its clients, and where a client keeps its copy (same name, as the user asked).
# shellcheck disable=SC2034
readonly SERVER_RSA_KEY=$SERVER_HOME/.ssh/HashRelay-client.key CLIENT_RSA_KEY=$CLIENT_HOME/.ssh/HashRelay-client.key

# ensure_user NAME SHELL: a system user NAME with its own group and a home under /home (kept if it exists; a
# home an uninstall left to root, because it holds archives, is handed back: the folder itself, not its content).
# The password field is "*": no password can log in, and a key still can (a "!" would lock the account).
ensure_user() {
  local name=$1 shell=$2
  if getent passwd "$name" >/dev/null 2>&1; then
    say "user $name exists"
  else
    run useradd --system --create-home --home-dir "/home/$name" --shell "$shell" --user-group --comment "HashRelay service user" "$name"
  fi
  run usermod --password '*' "$name"
  if [ "$DRY_RUN" = 0 ] && [ -d "/home/$name" ] && [ "$(stat -c %U "/home/$name")" != "$name" ]; then run chown "$name:$name" "/home/$name"; fi
}

# remove_user NAME: deletes the user and its group; its home is left to the caller (it may hold backups).
remove_user() {
  if getent passwd "$1" >/dev/null 2>&1; then run userdel "$1"; fi
  if getent group "$1" >/dev/null 2>&1; then run groupdel "$1" 2>/dev/null || true; fi
}
