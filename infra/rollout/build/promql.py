"""The one PromQL builder: alerts, SLO rules, dashboards and gates all ask it for their queries.

Every scraped series carries `namespace`, `job` (the contract's job), `track` and `pod`; HTTP
counters carry `code`; histograms `le`. A missing series means one thing everywhere: when errors
are the `total` counter filtered by status code, no error series is zero errors; a separate error
counter must be exported (client libraries export counters at 0), so its absence is missing data,
never a healthy zero.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from rollout.spec.model import Form, Indicator, Service

SERVICE_LABELS = ("namespace", "job")
TRACK_LABEL = "track"


def escape(value: str) -> str:
    """A PromQL double-quoted string body."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def number(value: float) -> str:
    """A threshold as PromQL prints it: 0.05, 1, 10000."""
    return f"{value:.10g}"


def selector(metric: str, **matchers: str) -> str:
    """`metric{a="x", b=~"y"}`: a value starting with `=~`, `!=` or `!~` keeps its operator."""
    parts = []
    for label, value in matchers.items():
        op, text = (value[:2], value[2:]) if value.startswith(("=~", "!=", "!~")) else ("=", value)
        parts.append(f'{label}{op}"{escape(text)}"')
    return f"{metric}{{{', '.join(parts)}}}"


@dataclass(frozen=True)
class Scope:
    """Which series a query reads: one service of one namespace, optionally one track."""

    namespace: str
    job: str
    track: str | None = None

    def selector(self, metric: str, **matchers: str) -> str:
        """The series of this scope; more matchers as in `selector`."""
        track = {TRACK_LABEL: self.track} if self.track is not None else {}
        return selector(metric, namespace=self.namespace, job=self.job, **track, **matchers)

    def on_track(self, track: str) -> "Scope":
        return Scope(self.namespace, self.job, track)


def job_of(service: Service) -> str:
    """The `job` label of a service's series: its contract's job, else its name."""
    return service.metrics.job if service.metrics else service.name


def service_scope(service: Service, namespace: str, track: str | None = None) -> Scope:
    return Scope(namespace, job_of(service), track)


def by(labels: tuple[str, ...]) -> str:
    return ", ".join(labels)


def sum_rate(series: str, window: str, labels: tuple[str, ...] = SERVICE_LABELS) -> str:
    grouping = f" by ({by(labels)})" if labels else ""
    return f"sum{grouping} (rate({series}[{window}]))"


def sum_increase(series: str, window: str, labels: tuple[str, ...]) -> str:
    return f"sum by ({by(labels)}) (increase({series}[{window}]))"


def ratio(errors: str, total: str, window: str, labels: tuple[str, ...], errors_may_be_absent: bool) -> str:
    """Errors over total, as a fraction."""
    total_rate = sum_rate(total, window, labels)
    error_rate = sum_rate(errors, window, labels)
    if errors_may_be_absent:
        return f"(({error_rate} or 0 * {total_rate}) / {total_rate})"
    return f"({error_rate} / {total_rate})"


def histogram_quantile(q: float, histogram: str, scope: Scope, window: str, labels: tuple[str, ...]) -> str:
    buckets = scope.selector(f"{histogram}_bucket")
    return f"histogram_quantile({number(q)}, sum by ({by(labels + ('le',))}) (rate({buckets}[{window}])))"


def error_series(indicator: Indicator, service: Service, scope: Scope) -> tuple[str, str, bool]:
    """(errors selector, total selector, whether a missing error series means zero errors)."""
    signals = service.metrics.signals  # type: ignore[union-attr]
    total = scope.selector(signals[indicator.total].metric)  # type: ignore[index]
    role = indicator.errors_role(service)
    if role is not None:
        return scope.selector(signals[role].metric), total, False
    codes = service.metrics.error_codes  # type: ignore[union-attr]
    return scope.selector(signals[indicator.total].metric, code="=~" + codes), total, True  # type: ignore[index]


def indicator_expr(indicator: Indicator, service: Service, scope: Scope, window: str,
                   labels: tuple[str, ...] = SERVICE_LABELS) -> str:
    """The indicator's value per group of `labels`: a fraction for ratio forms (success: 1 - errors/total),
    seconds for quantiles, per second for rates, the gauge's sum or max."""
    signals = service.metrics.signals  # type: ignore[union-attr]
    if indicator.form in (Form.ERROR_RATIO, Form.SUCCESS):
        errors, total, may_be_absent = error_series(indicator, service, scope)
        fraction = ratio(errors, total, window, labels, may_be_absent)
        return fraction if indicator.form is Form.ERROR_RATIO else f"1 - {fraction}"
    metric = signals[indicator.role].metric  # type: ignore[index]
    if indicator.form is Form.QUANTILE:
        return histogram_quantile(indicator.quantile, metric, scope, window, labels)
    if indicator.form is Form.RATE:
        return sum_rate(scope.selector(metric), window, labels)
    return f"{indicator.aggregate} by ({by(labels)}) ({scope.selector(metric)})"


def requests_increase(service: Service, scope: Scope, window: str, labels: tuple[str, ...]) -> str | None:
    """Requests per group over the window: the gate's evidence that a track served enough traffic."""
    if not service.has("requests", "counter"):
        return None
    return sum_increase(scope.selector(service.metrics.signals["requests"].metric), window, labels)  # type: ignore[union-attr]


def fill_roles(template: str, service: Service, scope: Scope, window: str) -> str:
    """A stack's own expression with each {role} replaced by the service's selector for it."""
    signals = service.metrics.signals  # type: ignore[union-attr]

    def replace(match: re.Match[str]) -> str:
        word = match.group(1)
        if word == "window":
            return window
        return scope.selector(signals[word].metric)

    return re.sub(r"\{([A-Za-z][A-Za-z0-9]*)\}", replace, template)
