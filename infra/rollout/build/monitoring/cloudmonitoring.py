"""Cloud Monitoring for Cloud Run services: alert policies, notification channels and a dashboard.

Cloud Run's metrics are in Cloud Monitoring, not in a Prometheus the rule groups run in, so each
alert of the stack's table that guards a Cloud Run service becomes an alert policy with one PromQL
condition: the same expression builder (over Cloud Run's request count by response code class and
its request latencies, per track), the same threshold and `for`. Critical alerts page PagerDuty,
warnings go to Slack, as the Alertmanager routes do; both channels take their keys from Pulumi
secrets as sensitive labels. The dashboard draws the charts the Grafana dashboards draw.
"""
from __future__ import annotations

import json
import math
import re
from typing import Any

from rollout.build.cloud import Document, cloud_resource, labels, reference
from rollout.build.monitoring.alerts import alert_rule, applies, fill_words, service_group_name
from rollout.build.monitoring.routing import FALLBACK_RECEIVER, PAGERDUTY, ROUTES, SLACK
from rollout.spec.model import Service, StackSettings

CHANNEL = "gcp:monitoring/notificationChannel:NotificationChannel"
ALERT_POLICY = "gcp:monitoring/alertPolicy:AlertPolicy"
DASHBOARD = "gcp:monitoring/dashboard:Dashboard"
EVALUATION_STEP = 30  # seconds: a PromQL condition's evaluation interval is a positive multiple of 30s
COLUMNS = 48  # a mosaic layout's width; Grafana's grid is 24
TILE_HEIGHT = 16
Y_AXIS = {"reqps": "requests/s", "s": "seconds", "percentunit": "fraction", "cps": "per second", "short": ""}


def cloud_monitoring(settings: StackSettings) -> list[Document]:
    services = settings.cloud_run_services
    out: list[Document] = []
    for project in sorted({s.cloud_run.project for s in services}):  # type: ignore[union-attr]
        out += notification_channels(settings, project)
    for service in services:
        out += alert_policies(settings, service)
        out.append(dashboard(settings, service))
    return out


def channel_name(settings: StackSettings, receiver: str, project: str) -> str:
    return f"{settings.namespace}-{receiver}-{project}"


def notification_channels(settings: StackSettings, project: str) -> list[Document]:
    """Keys come from Pulumi secret config into sensitive labels: never a plain label, never rendered."""
    routing = settings.monitoring.routing
    title = f"{settings.app} {settings.stack}"
    user_labels = labels(("app", settings.app), ("rollout-stack", settings.stack))
    return [
        cloud_resource(CHANNEL, channel_name(settings, PAGERDUTY, project), {
            "project": project, "type": "pagerduty", "displayName": f"{title}: PagerDuty (critical alerts)",
            "userLabels": user_labels,
        }, secret_inputs={"sensitiveLabels.serviceKey": f"rollout:{routing.pagerduty_secret}"}),
        cloud_resource(CHANNEL, channel_name(settings, SLACK, project), {
            "project": project, "type": "slack", "displayName": f"{title}: Slack {routing.slack_channel} (warnings)",
            "labels": {"channel_name": routing.slack_channel}, "userLabels": user_labels,
        }, secret_inputs={"sensitiveLabels.authToken": f"rollout:{routing.slack_token_secret}"}),
    ]


def evaluation_interval(settings: StackSettings) -> str:
    seconds = settings.monitoring.evaluation_interval.seconds
    return f"{max(1, math.ceil(seconds / EVALUATION_STEP)) * EVALUATION_STEP}s"


def alert_policies(settings: StackSettings, service: Service) -> list[Document]:
    run = service.cloud_run
    receivers = dict(ROUTES)
    out = []
    for alert in settings.monitoring.alerts.values():
        if not applies(alert, settings, service):
            continue
        rule = alert_rule(settings, service, alert)
        receiver = receivers.get(alert.severity.value, FALLBACK_RECEIVER)
        name = f"{run.name}-{alert.name.lower()}"  # type: ignore[union-attr]
        out.append(cloud_resource(ALERT_POLICY, name, {
            "project": run.project,  # type: ignore[union-attr]
            "displayName": f"{rule['alert']} on {service.name} ({settings.stack})",
            "combiner": "OR",
            "severity": alert.severity.value.upper(),
            "conditions": [{
                "displayName": fill_words(alert.summary, alert, settings),
                "conditionPrometheusQueryLanguage": {
                    "query": rule["expr"],
                    "duration": f"{int(alert.for_.seconds)}s",
                    "evaluationInterval": evaluation_interval(settings),
                    "alertRule": rule["alert"],
                    "ruleGroup": service_group_name(settings, service.name),
                    "labels": rule["labels"],
                    "disableMetricValidation": True,  # a new service has no samples yet
                },
            }],
            "documentation": {
                "mimeType": "text/markdown",
                "subject": f"{rule['alert']}: {service.name} in {settings.stack}",
                "content": (f"{rule['annotations']['summary']}\n\n{service.name} runs on Cloud Run as "
                            f"{run.name} in {run.project}/{run.region}.\n\n"  # type: ignore[union-attr]
                            f"Runbook: {rule['annotations']['runbook_url']}"),
            },
            "notificationChannels": [reference(channel_name(settings, receiver, run.project), "name")],  # type: ignore[union-attr]
            "userLabels": labels(("app", settings.app), ("service", service.name), ("rollout-stack", settings.stack),
                                 ("severity", alert.severity.value)),
        }, service.name))
    return out


def legend(template: str) -> str:
    """Grafana's {{label}} as Cloud Monitoring's ${label}."""
    return re.sub(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}", r"${\1}", template)


def dashboard_model(settings: StackSettings, service: Service) -> dict[str, Any]:
    """The gate's checks by track, then the same service charts as the Grafana service health dashboard."""
    from rollout.build.monitoring.dashboards import indicator_chart, service_charts  # the Grafana SDK: only here

    rate = str(settings.monitoring.rate_window)
    charts = [indicator_chart(settings, service, t.indicator, rate, 12) for t in settings.gates.checks.values()
              if t.indicator.applies_to(service)]
    charts += service_charts(settings, service, rate)
    tiles, x, y = [], 0, 0
    for chart in charts:
        width = chart.span * COLUMNS // 24
        if x + width > COLUMNS:
            x, y = 0, y + TILE_HEIGHT
        tiles.append({"xPos": x, "yPos": y, "width": width, "height": TILE_HEIGHT, "widget": {
            "title": chart.title,
            "xyChart": {
                "dataSets": [{"timeSeriesQuery": {"prometheusQuery": expr}, "plotType": "LINE", "legendTemplate": legend(text)}
                             for expr, text in chart.queries],
                "yAxis": {"label": Y_AXIS.get(chart.unit, ""), "scale": "LINEAR"},
            },
        }})
        x += width
    return {"displayName": f"{settings.app} {settings.stack}: {service.name} on Cloud Run",
            "mosaicLayout": {"columns": COLUMNS, "tiles": tiles}}


def dashboard(settings: StackSettings, service: Service) -> Document:
    run = service.cloud_run
    return cloud_resource(DASHBOARD, f"{run.name}-dashboard", {  # type: ignore[union-attr]
        "project": run.project,  # type: ignore[union-attr]
        "dashboardJson": json.dumps(dashboard_model(settings, service), sort_keys=True),
    }, service.name)
