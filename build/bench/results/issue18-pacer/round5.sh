#!/bin/bash
cd /tmp/pacer-lab
for i in 1 2 3; do ./restore1.sh /tmp/pacer-base/dist/hashrelay base; ./restore1.sh /tmp/pacer-v3 v3; done
