"""Detection time of every critical alert, measured with promtool on the shipped stacks.

    .venv/bin/python bench/bench_alerts.py

Each breach starts at t=0 in the test series; the target is `for` + one evaluation interval.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "infra"))

from rollout.spec.monitoring import parse_monitoring  # noqa: E402
from harness.rule_tests import detection_times  # noqa: E402
from rollout.spec.stack import load_stack  # noqa: E402


def main() -> int:
    late = 0
    for path in sorted(p for p in REPO.glob("Pulumi.*.yaml") if p.name != "Pulumi.yaml"):
        settings = load_stack(path)
        config = parse_monitoring(settings)
        started = time.perf_counter()
        detections = detection_times(settings, config)
        elapsed = time.perf_counter() - started
        print(f"{settings.stack}: detection of critical alerts (evaluation every {config.evaluation_interval}; "
              f"measured in {elapsed:.1f}s)")
        print(f"  {'alert':34} {'service':10} {'for':>6} {'fired after':>12} {'target':>8}")
        for d in detections:
            target = (d.for_seconds + config.evaluation_seconds) / 60
            fired = "never" if d.minutes is None else f"{d.minutes:.1f} min"
            ok = d.minutes is not None and d.minutes <= target
            late += not ok
            print(f"  {d.alert:34} {d.subject:10} {d.for_seconds / 60:>4.1f}m {fired:>12} {target:>6.1f}m{'' if ok else '  LATE'}")
    return 1 if late else 0


if __name__ == "__main__":
    sys.exit(main())
