"""SLOs to recording rules and multi-window, multi-burn-rate alerts (sloth / pyrra style).

Each SLO records its error ratio over every window the alerts read, then pages when both a
long and a short window burn the budget fast (14.4x over 1h/5m, 6x over 6h/30m) and opens a
ticket when it burns slowly (3x over 1d/2h, 1x over 3d/6h).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rollout.spec.stack import StackSettings
from rollout.build.monitoring.alerts import Rule
from rollout.spec.catalog import CATALOG
from rollout.spec.monitoring import MonitoringConfig, Slo, duration_text, seconds
from rollout.build.promql import number, ratio, selector


@dataclass(frozen=True)
class BurnWindow:
    factor: float
    long: str
    short: str


PAGE = (BurnWindow(14.4, "1h", "5m"), BurnWindow(6, "6h", "30m"))
TICKET = (BurnWindow(3, "1d", "2h"), BurnWindow(1, "3d", "6h"))
RATE_WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
ERROR_RATIO = "slo:sli_error:ratio_rate"  # + window, e.g. slo:sli_error:ratio_rate5m


def error_ratio_record(window: str) -> str:
    return f"{ERROR_RATIO}{window}"


def slo_labels(settings: StackSettings, slo: Slo) -> dict[str, str]:
    job = settings.services[slo.service].metrics.job
    return {"slo": slo.name, "namespace": settings.namespace, "job": job}


def _series(settings: StackSettings, slo: Slo) -> tuple[str, str]:
    contract = settings.services[slo.service].metrics
    total = selector(contract.signals[slo.total].metric, settings.namespace, contract.job)
    matchers = {"code": "=~" + slo.error_codes} if slo.error_codes else {}
    errors = selector(contract.signals[slo.errors].metric, settings.namespace, contract.job, **matchers)
    return errors, total


def recording_rules(settings: StackSettings, slo: Slo) -> list[Rule]:
    errors, total = _series(settings, slo)
    labels = {"slo": slo.name}
    rules: list[Rule] = [
        {"record": error_ratio_record(w), "expr": ratio(errors, total, w), "labels": labels} for w in RATE_WINDOWS
    ]
    selected = f'{error_ratio_record("5m")}{{slo="{slo.name}"}}'
    if slo.window not in RATE_WINDOWS:
        # A 30d rate() would read every sample of the month; the average of 5m ratios is cheap.
        rules.append({"record": error_ratio_record(slo.window), "expr": f"avg_over_time({selected}[{slo.window}])",
                      "labels": labels})
    rules += [
        {"record": "slo:objective:ratio", "expr": f"vector({number(slo.objective / 100)})", "labels": slo_labels(settings, slo)},
        {"record": "slo:error_budget:remaining_ratio",
         "expr": f'1 - {error_ratio_record(slo.window)}{{slo="{slo.name}"}} / {number(slo.budget)}', "labels": labels},
    ]
    return rules


def _burn_condition(slo: Slo, windows: tuple[BurnWindow, ...]) -> str:
    def over(window: str, factor: float) -> str:
        return f'{error_ratio_record(window)}{{slo="{slo.name}"}} > {number(factor * slo.budget)}'

    return " or ".join(f"({over(w.long, w.factor)} and {over(w.short, w.factor)})" for w in windows)


def burn_alerts(config: MonitoringConfig, slo: Slo) -> list[Rule]:
    out = []
    for name, windows, shown in (("SloBudgetBurnFast", PAGE, "14.4x"), ("SloBudgetBurnSlow", TICKET, "3x")):
        setting = config.alert(name)
        if not setting.enabled:
            continue
        row = CATALOG[name]
        words = {"{threshold}": shown, "{for}": duration_text(seconds(setting.for_))}
        description = row.description
        for key, value in words.items():
            description = description.replace(key, value)
        out.append({
            "alert": config.alert_name(name),
            "expr": _burn_condition(slo, windows),
            "for": setting.for_,
            "labels": {"severity": setting.severity, "service": slo.service, "slo": slo.name},
            "annotations": {
                "summary": f"{slo.description}: {row.summary[0].lower()}{row.summary[1:]}",
                "description": description,
                "runbook_url": config.runbook(name),
            },
        })
    return out


def slo_group_name(settings: StackSettings, slo: Slo) -> str:
    return f"{settings.app}.slo.{slo.name}"


def slo_groups(settings: StackSettings, config: MonitoringConfig) -> list[dict[str, Any]]:
    """Records first: a group evaluates in order, so the alerts read this round's ratios."""
    return [
        {
            "name": slo_group_name(settings, slo),
            "interval": config.evaluation_interval,
            "rules": recording_rules(settings, slo) + burn_alerts(config, slo),
        }
        for slo in config.slos
    ]
