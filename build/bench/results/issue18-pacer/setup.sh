#!/bin/bash
# setup.sh S : lab folder for scenario S from the pristine scale-1 tree (A: empty store; C/D/E: after A by the base build, then mutated)
set -e
S=$1; D=/tmp/pacer-lab/S$S; BIN=/tmp/pacer-base/dist/hashrelay
export PATH=/work/main/node_modules/.bin:$PATH
rm -rf $D; mkdir -p $D; cd $D
SPK=$($BIN keygen --out server.key); CPK=$($BIN keygen --out client.key)
PORT=$((21000 + $(printf %d "'$S")))
if [ $S = A ]; then TREE=/tmp/pacer-work/tree; else cp -a /tmp/pacer-work/tree tree; TREE=$D/tree; fi
mkdir -p nas0 state0
printf 'version: 1\nport: %s\nserver:\n  listen: 127.0.0.1\n  key: ./server.key\n  storage: "%s/nas"\n  scrub: off\n  retention:\n    keep: 1\n    trashFor: 48h\n  clients:\n    - name: bench\n      key: "%s"\n' $PORT $D "$CPK" > server.yaml
printf 'version: 1\nport: %s\nclient:\n  name: bench\n  server: 127.0.0.1:%s\n  serverKey: "%s"\n  key: ./client.key\n  schedule: "every 30m"\n  state: ./state\n  paths:\n    - path: "%s"\n      name: tree\n' $PORT $PORT "$SPK" $TREE > client.yaml
if [ $S != A ]; then
  /tmp/pacer-lab/run1.sh $BIN setupA $S
  rm -rf nas0 state0; mv nas nas0; mv state state0
  bun /tmp/pacer-lab/mutate.ts $S $D/tree 1
fi
