#!/bin/bash
# e8.sh BINARY LABEL : an E-like run on the kept scale-8 bench work: one more line appended to one file, then the client
set -e
W=/tmp/pacer-work8; H=$W/hashrelay; BIN=$1; LABEL=$2
F=$(cat /tmp/pacer-lab/e8-file)
echo "appended line $(date +%s%N) for the lab" >> "$F"
cd $H
rm -f server.log
/usr/bin/time -v -o server.time $BIN server --config server.yaml > server.log 2>&1 &
SP=$!
for i in $(seq 1 400); do grep -q "listening on" server.log 2>/dev/null && break; sleep 0.05; done
LOAD=$(cut -d' ' -f1 /proc/loadavg)
/usr/bin/time -v -o client.time $BIN client --once --json --config client-restore.yaml > client.out 2> client.err || { echo "client failed"; tail -5 client.err; }
kill -TERM $(pgrep -P $SP) 2>/dev/null || true; wait $SP || true
g() { grep "$1" $2 | awk -F': ' '{print $2}'; }
cu=$(g "User time" client.time); cs=$(g "System time" client.time); cr=$(g "Maximum resident" client.time); cw=$(g "Elapsed" client.time)
st=$(grep -o '"status":"[a-z]*"' client.out | head -1); bs=$(grep -o '"bytesSent":[0-9]*' client.out | head -1)
printf "%s E8 %s load=%s cpu=%.2f sys=%s rss=%.1fMiB wall=%s %s %s\n" "$(date -u +%H:%M:%S)" $LABEL $LOAD $(echo "$cu + $cs" | bc) $cs $(echo "$cr / 1024" | bc -l) $cw $st $bs
