"""Generate a large stack file (many services, many flags) for benchmarks.

    from bench.generate_stack import generate_stack
    text = generate_stack(services=50, flags=10)   # YAML text of a Pulumi.<stack>.yaml

Run as a script to write one: `python bench/generate_stack.py OUT_DIR [--services N] [--flags N]`.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import yaml

LADDER = [("off", 0), ("canary-5", 5), ("canary-25", 25), ("canary-50", 50), ("full", 100)]
REPLICAS = 20  # expresses every weight of the ladder exactly (5% of 20 is 1 replica)


def service_name(i: int) -> str:
    return f"svc-{i:03d}"


def generate_config(services: int = 50, flags: int = 10, strategy: str = "tracks", stage: str = "off") -> dict:
    """The stack file as a dict; every service has `flags` run-time flags and one secret."""
    declared = {}
    for i in range(services):
        name = service_name(i)
        declared[name] = {
            "image": f"registry.example.com/{name}:1.0.{i}",
            "port": 8000 + i,
            "healthPath": "/health",
            "replicas": REPLICAS,
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}},
            "env": {"ENVIRONMENT": "bench", "UPSTREAM_URL": f"http://{service_name(max(i - 1, 0))}:{8000 + max(i - 1, 0)}"},
            "flags": {f"FLAG_{i:03d}_{f:02d}": {"off": "false", "on": "true"} for f in range(flags)},
            "secretEnv": {"API_TOKEN": f"svc{i:03d}Token"},
            "metrics": {
                "job": name,
                "signals": {
                    "requests": {"counter": "http_requests_total"},
                    "latency": {"histogram": "http_request_duration_seconds"},
                },
            },
        }
    return {
        "config": {
            "rollout:app": "bench",
            "rollout:namespace": "bench",
            "rollout:strategy": strategy,
            "rollout:stage": stage,
            "rollout:allowSkip": False,
            "rollout:weightTolerance": 1,
            "rollout:stages": [{"name": n, "weight": w} for n, w in LADDER],
            "rollout:services": declared,
        }
    }


def generate_stack(services: int = 50, flags: int = 10, strategy: str = "tracks", stage: str = "off") -> str:
    return yaml.safe_dump(generate_config(services, flags, strategy, stage), sort_keys=False, width=120)


def secret_config(stack_text: str, stack: str = "bench") -> dict[str, str]:
    """A value for every secret config key the stack's Secrets name (workloads and monitoring),
    as `pulumi config set --secret` would provide them."""
    from rollout.build.resources import build_manifests
    from rollout.spec.stack import parse_stack
    from rollout.build.kubernetes import secret_config_keys
    from rollout.spec.yaml12 import load_yaml

    values: dict[str, str] = {}
    for manifest in build_manifests(parse_stack(load_yaml(stack_text), stack, f"Pulumi.{stack}.yaml")):
        for namespace, key in secret_config_keys(manifest).values():
            values[f"{namespace}:{key}"] = f"bench-{namespace}:{key}"
    return values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--services", type=int, default=50)
    parser.add_argument("--flags", type=int, default=10)
    parser.add_argument("--stack", default="bench")
    args = parser.parse_args()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    path = args.out_dir / f"Pulumi.{args.stack}.yaml"
    path.write_text(generate_stack(args.services, args.flags), encoding="utf-8")
    print(path)


if __name__ == "__main__":
    main()
