"""Everything a stack deploys at a stage: Kubernetes manifests and Google Cloud resources (dicts)."""
from __future__ import annotations

from typing import Any

from rollout.build import cloudrun, kubernetes
from rollout.build.cloud import is_cloud_resource
from rollout.core.ladder import StageState, resolve
from rollout.spec.model import StackSettings

Manifest = dict[str, Any]  # a Kubernetes manifest, or a Google Cloud resource (rollout.build.cloud)


def build_manifests(settings: StackSettings, stage: str | None = None) -> list[Manifest]:
    """The single source of truth: render, plan, the Pulumi program and tests all use this."""
    return manifests_with_state(settings, stage)[1]


def manifest_key(manifest: Manifest) -> tuple[str, str, str]:
    """(kind, namespace, name); a Google Cloud resource's kind is its Pulumi type token."""
    if is_cloud_resource(manifest):
        return (manifest["type"], "", manifest["name"])
    meta = manifest["metadata"]
    return (manifest["kind"], meta.get("namespace", ""), meta["name"])


def kubernetes_manifests(manifests: list[Manifest]) -> list[Manifest]:
    return [m for m in manifests if not is_cloud_resource(m)]


def manifests_with_state(settings: StackSettings, stage: str | None = None) -> tuple[StageState, list[Manifest]]:
    state = resolve(settings, stage)
    return state, stage_manifests(settings, state) + stack_manifests(settings)


def stage_manifests(settings: StackSettings, state: StageState) -> list[Manifest]:
    """What a stage can change: the workloads (replicas, flag values with the percentage strategy,
    a Cloud Run load balancer's weights)."""
    cluster = kubernetes.build(settings, state) if settings.kubernetes_services else []
    return cluster + cloudrun.build(settings, state)


def stack_manifests(settings: StackSettings) -> list[Manifest]:
    """The same at every stage: monitoring (tests prove a promote changes none of it)."""
    from rollout.build.monitoring import build_monitoring  # the Grafana SDK: only where dashboards are written
    from rollout.build.monitoring.cloudmonitoring import cloud_monitoring

    return (build_monitoring(settings) if settings.kubernetes_services else []) + cloud_monitoring(settings)
