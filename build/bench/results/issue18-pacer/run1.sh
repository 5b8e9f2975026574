#!/bin/bash
# run1.sh BINARY LABEL SCENARIO : one lab run (server + client under GNU time), prints one line
set -e
BIN=$1; LABEL=$2; S=$3; D=/tmp/pacer-lab/S$S
cd $D
rm -rf nas state; cp -a nas0 nas; cp -a state0 state
rm -f server.log
/usr/bin/time -v -o server.time $BIN server --config server.yaml > server.log 2>&1 &
SP=$!
for i in $(seq 1 200); do grep -q "listening on" server.log 2>/dev/null && break; sleep 0.05; done
LOAD=$(cut -d' ' -f1 /proc/loadavg)
HR_PACER_LOG=${PLOG:-} /usr/bin/time -v -o client.time $BIN client --once --json --config client.yaml > client.out 2> client.err || { echo "client failed"; cat client.err | tail -5; }
kill -TERM $(pgrep -P $SP) 2>/dev/null || true; wait $SP || true
g() { grep "$1" $2 | awk -F': ' '{print $2}'; }
cu=$(g "User time" client.time); cs=$(g "System time" client.time); cr=$(g "Maximum resident" client.time); cw=$(g "Elapsed" client.time)
su=$(g "User time" server.time); ss=$(g "System time" server.time)
st=$(grep -o '"status":"[a-z]*"' client.out | head -1); bs=$(grep -o '"bytesSent":[0-9]*' client.out | head -1)
printf "%s %s %s load=%s cpu=%.2f sys=%s rss=%.1fMiB wall=%s srvcpu=%.2f %s %s\n" "$(date -u +%H:%M:%S)" $S $LABEL $LOAD $(echo "$cu + $cs" | bc) $cs $(echo "$cr / 1024" | bc -l) $cw $(echo "$su + $ss" | bc) $st $bs
