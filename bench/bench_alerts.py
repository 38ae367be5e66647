"""Detection time of every critical alert of the shipped stacks, as promtool measures it.

    .venv/bin/python bench/bench_alerts.py

Each breach starts at t=0 in the generated test series (alerts/<stack>.tests.yaml); the time
is the evaluation at which promtool first shows the alert firing. Target: `for` + one evaluation.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "infra"))

from rollout.output.generate import rule_tests, stack_files  # noqa: E402
from rollout.spec.duration import Duration  # noqa: E402
from rollout.spec.model import AlertKind, Severity  # noqa: E402
from rollout.spec.stack import load_stack  # noqa: E402


def main() -> int:
    late = 0
    for path in stack_files(REPO):
        settings = load_stack(path)
        monitoring = settings.monitoring
        started = time.perf_counter()
        document = rule_tests(settings)
        elapsed = time.perf_counter() - started
        evaluation = monitoring.evaluation_interval.seconds
        print(f"{settings.stack}: detection of critical alerts (evaluation every {monitoring.evaluation_interval}; "
              f"probed in {elapsed:.1f}s)")
        print(f"  {'alert':34} {'service':10} {'for':>6} {'fired after':>12} {'target':>8}")
        for alert in monitoring.enabled_alerts:
            if alert.severity is not Severity.CRITICAL or alert.kind in (AlertKind.SLO_FAST, AlertKind.SLO_SLOW):
                continue
            name = monitoring.alert_name(alert.name)
            for group in document["tests"]:
                if not group["name"].startswith(f"{name} on ") or "fires when" not in group["name"]:
                    continue
                fired = Duration.parse(group["alert_rule_test"][-1]["eval_time"]).seconds
                target = alert.for_.seconds + evaluation
                ok = fired <= target
                late += not ok
                subject = group["name"][len(name) + 4:].split(":")[0]
                print(f"  {name:34} {subject:10} {alert.for_.seconds / 60:>4.1f}m {fired / 60:>8.1f} min "
                      f"{target / 60:>6.1f}m{'' if ok else '  LATE'}")
    return 1 if late else 0


if __name__ == "__main__":
    sys.exit(main())
