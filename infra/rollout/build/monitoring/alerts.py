"""Alert rules from the defaults table and the metric contracts: one rule group per service."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from rollout.spec.stack import Service, StackSettings
from rollout.core.ladder import OFF, ON, tracks_of
from rollout.spec.catalog import CANARY, CATALOG, SERVICE, AlertDefault
from rollout.spec.monitoring import MonitoringConfig, duration_text, seconds
from rollout.build.promql import number, quantile, ratio, selector, sum_rate

Rule = dict[str, Any]
SERVER_ERROR_CODES = "5.."
MEMORY_UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}


@dataclass(frozen=True)
class Target:
    """What an alert expression is about: one service of one stack."""

    settings: StackSettings
    config: MonitoringConfig
    service: Service

    @property
    def namespace(self) -> str:
        return self.settings.namespace

    @property
    def job(self) -> str:
        return self.service.metrics.job if self.service.metrics else self.service.name

    def metric(self, role: str) -> str:
        return self.service.metrics.signals[role].metric

    def series(self, role: str, **matchers: str) -> str:
        return selector(self.metric(role), self.namespace, self.job, **matchers)

    @property
    def window(self) -> str:
        return self.config.rate_window

    def p95(self, role: str, **matchers: str) -> str:
        return quantile(0.95, self.metric(role), self.namespace, self.job, self.window, **matchers)


def display_threshold(row: AlertDefault, value: float, config: MonitoringConfig) -> str:
    """The threshold as people read it in a description: 5%, 150ms, 1/s, 10/hour, 14.4x."""
    if row.scope == CANARY:
        return f"{number(config.canary.red_margin)}%"
    if row.name == "SloBudgetBurnFast":
        return "14.4x"
    if row.name == "SloBudgetBurnSlow":
        return "3x"
    if row.unit == "percent":
        return f"{number(value)}%"
    if row.unit == "seconds":
        return f"{number(value * 1000)}ms" if value < 1 else f"{number(value)}s"
    if row.unit == "per_second":
        return f"{number(value)}/s"
    if row.unit == "per_hour":
        return f"{number(value)}/hour"
    return number(value)


def memory_bytes(quantity: str) -> int:
    for suffix, size in MEMORY_UNITS.items():
        if quantity.endswith(suffix):
            return int(float(quantity[: -len(suffix)]) * size)
    return int(float(quantity))


# -- expressions, one per row of the catalog -----------------------------------------------

def _fraction(t: Target, threshold: float) -> str:
    return number(threshold / 100)


def _server_errors(t: Target, threshold: float) -> str:
    return f"{ratio(t.series('requests', code='=~' + SERVER_ERROR_CODES), t.series('requests'), t.window)} > {_fraction(t, threshold)}"


def _timeouts(t: Target, threshold: float) -> str:
    return f"{ratio(t.series('responseTimeouts'), t.series('requests'), t.window)} > {_fraction(t, threshold)}"


def _latency(role: str) -> Callable[[Target, float], str]:
    return lambda t, threshold: f"{t.p95(role)} > {number(threshold)}"


def _failure_ratio(errors: str, total: str) -> Callable[[Target, float], str]:
    return lambda t, threshold: f"{ratio(t.series(errors), t.series(total), t.window)} > {_fraction(t, threshold)}"


def _sse_success(t: Target, threshold: float) -> str:
    return f"1 - {ratio(t.series('sseConnectionErrors'), t.series('sseConnections'), t.window)} < {_fraction(t, threshold)}"


def _rate_above(role: str) -> Callable[[Target, float], str]:
    return lambda t, threshold: f"{sum_rate(t.series(role), t.window)} > {number(threshold)}"


def _gauge_sum(role: str) -> Callable[[Target, float], str]:
    return lambda t, threshold: f"sum by (namespace, job) ({t.series(role)}) > {number(threshold)}"


def _gauge_max_per_pod(role: str) -> Callable[[Target, float], str]:
    return lambda t, threshold: f"max by (namespace, job, pod) ({t.series(role)}) > {number(threshold)}"


def _session_isolation(t: Target, threshold: float) -> str:
    return f"max by (namespace, job, session) ({t.series('sessionUsers')}) > {number(threshold)}"


def _rate_limit(t: Target, threshold: float) -> str:
    return f"sum by (namespace, job) (increase({t.series('rateLimitViolations')}[1h])) > {number(threshold)}"


def _service_down(t: Target, threshold: float) -> str:
    up = selector("up", t.namespace, t.job)
    return f"sum by (namespace, job) ({up}) == 0 or absent({up})"


def _memory(t: Target, threshold: float) -> str:
    limit = memory_bytes(t.service.resources["limits"]["memory"])
    usage = (f'container_memory_working_set_bytes{{namespace="{t.namespace}", '
             f'container="{t.service.name}", image!=""}}')
    # The limit comes from the same stack file that sets it on the pods.
    return f"max by (namespace, pod, container) ({usage}) / {limit} > {_fraction(t, threshold)}"


def _traffic_on_both_tracks(t: Target) -> str:
    floor = number(t.config.canary.min_request_rate)
    return " ".join(
        f"and on (namespace, job) ({sum_rate(t.series('requests', track=track), t.window)} > {floor})"
        for track in (ON, OFF)
    )


def _canary_errors(t: Target, threshold: float) -> str:
    def track_ratio(track: str) -> str:
        return ratio(t.series("requests", track=track, code="=~" + SERVER_ERROR_CODES),
                     t.series("requests", track=track), t.window)

    worse = number(1 + t.config.canary.red_margin / 100)
    floor = number(t.config.canary.min_error_ratio / 100)
    return (f"({track_ratio(ON)} > {worse} * {track_ratio(OFF)}) "
            f"and ({track_ratio(ON)} > {floor}) {_traffic_on_both_tracks(t)}")


def _canary_latency(t: Target, threshold: float) -> str:
    worse = number(1 + t.config.canary.red_margin / 100)
    return f"({t.p95('latency', track=ON)} > {worse} * {t.p95('latency', track=OFF)}) {_traffic_on_both_tracks(t)}"


EXPRESSIONS: dict[str, Callable[[Target, float], str]] = {
    "ServerErrorRate": _server_errors,
    "ErrorRateCritical": _server_errors,
    "ErrorRateWarning": _server_errors,
    "LatencyCritical": _latency("latency"),
    "LatencyHigh": _latency("latency"),
    "ResponseTimeoutRate": _timeouts,
    "ServiceDown": _service_down,
    "MemoryHigh": _memory,
    "SessionCreationFailureRate": _failure_ratio("sessionCreationErrors", "sessionCreations"),
    "SessionCreationLatencyHigh": _latency("sessionCreationDuration"),
    "SseConnectionFailureRate": _failure_ratio("sseConnectionErrors", "sseConnections"),
    "SseConnectionSuccessLow": _sse_success,
    "SseStreamDurationHigh": _latency("sseStreamDuration"),
    "CsrfValidationErrors": _rate_above("csrfValidationErrors"),
    "ActiveSessionsHigh": _gauge_sum("activeSessions"),
    "SessionIsolationBreach": _session_isolation,
    "FirstTokenLatencyHigh": _latency("firstTokenLatency"),
    "RateLimitViolations": _rate_limit,
    "TokenValidationFailures": _rate_above("tokenValidationFailures"),
    "ActiveTokenCacheHigh": _gauge_max_per_pod("activeTokenCache"),
    "CanaryErrorRatioWorse": _canary_errors,
    "CanaryLatencyWorse": _canary_latency,
}


def applies(row: AlertDefault, settings: StackSettings, service: Service) -> bool:
    """Does this catalog row guard this service? Decided by its contract, never by the stage."""
    if row.name == "MemoryHigh":
        return "memory" in service.resources.get("limits", {})
    contract = service.metrics
    if contract is None:
        return False
    if any(role not in contract.signals for role in row.roles):
        return False
    if row.scope == CANARY:
        return tracks_of(settings, service) == (OFF, ON)
    return row.scope == SERVICE


def alert_rule(row: AlertDefault, target: Target) -> Rule:
    config = target.config
    setting = config.alert(row.name)
    shown = display_threshold(row, setting.threshold, config)
    words = {"{threshold}": shown, "{for}": duration_text(seconds(setting.for_))}
    return {
        "alert": config.alert_name(row.name),
        "expr": EXPRESSIONS[row.name](target, setting.threshold),
        "for": setting.for_,
        # `service` keeps the rules of different services distinct (promtool lints duplicates).
        "labels": {"severity": setting.severity, "service": target.service.name},
        "annotations": {
            "summary": _fill(row.summary, words),
            "description": _fill(row.description, words),
            "runbook_url": config.runbook(row.name),
        },
    }


def _fill(text: str, words: dict[str, str]) -> str:
    for key, value in words.items():
        text = text.replace(key, value)
    return text


def service_rules(settings: StackSettings, config: MonitoringConfig, service: Service) -> list[Rule]:
    target = Target(settings, config, service)
    return [
        alert_rule(row, target)
        for row in CATALOG.values()
        if row.name in EXPRESSIONS and config.alert(row.name).enabled and applies(row, settings, service)
    ]


def service_group_name(settings: StackSettings, service: str) -> str:
    return f"{settings.app}.{service}"


def alert_groups(settings: StackSettings, config: MonitoringConfig) -> list[dict[str, Any]]:
    """One group per service, in roll order; services without a contract get only memory alerts."""
    groups = []
    for service in settings.services.values():
        rules = service_rules(settings, config, service)
        if rules:
            groups.append({"name": service_group_name(settings, service.name), "interval": config.evaluation_interval,
                           "rules": rules})
    return groups
