# shellcheck shell=bash
# shellcheck source-path=SCRIPTDIR
# Test helper: "machines" made of a cached Debian rootfs (rootfs.bash) holding this repository's installers,
# units and binary, run with chroot inside network namespaces. Mounts live in the command's own mount
# namespace and vanish with it; nothing is mounted on the host.

# shellcheck source=rootfs.bash
. "${BASH_SOURCE[0]%/*}/rootfs.bash"

REPO=$(cd "${BASH_SOURCE[0]%/*}/../.." && pwd)

# machine_prepare DIR: a fresh rootfs in DIR with /opt/hashrelay = dependencies/, config/systemd/, dist/hashrelay.
machine_prepare() {
  local root=$1
  mkdir -p "$root"
  rootfs_extract "$root"
  mkdir -p "$root/opt/hashrelay/dist" "$root/opt/hashrelay/config/systemd" "$root/run/sshd"
  cp -a "$REPO/dependencies" "$root/opt/hashrelay/"
  cp "$REPO/hashrelay.example.yaml" "$root/opt/hashrelay/"
  [ -x "$REPO/dist/hashrelay" ] || { echo "dist/hashrelay missing: run npm run build" >&2; return 1; }
  # 100+ MB: a hard link when the rootfs is on the same file system (install.sh copies it anyway).
  ln "$REPO/dist/hashrelay" "$root/opt/hashrelay/dist/hashrelay" 2>/dev/null || cp "$REPO/dist/hashrelay" "$root/opt/hashrelay/dist/"
  local role
  for role in client server; do
    if [ -f "$REPO/config/systemd/HashRelay.$role.service" ]; then
      cp "$REPO/config/systemd/HashRelay.$role.service" "$root/opt/hashrelay/config/systemd/"
    else
      # STAND-IN, test only: the real units come with issue 5 (config/systemd/); install.sh refuses to run
      # without them, so the test supplies a minimal one until they are merged.
      printf '[Unit]\nDescription=HashRelay %s (test stand-in)\n[Service]\nUser=%s\nExecStart=/usr/local/bin/hashrelay %s --config /etc/hashrelay/hashrelay.yaml\n[Install]\nWantedBy=multi-user.target\n' \
        "$role" "$([ "$role" = server ] && echo HashRelay-server || echo HashRelay-Client)" "$role" \
        >"$root/opt/hashrelay/config/systemd/HashRelay.$role.service"
    fi
  done
}

# in_machine NETNS ROOT CMD...: runs CMD chrooted in ROOT, in network namespace NETNS ("-": a new, empty,
# throw-away one), with /proc and /dev mounted for it alone and a clean environment.
in_machine() {
  local ns=$1 root=$2
  shift 2
  local enter=(unshare --mount --net)
  [ "$ns" = - ] || enter=(ip netns exec "$ns" unshare --mount)
  # shellcheck disable=SC2016  # expanded by the inner bash
  "${enter[@]}" bash -c '
    root=$1; shift
    mount --make-rprivate /
    mount -t proc proc "$root/proc"
    mount --rbind /dev "$root/dev"
    exec chroot "$root" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
      HOME=/root LANG=C.UTF-8 TERM=dumb "$@"
  ' _ "$root" "$@"
}
