#!/bin/bash
# Lab for issue18-scopy: alternating ticks of C and D, scale 1; the "after" build on lanes whose index it rebuilt (every row with its XXH3-64).
# lab-ab-2.txt: the same "ab loop" line with 8 rounds instead of 4, alone (19:12 UTC).
cd /work/wt/scopy
export PATH=/work/main/node_modules/.bin:$PATH
OUT=build/bench/results/issue18-scopy
B=/tmp/scopy-bin/base/dist/hashrelay@/tmp/scopy-lanes
X=/tmp/scopy-bin/xxh3/dist/hashrelay@/tmp/scopy-lanes-x
{ echo "## ab loop"; date -u; cat /proc/loadavg
  LANES=C,D MODES=loop bun $OUT/lanes.ts ab /tmp/scopy-lanes 4 $B $X
  echo "## ab wan (50 ms RTT, 20 Mbit/s)"; date -u; cat /proc/loadavg
  LANES=C,D MODES=wan bun $OUT/lanes.ts ab /tmp/scopy-lanes 2 $B $X
  date -u; cat /proc/loadavg
  for b in base:/tmp/scopy-lanes xxh3:/tmp/scopy-lanes-x; do
    echo "## trace C loop ${b%%:*}"; bun $OUT/lanes.ts run ${b#*:} C /tmp/scopy-bin/${b%%:*}/dist/hashrelay loop trace | grep -v " CHUNK(\| DELTA_BATCH("
    grep commit.assembled ${b#*:}/C/server.log | sed 's/.*size=/size=/'
    echo "## trace D loop ${b%%:*}"; bun $OUT/lanes.ts run ${b#*:} D /tmp/scopy-bin/${b%%:*}/dist/hashrelay loop trace | grep -v " CHUNK(\| DELTA_BATCH("
    grep commit.assembled ${b#*:}/D/server.log | sed 's/.*size=/size=/'
  done
  echo "## server profiles, C (from source), base then after"; cat /proc/loadavg
  SRCROOT=/tmp/scopy-base bun $OUT/lanes.ts run /tmp/scopy-lanes C /tmp/scopy-prof/hashrelay-b2 loop
  SRCROOT=/work/wt/scopy bun $OUT/lanes.ts run /tmp/scopy-lanes-x C /tmp/scopy-prof/hashrelay-x loop
  date -u; cat /proc/loadavg
} > $OUT/lab-ab.txt 2>&1
