"""The defaults table: every alert the checklists name, its threshold, `for` window and words.

A stack overrides any row under `rollout:monitoring.alerts.<Name>` (threshold, for, severity,
enabled). Thresholds use the unit in the row: `percent` (5 means 5%), `seconds`,
`per_second`, `per_hour` or `count`.
"""
from __future__ import annotations

from dataclasses import dataclass

SEVERITIES = ("critical", "warning")

# Scopes: where an alert applies.
SERVICE = "service"  # each service whose contract has the roles
CANARY = "canary"  # each service with an on and an off track
SLO = "slo"  # each SLO declared in rollout:monitoring.slos


@dataclass(frozen=True)
class AlertDefault:
    name: str  # CamelCase, without the stack's prefix
    severity: str
    threshold: float
    for_: str
    unit: str
    roles: tuple[str, ...]
    scope: str
    summary: str
    description: str  # Go template; {threshold} and {for} are filled in from the stack's settings
    minimum: float = 0
    maximum: float | None = None


def _row(name, severity, threshold, for_, unit, roles, summary, description, scope=SERVICE, maximum=None):
    return AlertDefault(name, severity, threshold, for_, unit, tuple(roles), scope, summary, description,
                        maximum=maximum if maximum is not None else (100 if unit == "percent" else None))


_ROWS = [
    # -- HTTP, every service with a request counter ------------------------------------------
    _row("ServerErrorRate", "critical", 1, "2m", "percent", ["requests"],
         "More than {threshold} of requests fail with a 5xx: the automatic-rollback trigger.",
         "{{ $value | humanizePercentage }} of {{ $labels.job }} requests in {{ $labels.namespace }} "
         "returned 5xx for {for} (threshold {threshold})."),
    _row("ErrorRateCritical", "critical", 5, "5m", "percent", ["requests"],
         "The error rate is above {threshold}.",
         "{{ $labels.job }} in {{ $labels.namespace }} answers {{ $value | humanizePercentage }} of "
         "requests with an error (threshold {threshold} for {for})."),
    _row("ErrorRateWarning", "warning", 2, "5m", "percent", ["requests"],
         "The error rate is above {threshold}.",
         "{{ $labels.job }} in {{ $labels.namespace }} answers {{ $value | humanizePercentage }} of "
         "requests with an error (threshold {threshold} for {for})."),
    _row("LatencyCritical", "critical", 5, "5m", "seconds", ["latency"],
         "p95 request latency is above {threshold}.",
         "p95 latency of {{ $labels.job }} in {{ $labels.namespace }} is {{ $value | humanizeDuration }} "
         "(threshold {threshold} for {for})."),
    _row("LatencyHigh", "warning", 1, "10m", "seconds", ["latency"],
         "p95 request latency is above {threshold}.",
         "p95 latency of {{ $labels.job }} in {{ $labels.namespace }} is {{ $value | humanizeDuration }} "
         "(threshold {threshold} for {for})."),
    _row("ResponseTimeoutRate", "critical", 10, "5m", "percent", ["responseTimeouts", "requests"],
         "More than {threshold} of requests time out.",
         "{{ $value | humanizePercentage }} of {{ $labels.job }} requests in {{ $labels.namespace }} "
         "timed out for {for} (threshold {threshold})."),
    _row("ServiceDown", "critical", 0, "2m", "count", [],
         "Every instance of a service is down.",
         "No {{ $labels.job }} target in {{ $labels.namespace }} has been up for {for}."),
    _row("MemoryHigh", "warning", 80, "5m", "percent", [],
         "A container uses more than {threshold} of its memory limit.",
         "{{ $labels.pod }} in {{ $labels.namespace }} uses {{ $value | humanizePercentage }} of its "
         "memory limit (threshold {threshold} for {for})."),
    # -- sessions and SSE (backend) -----------------------------------------------------------
    _row("SessionCreationFailureRate", "critical", 5, "5m", "percent", ["sessionCreationErrors", "sessionCreations"],
         "More than {threshold} of session creations fail.",
         "{{ $value | humanizePercentage }} of session creations in {{ $labels.job }} "
         "({{ $labels.namespace }}) failed for {for} (threshold {threshold})."),
    _row("SessionCreationLatencyHigh", "warning", 1, "10m", "seconds", ["sessionCreationDuration"],
         "p95 session creation time is above {threshold}.",
         "p95 session creation in {{ $labels.job }} ({{ $labels.namespace }}) takes "
         "{{ $value | humanizeDuration }} (threshold {threshold} for {for})."),
    _row("SseConnectionFailureRate", "critical", 5, "5m", "percent", ["sseConnectionErrors", "sseConnections"],
         "More than {threshold} of SSE connections fail.",
         "{{ $value | humanizePercentage }} of SSE connections to {{ $labels.job }} "
         "({{ $labels.namespace }}) failed for {for} (threshold {threshold})."),
    _row("SseConnectionSuccessLow", "critical", 95, "2m", "percent", ["sseConnectionErrors", "sseConnections"],
         "SSE connection success is below {threshold}: a rollback trigger.",
         "Only {{ $value | humanizePercentage }} of SSE connections to {{ $labels.job }} "
         "({{ $labels.namespace }}) succeed (threshold {threshold} for {for})."),
    _row("SseStreamDurationHigh", "warning", 45, "10m", "seconds", ["sseStreamDuration"],
         "p95 SSE stream duration is above {threshold}.",
         "p95 SSE stream duration in {{ $labels.job }} ({{ $labels.namespace }}) is "
         "{{ $value | humanizeDuration }} (threshold {threshold} for {for})."),
    _row("CsrfValidationErrors", "critical", 1, "2m", "per_second", ["csrfValidationErrors"],
         "CSRF validation fails more than {threshold}.",
         "{{ $labels.job }} in {{ $labels.namespace }} rejects {{ $value | printf \"%.2f\" }} requests/s "
         "on CSRF validation (threshold {threshold} for {for})."),
    _row("ActiveSessionsHigh", "warning", 10000, "30m", "count", ["activeSessions"],
         "More than {threshold} sessions are active.",
         "{{ $labels.job }} in {{ $labels.namespace }} holds {{ $value | humanize }} active sessions "
         "(threshold {threshold} for {for})."),
    _row("SessionIsolationBreach", "critical", 1, "1m", "count", ["sessionUsers"],
         "A session was used by more than one user.",
         "Session {{ $labels.session }} in {{ $labels.job }} ({{ $labels.namespace }}) was seen with "
         "{{ $value }} distinct users."),
    # -- streaming and tokens -----------------------------------------------------------------
    _row("FirstTokenLatencyHigh", "warning", 0.15, "5m", "seconds", ["firstTokenLatency"],
         "p95 time to first token is above {threshold}.",
         "p95 first-token latency of {{ $labels.job }} in {{ $labels.namespace }} is "
         "{{ $value | humanizeDuration }} (threshold {threshold} for {for})."),
    _row("RateLimitViolations", "warning", 10, "5m", "per_hour", ["rateLimitViolations"],
         "More than {threshold} rate-limit violations in the last hour.",
         "{{ $labels.job }} in {{ $labels.namespace }} counted {{ $value | humanize }} rate-limit "
         "violations in the last hour (threshold {threshold})."),
    _row("TokenValidationFailures", "warning", 100, "5m", "per_second", ["tokenValidationFailures"],
         "Token validation fails more than {threshold}.",
         "{{ $labels.job }} in {{ $labels.namespace }} fails {{ $value | printf \"%.1f\" }} token "
         "validations/s (threshold {threshold} for {for})."),
    _row("ActiveTokenCacheHigh", "warning", 2000, "15m", "count", ["activeTokenCache"],
         "The active token cache holds more than {threshold} entries.",
         "{{ $labels.job }} in {{ $labels.namespace }} caches {{ $value | humanize }} tokens "
         "(threshold {threshold} for {for})."),
    # -- canary versus baseline on the track label --------------------------------------------
    _row("CanaryErrorRatioWorse", "critical", 0, "5m", "percent", ["requests"],
         "The on track's error ratio is worse than the off track's by more than the RED margin.",
         "The on track of {{ $labels.job }} in {{ $labels.namespace }} fails "
         "{{ $value | humanizePercentage }} of requests, over {threshold} worse than the off track "
         "for {for}.", scope=CANARY),
    _row("CanaryLatencyWorse", "critical", 0, "5m", "percent", ["latency"],
         "The on track's p95 latency is worse than the off track's by more than the RED margin.",
         "The on track of {{ $labels.job }} in {{ $labels.namespace }} has p95 latency "
         "{{ $value | humanizeDuration }}, over {threshold} worse than the off track for {for}.",
         scope=CANARY),
    # -- SLO error budget burn (thresholds are the burn factors of the SRE workbook) ----------
    _row("SloBudgetBurnFast", "critical", 0, "2m", "count", [],
         "An SLO burns its error budget fast enough to page (14.4x over 1h or 6x over 6h).",
         "SLO {{ $labels.slo }} ({{ $labels.job }}, {{ $labels.namespace }}): error ratio "
         "{{ $value | humanizePercentage }} burns the budget at least {threshold} faster than allowed.",
         scope=SLO),
    _row("SloBudgetBurnSlow", "warning", 0, "15m", "count", [],
         "An SLO burns its error budget fast enough for a ticket (3x over 1d or 1x over 3d).",
         "SLO {{ $labels.slo }} ({{ $labels.job }}, {{ $labels.namespace }}): error ratio "
         "{{ $value | humanizePercentage }} burns the budget at least {threshold} faster than allowed.",
         scope=SLO),
]

CATALOG: dict[str, AlertDefault] = {row.name: row for row in _ROWS}

# Rows whose threshold comes from elsewhere in rollout:monitoring, not from alerts.<Name>.threshold.
THRESHOLD_ELSEWHERE = {
    "CanaryErrorRatioWorse": "rollout:gates.margins.red",
    "CanaryLatencyWorse": "rollout:gates.margins.red",
    "SloBudgetBurnFast": "the burn factors 14.4x and 6x",
    "SloBudgetBurnSlow": "the burn factors 3x and 1x",
    "ServiceDown": "nothing (it fires when no target is up)",
}
