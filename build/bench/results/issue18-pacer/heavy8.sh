#!/bin/bash
cd /work/wt/pacer
export PATH=/work/main/node_modules/.bin:$PATH
echo "start $(date -u +%H:%M:%S) load $(cat /proc/loadavg)"
bun build/bench/run.ts --scale 8 --tools hashrelay,restic --scenarios A,B,E --repeats 1 --keep-work --work /tmp/pacer-work8 --out /tmp/pacer-out8 > /tmp/pacer-lab/bench8.log 2>&1
echo "bench done $(date -u +%H:%M:%S) load $(cat /proc/loadavg)"
find /tmp/pacer-work8/tree -name '*.conf' -size -8k | head -1 > /tmp/pacer-lab/e8-file
cd /tmp/pacer-lab
for i in 1 2 3; do ./e8.sh /tmp/pacer-base/dist/hashrelay base; ./e8.sh /tmp/pacer-v3 v3; done
