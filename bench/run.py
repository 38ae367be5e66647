"""Run every benchmark and print their reports; exit 1 if any misses its target.

Usage: .venv/bin/python bench/run.py  (after bash scripts/setup.sh --bench)
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
SCRIPTS = ["bench_render.py", "bench_pulumi.py", "bench_alerts.py", "bench_gate.py"]


def main() -> int:
    failed = []
    for name in SCRIPTS:
        script = BENCH / name
        print(f"\n== {name} ==", flush=True)
        if not script.exists():
            print("(missing)")
            failed.append(name)
            continue
        result = subprocess.run([sys.executable, str(script)], cwd=BENCH.parent, timeout=1800)
        if result.returncode != 0:
            failed.append(name)
    print("\nall benchmarks met their targets" if not failed else f"\nmissed or failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
