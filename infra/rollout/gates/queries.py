"""PromQL for gate checks, built from the metric contract; pure strings, one value per track."""
from __future__ import annotations

from dataclasses import dataclass

from rollout.spec.stack import Service
from rollout.spec.gates import CheckKind, promql_duration

TRIGGER_STEP = 15.0  # seconds between subquery points when a trigger must hold for a while


@dataclass(frozen=True)
class Query:
    service: str
    check: str  # a check name, or "requests" for the per-track request count
    expr: str
    purpose: str = "value"  # "value", or "coverage" (points a held trigger was evaluated at)


def selector(namespace: str, job: str, extra: str = "") -> str:
    labels = f'namespace="{_escape(namespace)}",job="{_escape(job)}"'
    return "{" + labels + (f",{extra}" if extra else "") + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _rate_by_track(metric: str, sel: str, window: str) -> str:
    return f"sum by (track) (rate({metric}{sel}[{window}]))"


def applicable(service: Service, kind: CheckKind) -> bool:
    """A check applies only to services whose contract names every role it reads."""
    if service.metrics is None:
        return False
    signals = service.metrics.signals
    wanted = {"quantile": ("histogram",), "error_ratio": ("counter",), "success": ("counter",)}[kind.form]
    return all(role in signals and signals[role].kind in wanted for role in kind.roles)


def check_expr(service: Service, kind: CheckKind, namespace: str, window: float, quantile: float,
               error_codes: str) -> str:
    """The check's value per track: a percentage for ratios, seconds for quantiles."""
    assert service.metrics is not None
    signals = service.metrics.signals
    sel = selector(namespace, service.metrics.job)
    w = promql_duration(window)
    if kind.form == "quantile":
        metric = signals[kind.roles[0]].metric
        return f"histogram_quantile({quantile:g}, sum by (track, le) (rate({metric}_bucket{sel}[{w}])))"
    if kind.form == "error_ratio":
        metric = signals[kind.roles[0]].metric
        errors_sel = selector(namespace, service.metrics.job, f'code=~"{error_codes}"')
        total = _rate_by_track(metric, sel, w)
        # No 5xx series yet means no errors, not no data: fall back to zero per track.
        return f"100 * ({_rate_by_track(metric, errors_sel, w)} or 0 * {total}) / {total}"
    total_metric, errors_metric = (signals[r].metric for r in kind.roles)
    # A missing error counter stays missing (no fallback): an absent metric is never healthy.
    return f"100 * (1 - {_rate_by_track(errors_metric, sel, w)} / {_rate_by_track(total_metric, sel, w)})"


def requests_expr(service: Service, namespace: str, window: float) -> str | None:
    if service.metrics is None or "requests" not in service.metrics.signals:
        return None
    metric = service.metrics.signals["requests"].metric
    return f"sum by (track) (increase({metric}{selector(namespace, service.metrics.job)}[{promql_duration(window)}]))"


def held_expr(expr: str, bound: str, hold: float) -> tuple[str, str]:
    """The least-bad value over the hold period (so the trigger fired throughout), and its point count."""
    span = f"[{promql_duration(hold)}:{promql_duration(TRIGGER_STEP)}]"
    worst_side = "min_over_time" if bound == "max" else "max_over_time"
    return f"{worst_side}(({expr}){span})", f"count_over_time(({expr}){span})"


def points_needed(hold: float) -> int:
    return max(1, int(hold // TRIGGER_STEP))
