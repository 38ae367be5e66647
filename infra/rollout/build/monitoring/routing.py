"""Alert routing per stack: critical pages PagerDuty, warning goes to Slack.

The same route table gives the AlertmanagerConfig the operator reads and the plain
Alertmanager config it turns into, which `amtool config routes test` checks.
"""
from __future__ import annotations

from typing import Any

from rollout.spec.model import StackSettings
from rollout.build.kubernetes import common_labels, config_secret

PAGERDUTY, SLACK = "pagerduty", "slack"
ROUTING_KEY, WEBHOOK_URL = "PAGERDUTY_ROUTING_KEY", "SLACK_WEBHOOK_URL"
ROUTES = (("critical", PAGERDUTY), ("warning", SLACK))  # severity -> receiver
FALLBACK_RECEIVER = SLACK  # an alert with any other severity is still seen by someone
# One incident, one notification: a critical alert mutes warnings of the same service.
INHIBIT_EQUAL = ("namespace", "job")


def config_name(settings: StackSettings) -> str:
    return f"{settings.app}-alerts"


def secret_name(settings: StackSettings) -> str:
    return f"{settings.app}-alertmanager"


def routing_secret(settings: StackSettings) -> dict[str, Any]:
    routing = settings.monitoring.routing
    keys = {ROUTING_KEY: routing.pagerduty_secret, WEBHOOK_URL: routing.slack_secret}
    labels = {**common_labels(settings), **settings.monitoring.resource_labels}
    return config_secret(settings, secret_name(settings), labels, keys)


def _matcher(severity: str) -> dict[str, str]:
    return {"name": "severity", "value": severity, "matchType": "="}


def alertmanager_config(settings: StackSettings) -> dict[str, Any]:
    routing = settings.monitoring.routing
    secret = secret_name(settings)
    return {
        "apiVersion": "monitoring.coreos.com/v1alpha1",
        "kind": "AlertmanagerConfig",
        "metadata": {
            "name": config_name(settings),
            "namespace": settings.namespace,
            "labels": {**common_labels(settings), **settings.monitoring.resource_labels},
        },
        "spec": {
            "route": {
                "receiver": FALLBACK_RECEIVER,
                "groupBy": list(routing.group_by),
                "groupWait": str(routing.group_wait),
                "groupInterval": str(routing.group_interval),
                "repeatInterval": str(routing.repeat_interval),
                "routes": [{"receiver": receiver, "matchers": [_matcher(sev)]} for sev, receiver in ROUTES],
            },
            "receivers": [
                {"name": PAGERDUTY, "pagerdutyConfigs": [{
                    "routingKey": {"name": secret, "key": ROUTING_KEY},
                    "sendResolved": True,
                    "description": '{{ .CommonAnnotations.summary }}',
                    "details": [{"key": "runbook", "value": '{{ .CommonAnnotations.runbook_url }}'}],
                }]},
                {"name": SLACK, "slackConfigs": [{
                    "apiURL": {"name": secret, "key": WEBHOOK_URL},
                    "channel": routing.slack_channel,
                    "sendResolved": True,
                    "title": '[{{ .Status | toUpper }}] {{ .CommonLabels.alertname }}',
                    "text": '{{ range .Alerts }}{{ .Annotations.description }} {{ .Annotations.runbook_url }}\n{{ end }}',
                }]},
            ],
            "inhibitRules": [{
                "sourceMatch": [_matcher("critical")],
                "targetMatch": [_matcher("warning")],
                "equal": list(INHIBIT_EQUAL),
            }],
        },
    }


def operator_receiver(settings: StackSettings, receiver: str) -> str:
    """The name the operator gives a receiver in the generated Alertmanager config."""
    return f"{settings.namespace}/{config_name(settings)}/{receiver}"


def equivalent_alertmanager_config(settings: StackSettings) -> dict[str, Any]:
    """What the operator generates from the AlertmanagerConfig, with placeholder secrets.

    Like the operator, the stack's subtree only sees alerts from its own namespace.
    """
    routing = settings.monitoring.routing
    name = lambda receiver: operator_receiver(settings, receiver)  # noqa: E731
    return {
        "route": {
            "receiver": "null",
            "routes": [{
                "receiver": name(FALLBACK_RECEIVER),
                "matchers": [f'namespace="{settings.namespace}"'],
                "group_by": list(routing.group_by),
                "group_wait": str(routing.group_wait),
                "group_interval": str(routing.group_interval),
                "repeat_interval": str(routing.repeat_interval),
                "continue": True,
                "routes": [{"receiver": name(receiver), "matchers": [f'severity="{sev}"']} for sev, receiver in ROUTES],
            }],
        },
        "inhibit_rules": [{
            "source_matchers": ['severity="critical"', f'namespace="{settings.namespace}"'],
            "target_matchers": ['severity="warning"', f'namespace="{settings.namespace}"'],
            "equal": list(INHIBIT_EQUAL),
        }],
        "receivers": [
            {"name": "null"},
            {"name": name(PAGERDUTY), "pagerduty_configs": [{"routing_key": "placeholder-routing-key"}]},
            {"name": name(SLACK), "slack_configs": [{
                "api_url": "https://hooks.slack.com/services/PLACEHOLDER", "channel": routing.slack_channel,
            }]},
        ],
    }
