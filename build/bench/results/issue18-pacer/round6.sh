#!/bin/bash
cd /tmp/pacer-lab
PLOG=/tmp/pacer-lab/v5log-E8.txt ./e8.sh /tmp/pacer-v5-instr v5instr
for s in A C D E; do PLOG=/tmp/pacer-lab/v5log-$s.txt ./run1.sh /tmp/pacer-v5-instr v5instr $s; done
for i in 1 2 3; do ./e8.sh /tmp/pacer-v5 v5; ./e8.sh /tmp/pacer-base/dist/hashrelay base; ./e8.sh /tmp/pacer-v3 v3; done
for i in 1 2 3; do for s in D E A C; do
  ./run1.sh /tmp/pacer-v5 v5 $s; ./run1.sh /tmp/pacer-base/dist/hashrelay base $s; ./run1.sh /tmp/pacer-v3 v3 $s
done; done
