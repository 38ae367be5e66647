"""PromQL for gate checks, one value per track, from the one PromQL builder."""
from __future__ import annotations

from dataclasses import dataclass

from rollout.build.promql import indicator_expr, requests_increase, service_scope
from rollout.spec.duration import Duration
from rollout.spec.model import Bound, Indicator, Service, Unit

BY_TRACK = ("track",)
TRIGGER_STEP = Duration.parse("15s")  # between subquery points when a trigger must hold for a while


@dataclass(frozen=True)
class Query:
    service: str
    check: str  # an indicator name, or "requests" for the per-track request count
    expr: str
    purpose: str = "value"  # "value", or "coverage" (points a held trigger was evaluated at)


def check_expr(service: Service, indicator: Indicator, namespace: str, window: Duration) -> str:
    """The indicator per track, in the unit its thresholds are written in (percent for ratios)."""
    expr = indicator_expr(indicator, service, service_scope(service, namespace), str(window), BY_TRACK)
    return f"100 * ({expr})" if indicator.unit is Unit.PERCENT else expr


def requests_expr(service: Service, namespace: str, window: Duration) -> str | None:
    return requests_increase(service, service_scope(service, namespace), str(window), BY_TRACK)


def held_expr(expr: str, bound: Bound, hold: Duration) -> tuple[str, str]:
    """The least-bad value over the hold period (so the trigger fired throughout), and its point count."""
    span = f"[{hold}:{TRIGGER_STEP}]"
    least_bad = "min_over_time" if bound is Bound.MAX else "max_over_time"
    return f"{least_bad}(({expr}){span})", f"count_over_time(({expr}){span})"


def points_needed(hold: Duration) -> int:
    return max(1, hold.ms // TRIGGER_STEP.ms)
