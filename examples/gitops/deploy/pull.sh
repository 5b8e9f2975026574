#!/usr/bin/env bash
# On each machine, from a systemd timer: fast-forward the fleet checkout to the merged branch.
# /etc/hashrelay/hashrelay.yaml is a symlink into the checkout (hosts/<this host>.yaml); the running
# agent watches it and applies the change itself. An invalid file (which CI should have stopped)
# is refused by the agent, which keeps its config in force and says why in its log and in status.
set -euo pipefail

repo="${HASHRELAY_FLEET:-/srv/hashrelay-fleet}"
branch="${HASHRELAY_FLEET_BRANCH:-main}"

git -C "$repo" fetch --quiet origin "$branch"
git -C "$repo" merge --ff-only --quiet "origin/$branch"
