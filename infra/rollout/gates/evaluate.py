"""Verdicts from numbers: pure functions, no Prometheus, no clock.

GREEN: every check within its threshold and the canary within the YELLOW margin of the
baseline. YELLOW: the canary 5-10% worse, or the baseline itself over a threshold. RED: the
canary over a threshold or more than the RED margin worse. NO DATA: too few requests, a
missing metric, too short a soak, or no check at all: a verdict needs at least one check
row in all and one for every service that serves a canary (a canary nobody measures is
not healthy, it is unseen). RED outranks NO DATA (a known problem is known), NO DATA
outranks YELLOW and GREEN (missing data is never GREEN).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

from rollout.core.ladder import OFF, ON, STABLE, StageState
from rollout.spec.duration import Duration
from rollout.spec.model import Bound, Form, GateSettings, StackSettings, Threshold, Unit

def format_value(value: float | None, unit: Unit) -> str:
    if value is None:
        return "-"
    if unit is Unit.SECONDS:
        return f"{value * 1000:.0f}ms" if value < 10 else f"{value:.1f}s"
    if unit is Unit.PERCENT:
        return f"{value:.2f}%"
    return f"{value:.4g}{unit.value}"


def format_duration(seconds: float) -> str:
    return str(Duration.of_seconds(seconds))


def describe(threshold: Threshold) -> str:
    op = "<=" if threshold.bound is Bound.MAX else ">="
    text = f"{op} {format_value(threshold.limit, threshold.indicator.unit)}"
    return text + (f" (fires after {threshold.hold})" if threshold.hold.ms else "")


GREEN, YELLOW, RED, NO_DATA = "GREEN", "YELLOW", "RED", "NO DATA"
EXIT_CODES = {GREEN: 0, YELLOW: 3, RED: 4, NO_DATA: 5}
_RANK = {GREEN: 0, YELLOW: 1, NO_DATA: 2, RED: 3}
RATIO_FLOOR = 0.1  # percentage points: below this a baseline's error share is noise, not a base to divide by
QUANTILE_FLOOR = 0.001  # seconds, for the same reason


@dataclass(frozen=True)
class ServiceTracks:
    """Which tracks of a service serve traffic at this stage, and which one is the canary."""

    service: str
    active: tuple[str, ...]
    canary: str | None  # the track the rollout changes; None for services without flags
    baseline: str | None  # set only while canary and baseline both serve, so they can be compared


def service_tracks(settings: StackSettings, state: StageState) -> dict[str, ServiceTracks]:
    out = {}
    for name, split in state.splits.items():
        active = split.active
        if split.tracks == (OFF, ON):
            canary = ON if ON in active else None
            baseline = OFF if canary and OFF in active else None
        else:
            canary = STABLE if split.flagged and split.requested > 0 else None
            baseline = None
        out[name] = ServiceTracks(name, active, canary, baseline)
    return out


@dataclass(frozen=True)
class Row:
    service: str
    check: str
    title: str
    unit: Unit
    values: Mapping[str, float | None]
    threshold: str
    verdict: str
    reason: str = ""

    def to_json(self) -> dict:
        return {
            "service": self.service, "check": self.check, "values": dict(self.values),
            "unit": self.unit, "threshold": self.threshold, "verdict": self.verdict, "reason": self.reason,
        }


@dataclass(frozen=True)
class Observations:
    """What Prometheus said: request counts and check values, per service and track."""

    requests: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    checks: Mapping[tuple[str, str], Mapping[str, float]] = field(default_factory=dict)


def worst(verdicts: Sequence[str]) -> str:
    return max(verdicts, key=_RANK.__getitem__, default=NO_DATA)  # no checks at all is not GREEN


def worse_by(threshold: Threshold, canary: float, baseline: float) -> float:
    """How much worse the canary is than the baseline, in percent of the baseline."""
    indicator = threshold.indicator
    if indicator.unit is Unit.PERCENT:
        # Compare failure shares: 99% vs 98% success is twice as many failures, not 1% worse.
        bad_c, bad_b = (canary, baseline) if indicator.form is Form.ERROR_RATIO else (100 - canary, 100 - baseline)
        return (bad_c - bad_b) / max(bad_b, RATIO_FLOOR) * 100
    floor = QUANTILE_FLOOR if indicator.unit is Unit.SECONDS else RATIO_FLOOR
    if threshold.bound is Bound.MAX:
        return (canary - baseline) / max(baseline, floor) * 100
    return (baseline - canary) / max(baseline, floor) * 100


def requests_rows(config: GateSettings, tracks: Mapping[str, ServiceTracks], obs: Observations) -> list[Row]:
    rows = []
    for service, counts in obs.requests.items():
        st = tracks[service]
        short = [t for t in st.active if counts.get(t, 0.0) < config.min_requests]
        values = {t: counts.get(t) for t in st.active}
        reason = ", ".join(
            f"{t} had {counts.get(t, 0):.0f} requests in {config.window}" for t in short
        )
        rows.append(Row(
            service, "requests", "requests per track", Unit.COUNT, values, f">= {config.min_requests:g}",
            NO_DATA if short else GREEN, f"{reason} (need {config.min_requests:g})" if short else "",
        ))
    return rows


def check_row(config: GateSettings, threshold: Threshold, st: ServiceTracks, values: Mapping[str, float],
              too_few: Sequence[str], metrics: Sequence[str] = ()) -> Row:
    indicator = threshold.indicator
    shown = {t: values.get(t) for t in st.active}
    fmt = lambda v: format_value(v, indicator.unit)  # noqa: E731
    missing = [t for t in st.active if t not in values]
    if missing:
        return Row(st.service, indicator.name, indicator.title, indicator.unit, shown, describe(threshold), NO_DATA,
                   f"no samples for track {', '.join(missing)} in the last {config.window}"
                   + (f" (needs {', '.join(metrics)})" if metrics else ""))
    if too_few:
        return Row(st.service, indicator.name, indicator.title, indicator.unit, shown, describe(threshold), NO_DATA,
                   f"too few requests on {', '.join(too_few)} to judge")
    verdicts, reasons = [GREEN], []
    for track in st.active:
        if threshold.breached(values[track]):
            # Over the threshold on the canary is the rollout's doing; on the baseline it is not.
            verdict = RED if track == st.canary else YELLOW
            verdicts.append(verdict)
            role = "canary" if track == st.canary else ("baseline" if track == st.baseline else "track")
            reasons.append(f"{role} {track} at {fmt(values[track])} breaks {describe(threshold)}")
    if st.canary and st.baseline:
        delta = worse_by(threshold, values[st.canary], values[st.baseline])
        if delta >= config.red_margin:
            verdicts.append(RED)
        elif delta >= config.yellow_margin:
            verdicts.append(YELLOW)
        if delta >= config.yellow_margin:
            reasons.append(f"canary {delta:+.1f}% vs baseline (YELLOW at {config.yellow_margin:g}%, "
                           f"RED at {config.red_margin:g}%)")
    return Row(st.service, indicator.name, indicator.title, indicator.unit, shown, describe(threshold), worst(verdicts),
               "; ".join(reasons))


def soak_row(config: GateSettings, stage: str, soaked: float | None, note: str = "") -> Row:
    need = f">= {config.min_soak}"
    if config.min_soak.ms <= 0:
        return Row("-", "soak", "time at stage", Unit.SECONDS, {"": soaked}, need, GREEN)
    if soaked is None:
        return Row("-", "soak", "time at stage", Unit.SECONDS, {"": None}, need, NO_DATA,
                   note or f"unknown how long {stage} has run")
    verdict = GREEN if soaked >= config.min_soak.seconds else NO_DATA
    reason = "" if verdict == GREEN else f"{stage} has soaked {format_duration(round(soaked))} of {config.min_soak}"
    return Row("-", "soak", "time at stage", Unit.SECONDS, {"": soaked}, need, verdict, reason)


def unchecked_row(service: str, reason: str) -> Row:
    """The row that keeps a gate without evidence from being GREEN."""
    return Row(service, "checks", "checks evaluated", Unit.COUNT, {}, ">= 1", NO_DATA, reason)


def _why_nothing_checked(settings: StackSettings, config: GateSettings) -> str:
    if not config.checks:
        return "every check is turned off in rollout:gates.checks"
    if all(s.metrics is None for s in settings.services.values()):
        return "no service declares metrics (rollout:services.<name>.metrics)"
    return f"no service's metrics give the roles the enabled checks read ({_roles_read(config)})"


def _why_service_unchecked(settings: StackSettings, config: GateSettings, service: str) -> str:
    if settings.services[service].metrics is None:
        return f"it declares no metrics (rollout:services.{service}.metrics)"
    return f"its metrics give none of the roles the enabled checks read ({_roles_read(config)})"


def _roles_read(config: GateSettings) -> str:
    return "; ".join(f"{name}: {', '.join(t.indicator.required_roles)}" for name, t in config.checks.items())


def evaluate(settings: StackSettings, config: GateSettings, tracks: Mapping[str, ServiceTracks],
             obs: Observations, soaked: float | None, soak_note: str = "") -> list[Row]:
    """Every row of the gate table, in service then check order."""
    rows = []
    req_rows = {r.service: r for r in requests_rows(config, tracks, obs)}
    checked = {service for service, name in obs.checks if name in config.checks}
    for service in settings.services:
        st = tracks[service]
        if service in req_rows:
            rows.append(req_rows[service])
        counts = obs.requests.get(service, {})
        too_few = [t for t in st.active if service in obs.requests and counts.get(t, 0.0) < config.min_requests]
        contract = settings.services[service].metrics
        for name, threshold in config.checks.items():
            if (service, name) in obs.checks:
                metrics = [contract.signals[r].metric for r in threshold.indicator.roles if r in contract.signals] if contract else []
                rows.append(check_row(config, threshold, st, obs.checks[(service, name)], too_few, metrics))
        if checked and st.canary and service not in checked:
            why = _why_service_unchecked(settings, config, service)
            rows.append(unchecked_row(service, f"no check could be evaluated on its canary {st.canary}: {why}"))
    if not checked:
        rows.append(unchecked_row("-", f"no check could be evaluated: {_why_nothing_checked(settings, config)}"))
    rows.append(soak_row(config, settings.stage, soaked, soak_note))
    return rows


@dataclass(frozen=True)
class TriggerReading:
    value: float | None
    points: int


def fired_triggers(config: GateSettings, tracks: Mapping[str, ServiceTracks],
                   readings: Mapping[tuple[str, str], Mapping[str, TriggerReading]], points_needed) -> list[Row]:
    """Rollback triggers that hold on a canary track (held for their whole `for` when they have one)."""
    fired = []
    for (service, name), by_track in readings.items():
        st, threshold = tracks[service], config.triggers[name]
        reading = by_track.get(st.canary or "")
        if st.canary is None or reading is None or reading.value is None:
            continue
        if threshold.hold.ms and reading.points < points_needed(threshold.hold):
            continue  # not yet observed for the whole hold period
        if threshold.breached(reading.value):
            indicator = threshold.indicator
            fired.append(Row(
                service, name, f"rollback trigger: {indicator.title}", indicator.unit, {st.canary: reading.value},
                describe(threshold), RED,
                f"canary {st.canary} at {format_value(reading.value, indicator.unit)} "
                f"{'over' if threshold.bound is Bound.MAX else 'under'} {format_value(threshold.limit, indicator.unit)}"
                + (f" for {threshold.hold}" if threshold.hold.ms else ""),
            ))
    return fired
