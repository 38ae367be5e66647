"""Everything a stack deploys at a stage, as plain Kubernetes manifests (dicts)."""
from __future__ import annotations

from typing import Any

from rollout.build import kubernetes
from rollout.build.monitoring import build_monitoring
from rollout.core.ladder import StageState, resolve
from rollout.spec.model import StackSettings

Manifest = dict[str, Any]


def build_manifests(settings: StackSettings, stage: str | None = None) -> list[Manifest]:
    """The single source of truth: render, plan, the Pulumi program and tests all use this."""
    return manifests_with_state(settings, stage)[1]


def manifest_key(manifest: Manifest) -> tuple[str, str, str]:
    meta = manifest["metadata"]
    return (manifest["kind"], meta.get("namespace", ""), meta["name"])


def manifests_with_state(settings: StackSettings, stage: str | None = None) -> tuple[StageState, list[Manifest]]:
    state = resolve(settings, stage)
    return state, kubernetes.build(settings, state) + build_monitoring(settings)
