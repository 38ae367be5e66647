"""The one PromQL builder: alerts, SLO rules, dashboards and gates all ask it for their queries.

Every scraped series carries `namespace`, `job` (the contract's job), `track` and `pod`; HTTP
counters carry `code`; histograms `le`. A missing series means one thing everywhere: when errors
are the `total` counter filtered by status code, no error series is zero errors; a separate error
counter must be exported (client libraries export counters at 0), so its absence is missing data,
never a healthy zero.

Cloud Run services are read from Cloud Monitoring's own metrics (through Managed Prometheus's
PromQL API); their scope maps the convention onto those series (CloudRunScope), so every query
below is written once for both.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from rollout.core.ladder import OFF, ON, STABLE
from rollout.spec.model import Form, Indicator, Service

SERVICE_LABELS = ("namespace", "job")
TRACK_LABEL = "track"
HTTP_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")


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

    def grouping(self, labels: tuple[str, ...]) -> tuple[str, ...]:
        """The labels to aggregate by for the convention's `labels` (the same here)."""
        return labels

    def labelled(self, expr: str, labels: tuple[str, ...]) -> str:
        """An expression grouped by grouping(labels), carrying `labels` (nothing to add here)."""
        return expr

    def quantile_in_seconds(self, expr: str) -> str:
        return expr  # the contract's histograms are in seconds

    @property
    def alert_labels(self) -> tuple[str, ...]:
        """What an indicator alert is computed per: the service (both tracks together)."""
        return SERVICE_LABELS


@dataclass(frozen=True)
class CloudRunScope:
    """A Cloud Run service's series: Cloud Monitoring's `run.googleapis.com` metrics read through PromQL.

    Each track is a Cloud Run service of its own (`<base>-off`, `<base>-on`), so the track is the
    `service_name` label; `job` and `namespace` do not exist (grouping by them is one group per
    service, as the selector already picks one service); the status code is `response_code`, with
    its class in `response_code_class`; latencies are in milliseconds.
    """

    project: str
    location: str
    base: str
    tracks: tuple[str, ...]
    track: str | None = None
    LABELS = {TRACK_LABEL: "service_name", "code": "response_code"}
    LATENCY_UNITS_PER_SECOND = 1000

    @property
    def job(self) -> str:
        return self.base

    def service_name(self, track: str) -> str:
        return cloud_run_service_name(self.base, self.tracks, track)

    def selector(self, metric: str, **matchers: str) -> str:
        names = [self.service_name(t) for t in ((self.track,) if self.track is not None else self.tracks)]
        service = names[0] if len(names) == 1 else "=~" + "|".join(names)  # DNS labels: no regex specials
        translated = {}
        for label, value in matchers.items():
            if label == "code":
                label, value = _code_matcher(value)
            translated[self.LABELS.get(label, label)] = value
        return selector(metric, monitored_resource="cloud_run_revision", project_id=self.project,
                        location=self.location, service_name=service, **translated)

    def on_track(self, track: str) -> "CloudRunScope":
        return CloudRunScope(self.project, self.location, self.base, self.tracks, track)

    def grouping(self, labels: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.LABELS.get(label, label) for label in labels if label not in SERVICE_LABELS))

    def labelled(self, expr: str, labels: tuple[str, ...]) -> str:
        if TRACK_LABEL not in labels or len(self.tracks) < 2:
            return expr
        return f'label_replace({expr}, "{TRACK_LABEL}", "$1", "service_name", "{self.base}-(.+)")'

    def quantile_in_seconds(self, expr: str) -> str:
        return f"{expr} / {self.LATENCY_UNITS_PER_SECOND}"

    @property
    def alert_labels(self) -> tuple[str, ...]:
        """Per track: each track is a Cloud Run service of its own, judged on its own."""
        return (*SERVICE_LABELS, TRACK_LABEL)


def cloud_run_service_name(base: str, tracks: tuple[str, ...], track: str) -> str:
    """A service with flags runs each track as `<base>-<track>`; one without flags is `<base>`."""
    return base if len(tracks) < 2 else f"{base}-{track}"


def _code_matcher(value: str) -> tuple[str, str]:
    """A status-code matcher on Cloud Run: by class when the regex is whole classes (5.. is 5xx)."""
    op, pattern = (value[:2], value[2:]) if value.startswith(("=~", "!=", "!~")) else ("=", value)
    if op not in ("=~", "!~"):
        return "code", value
    codes = {c for c in range(100, 600) if re.fullmatch(pattern, str(c))}
    classes = [cls for cls in HTTP_CLASSES if {c for c in codes if str(c)[0] == cls[0]}]
    whole = {c for cls in classes for c in range(int(cls[0]) * 100, int(cls[0]) * 100 + 100)}
    if codes != whole:
        return "code", value
    if len(classes) == 1:
        return "response_code_class", classes[0] if op == "=~" else "!=" + classes[0]
    return "response_code_class", op + "|".join(classes)


AnyScope = Scope | CloudRunScope


def job_of(service: Service) -> str:
    """The `job` label of a service's series: its contract's job, else its name."""
    return service.metrics.job if service.metrics else service.name


def service_scope(service: Service, namespace: str, track: str | None = None) -> AnyScope:
    if service.cloud_run is not None:
        tracks = (OFF, ON) if service.has_flags else (STABLE,)
        run = service.cloud_run
        return CloudRunScope(run.project, run.region, run.name, tracks, track)
    return Scope(namespace, job_of(service), track)


def by(labels: tuple[str, ...]) -> str:
    return ", ".join(labels)


def sum_rate(series: str, window: str, labels: tuple[str, ...] = SERVICE_LABELS) -> str:
    grouping = f" by ({by(labels)})" if labels else ""
    return f"sum{grouping} (rate({series}[{window}]))"


def rate_by(scope: AnyScope, metric: str, window: str, labels: tuple[str, ...], **matchers: str) -> str:
    """A counter's rate summed by `labels` of the convention (track, code), on any scope."""
    return scope.labelled(sum_rate(scope.selector(metric, **matchers), window, scope.grouping(labels)), labels)


def sum_increase(series: str, window: str, labels: tuple[str, ...]) -> str:
    return f"sum by ({by(labels)}) (increase({series}[{window}]))"


def ratio(errors: str, total: str, window: str, labels: tuple[str, ...], errors_may_be_absent: bool) -> str:
    """Errors over total, as a fraction."""
    total_rate = sum_rate(total, window, labels)
    error_rate = sum_rate(errors, window, labels)
    if errors_may_be_absent:
        return f"(({error_rate} or 0 * {total_rate}) / {total_rate})"
    return f"({error_rate} / {total_rate})"


def histogram_quantile(q: float, histogram: str, scope: AnyScope, window: str, labels: tuple[str, ...]) -> str:
    buckets = scope.selector(f"{histogram}_bucket")
    grouping = scope.grouping(labels) + ("le",)
    return scope.quantile_in_seconds(f"histogram_quantile({number(q)}, sum by ({by(grouping)}) (rate({buckets}[{window}])))")


def error_series(indicator: Indicator, service: Service, scope: AnyScope) -> tuple[str, str, bool]:
    """(errors selector, total selector, whether a missing error series means zero errors)."""
    signals = service.metrics.signals  # type: ignore[union-attr]
    total = scope.selector(signals[indicator.total].metric)  # type: ignore[index]
    role = indicator.errors_role(service)
    if role is not None:
        return scope.selector(signals[role].metric), total, False
    codes = service.metrics.error_codes  # type: ignore[union-attr]
    return scope.selector(signals[indicator.total].metric, code="=~" + codes), total, True  # type: ignore[index]


def indicator_expr(indicator: Indicator, service: Service, scope: AnyScope, window: str,
                   labels: tuple[str, ...] = SERVICE_LABELS) -> str:
    """The indicator's value per group of `labels`: a fraction for ratio forms (success: 1 - errors/total),
    seconds for quantiles, per second for rates, the gauge's sum or max."""
    return scope.labelled(_indicator_expr(indicator, service, scope, window, scope.grouping(labels)), labels)


def _indicator_expr(indicator: Indicator, service: Service, scope: AnyScope, window: str,
                    labels: tuple[str, ...]) -> str:
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


def requests_increase(service: Service, scope: AnyScope, window: str, labels: tuple[str, ...]) -> str | None:
    """Requests per group over the window: the gate's evidence that a track served enough traffic."""
    if not service.has("requests", "counter"):
        return None
    series = scope.selector(service.metrics.signals["requests"].metric)  # type: ignore[union-attr]
    return scope.labelled(sum_increase(series, window, scope.grouping(labels)), labels)


def fill_roles(template: str, service: Service, scope: AnyScope, window: str) -> str:
    """A stack's own expression with each {role} replaced by the service's selector for it."""
    signals = service.metrics.signals  # type: ignore[union-attr]

    def replace(match: re.Match[str]) -> str:
        word = match.group(1)
        if word == "window":
            return window
        return scope.selector(signals[word].metric)

    return re.sub(r"\{([A-Za-z][A-Za-z0-9]*)\}", replace, template)
