# shellcheck shell=bash
# Test helper: a cached Debian rootfs (debootstrap) for installer tests, extracted into throw-away folders.
# The tarball lives under /var/cache/hashrelay-tests/ and is keyed by suite + package list, so it is
# built once per CI machine (about 2 minutes) and reused.

ROOTFS_CACHE_DIR=${ROOTFS_CACHE_DIR:-/var/cache/hashrelay-tests}
# Packages the installers find already present in the rootfs (pkg-auto-install then installs nothing),
# plus what the tests drive inside it.
ROOTFS_PACKAGES=openssh-server,openssh-client,sudo,ufw,python3,iproute2,passwd,procps
# Bump when the way the tarball is made changes (a new cache file is built).
ROOTFS_LAYOUT=2

# The apt mirror this machine uses for Debian (first deb.debian.org-like URI in its sources).
rootfs_mirror() {
  local uri
  uri=$(grep -hE '^(URIs:|deb )' /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null |
    grep -v -- '-security' | grep -oE 'https?://[^ ]+' | head -n 1 || true)
  echo "${uri:-http://deb.debian.org/debian}"
}

rootfs_suite() {
  local codename
  # shellcheck source=/dev/null
  codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
  echo "${codename:-bookworm}"
}

# Prints the path of the cached tarball, building it first if needed (serialized with flock).
rootfs_tarball() {
  local suite version tar
  suite=$(rootfs_suite)
  version="${suite}-$(printf '%s %s' "$ROOTFS_LAYOUT" "$ROOTFS_PACKAGES" | sha256sum | cut -c1-12)"
  tar="$ROOTFS_CACHE_DIR/installer-rootfs-${version}.tar"
  mkdir -p "$ROOTFS_CACHE_DIR"
  (
    flock -w 900 9 || { echo "rootfs: could not lock $tar.lock" >&2; exit 1; }
    if [ ! -s "$tar" ]; then
      local work
      work=$(mktemp -d /var/tmp/hashrelay-rootfs.XXXXXX)
      echo "rootfs: debootstrap $suite from $(rootfs_mirror) into $work (cached as $tar)" >&2
      if ! timeout 900 debootstrap --variant=minbase --include="$ROOTFS_PACKAGES" "$suite" "$work/root" "$(rootfs_mirror)" >"$work/log" 2>&1; then
        tail -n 20 "$work/log" >&2
        rm -rf "$work"
        exit 1
      fi
      # Documentation and translations: a third of the size, and nothing a test reads.
      rm -rf "$work/root/var/cache/apt/archives/"*.deb "$work/root/var/lib/apt/lists/"* \
        "$work/root/usr/share/doc/"* "$work/root/usr/share/man/"* "$work/root/usr/share/locale/"* "$work/root/usr/share/info/"*
      tar -C "$work/root" -cf "$tar.tmp" . && mv "$tar.tmp" "$tar"
      rm -rf "$work"
    fi
  ) 9>"$tar.lock" || return 1
  echo "$tar"
}

# Extracts a fresh rootfs into DIR (which must exist and be empty).
rootfs_extract() {
  local tar
  tar=$(rootfs_tarball) || return 1
  tar -C "$1" -xf "$tar"
}
