"""Alert rules from the stack's alert table: one rule group per service, in roll order."""
from __future__ import annotations

from typing import Any, Callable

from rollout.build.promql import fill_roles, indicator_expr, number, selector, service_scope, sum_rate
from rollout.core.ladder import OFF, ON, tracks_of
from rollout.spec.model import Alert, AlertKind, Service, StackSettings, Unit
from rollout.spec.quantity import whole_bytes

Rule = dict[str, Any]


def display_threshold(alert: Alert, settings: StackSettings) -> str:
    """The threshold as people read it in a description: 5%, 150ms, 1/s, 14.4x."""
    if alert.kind in (AlertKind.CANARY_ERRORS, AlertKind.CANARY_LATENCY):
        return f"{number(settings.monitoring.canary.red_margin)}%"
    if alert.kind is AlertKind.SLO_FAST:
        return "14.4x"
    if alert.kind is AlertKind.SLO_SLOW:
        return "3x"
    value = alert.threshold if alert.threshold is not None else 0
    if alert.unit is Unit.PERCENT:
        return f"{number(value)}%"
    if alert.unit is Unit.SECONDS:
        return f"{number(value * 1000)}ms" if value < 1 else f"{number(value)}s"
    if alert.unit is Unit.PER_SECOND:
        return f"{number(value)}/s"
    return number(value)


def promql_threshold(alert: Alert) -> str:
    """Percent thresholds compare against fractions in PromQL."""
    value = alert.threshold if alert.threshold is not None else 0
    return number(value / 100 if alert.unit is Unit.PERCENT else value)


def _comparison(alert: Alert) -> str:
    return f"{'>' if alert.above else '<'} {promql_threshold(alert)}"


# -- expressions, one builder per kind ------------------------------------------------------

def _indicator(settings: StackSettings, service: Service, alert: Alert) -> str:
    window = str(settings.monitoring.rate_window)
    scope = service_scope(service, settings.namespace)
    expr = indicator_expr(alert.indicator, service, scope, window, scope.alert_labels)  # type: ignore[arg-type]
    return f"{expr} {_comparison(alert)}"


def _expr(settings: StackSettings, service: Service, alert: Alert) -> str:
    filled = fill_roles(alert.expr, service, service_scope(service, settings.namespace), str(settings.monitoring.rate_window))  # type: ignore[arg-type]
    return f"({filled}) {_comparison(alert)}"


def _service_down(settings: StackSettings, service: Service, alert: Alert) -> str:
    up = service_scope(service, settings.namespace).selector("up")
    return f"sum by (namespace, job) ({up}) == 0 or absent({up})"


def _memory(settings: StackSettings, service: Service, alert: Alert) -> str:
    limit = whole_bytes(service.resources["limits"]["memory"])
    # cAdvisor's series carry the container name, not the service's job.
    usage = selector("container_memory_working_set_bytes", namespace=settings.namespace, container=service.name,
                     image="!=")
    # The limit comes from the same stack file that sets it on the pods.
    return f"max by (namespace, pod, container) ({usage}) / {limit} > {promql_threshold(alert)}"


def _traffic_on_both_tracks(settings: StackSettings, service: Service) -> str:
    floor = number(settings.monitoring.canary.min_request_rate)
    requests = service.metrics.signals["requests"].metric  # type: ignore[union-attr]
    window = str(settings.monitoring.rate_window)
    return " ".join(
        f"and on (namespace, job) ({sum_rate(service_scope(service, settings.namespace, track).selector(requests), window)} > {floor})"
        for track in (ON, OFF)
    )


def _worse_factor(settings: StackSettings) -> str:
    return number(1 + settings.monitoring.canary.red_margin / 100)


def _canary_errors(settings: StackSettings, service: Service, alert: Alert) -> str:
    window = str(settings.monitoring.rate_window)

    def track_ratio(track: str) -> str:
        return indicator_expr(alert.indicator, service, service_scope(service, settings.namespace, track), window)  # type: ignore[arg-type]

    floor = number(settings.monitoring.canary.min_error_ratio / 100)
    return (f"({track_ratio(ON)} > {_worse_factor(settings)} * {track_ratio(OFF)}) "
            f"and ({track_ratio(ON)} > {floor}) {_traffic_on_both_tracks(settings, service)}")


def _canary_latency(settings: StackSettings, service: Service, alert: Alert) -> str:
    window = str(settings.monitoring.rate_window)

    def p95(track: str) -> str:
        return indicator_expr(alert.indicator, service, service_scope(service, settings.namespace, track), window)  # type: ignore[arg-type]

    return f"({p95(ON)} > {_worse_factor(settings)} * {p95(OFF)}) {_traffic_on_both_tracks(settings, service)}"


EXPRESSIONS: dict[AlertKind, Callable[[StackSettings, Service, Alert], str]] = {
    AlertKind.INDICATOR: _indicator,
    AlertKind.EXPR: _expr,
    AlertKind.SERVICE_DOWN: _service_down,
    AlertKind.MEMORY: _memory,
    AlertKind.CANARY_ERRORS: _canary_errors,
    AlertKind.CANARY_LATENCY: _canary_latency,
}


def applies(alert: Alert, settings: StackSettings, service: Service) -> bool:
    """Does this alert guard this service? Decided by its contract, never by the stage."""
    if not alert.enabled or alert.kind not in EXPRESSIONS:
        return False
    if alert.services is not None and service.name not in alert.services:
        return False
    if alert.kind is AlertKind.MEMORY:
        return "memory" in service.resources.get("limits", {})
    if service.metrics is None:
        return False
    if alert.kind is AlertKind.SERVICE_DOWN:
        return not service.on_cloud_run  # no `up` series: Cloud Run has no scrape targets
    if alert.kind is AlertKind.EXPR:
        return all(service.has(role) for role in alert.roles)
    if not alert.indicator.applies_to(service):  # type: ignore[union-attr]
        return False
    if alert.kind in (AlertKind.CANARY_ERRORS, AlertKind.CANARY_LATENCY):
        return tracks_of(settings, service) == (OFF, ON) and service.has("requests", "counter")
    return True


def fill_words(text: str, alert: Alert, settings: StackSettings) -> str:
    words = {"{threshold}": display_threshold(alert, settings), "{for}": str(alert.for_)}
    for key, value in words.items():
        text = text.replace(key, value)
    return text


def alert_rule(settings: StackSettings, service: Service, alert: Alert) -> Rule:
    monitoring = settings.monitoring
    return {
        "alert": monitoring.alert_name(alert.name),
        "expr": EXPRESSIONS[alert.kind](settings, service, alert),
        "for": str(alert.for_),
        # `service` keeps the rules of different services distinct (promtool lints duplicates).
        "labels": {"severity": alert.severity.value, "service": service.name},
        "annotations": {
            "summary": fill_words(alert.summary, alert, settings),
            "description": fill_words(alert.description, alert, settings),
            "runbook_url": monitoring.runbook(alert),
        },
    }


def service_rules(settings: StackSettings, service: Service) -> list[Rule]:
    return [alert_rule(settings, service, a) for a in settings.monitoring.alerts.values() if applies(a, settings, service)]


def service_group_name(settings: StackSettings, service: str) -> str:
    return f"{settings.app}.{service}"


def alert_groups(settings: StackSettings) -> list[dict[str, Any]]:
    """One group per service, in roll order; services without a contract get only memory alerts."""
    groups = []
    for service in settings.kubernetes_services:  # Cloud Run services alert from Cloud Monitoring
        rules = service_rules(settings, service)
        if rules:
            groups.append({"name": service_group_name(settings, service.name),
                           "interval": str(settings.monitoring.evaluation_interval), "rules": rules})
    return groups

