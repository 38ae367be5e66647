"""Monitoring as code: alert rules, scraping, routing and dashboards per stack.

Everything here is a pure function of the stack's settings: it never depends on the stage,
so a promote or a rollback changes no monitoring resource.
"""
from __future__ import annotations

from typing import Any

from rollout.build.kubernetes import common_labels
from rollout.build.monitoring import gmp
from rollout.build.monitoring.alerts import alert_groups
from rollout.build.monitoring.podmonitors import pod_monitors
from rollout.build.monitoring.routing import alertmanager_config, routing_secret
from rollout.build.monitoring.slo import slo_groups
from rollout.spec.model import StackSettings


def rule_groups(settings: StackSettings) -> list[dict[str, Any]]:
    """Plain Prometheus rule groups, as `promtool` and the PrometheusRule read them."""
    return alert_groups(settings) + slo_groups(settings)


def prometheus_rule(settings: StackSettings) -> dict[str, Any]:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": f"{settings.app}-rollout",
            "namespace": settings.namespace,
            "labels": {**common_labels(settings), **settings.monitoring.resource_labels},
        },
        "spec": {"groups": rule_groups(settings)},
    }


def build_monitoring(settings: StackSettings) -> list[dict[str, Any]]:
    """PodMonitors and a PrometheusRule (or, for Managed Prometheus, PodMonitorings and Rules),
    AlertmanagerConfig (+ its Secret) and dashboard ConfigMaps."""
    from rollout.build.monitoring.dashboards import dashboard_config_maps  # the Grafana SDK: only when rendering

    if settings.monitoring.target == gmp.TARGET:
        scraping = [*gmp.pod_monitorings(settings), gmp.rules(settings, rule_groups(settings))]
    else:
        scraping = [*pod_monitors(settings), prometheus_rule(settings)]
    return [
        *scraping,
        routing_secret(settings),
        alertmanager_config(settings),
        *dashboard_config_maps(settings),
    ]
