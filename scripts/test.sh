#!/usr/bin/env bash
# Set everything up (including Debian's prometheus/promtool/amtool) and run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --system
exec .venv/bin/python -m pytest -q "$@"
