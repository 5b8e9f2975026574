# shellcheck shell=bash
# Test helper: network namespaces joined by veth pairs, created and deleted by the tests themselves.
# Addresses live only inside the namespaces; nothing is routed to or from the host's network.

# netns_new NAME: a new namespace with loopback up.
netns_new() {
  ip netns add "$1"
  ip -n "$1" link set lo up
}

# netns_link NS_A ADDR_A/PREFIX NS_B ADDR_B/PREFIX: a veth pair between two namespaces, addressed and up.
netns_link() {
  local a=$1 a_addr=$2 b=$3 b_addr=$4 ifa ifb
  ifa="hr${RANDOM}a"
  ifb="${ifa%a}b"
  ip -n "$a" link add "$ifa" type veth peer name "$ifb" netns "$b"
  ip -n "$a" addr add "$a_addr" brd + dev "$ifa"
  ip -n "$b" addr add "$b_addr" brd + dev "$ifb"
  ip -n "$a" link set "$ifa" up
  ip -n "$b" link set "$ifb" up
}

# netns_delete NAME...: stops what runs inside (started by the test) and deletes the namespaces.
netns_delete() {
  local ns pid
  for ns in "$@"; do
    ip netns list | grep -qw "$ns" || continue
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
    sleep 0.2
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
    ip netns del "$ns"
  done
}

# tcp_connects NS ADDR PORT: true when a TCP connection from NS to ADDR:PORT opens within 1 s
# (across a veth pair an open port answers in milliseconds).
tcp_connects() {
  ip netns exec "$1" timeout 5 python3 -c '
import socket, sys
s = socket.socket(); s.settimeout(1)
try:
    s.connect((sys.argv[1], int(sys.argv[2])))
except OSError:
    sys.exit(1)
' "$2" "$3"
}

# tcp_blocked NS ADDR PORT: true when that connection does not open (a plain command, so `set -e` sees it fail).
tcp_blocked() {
  if tcp_connects "$@"; then return 1; fi
}

# tcp_listen NS PORT...: accepting TCP listeners on every address of NS (in the background, 120 s at most).
tcp_listen() {
  local ns=$1
  shift
  ip netns exec "$ns" timeout 120 python3 -c '
import socket, sys, selectors
sel = selectors.DefaultSelector()
for port in sys.argv[1:]:
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", int(port))); s.listen(16); sel.register(s, selectors.EVENT_READ)
print("listening", flush=True)
while True:
    for key, _ in sel.select():
        conn, _ = key.fileobj.accept(); conn.close()
' "$@" >/dev/null 2>&1 3>&- &
  # Bounded wait until every port listens.
  local port
  for port in "$@"; do
    for _ in $(seq 50); do
      ip netns exec "$ns" ss -Hltn "sport = :$port" | grep -q . && break
      sleep 0.1
    done
  done
}
