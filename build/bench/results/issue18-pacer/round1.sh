#!/bin/bash
cd /tmp/pacer-lab
for s in A C D E; do PLOG=/tmp/pacer-lab/v1log-$s.txt ./run1.sh /tmp/pacer-v1-instr v1instr $s; done
for i in 1 2 3; do for s in A C D E; do
  ./run1.sh /tmp/pacer-base/dist/hashrelay base $s
  ./run1.sh /tmp/pacer-v1 v1 $s
done; done
