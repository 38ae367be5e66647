"""The checklists' numbers: every default threshold, window and margin, in one table.

Alerts, gates, rollback triggers and dashboards read these through the parsed settings; a stack
file overrides any of them. Nothing application-specific lives here: only the generic roles
(requests, errors, latency, saturation) and what the deployment checklists say about them.
"""
from __future__ import annotations

from dataclasses import dataclass

# -- generic metric roles -------------------------------------------------------------------
GENERIC_ROLES = {
    "requests": "counter",  # every HTTP request, labelled with its status `code`
    "errors": "counter",  # failed requests, when the service counts them apart from `requests`
    "latency": "histogram",  # request duration in seconds
    "saturation": "gauge",  # utilisation of the scarcest resource, 0 to 1
}
ERROR_CODES = "5.."  # status codes that count as errors when `errors` is not declared

# -- built-in indicators (what gates, alerts and dashboards measure) ------------------------
ERROR_RATE, LATENCY_P95, SATURATION = "errorRate", "latencyP95", "saturation"
QUANTILE = 0.95

# -- gates (`rollout gate`, `promote --gate`, `watch`) --------------------------------------
GATE_WINDOW = "10m"  # rates and quantiles over this much data
TRIGGER_WINDOW = "1m"  # rollback triggers look at a shorter window so they react fast
MIN_REQUESTS = 100  # per track and window; fewer is "not enough data", never GREEN
MIN_SOAK = "15m"  # time at a stage before it can be GREEN
YELLOW_MARGIN = 5.0  # percent worse than the baseline
RED_MARGIN = 10.0
ON_RED = "previous"


@dataclass(frozen=True)
class Limit:
    indicator: str
    bound: str  # "max": the value must stay at or below; "min": at or above
    limit: float  # percent for ratios, seconds for quantiles
    hold: str = "0s"  # how long a rollback trigger must hold


GATE_CHECKS = (Limit(ERROR_RATE, "max", 1.0), Limit(LATENCY_P95, "max", 0.5))
ROLLBACK_TRIGGERS = (Limit(ERROR_RATE, "max", 1.0, "2m"), Limit(LATENCY_P95, "max", 5.0))

# -- monitoring -----------------------------------------------------------------------------
EVALUATION_INTERVAL = "30s"
SCRAPE_INTERVAL = "30s"
RATE_WINDOW = "5m"  # at least four scrape intervals
CANARY_MIN_REQUEST_RATE = 0.1  # req/s per track before canary alerts compare tracks
CANARY_MIN_ERROR_RATIO = 0.1  # percent: below this the canary is never "worse"
RUNBOOK_URL = "https://github.com/acme/rollout/blob/main/docs/runbook.md"
SLO_WINDOW = "30d"

# SLO burn rates (the SRE workbook's multiwindow, multi-burn-rate alerts): factor, long, short.
PAGE_BURNS = ((14.4, "1h", "5m"), (6.0, "6h", "30m"))
TICKET_BURNS = ((3.0, "1d", "2h"), (1.0, "3d", "6h"))


@dataclass(frozen=True)
class BuiltinAlert:
    """A row of the built-in alert table; `kind` says how its expression is built."""

    name: str
    kind: str  # indicator, service-down, memory, canary-errors, canary-latency, slo-fast, slo-slow
    severity: str
    threshold: float | None
    for_: str
    summary: str
    description: str  # a Go template; {threshold} and {for} are filled in from the settings
    indicator: str | None = None
    threshold_from: str = ""  # where the threshold comes from when it is not alerts.<Name>.threshold


BUILTIN_ALERTS = (
    BuiltinAlert(
        "ServerErrorRate", "indicator", "critical", 1, "2m",
        "More than {threshold} of requests fail with a 5xx: the automatic-rollback trigger.",
        "{{ $value | humanizePercentage }} of {{ $labels.job }} requests in {{ $labels.namespace }} "
        "returned 5xx for {for} (threshold {threshold}).", ERROR_RATE),
    BuiltinAlert(
        "ErrorRateCritical", "indicator", "critical", 5, "5m",
        "The error rate is above {threshold}.",
        "{{ $labels.job }} in {{ $labels.namespace }} answers {{ $value | humanizePercentage }} of "
        "requests with an error (threshold {threshold} for {for}).", ERROR_RATE),
    BuiltinAlert(
        "ErrorRateWarning", "indicator", "warning", 2, "5m",
        "The error rate is above {threshold}.",
        "{{ $labels.job }} in {{ $labels.namespace }} answers {{ $value | humanizePercentage }} of "
        "requests with an error (threshold {threshold} for {for}).", ERROR_RATE),
    BuiltinAlert(
        "LatencyCritical", "indicator", "critical", 5, "5m",
        "p95 request latency is above {threshold}.",
        "p95 latency of {{ $labels.job }} in {{ $labels.namespace }} is {{ $value | humanizeDuration }} "
        "(threshold {threshold} for {for}).", LATENCY_P95),
    BuiltinAlert(
        "LatencyHigh", "indicator", "warning", 1, "10m",
        "p95 request latency is above {threshold}.",
        "p95 latency of {{ $labels.job }} in {{ $labels.namespace }} is {{ $value | humanizeDuration }} "
        "(threshold {threshold} for {for}).", LATENCY_P95),
    BuiltinAlert(
        "SaturationHigh", "indicator", "warning", 0.9, "15m",
        "Saturation is above {threshold}.",
        "{{ $labels.job }} in {{ $labels.namespace }} runs at {{ $value | humanizePercentage }} of its "
        "capacity (threshold {threshold} for {for}).", SATURATION),
    BuiltinAlert(
        "ServiceDown", "service-down", "critical", None, "2m",
        "Every instance of a service is down.",
        "No {{ $labels.job }} target in {{ $labels.namespace }} has been up for {for}.",
        threshold_from="nothing (it fires when no target is up)"),
    BuiltinAlert(
        "MemoryHigh", "memory", "warning", 80, "5m",
        "A container uses more than {threshold} of its memory limit.",
        "{{ $labels.pod }} in {{ $labels.namespace }} uses {{ $value | humanizePercentage }} of its "
        "memory limit (threshold {threshold} for {for})."),
    BuiltinAlert(
        "CanaryErrorRatioWorse", "canary-errors", "critical", None, "5m",
        "The on track's error ratio is worse than the off track's by more than the RED margin.",
        "The on track of {{ $labels.job }} in {{ $labels.namespace }} fails "
        "{{ $value | humanizePercentage }} of requests, over {threshold} worse than the off track "
        "for {for}.", ERROR_RATE, threshold_from="rollout:gates.margins.red"),
    BuiltinAlert(
        "CanaryLatencyWorse", "canary-latency", "critical", None, "5m",
        "The on track's p95 latency is worse than the off track's by more than the RED margin.",
        "The on track of {{ $labels.job }} in {{ $labels.namespace }} has p95 latency "
        "{{ $value | humanizeDuration }}, over {threshold} worse than the off track for {for}.",
        LATENCY_P95, threshold_from="rollout:gates.margins.red"),
    BuiltinAlert(
        "SloBudgetBurnFast", "slo-fast", "critical", None, "2m",
        "An SLO burns its error budget fast enough to page (14.4x over 1h or 6x over 6h).",
        "SLO {{ $labels.slo }} ({{ $labels.job }}, {{ $labels.namespace }}): error ratio "
        "{{ $value | humanizePercentage }} burns the budget at least {threshold} faster than allowed.",
        threshold_from="the burn factors 14.4x and 6x"),
    BuiltinAlert(
        "SloBudgetBurnSlow", "slo-slow", "warning", None, "15m",
        "An SLO burns its error budget fast enough for a ticket (3x over 1d or 1x over 3d).",
        "SLO {{ $labels.slo }} ({{ $labels.job }}, {{ $labels.namespace }}): error ratio "
        "{{ $value | humanizePercentage }} burns the budget at least {threshold} faster than allowed.",
        threshold_from="the burn factors 3x and 1x"),
)
