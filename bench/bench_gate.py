"""Wall time of `rollout gate` against a Prometheus holding one day of data for 10 services.

Target: under 1 s. Run: .venv/bin/python bench/bench_gate.py [--services 10] [--hours 24]
Needs Debian's `prometheus` and `promtool` on PATH. Everything runs on 127.0.0.1 and is stopped at the end.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "infra"))

import yaml  # noqa: E402

from prometheus_fixture import PrometheusServer, Scenario, Track, build_tsdb, write_openmetrics  # noqa: E402

SIGNALS = {
    "requests": {"counter": "http_requests_total"},
    "latency": {"histogram": "http_request_duration_seconds"},
    "sessionCreations": {"counter": "session_creation_total"},
    "sessionCreationErrors": {"counter": "session_creation_errors"},
    "sseConnections": {"counter": "sse_connection_total"},
    "sseConnectionErrors": {"counter": "sse_connection_errors"},
    "firstTokenLatency": {"histogram": "adk_first_token_latency_seconds"},
}


def stack_document(services: int) -> dict:
    return {"config": {
        "rollout:app": "bench", "rollout:namespace": "bench", "rollout:stage": "canary-25",
        "rollout:stages": [{"name": "off", "weight": 0}, {"name": "canary-25", "weight": 25},
                           {"name": "full", "weight": 100}],
        "rollout:services": {
            f"svc{i:02d}": {
                "image": f"example/svc{i:02d}:1", "port": 8080, "healthPath": "/health", "replicas": 4,
                "flags": {"NEW_PATH": {"off": "false", "on": "true"}},
                "metrics": {"job": f"svc{i:02d}", "signals": SIGNALS},
            } for i in range(services)
        },
        # The chat checklist's own indicators, so the gate runs prod's full set of checks.
        "rollout:indicators": {
            "sessionCreationSuccess": {"success": {"errors": "sessionCreationErrors", "total": "sessionCreations"}},
            "sseSuccess": {"success": {"errors": "sseConnectionErrors", "total": "sseConnections"}},
            "firstTokenP95": {"quantile": "firstTokenLatency"},
        },
        "rollout:gates": {"ledger": "ledger/bench.jsonl", "checks": {
            "errorRate": {"max": 1}, "latencyP95": {"max": "500ms"}, "sessionCreationSuccess": {"min": 99},
            "sseSuccess": {"min": 99}, "firstTokenP95": {"max": "150ms"}}},
    }}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=10)
    parser.add_argument("--hours", type=float, default=24)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-gate-") as tmp:
        work = Path(tmp)
        now = int(time.time())
        healthy = Track()
        scenario = Scenario("bench", {
            f"svc{i:02d}": {"off": healthy, "on": replace(healthy, rps=healthy.rps / 3)} for i in range(args.services)
        })
        started = time.perf_counter()
        om = work / "day.om"
        write_openmetrics(om, [scenario], now - int(args.hours * 3600), now + 600,
                          {name: True for name in scenario.tracks})
        build_tsdb(om, work / "data")
        om.unlink()
        print(f"loaded {args.hours:g}h of data for {args.services} services in {time.perf_counter() - started:.1f}s")

        stack = work / "Pulumi.bench.yaml"
        stack.write_text(yaml.safe_dump(stack_document(args.services), sort_keys=False))
        (work / "Pulumi.yaml").write_text("name: bench\nruntime: python\n")

        from rollout.gates.gate import run_gate
        from rollout.core.ledger import make_record, open_ledger
        from rollout.gates.prometheus import Prometheus
        from rollout.spec.stack import load_stack

        settings = load_stack(stack)
        config = settings.gates
        ledger = open_ledger(config.ledger, stack)
        ledger.append(make_record("bench", "promote", "off", "canary-25", None, now - 3600, work))

        server = PrometheusServer(work / "data", work).start()
        try:
            client = Prometheus(server.url)
            times, verdict = [], None
            for _ in range(args.runs):
                t0 = time.perf_counter()
                result = run_gate(settings, config, client, ledger)
                times.append(time.perf_counter() - t0)
                verdict = result.verdict
            checks = sum(1 for r in result.rows if r.check not in ("requests", "soak"))
            print(f"gate (in-process): {len(result.rows)} rows, {checks} checks, verdict {verdict}; "
                  f"median {statistics.median(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms over {args.runs} runs")
            t0 = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "rollout.cli.main", "gate", str(stack), "--prometheus", server.url],
                                  capture_output=True, text=True, cwd=work)
            wall = time.perf_counter() - t0
            print(f"`rollout gate` end to end (new process): {wall * 1000:.0f} ms, exit {done.returncode}")
            target_met = statistics.median(times) < 1.0 and wall < 1.0
            print(f"target < 1 s: {'met' if target_met else 'MISSED'}")
            if verdict != "GREEN":
                print(done.stdout[-3000:], done.stderr[-2000:])
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
