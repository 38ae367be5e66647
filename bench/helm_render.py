"""Render a chart with Helm's Go renderer (helm-python-sdk, no helm binary) and write what it renders,
as `helm template --output-dir` does: one file per template.

    python bench/helm_render.py CHART_DIR VALUES_JSON OUT_DIR

bench_render.py runs this as a fresh process, as `rollout render` runs.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import helm_python as helm


def main(chart_dir: str, values_file: str, out_dir: str) -> int:
    values = json.loads(Path(values_file).read_text(encoding="utf-8"))
    with helm.Chart.load(chart_dir) as chart:
        rendered = chart.render(values, name="bench", namespace="bench")
    for template, text in rendered.items():
        path = Path(out_dir) / template
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
