#!/usr/bin/env bats
# distro-and-pkgman-detect.sh on real /etc/os-release files of 15 distributions (fixtures/), and on broken input.

setup() {
  SCRIPT="$BATS_TEST_DIRNAME/../distro-and-pkgman-detect.sh"
  FIX="$BATS_TEST_DIRNAME/fixtures"
}

# detects FIXTURE ID VERSION FAMILY PKGMAN: the script prints exactly these four lines.
detects() {
  run "$SCRIPT" --os-release "$FIX/$1.os-release"
  [ "$status" -eq 0 ] || { echo "exit $status: $output"; return 1; }
  local expected
  expected=$(printf 'DISTRO_ID=%s\nDISTRO_VERSION=%s\nDISTRO_FAMILY=%s\nPKGMAN=%s' "$2" "$3" "$4" "$5")
  [ "$output" = "$expected" ] || { printf 'got:\n%s\nwant:\n%s\n' "$output" "$expected"; return 1; }
}

@test "Debian 12: debian, apt" { detects debian-12 debian 12 debian apt; }
@test "Ubuntu 24.04: debian, apt" { detects ubuntu-24.04 ubuntu 24.04 debian apt; }
@test "Linux Mint 21.3 (through ID_LIKE): debian, apt" { detects linuxmint-21.3 linuxmint 21.3 debian apt; }
@test "Pop!_OS 22.04 (through ID_LIKE): debian, apt" { detects pop-22.04 pop 22.04 debian apt; }
@test "Fedora 40: rhel, dnf" { detects fedora-40 fedora 40 rhel dnf; }
@test "RHEL 9.4: rhel, dnf" { detects rhel-9.4 rhel 9.4 rhel dnf; }
@test "Rocky 9.4 (through ID_LIKE): rhel, dnf" { detects rocky-9.4 rocky 9.4 rhel dnf; }
@test "AlmaLinux 8.10 (through ID_LIKE): rhel, dnf" { detects almalinux-8.10 almalinux 8.10 rhel dnf; }
@test "CentOS 7: rhel, yum" { detects centos-7 centos 7 rhel yum; }
@test "openSUSE Leap 15.6: suse, zypper" { detects opensuse-leap-15.6 opensuse-leap 15.6 suse zypper; }
@test "openSUSE Tumbleweed: suse, zypper" { detects opensuse-tumbleweed opensuse-tumbleweed 20240915 suse zypper; }
@test "Arch (no VERSION_ID): arch, pacman, version rolling" { detects arch arch rolling arch pacman; }
@test "Manjaro (through ID_LIKE): arch, pacman" { detects manjaro manjaro rolling arch pacman; }
@test "Alpine 3.20: alpine, apk" { detects alpine-3.20 alpine 3.20.3 alpine apk; }

@test "an unknown distribution: a clear message and exit 3" {
  run "$SCRIPT" --os-release "$FIX/void.os-release"
  [ "$status" -eq 3 ]
  [[ $output == *"unsupported distribution ID=void ID_LIKE=none"* ]]
  [[ $output == *"supported families: debian, rhel, suse, arch, alpine"* ]]
}

@test "ID unknown but ID_LIKE known: ID_LIKE decides; both unknown: exit 3" {
  printf 'ID=myos\nID_LIKE="somethingelse suse"\nVERSION_ID=1\n' >"$BATS_TEST_TMPDIR/os"
  run "$SCRIPT" --os-release "$BATS_TEST_TMPDIR/os"
  [ "$status" -eq 0 ]
  [[ $output == *"DISTRO_FAMILY=suse"* ]]
  printf 'ID=myos\nID_LIKE=somethingelse\n' >"$BATS_TEST_TMPDIR/os"
  run "$SCRIPT" --os-release "$BATS_TEST_TMPDIR/os"
  [ "$status" -eq 3 ]
}

@test "the output is safe to source: hostile values stay values" {
  printf 'ID=debian\nVERSION_ID="12$(touch %s/pwned)`touch %s/pwned`"\n' "$BATS_TEST_TMPDIR" "$BATS_TEST_TMPDIR" >"$BATS_TEST_TMPDIR/os"
  run "$SCRIPT" --os-release "$BATS_TEST_TMPDIR/os"
  [ "$status" -eq 0 ]
  eval "$output"
  [ ! -e "$BATS_TEST_TMPDIR/pwned" ]
  [ "$DISTRO_FAMILY" = debian ]
  [ "$PKGMAN" = apt ]
  [[ $DISTRO_VERSION == '12$(touch'* ]]
}

@test "missing file and unknown option: exit 2; --dry-run is accepted" {
  run "$SCRIPT" --os-release "$BATS_TEST_TMPDIR/nope"
  [ "$status" -eq 2 ]
  [[ $output == *"cannot read"* ]]
  run "$SCRIPT" --frobnicate
  [ "$status" -eq 2 ]
  run "$SCRIPT" --dry-run --os-release "$FIX/alpine-3.20.os-release"
  [ "$status" -eq 0 ]
}

@test "without --os-release it reads this machine's /etc/os-release" {
  run "$SCRIPT"
  [ "$status" -eq 0 ]
  [[ $output == *"DISTRO_FAMILY="* ]]
}
