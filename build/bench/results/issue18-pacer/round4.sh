#!/bin/bash
cd /tmp/pacer-lab
export HR_DUMMY=1
PLOG=/tmp/pacer-lab/gclog-E8.txt ./e8.sh /tmp/pacer-instr baseinstr
PLOG=/tmp/pacer-lab/v3log-E8.txt ./e8.sh /tmp/pacer-v3-instr v3instr
for i in 1 2 3; do
  ./e8.sh /tmp/pacer-v4 v4; ./e8.sh /tmp/pacer-base/dist/hashrelay base; ./e8.sh /tmp/pacer-v3 v3
done
for i in 1 2 3; do for s in D E C; do
  ./run1.sh /tmp/pacer-v4 v4 $s; ./run1.sh /tmp/pacer-base/dist/hashrelay base $s
done; done
