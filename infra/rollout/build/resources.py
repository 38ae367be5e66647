"""Everything a stack deploys at a stage, as plain Kubernetes manifests (dicts)."""
from __future__ import annotations

from typing import Any

from rollout.build import kubernetes as workloads
from rollout.spec.stack import StackSettings
from rollout.core.ladder import StageState, resolve

Manifest = dict[str, Any]


def build_manifests(settings: StackSettings, stage: str | None = None) -> list[Manifest]:
    """The single source of truth: render, plan, the Pulumi program and tests all use this."""
    return manifests_with_state(settings, stage)[1]


def manifest_key(manifest: Manifest) -> tuple[str, str, str]:
    meta = manifest["metadata"]
    return (manifest["kind"], meta.get("namespace", ""), meta["name"])


def manifests_with_state(settings: StackSettings, stage: str | None = None) -> tuple[StageState, list[Manifest]]:
    state = resolve(settings, stage)
    return state, stage_manifests(settings, state) + stack_manifests(settings, state)


def stage_manifests(settings: StackSettings, state: StageState) -> list[Manifest]:
    """What a stage can change: the workloads (replicas; flag values with the percentage strategy)."""
    return workloads.build(settings, state)


def stack_manifests(settings: StackSettings, state: StageState) -> list[Manifest]:
    """The same at every stage: monitoring (tests prove a promote changes none of it)."""
    from rollout.build.monitoring import build_monitoring  # the Grafana SDK: only where dashboards are written

    return build_monitoring(settings, state)
