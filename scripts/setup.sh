#!/usr/bin/env bash
# Create .venv with the project and its pinned dependencies; with --system also
# install Debian's prometheus and alertmanager (promtool, amtool) that the tests run for real;
# with --bench also what bench/bench_render.py compares against: Helm's renderer (the `bench`
# extra) and kubectl for `kubectl kustomize`.
set -euo pipefail
cd "$(dirname "$0")/.."

want_system=false want_bench=false
for arg in "$@"; do
  case "$arg" in
    --system) want_system=true ;;
    --bench) want_bench=true ;;
    *) echo "usage: scripts/setup.sh [--system] [--bench]" >&2; exit 2 ;;
  esac
done
sudo_cmd=""
[[ $(id -u) -ne 0 ]] && sudo_cmd="sudo"

if $want_system && ! { command -v promtool && command -v amtool && command -v prometheus; } >/dev/null 2>&1; then
  echo "==> installing Debian's prometheus and prometheus-alertmanager"
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

if $want_bench; then
  bench_stamp=.venv/.bench-$(cat pyproject.toml | sha256sum | cut -c1-16)
  if [[ ! -f $bench_stamp ]]; then
    echo "==> installing the bench extra (helm-python-sdk: Helm's Go renderer, no helm binary)"
    .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[pulumi,test,bench]' 2>&1 \
      | grep -v -e "^WARNING: Location" || true
    .venv/bin/python -c "import helm_python"
    rm -f .venv/.bench-* && touch "$bench_stamp"
  fi
  if ! command -v kubectl >/dev/null; then
    # Debian 12 has no `kubectl` package; its kubernetes-client (kubectl 1.20) has `kubectl kustomize`.
    echo "==> installing Debian's kubernetes-client (kubectl, for kubectl kustomize)"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends kubernetes-client >/dev/null
  fi
fi
