"""Google Cloud Managed Service for Prometheus: a PodMonitoring per service and the stack's Rules.

The same scraping and rule groups as the prometheus-operator resources, in GMP's own kinds
(monitoring.googleapis.com/v1). GMP sets `job` to the PodMonitoring's name and forbids relabeling
it, so each PodMonitoring is named after the service's metrics job; the pod's `track` label is
kept with targetLabels.fromPod. Namespaced Rules only read their namespace's series, which is
every series the rule groups select.
"""
from __future__ import annotations

from typing import Any

from rollout.build.kubernetes import APP_LABEL, TRACK_LABEL, common_labels
from rollout.build.monitoring.podmonitors import METRICS_PORT
from rollout.spec.model import Service, StackSettings

API_VERSION = "monitoring.googleapis.com/v1"
TARGET = "gmp"  # rollout:monitoring.target


def pod_monitoring(settings: StackSettings, service: Service) -> dict[str, Any]:
    contract = service.metrics
    return {
        "apiVersion": API_VERSION,
        "kind": "PodMonitoring",
        "metadata": {
            "name": contract.job,  # becomes the `job` label of every series
            "namespace": settings.namespace,
            "labels": {APP_LABEL: service.name, **common_labels(settings), **settings.monitoring.resource_labels},
        },
        "spec": {
            "selector": {"matchLabels": {APP_LABEL: service.name}},  # both tracks, scraped the same way
            "endpoints": [{"port": METRICS_PORT, "path": contract.path, "interval": str(settings.monitoring.scrape_interval)}],
            "targetLabels": {"fromPod": [{"from": TRACK_LABEL}]},
        },
    }


def pod_monitorings(settings: StackSettings) -> list[dict[str, Any]]:
    return [pod_monitoring(settings, s) for s in settings.kubernetes_services if s.metrics is not None]


def rules(settings: StackSettings, groups: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "Rules",
        "metadata": {
            "name": f"{settings.app}-rollout",
            "namespace": settings.namespace,
            "labels": {**common_labels(settings), **settings.monitoring.resource_labels},
        },
        "spec": {"groups": groups},
    }
