"""Test series for every alert: a breach that must fire it and a healthy load that must not.

Each breach starts at the first sample (t=0) and holds, so its detection time is measured
from t=0. Counters grow linearly from 0, which keeps ratios and quantiles exact in every
window, so the expected `$value` of a firing alert is known exactly.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Callable

from rollout.spec.stack import Service, StackSettings
from rollout.core.ladder import OFF, ON, tracks_of
from rollout.build.monitoring.alerts import Target, memory_bytes
from rollout.spec.catalog import CATALOG
from rollout.spec.monitoring import MonitoringConfig, Slo, seconds
from rollout.build.monitoring.slo import slo_labels

TOTAL = 1000  # requests per scrape interval in every scenario
CODES = tuple(str(c) for c in [*range(500, 600), *range(100, 500)])  # 5xx first: the usual errors


@dataclass(frozen=True)
class Scenario:
    """Input series for promtool, and what the alert must show when it fires."""

    alert: str  # catalog name, without the prefix
    subject: str  # service or SLO the scenario is about
    series: list[tuple[str, str]]  # (series selector, promtool values)
    labels: dict[str, str] = field(default_factory=dict)  # labels of the firing alert, from the expression
    value: Callable[[int], float] = lambda t: 0.0  # $value at t seconds after the breach started
    lag: int = 0  # seconds from breach start until the expression first holds


def _series(metric: str, labels: dict[str, str]) -> str:
    inner = ", ".join(f'{k}="{v}"' for k, v in labels.items())
    return f"{metric}{{{inner}}}"


def _counter(metric: str, labels: dict[str, str], per_sample: float, samples: int) -> tuple[str, str]:
    return _series(metric, labels), f"0+{per_sample:g}x{samples}"


def _gauge(metric: str, labels: dict[str, str], value: float, samples: int) -> tuple[str, str]:
    return _series(metric, labels), f"{value:g}x{samples}"


@dataclass(frozen=True)
class Builder:
    """Shared facts for one scenario: the target service, its labels and the sampling."""

    target: Target
    threshold: float
    interval: int  # scrape interval in seconds
    samples: int
    track: str

    @property
    def base(self) -> dict[str, str]:
        t = self.target
        return {"namespace": t.namespace, "job": t.job, "track": self.track, "pod": f"{t.service.name}-{self.track}-0"}

    def labels(self, **extra: str) -> dict[str, str]:
        return {"namespace": self.target.namespace, "job": self.target.job, **extra}

    def metric(self, role: str) -> str:
        return self.target.metric(role)

    def requests(self, error_share: float, track: str | None = None, errors_metric: str | None = None) -> list[tuple[str, str]]:
        """TOTAL requests per sample, the error share of them failing (5xx, or counted in errors_metric)."""
        base = {**self.base, "track": track or self.track}
        errors = round(TOTAL * error_share)
        if errors_metric:
            return [_counter(self.metric("requests"), {**base, "code": "200"}, TOTAL, self.samples),
                    _counter(errors_metric, base, errors, self.samples)]
        out = [_counter(self.metric("requests"), {**base, "code": "200"}, TOTAL - errors, self.samples)]
        if errors:
            out.append(_counter(self.metric("requests"), {**base, "code": "500"}, errors, self.samples))
        return out

    def histogram(self, role: str, low: float, high: float, track: str | None = None) -> list[tuple[str, str]]:
        """Every observation in the bucket (low, high]; buckets at the threshold's multiples."""
        base = {**self.base, "track": track or self.track}
        t = self.threshold
        bounds = sorted({t / 4, t / 2, 2 * t, 4 * t, low, high})
        out = []
        for le in bounds:
            count = 100 if le >= high else 0
            out.append(_counter(f"{self.metric(role)}_bucket", {**base, "le": f"{le:g}"}, count, self.samples))
        out.append(_counter(f"{self.metric(role)}_bucket", {**base, "le": "+Inf"}, 100, self.samples))
        out.append(_counter(f"{self.metric(role)}_count", base, 100, self.samples))
        return out

    def ramp(self, per_second: float, window: str) -> Callable[[int], float]:
        """rate()/increase() of a counter that starts at t=0: it fills its window linearly."""
        w = seconds(window)
        return lambda t: per_second * min(t, w) / w

    def error_ratio(self, error_share: float) -> float:
        return round(TOTAL * error_share) / TOTAL


def _ratio_scenario(kind: str) -> Callable[[Builder, bool], Scenario]:
    """Alerts on errors / total of the given pair of roles."""

    def build(b: Builder, breach: bool) -> Scenario:
        share = min(1.0, 2 * b.threshold / 100) if breach else b.threshold / 200
        if kind == "http":
            series = b.requests(share)
        elif kind == "timeouts":
            series = b.requests(share, errors_metric=b.metric("responseTimeouts"))
        else:
            errors, total = kind.split("/")
            n = round(TOTAL * share)
            series = [_counter(b.metric(total), b.base, TOTAL, b.samples), _counter(b.metric(errors), b.base, n, b.samples)]
        value = b.error_ratio(share)
        return Scenario("", "", series, b.labels(), lambda t: value, lag=b.interval)

    return build


def _sse_success(b: Builder, breach: bool) -> Scenario:
    failing = 2 * (100 - b.threshold) / 100 if breach else (100 - b.threshold) / 200
    n = round(TOTAL * failing)
    series = [_counter(b.metric("sseConnections"), b.base, TOTAL, b.samples),
              _counter(b.metric("sseConnectionErrors"), b.base, n, b.samples)]
    return Scenario("", "", series, b.labels(), lambda t: 1 - n / TOTAL, lag=b.interval)


def _latency(role: str) -> Callable[[Builder, bool], Scenario]:
    def build(b: Builder, breach: bool) -> Scenario:
        t = b.threshold
        low, high = (2 * t, 4 * t) if breach else (t / 4, t / 2)
        value = low + (high - low) * 0.95
        return Scenario("", "", b.histogram(role, low, high), b.labels(), lambda _: value, lag=b.interval)

    return build


def _rate(role: str) -> Callable[[Builder, bool], Scenario]:
    def build(b: Builder, breach: bool) -> Scenario:
        per_second = 20 * b.threshold if breach else b.threshold / 2
        series = [_counter(b.metric(role), b.base, per_second * b.interval, b.samples)]
        return Scenario("", "", series, b.labels(), b.ramp(per_second, b.target.window), lag=b.interval)

    return build


def _rate_limit(b: Builder, breach: bool) -> Scenario:
    per_sample = 2 * b.threshold if breach else 0
    series = [_counter(b.metric("rateLimitViolations"), b.base, per_sample, b.samples)]
    return Scenario("", "", series, b.labels(), lambda t: per_sample * t / b.interval, lag=b.interval)


def _gauge_scenario(role: str, per: str) -> Callable[[Builder, bool], Scenario]:
    def build(b: Builder, breach: bool) -> Scenario:
        value = 2 * b.threshold if breach else b.threshold / 2
        labels = b.labels(pod=b.base["pod"]) if per == "pod" else b.labels()
        return Scenario("", "", [_gauge(b.metric(role), b.base, value, b.samples)], labels, lambda t: value)

    return build


def _session_isolation(b: Builder, breach: bool) -> Scenario:
    metric = b.metric("sessionUsers")
    series = [_gauge(metric, {**b.base, "session": "s-1"}, 1, b.samples),
              _gauge(metric, {**b.base, "session": "s-2"}, 2 if breach else 1, b.samples)]
    return Scenario("", "", series, b.labels(session="s-2"), lambda t: 2)


def _service_down(b: Builder, breach: bool) -> Scenario:
    settings = b.target.settings
    series = []
    for other in settings.services.values():
        if other.metrics is None:
            continue
        down = breach and other.name == b.target.service.name
        labels = {"namespace": settings.namespace, "job": other.metrics.job, "track": b.track, "pod": f"{other.name}-0"}
        series.append(_gauge("up", labels, 0 if down else 1, b.samples))
    return Scenario("", "", series, b.labels(), lambda t: 0)


def _memory(b: Builder, breach: bool) -> Scenario:
    limit = memory_bytes(b.target.service.resources["limits"]["memory"])
    share = min(1.0, (b.threshold + 10) / 100) if breach else b.threshold / 200
    used = math.floor(limit * share)
    pod = b.base["pod"]
    labels = {"namespace": b.target.namespace, "pod": pod, "container": b.target.service.name, "image": "app:1"}
    series = [_gauge("container_memory_working_set_bytes", labels, used, b.samples)]
    return Scenario("", "", series, {"namespace": b.target.namespace, "pod": pod, "container": b.target.service.name},
                    lambda t: used / limit)


def _canary_errors(b: Builder, breach: bool) -> Scenario:
    on_share = 0.1 if breach else 0.01
    series = b.requests(0.01, track=OFF) + b.requests(on_share, track=ON)
    value = b.error_ratio(on_share)
    return Scenario("", "", series, b.labels(), lambda t: value, lag=b.interval)


def _canary_latency(b: Builder, breach: bool) -> Scenario:
    b = Builder(b.target, 0.2, b.interval, b.samples, b.track)  # buckets around 200ms
    series = b.requests(0, track=OFF) + b.requests(0, track=ON)
    series += b.histogram("latency", 0.1, 0.2, track=OFF)
    low, high = (0.4, 0.8) if breach else (0.1, 0.2)
    series += b.histogram("latency", low, high, track=ON)
    value = low + (high - low) * 0.95
    return Scenario("", "", series, b.labels(), lambda t: value, lag=b.interval)


BUILDERS: dict[str, Callable[[Builder, bool], Scenario]] = {
    "ServerErrorRate": _ratio_scenario("http"),
    "ErrorRateCritical": _ratio_scenario("http"),
    "ErrorRateWarning": _ratio_scenario("http"),
    "LatencyCritical": _latency("latency"),
    "LatencyHigh": _latency("latency"),
    "ResponseTimeoutRate": _ratio_scenario("timeouts"),
    "ServiceDown": _service_down,
    "MemoryHigh": _memory,
    "SessionCreationFailureRate": _ratio_scenario("sessionCreationErrors/sessionCreations"),
    "SessionCreationLatencyHigh": _latency("sessionCreationDuration"),
    "SseConnectionFailureRate": _ratio_scenario("sseConnectionErrors/sseConnections"),
    "SseConnectionSuccessLow": _sse_success,
    "SseStreamDurationHigh": _latency("sseStreamDuration"),
    "CsrfValidationErrors": _rate("csrfValidationErrors"),
    "ActiveSessionsHigh": _gauge_scenario("activeSessions", "service"),
    "SessionIsolationBreach": _session_isolation,
    "FirstTokenLatencyHigh": _latency("firstTokenLatency"),
    "RateLimitViolations": _rate_limit,
    "TokenValidationFailures": _rate("tokenValidationFailures"),
    "ActiveTokenCacheHigh": _gauge_scenario("activeTokenCache", "pod"),
    "CanaryErrorRatioWorse": _canary_errors,
    "CanaryLatencyWorse": _canary_latency,
}


def samples_for(config: MonitoringConfig, for_seconds: int, interval: int) -> int:
    return (for_seconds + 20 * config.evaluation_seconds) // interval + 1


def service_scenario(settings: StackSettings, config: MonitoringConfig, service: Service, alert: str, breach: bool) -> Scenario:
    interval = seconds(config.scrape_interval)
    builder = Builder(
        target=Target(settings, config, service),
        threshold=config.alert(alert).threshold,
        interval=interval,
        samples=samples_for(config, config.alert(alert).for_seconds, interval),
        track=tracks_of(settings, service)[0],
    )
    s = BUILDERS[alert](builder, breach)
    return Scenario(alert, service.name, s.series, s.labels, s.value, s.lag)


def slo_scenario(settings: StackSettings, config: MonitoringConfig, slo: Slo, burn: float, horizon: int) -> Scenario:
    """Errors at `burn` times the budget from t=0, on the SLO's own counters."""
    contract = settings.services[slo.service].metrics
    interval = seconds(config.scrape_interval)
    samples = horizon // interval + 1
    track = tracks_of(settings, settings.services[slo.service])[0]
    base = {"namespace": settings.namespace, "job": contract.job, "track": track, "pod": f"{slo.service}-0"}
    errors = round(TOTAL * min(1.0, burn * slo.budget))
    total_metric, error_metric = contract.signals[slo.total].metric, contract.signals[slo.errors].metric
    if slo.error_codes:
        code = next(c for c in CODES if re.fullmatch(slo.error_codes, c))
        series = [_counter(total_metric, {**base, "code": "200"}, TOTAL - errors, samples),
                  _counter(error_metric, {**base, "code": code}, errors, samples)]
    else:
        series = [_counter(total_metric, base, TOTAL, samples), _counter(error_metric, base, errors, samples)]
    value = errors / TOTAL
    return Scenario("", slo.name, series, dict(slo_labels(settings, slo)), lambda t: value, lag=interval)


def scenarios(settings: StackSettings, config: MonitoringConfig, breach: bool = True) -> list[Scenario]:
    """One scenario per alert rule of the stack's service groups."""
    from rollout.build.monitoring.alerts import applies

    out = []
    for service in settings.services.values():
        for name in BUILDERS:
            if config.alert(name).enabled and applies(CATALOG[name], settings, service):
                out.append(service_scenario(settings, config, service, name, breach))
    return out
