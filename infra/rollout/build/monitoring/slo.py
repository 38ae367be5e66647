"""SLOs to recording rules and multi-window, multi-burn-rate alerts (sloth / pyrra style).

Each SLO records its error ratio over every window the alerts read, then pages when both a
long and a short window burn the budget fast (14.4x over 1h/5m, 6x over 6h/30m) and opens a
ticket when it burns slowly (3x over 1d/2h, 1x over 3d/6h). The windows come from the burn table.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rollout.build.monitoring.alerts import Rule, fill_words
from rollout.build.promql import SERVICE_LABELS, error_series, job_of, number, ratio, service_scope
from rollout.spec import defaults
from rollout.spec.duration import Duration
from rollout.spec.model import AlertKind, Slo, StackSettings


@dataclass(frozen=True)
class BurnWindow:
    factor: float
    long: str
    short: str


PAGE = tuple(BurnWindow(*row) for row in defaults.PAGE_BURNS)
TICKET = tuple(BurnWindow(*row) for row in defaults.TICKET_BURNS)
# Every window an alert reads, shortest first.
RATE_WINDOWS = tuple(sorted({w for b in PAGE + TICKET for w in (b.long, b.short)}, key=lambda w: Duration.parse(w)))
ERROR_RATIO = "slo:sli_error:ratio_rate"  # + window, e.g. slo:sli_error:ratio_rate5m


def error_ratio_record(window: str) -> str:
    return f"{ERROR_RATIO}{window}"


def slo_labels(settings: StackSettings, slo: Slo) -> dict[str, str]:
    return {"slo": slo.name, "namespace": settings.namespace, "job": job_of(settings.services[slo.service])}


def recording_rules(settings: StackSettings, slo: Slo) -> list[Rule]:
    service = settings.services[slo.service]
    errors, total, may_be_absent = error_series(slo.indicator, service, service_scope(service, settings.namespace))
    labels = {"slo": slo.name}
    rules: list[Rule] = [
        {"record": error_ratio_record(w), "expr": ratio(errors, total, w, SERVICE_LABELS, may_be_absent), "labels": labels}
        for w in RATE_WINDOWS
    ]
    window = str(slo.window)
    selected = f'{error_ratio_record(RATE_WINDOWS[0])}{{slo="{slo.name}"}}'
    if window not in RATE_WINDOWS:
        # A 30d rate() would read every sample of the month; the average of 5m ratios is cheap.
        rules.append({"record": error_ratio_record(window), "expr": f"avg_over_time({selected}[{window}])",
                      "labels": labels})
    rules += [
        {"record": "slo:objective:ratio", "expr": f"vector({number(slo.objective / 100)})", "labels": slo_labels(settings, slo)},
        {"record": "slo:error_budget:remaining_ratio",
         "expr": f'1 - {error_ratio_record(window)}{{slo="{slo.name}"}} / {number(slo.budget)}', "labels": labels},
    ]
    return rules


def _burn_condition(slo: Slo, windows: tuple[BurnWindow, ...]) -> str:
    def over(window: str, factor: float) -> str:
        return f'{error_ratio_record(window)}{{slo="{slo.name}"}} > {number(factor * slo.budget)}'

    return " or ".join(f"({over(w.long, w.factor)} and {over(w.short, w.factor)})" for w in windows)


def burn_alerts(settings: StackSettings, slo: Slo) -> list[Rule]:
    monitoring = settings.monitoring
    out = []
    for alert in monitoring.enabled_alerts:
        windows = {AlertKind.SLO_FAST: PAGE, AlertKind.SLO_SLOW: TICKET}.get(alert.kind)
        if windows is None:
            continue
        summary = fill_words(alert.summary, alert, settings)
        out.append({
            "alert": monitoring.alert_name(alert.name),
            "expr": _burn_condition(slo, windows),
            "for": str(alert.for_),
            "labels": {"severity": alert.severity.value, "service": slo.service, "slo": slo.name},
            "annotations": {
                "summary": f"{slo.description}: {summary[0].lower()}{summary[1:]}",
                "description": fill_words(alert.description, alert, settings),
                "runbook_url": monitoring.runbook(alert),
            },
        })
    return out


def slo_group_name(settings: StackSettings, slo: Slo) -> str:
    return f"{settings.app}.slo.{slo.name}"


def slo_groups(settings: StackSettings) -> list[dict[str, Any]]:
    """Records first: a group evaluates in order, so the alerts read this round's ratios."""
    return [
        {
            "name": slo_group_name(settings, slo),
            "interval": str(settings.monitoring.evaluation_interval),
            "rules": recording_rules(settings, slo) + burn_alerts(settings, slo),
        }
        for slo in settings.monitoring.slos
    ]
