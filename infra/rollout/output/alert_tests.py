"""promtool test cases for every alert, from the values the stack declares as healthy and breaching.

For each alert on each service: a breaching load that must fire exactly when its `for` window has
passed (quiet one evaluation before), and a healthy load that must never fire. Built-in alerts take
their loads from their thresholds; the application's own alerts from their `test:` block. SLO burn
alerts: a fast burn that pages and a slower one that only opens a ticket.

The series are plain: counters grow linearly from 0, gauges hold a value, histograms put every
observation in one bucket placed so the quantile is exactly the declared value.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from rollout.build.monitoring.alerts import applies, service_group_name
from rollout.build.monitoring.slo import PAGE, TICKET, slo_group_name, slo_labels
from rollout.build.promql import job_of
from rollout.core.ladder import OFF, ON, tracks_of
from rollout.spec.duration import Duration
from rollout.spec.model import Alert, AlertKind, Form, Indicator, Service, Slo, StackSettings
from rollout.spec.quantity import whole_bytes

TOTAL = 1000  # events per scrape interval in every ratio scenario
HEALTHY_EVALS = 4  # a healthy load is also checked this many evaluations after the breach would fire


@dataclass(frozen=True)
class Scenario:
    """Input series for promtool about one alert on one subject (a service or an SLO)."""

    alert: Alert
    subject: str
    group: str  # the rule group holding the alert's rule for this subject
    breach: bool
    series: tuple[tuple[str, str], ...]  # (series selector, promtool values)
    horizon: int  # seconds of data the scenario holds

    @property
    def key(self) -> tuple[str, str]:
        return (self.alert.name, self.subject)


@dataclass
class Series:
    """Builds promtool input series for one service on one track."""

    labels: dict[str, str]
    interval: int
    samples: int
    out: list[tuple[str, str]] = field(default_factory=list)

    def _name(self, metric: str, extra: Mapping[str, str]) -> str:
        inner = ", ".join(f'{k}="{v}"' for k, v in {**self.labels, **extra}.items())
        return f"{metric}{{{inner}}}"

    def counter(self, metric: str, per_second: float, **extra: str) -> None:
        self.out.append((self._name(metric, extra), f"0+{per_second * self.interval:g}x{self.samples}"))

    def gauge(self, metric: str, value: float, **extra: str) -> None:
        self.out.append((self._name(metric, extra), f"{value:g}x{self.samples}"))

    def histogram(self, metric: str, value: float, q: float, per_second: float = 10, **extra: str) -> None:
        """Every observation in (value/2, upper]: interpolation puts quantile q exactly at `value`."""
        low = value / 2
        high = low + (value - low) / q
        for le in (f"{low:.6g}", f"{high:.6g}"):
            count = 0 if le == f"{low:.6g}" else per_second
            self.counter(f"{metric}_bucket", count, **extra, le=le)
        self.counter(f"{metric}_bucket", per_second, **extra, le="+Inf")
        self.counter(f"{metric}_count", per_second, **extra)


def _codes(service: Service) -> tuple[str, str]:
    """(an error code, a success code) for this service's errorCodes."""
    pattern = service.metrics.error_codes  # type: ignore[union-attr]
    codes = [str(c) for c in (*range(500, 600), *range(100, 500))]
    error = next(c for c in codes if re.fullmatch(pattern, c))
    ok = next(c for c in ("200", *codes) if not re.fullmatch(pattern, c))
    return error, ok


def indicator_load(series: Series, service: Service, indicator: Indicator, value: float) -> None:
    """Series under which the indicator reads `value` (in its unit) on this service."""
    signals = service.metrics.signals  # type: ignore[union-attr]
    rate = TOTAL / series.interval
    if indicator.form in (Form.ERROR_RATIO, Form.SUCCESS):
        share = value / 100 if indicator.form is Form.ERROR_RATIO else 1 - value / 100
        errors_role = indicator.errors_role(service)
        total_metric = signals[indicator.total].metric  # type: ignore[index]
        if errors_role is not None:
            series.counter(total_metric, rate)
            series.counter(signals[errors_role].metric, rate * share)
        else:
            error, ok = _codes(service)
            series.counter(total_metric, rate * (1 - share), code=ok)
            series.counter(total_metric, rate * share, code=error)
    elif indicator.form is Form.QUANTILE:
        series.histogram(signals[indicator.role].metric, value, indicator.quantile)  # type: ignore[index]
    elif indicator.form is Form.RATE:
        series.counter(signals[indicator.role].metric, value)  # type: ignore[index]
    else:
        series.gauge(signals[indicator.role].metric, value)  # type: ignore[index]


def role_load(series: Series, service: Service, values: Mapping[str, float]) -> None:
    """An expression alert's inputs: per role, a counter's rate, a gauge's value or a histogram's observations."""
    for role, value in values.items():
        signal = service.metrics.signals[role]  # type: ignore[union-attr]
        if signal.kind == "counter":
            series.counter(signal.metric, value)
        elif signal.kind == "gauge":
            series.gauge(signal.metric, value)
        else:
            series.histogram(signal.metric, value, 0.95)


def builtin_values(alert: Alert) -> tuple[float, float]:
    """(healthy, breaching) for a built-in indicator alert: half and twice its threshold."""
    threshold = alert.threshold or 0
    breaching = threshold * 2 if threshold else 1
    if alert.indicator is not None and alert.indicator.form in (Form.ERROR_RATIO, Form.SUCCESS):
        breaching = min(100.0, breaching)
    return threshold / 2, breaching


def horizon_for(settings: StackSettings, alert: Alert) -> int:
    monitoring = settings.monitoring
    return int(alert.for_.seconds + monitoring.rate_window.seconds + 20 * monitoring.evaluation_interval.seconds)


def _series_for(settings: StackSettings, service: Service, horizon: int, track: str | None = None) -> Series:
    interval = int(settings.monitoring.scrape_interval.seconds)
    track = track or tracks_of(settings, service)[0]
    labels = {"namespace": settings.namespace, "job": job_of(service), "track": track, "pod": f"{service.name}-{track}-0"}
    return Series(labels, interval, horizon // interval + 1)


def service_scenario(settings: StackSettings, service: Service, alert: Alert, breach: bool) -> Scenario:
    horizon = horizon_for(settings, alert)
    series = _series_for(settings, service, horizon)
    if alert.kind is AlertKind.INDICATOR:
        if alert.test is not None:
            value = alert.test.breaching if breach else alert.test.healthy
        else:
            value = builtin_values(alert)[1 if breach else 0]
        indicator_load(series, service, alert.indicator, float(value))  # type: ignore[arg-type]
    elif alert.kind is AlertKind.EXPR:
        role_load(series, service, alert.test.breaching if breach else alert.test.healthy)  # type: ignore[union-attr,arg-type]
    elif alert.kind is AlertKind.SERVICE_DOWN:
        for other in settings.kubernetes_services:  # every other service up, so only this one can be down
            if other.metrics is not None:
                target = series if other.name == service.name else _series_for(settings, other, horizon)
                target.gauge("up", 0 if breach and other is service else 1)
                if target is not series:
                    series.out.extend(target.out)
    elif alert.kind is AlertKind.MEMORY:
        limit = whole_bytes(service.resources["limits"]["memory"])
        share = min(1.0, ((alert.threshold or 0) + 10) / 100) if breach else (alert.threshold or 0) / 200
        cadvisor = Series({"namespace": settings.namespace, "pod": series.labels["pod"], "container": service.name,
                           "image": "app:1"}, series.interval, series.samples)
        cadvisor.gauge("container_memory_working_set_bytes", int(limit * share))
        series = cadvisor
    elif alert.kind in (AlertKind.CANARY_ERRORS, AlertKind.CANARY_LATENCY):
        for track, bad in ((OFF, False), (ON, breach)):
            on_track = _series_for(settings, service, horizon, track)
            if alert.kind is AlertKind.CANARY_ERRORS:
                indicator_load(on_track, service, alert.indicator, 10.0 if bad else 1.0)  # type: ignore[arg-type]
            else:
                indicator_load(on_track, service, settings.indicators["errorRate"], 0.0)
                indicator_load(on_track, service, alert.indicator, 0.6 if bad else 0.2)  # type: ignore[arg-type]
            series.out.extend(on_track.out)
    return Scenario(alert, service.name, service_group_name(settings, service.name), breach, tuple(series.out), horizon)


def slo_scenario(settings: StackSettings, slo: Slo, alert: Alert, burn: float, horizon: int) -> Scenario:
    """Errors at `burn` times the budget from t=0, on the SLO's own counters."""
    service = settings.services[slo.service]
    series = _series_for(settings, service, horizon)
    error_share = min(1.0, burn * slo.budget) * 100
    value = error_share if slo.indicator.form is Form.ERROR_RATIO else 100 - error_share
    indicator_load(series, service, slo.indicator, value)
    return Scenario(alert, slo.name, slo_group_name(settings, slo), True, tuple(series.out), horizon)


def scenarios(settings: StackSettings) -> list[Scenario]:
    """A breaching and a healthy scenario for every alert rule of every service group."""
    out = []
    for service in settings.kubernetes_services:
        for alert in settings.monitoring.alerts.values():
            if applies(alert, settings, service):
                out += [service_scenario(settings, service, alert, True), service_scenario(settings, service, alert, False)]
    return out


def slo_scenarios(settings: StackSettings) -> list[tuple[Scenario, Scenario, str]]:
    """Per SLO: (fast burn for the paging alert, slow burn for the ticket alert, the paging alert's name)."""
    monitoring = settings.monitoring
    by_kind = {a.kind: a for a in monitoring.enabled_alerts}
    page, ticket = by_kind.get(AlertKind.SLO_FAST), by_kind.get(AlertKind.SLO_SLOW)
    if page is None or ticket is None:
        return []
    horizon = int(ticket.for_.seconds + page.for_.seconds + 10 * monitoring.evaluation_interval.seconds)
    fast_factor = 2 * PAGE[0].factor  # well past 14.4x
    slow_factor = (TICKET[0].factor + PAGE[1].factor) / 2  # over 3x, under 6x: never pages
    return [(slo_scenario(settings, slo, page, fast_factor, horizon), slo_scenario(settings, slo, ticket, slow_factor, horizon),
             monitoring.alert_name(page.name)) for slo in monitoring.slos]


def test_group(name: str, interval: int, scenario: Scenario, checks: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "name": name,
        "interval": str(Duration.of_seconds(interval)),
        "input_series": [{"series": s, "values": v} for s, v in scenario.series],
        "alert_rule_test": checks,
    }


def check(alert: str, at: int, firing: list[dict[str, Any]]) -> dict[str, Any]:
    return {"eval_time": str(Duration.of_seconds(at)), "alertname": alert, "exp_alerts": firing}


def slo_labels_for(settings: StackSettings, slo: Slo) -> dict[str, str]:
    return slo_labels(settings, slo)
