#!/bin/bash
# restore1.sh BINARY LABEL : restore of the scale-1 tree from lab B's store (A's archive), client under GNU time
BIN=$1; LABEL=$2; D=/tmp/pacer-lab/SB
cd $D
rm -rf nas state rest; cp -a nas0 nas; cp -a state0 state
rm -f server.log
/usr/bin/time -v -o server.time $BIN server --config server.yaml > server.log 2>&1 &
SP=$!
for i in $(seq 1 200); do grep -q "listening on" server.log 2>/dev/null && break; sleep 0.05; done
LOAD=$(cut -d' ' -f1 /proc/loadavg)
/usr/bin/time -v -o client.time $BIN restore tree --to $D/rest --json --config client.yaml > client.out 2> client.err || { echo "restore failed"; tail -5 client.err; }
kill -TERM $(pgrep -P $SP) 2>/dev/null || true; wait $SP || true
g() { grep "$1" $2 | awk -F': ' '{print $2}'; }
cu=$(g "User time" client.time); cs=$(g "System time" client.time); cr=$(g "Maximum resident" client.time); cw=$(g "Elapsed" client.time)
printf "%s R %s load=%s cpu=%.2f sys=%s rss=%.1fMiB wall=%s files=%s\n" "$(date -u +%H:%M:%S)" $LABEL $LOAD $(echo "$cu + $cs" | bc) $cs $(echo "$cr / 1024" | bc -l) $cw "$(find $D/rest -type f | wc -l)"
rm -rf $D/rest
