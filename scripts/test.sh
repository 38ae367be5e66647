#!/usr/bin/env bash
# Set everything up (Debian's prometheus/promtool/amtool, the prometheus-operator CRD
# schemas from npm, checkov in its own .venv-checkov) and run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --system
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "==> installing Debian's nodejs and npm (for the CRD schema check)"
  sudo_cmd=""; [[ $(id -u) -ne 0 ]] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
if [[ ! -d tests/crd_schemas/node_modules ]]; then
  echo "==> installing the prometheus-operator CRD schemas (npm ci)"
  npm ci --prefix tests/crd_schemas --no-audit --no-fund --loglevel=error 2>&1 | grep -v "Unknown user config" || true
  [[ -d tests/crd_schemas/node_modules/@kubernetes-models/prometheus-operator ]]
fi
checkov_stamp=.venv-checkov/.installed-$(sha256sum tests/checkov/requirements.txt | cut -c1-16)
if [[ ! -f $checkov_stamp ]]; then
  echo "==> installing checkov into .venv-checkov (the Pod Security checks)"
  [[ -x .venv-checkov/bin/python ]] || python3 -m venv .venv-checkov
  .venv-checkov/bin/python -m pip install -q --disable-pip-version-check -r tests/checkov/requirements.txt 2>&1 \
    | grep -v -e "^WARNING: Location" || true
  .venv-checkov/bin/checkov --version >/dev/null
  rm -f .venv-checkov/.installed-* && touch "$checkov_stamp"
fi
exec .venv/bin/python -m pytest -q "$@"
