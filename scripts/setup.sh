#!/usr/bin/env bash
# Create .venv with the project and its pinned dependencies; with --system also
# install Debian's prometheus and alertmanager (promtool, amtool) that the tests run for real.
set -euo pipefail
cd "$(dirname "$0")/.."

want_system=false
[[ "${1:-}" == "--system" ]] && want_system=true

if $want_system && ! { command -v promtool && command -v amtool && command -v prometheus; } >/dev/null 2>&1; then
  echo "==> installing Debian's prometheus and prometheus-alertmanager"
  sudo_cmd=""
  [[ $(id -u) -ne 0 ]] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends \
    prometheus prometheus-alertmanager >/dev/null
fi

if [[ ! -x .venv/bin/python ]]; then
  echo "==> creating .venv"
  python3 -m venv .venv
fi
stamp=.venv/.installed-$(cat pyproject.toml | sha256sum | cut -c1-16)
if [[ ! -f $stamp ]]; then
  echo "==> installing the project and its pinned dependencies into .venv"
  .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[pulumi,test]' 2>&1 \
    | grep -v -e "^WARNING: Location" || true
  .venv/bin/python -c "import rollout.cli.main, pulumi, pulumi_kubernetes, pulumi_gcp, google.auth" # fail here, not in the middle of a test
  rm -f .venv/.installed-* && touch "$stamp"
fi
