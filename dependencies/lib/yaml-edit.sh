# shellcheck shell=bash
# Sourced by the installers: line-based reads and edits of the HashRelay YAML as install.sh writes it
# (top-level keys, two-space sections client:/server:, the server.clients list). Every edit prints the
# new text on stdout and leaves the file alone; the caller installs it (and `hashrelay validate` checks it).

# yaml_top_value FILE KEY: the value of a top-level `KEY:` line, without quotes or comment.
yaml_top_value() {
  awk -v key="$2" '
    $0 ~ "^" key ":" { v = substr($0, length(key) + 2); sub(/[ \t]+#.*$/, "", v); gsub(/^[ \t]+|[ \t]+$/, "", v); gsub(/^["\x27]|["\x27]$/, "", v); print v; exit }
  ' "$1"
}

# yaml_section_value FILE SECTION KEY: the value of `  KEY:` inside the top-level SECTION.
yaml_section_value() {
  awk -v section="$2" -v key="$3" '
    /^[^ \t#]/ { inside = ($0 ~ "^" section ":[ \t]*(#.*)?$") ; next }
    inside && $0 ~ "^  " key ":" { v = substr($0, length(key) + 4); sub(/[ \t]+#.*$/, "", v); gsub(/^[ \t]+|[ \t]+$/, "", v); gsub(/^["\x27]|["\x27]$/, "", v); print v; exit }
  ' "$1"
}

# yaml_has_section FILE SECTION: true when the file has a top-level `SECTION:` line.
yaml_has_section() { grep -qE "^$2:[[:space:]]*(#.*)?$" "$1"; }

# yaml_set_top FILE KEY VALUE: sets a top-level key (replaces its line, else inserts it after `version:`, else first).
yaml_set_top() {
  awk -v key="$2" -v value="$3" '
    { line[NR] = $0 }
    !at && $0 ~ "^" key ":" { at = NR }
    !version && /^version:/ { version = NR }
    END {
      if (!at && !version) print key ": " value
      for (i = 1; i <= NR; i++) {
        if (i == at) { print key ": " value; continue }
        print line[i]
        if (i == version && !at) print key ": " value
      }
    }
  ' "$1"
}

# yaml_set_in_section FILE SECTION KEY VALUE: sets `  KEY: VALUE` inside SECTION (replaces its line, else
# inserts it right after `SECTION:`). Fails (status 1) when the section is missing.
yaml_set_in_section() {
  awk -v section="$2" -v key="$3" -v value="$4" '
    { line[NR] = $0 }
    /^[^ \t#]/ { inside = ($0 ~ "^" section ":[ \t]*(#.*)?$"); if (inside) start = NR }
    inside && !at && $0 ~ "^  " key ":" { at = NR }
    END {
      if (!start) exit 1
      for (i = 1; i <= NR; i++) {
        if (i == at) { print "  " key ": " value; continue }
        print line[i]
        if (i == start && !at) print "  " key ": " value
      }
    }
  ' "$1"
}

# yaml_client_key FILE NAME: the key listed for client NAME under server.clients (empty if none).
yaml_client_key() {
  awk -v name="$2" '
    /^[^ \t#]/ { inside = ($0 ~ /^server:[ \t]*(#.*)?$/); list = 0; next }
    inside && /^  clients:/ { list = 1; next }
    inside && list && /^  [^ \t#]/ { list = 0 }
    inside && list && /^    - name:/ { v = $0; sub(/^    - name:[ \t]*/, "", v); sub(/[ \t]+#.*$/, "", v); gsub(/["\x27]/, "", v); current = v; next }
    inside && list && /^      key:/ && current == name { v = $0; sub(/^      key:[ \t]*/, "", v); sub(/[ \t]+#.*$/, "", v); gsub(/["\x27]/, "", v); print v; exit }
  ' "$1"
}

# yaml_add_client FILE NAME KEY: adds {name, key} at the top of server.clients (`clients: []` becomes a list).
# Fails (status 1) when server.clients is missing.
yaml_add_client() {
  awk -v name="$2" -v key="$3" '
    /^[^ \t#]/ { inside = ($0 ~ /^server:[ \t]*(#.*)?$/) }
    inside && !done && /^  clients:/ {
      print "  clients:"
      printf "    - name: %s\n      key: \"%s\"\n", name, key
      done = 1; next
    }
    { print }
    END { if (!done) exit 1 }
  ' "$1"
}

# yaml_remove_section FILE SECTION: the text without the top-level SECTION block.
yaml_remove_section() {
  awk -v section="$2" '
    /^[^ \t#]/ { skip = ($0 ~ "^" section ":[ \t]*(#.*)?$") }
    !skip { print }
  ' "$1"
}

# replace_config FILE < new text: checks the new text with `hashrelay validate` (when the binary is installed)
# in a temp file beside FILE, then moves it into place keeping FILE's mode and owner. A text that brings an
# error FILE did not already have leaves FILE unchanged and fails with the validator's messages (a file that
# holds both roles may be incomplete for one while the other is being linked). Needs run.sh.
replace_config() {
  local file=$1 bin tmp mode=644 owner=root:root before="" after
  bin=${HASHRELAY_BIN:-/usr/local/bin/hashrelay}
  [ -x "$bin" ] || bin=$(command -v hashrelay || true)
  if [ -f "$file" ]; then
    mode=$(stat -c %a "$file")
    owner=$(stat -c %U:%G "$file")
  fi
  if [ "$DRY_RUN" = 1 ]; then
    write_file "$file" "$mode" "$owner"
    return 0
  fi
  tmp=$(mktemp "${file%/*}/.${file##*/}.new.XXXXXX")
  remove_on_exit "$tmp"
  cat >"$tmp"
  if [ -n "$bin" ] && ! after=$("$bin" validate --config "$tmp" 2>&1); then
    if [ -f "$file" ]; then before=$("$bin" validate --config "$file" 2>&1 | _config_errors || true); fi
    if [ -n "$(comm -13 <(printf '%s\n' "$before" | sort -u) <(printf '%s\n' "$after" | _config_errors | sort -u))" ]; then
      printf '%s\n' "$after" >&2
      rm -f "$tmp"
      die "$EXIT_FAILED" "the edited $file would not validate: left unchanged"
    fi
  fi
  chmod "$mode" "$tmp"
  chown "$owner" "$tmp"
  mv -f "$tmp" "$file"
}

# Validator lines without "file:line:col: " (an edit moves lines), to compare errors before and after.
_config_errors() { sed -E 's/^[^ ]*:[0-9]+:[0-9]+: //'; }
