"""Wall time of the Pulumi program (infra/__main__.py) under mocks: shipped stacks (GKE and Cloud Run),
a Google Cloud only stack, and a big generated one.

    .venv/bin/python bench/bench_pulumi.py [--services 50] [--flags 10] [--repeat 3]

No Pulumi CLI, plugin or cluster: the program runs in-process with pulumi.runtime.set_mocks.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repo root, for bench.generate_stack
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # the mock harness

from bench.generate_stack import generate_stack, secret_config  # noqa: E402

started = time.perf_counter()
from harness.mock_program import REPO_ROOT, project_copy, run_program  # noqa: E402  (imports pulumi)
import pulumi_kubernetes  # noqa: E402,F401

IMPORT_SECONDS = time.perf_counter() - started

from ruamel.yaml import YAML  # noqa: E402

from rollout.build.cloud import is_cloud_resource  # noqa: E402
from rollout.build.resources import build_manifests  # noqa: E402
from rollout.build.kubernetes import secret_config_keys  # noqa: E402
from rollout.spec.stack import load_stack  # noqa: E402


def stack_at(text: str, stage: str, previous: str | None) -> str:
    yaml12 = YAML()
    document = yaml12.load(text)
    document["config"]["rollout:stage"] = stage
    if previous:
        document["config"]["rollout:previousStage"] = previous
    from io import StringIO

    out = StringIO()
    yaml12.dump(document, out)
    return out.getvalue()


def time_run(stack: str, text: str, config: dict[str, str], repeat: int) -> tuple[float, int]:
    """Best of `repeat` runs (seconds) and the number of resources registered."""
    best, count = float("inf"), 0
    for _ in range(max(1, repeat)):
        with tempfile.TemporaryDirectory() as tmp:
            program = project_copy(Path(tmp), stack, text)
            t0 = time.perf_counter()
            run = run_program(program, stack, config)
            best = min(best, time.perf_counter() - t0)
            count = len(run.resources)
    return best, count


def shipped_secret_config(path: Path) -> dict[str, str]:
    """A value for every secret config key the stack's Secrets (and Google Cloud secret inputs) name."""
    values = {}
    for m in build_manifests(load_stack(path)):
        if is_cloud_resource(m):
            values.update({ref: "bench" for ref in (m.get("secretInputs") or {}).values()})
        elif m["kind"] == "Secret":
            values.update({f"{namespace}:{key}": "bench" for namespace, key in secret_config_keys(m).values()})
    return values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=50)
    parser.add_argument("--flags", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    print(f"import pulumi + pulumi_kubernetes: {IMPORT_SECONDS:.3f}s (paid once per `pulumi up`)")
    prod = REPO_ROOT / "Pulumi.prod.yaml"
    cold, _ = time_run("prod", prod.read_text(encoding="utf-8"), shipped_secret_config(prod), 1)
    print(f"first run in this process (loads resource modules, pulumi_gcp's included): {cold:.3f}s; "
          f"best of {args.repeat} below")
    print(f"{'stack':<28} {'stage':<12} {'resources':>9} {'of them GCP':>11} {'seconds':>8}")
    for path in [*sorted(REPO_ROOT.glob("Pulumi.*.yaml")), REPO_ROOT / "tests" / "apps" / "Pulumi.runshop.yaml"]:
        settings = load_stack(path)
        text, config = path.read_text(encoding="utf-8"), shipped_secret_config(path)
        ladder = settings.stage_names
        for i, stage in enumerate(ladder):
            seconds, count = time_run(settings.stack, stack_at(text, stage, ladder[i - 1] if i else None), config, args.repeat)
            cloud = sum(1 for m in build_manifests(settings, stage) if is_cloud_resource(m))
            print(f"{settings.stack:<28} {stage:<12} {count:>9} {cloud:>11} {seconds:>8.3f}")

    sizes = sorted({max(1, args.services // 5), max(1, args.services // 2), args.services})
    for services in sizes:  # several sizes show whether cost grows linearly
        text = stack_at(generate_stack(services, args.flags), "canary-25", "canary-5")
        seconds, count = time_run("bench", text, secret_config(text), args.repeat)
        label = f"generated {services}x{args.flags} flags"
        print(f"{label:<28} {'canary-25':<12} {count:>9} {0:>11} {seconds:>8.3f}")


if __name__ == "__main__":
    main()
