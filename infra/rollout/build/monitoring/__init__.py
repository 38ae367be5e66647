"""Monitoring as code: alert rules, scraping, routing and dashboards per stack.

Everything here is a pure function of the stack's settings: it never depends on the stage,
so a promote or a rollback changes no monitoring resource.
"""
from __future__ import annotations

from typing import Any

from rollout.spec.stack import StackSettings
from rollout.core.ladder import StageState
from rollout.build.kubernetes import common_labels
from rollout.build.monitoring.alerts import alert_groups
from rollout.spec.monitoring import MonitoringConfig, parse_monitoring
from rollout.build.monitoring.dashboards import dashboard_config_maps
from rollout.build.monitoring.podmonitors import pod_monitors
from rollout.build.monitoring.routing import alertmanager_config, routing_secret
from rollout.build.monitoring.slo import slo_groups


def rule_groups(settings: StackSettings, config: MonitoringConfig | None = None) -> list[dict[str, Any]]:
    """Plain Prometheus rule groups, as `promtool` and the PrometheusRule read them."""
    config = config or parse_monitoring(settings)
    return alert_groups(settings, config) + slo_groups(settings, config)


def prometheus_rule(settings: StackSettings, config: MonitoringConfig) -> dict[str, Any]:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": f"{settings.app}-rollout",
            "namespace": settings.namespace,
            "labels": {**common_labels(settings), **config.resource_labels},
        },
        "spec": {"groups": rule_groups(settings, config)},
    }


def build_monitoring(settings: StackSettings, state: StageState) -> list[dict[str, Any]]:
    """PodMonitors, PrometheusRule, AlertmanagerConfig (+ its Secret) and dashboard ConfigMaps."""
    config = parse_monitoring(settings)
    return [
        *pod_monitors(settings, config),
        prometheus_rule(settings, config),
        routing_secret(settings, config),
        alertmanager_config(settings, config),
        *dashboard_config_maps(settings, config),
    ]
