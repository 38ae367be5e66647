"""A PodMonitor per service whose every series keeps the pod's `track` label."""
from __future__ import annotations

from typing import Any

from rollout.spec.model import Service, StackSettings
from rollout.build.kubernetes import APP_LABEL, TRACK_LABEL, common_labels

METRICS_PORT = "http"  # the container port workloads names; metrics are served on it


def pod_monitor(settings: StackSettings, service: Service) -> dict[str, Any]:
    contract = service.metrics
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PodMonitor",
        "metadata": {
            "name": service.name,
            "namespace": settings.namespace,
            "labels": {APP_LABEL: service.name, **common_labels(settings), **settings.monitoring.resource_labels},
        },
        "spec": {
            # Selects the app, not the track: both tracks are scraped the same way.
            "selector": {"matchLabels": {APP_LABEL: service.name}},
            "namespaceSelector": {"matchNames": [settings.namespace]},
            "podMetricsEndpoints": [{
                "port": METRICS_PORT,
                "path": contract.path,
                "interval": str(settings.monitoring.scrape_interval),
                "relabelings": [
                    # The operator already sets namespace and pod; job and track follow the convention.
                    {"action": "replace", "targetLabel": "job", "replacement": contract.job},
                    {"action": "replace", "sourceLabels": [f"__meta_kubernetes_pod_label_{TRACK_LABEL}"],
                     "targetLabel": TRACK_LABEL},
                    {"action": "replace", "sourceLabels": ["__meta_kubernetes_namespace"], "targetLabel": "namespace"},
                    {"action": "replace", "sourceLabels": ["__meta_kubernetes_pod_name"], "targetLabel": "pod"},
                ],
            }],
        },
    }


def pod_monitors(settings: StackSettings) -> list[dict[str, Any]]:
    return [pod_monitor(settings, s) for s in settings.kubernetes_services if s.metrics is not None]
