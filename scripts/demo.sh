#!/usr/bin/env bash
# The main job on the shipped stacks, no cluster or credentials: status and plan of
# prod, and every stack rendered to out/<stack>/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
rollout=.venv/bin/rollout
set -x
$rollout status prod
$rollout plan prod
$rollout render prod --out out/prod
$rollout render staging --out out/staging
