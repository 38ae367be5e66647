"""The benchmarks' own stacks stay ones the spec accepts: a benchmark that cannot load its stack measures nothing."""
from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from bench.bench_gate import stack_document  # noqa: E402

from rollout.spec.stack import parse_stack  # noqa: E402


def test_the_gate_benchmark_stack_loads_with_every_check_it_means_to_time():
    settings = parse_stack(stack_document(3), "bench", "Pulumi.bench.yaml")
    assert list(settings.services) == ["svc00", "svc01", "svc02"]
    checks = set(settings.gates.checks)
    assert {"errorRate", "latencyP95", "sessionCreationSuccess", "sseSuccess", "firstTokenP95"} <= checks
