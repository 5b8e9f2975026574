#!/bin/bash
cd /tmp/pacer-lab
for v in v2 v3; do for s in A C D E; do PLOG=/tmp/pacer-lab/${v}log-$s.txt ./run1.sh /tmp/pacer-$v-instr ${v}instr $s; done; done
for i in 1 2 3; do for s in A C D E; do
  ./run1.sh /tmp/pacer-base/dist/hashrelay base $s
  ./run1.sh /tmp/pacer-v2 v2 $s
  ./run1.sh /tmp/pacer-v3 v3 $s
done; done
