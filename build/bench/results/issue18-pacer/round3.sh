#!/bin/bash
cd /tmp/pacer-lab
./setup.sh B
for s in B; do PLOG=/tmp/pacer-lab/gclog-$s.txt ./run1.sh /tmp/pacer-instr baseinstr $s; PLOG=/tmp/pacer-lab/v3log-$s.txt ./run1.sh /tmp/pacer-v3-instr v3instr $s; done
for i in 1 2 3; do for s in A B C D E; do
  ./run1.sh /tmp/pacer-v3 v3 $s
  ./run1.sh /tmp/pacer-base/dist/hashrelay base $s
done; done
