"""Run a gate: build the queries, ask Prometheus, judge the numbers (the only module that does all three)."""
from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any, Callable

from rollout.core.ladder import resolve
from rollout.spec.model import GateSettings, StackSettings
from rollout.gates.evaluate import (
    EXIT_CODES, NO_DATA, Observations, Row, ServiceTracks, TriggerReading, evaluate, fired_triggers,
    service_tracks, worst,
)
from rollout.core.ledger import Ledger, soak_start
from rollout.gates.prometheus import Prometheus
from rollout.net.http import Deadline
from rollout.gates.queries import Query, check_expr, held_expr, points_needed, requests_expr


@dataclass(frozen=True)
class GateResult:
    stack: str
    stage: str
    verdict: str
    rows: tuple[Row, ...]
    at: float
    prometheus: str

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    @property
    def reasons(self) -> list[str]:
        return [f"{r.service} {r.check}: {r.reason}" if r.service != "-" else f"{r.check}: {r.reason}"
                for r in self.rows if r.verdict != "GREEN" and r.reason]

    def values(self) -> dict[str, Any]:
        """The numbers behind the verdict, as the ledger keeps them."""
        return {f"{r.service}.{r.check}": dict(r.values) for r in self.rows}

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack, "stage": self.stage, "verdict": self.verdict, "exitCode": self.exit_code,
            "at": self.at, "prometheus": self.prometheus, "reasons": self.reasons,
            "checks": [r.to_json() for r in self.rows],
        }


def gate_queries(settings: StackSettings, config: GateSettings) -> list[Query]:
    queries = []
    for service in settings.services.values():
        expr = requests_expr(service, settings.namespace, config.window)
        if expr:
            queries.append(Query(service.name, "requests", expr))
        for name, threshold in config.checks.items():
            if threshold.indicator.applies_to(service):
                queries.append(Query(service.name, name, check_expr(service, threshold.indicator, settings.namespace,
                                                                    config.window)))
    return queries


def trigger_queries(settings: StackSettings, config: GateSettings, tracks: dict[str, ServiceTracks]) -> list[Query]:
    queries = []
    for service in settings.services.values():
        if tracks[service.name].canary is None:
            continue  # triggers guard what a rollback can undo: the canary tracks
        for name, threshold in config.triggers.items():
            if not threshold.indicator.applies_to(service):
                continue
            expr = check_expr(service, threshold.indicator, settings.namespace, config.trigger_window)
            if threshold.hold.ms:
                value, coverage = held_expr(expr, threshold.bound, threshold.hold)
                queries += [Query(service.name, name, value), Query(service.name, name, coverage, "coverage")]
            else:
                queries.append(Query(service.name, name, expr))
    return queries


def observe(client: Prometheus, queries: list[Query], at: float, deadline: Deadline | None = None) -> Observations:
    answers = client.query_many([q.expr for q in queries], at, deadline)
    requests, checks = {}, {}
    for query, answer in zip(queries, answers):
        if query.check == "requests":
            requests[query.service] = answer
        else:
            checks[(query.service, query.check)] = answer
    return Observations(requests=requests, checks=checks)


SoakClock = Callable[[float], tuple[float | None, str]]  # time -> (seconds at this stage, why unknown)


def soak_clock(settings: StackSettings, config: GateSettings, ledger: Ledger | None,
               records: list | None = None) -> SoakClock:
    """How long the current stage has soaked at a given time; reads the ledger once, not per check
    (not at all when the caller already read its `records`)."""
    if config.min_soak.ms <= 0:
        return lambda at: (None, "")  # no minimum: the ledger need not be read
    if ledger is None:
        return lambda at: (None, "no ledger to tell when the stage began")
    start = soak_start(ledger.records(settings.stack) if records is None else records, settings.stage)
    if start is None:
        note = (f"the ledger {ledger.location} has no promote or rollback to {settings.stage} as its "
                "latest move, so the soak time is unknown (move stages with `rollout promote`/`rollback`, "
                "or set rollout:gates.minSoak: 0)")
        return lambda at: (None, note)
    return lambda at: (max(0.0, at - start), "")


def run_gate(settings: StackSettings, config: GateSettings, client: Prometheus, ledger: Ledger | None,
             at: float | None = None, soak: SoakClock | None = None, deadline: Deadline | None = None) -> GateResult:
    """One verdict within the client's timeout (or `deadline`, shared with other queries);
    a caller judging repeatedly (watch) passes one soak_clock for all of them."""
    at = time.time() if at is None else at
    tracks = service_tracks(settings, resolve(settings))
    soaked, note = (soak or soak_clock(settings, config, ledger))(at)
    obs = observe(client, gate_queries(settings, config), at, deadline)
    rows = evaluate(settings, config, tracks, obs, soaked, note)
    return GateResult(settings.stack, settings.stage, worst([r.verdict for r in rows]), tuple(rows), at, client.url)


def with_row(result: GateResult, row: Row) -> GateResult:
    """The verdict with one more check (the backup a promote needs), judged with the rest."""
    rows = (*result.rows, row)
    return replace(result, rows=rows, verdict=worst([r.verdict for r in rows]))


def run_triggers(settings: StackSettings, config: GateSettings, client: Prometheus, at: float | None = None,
                 deadline: Deadline | None = None) -> list[Row]:
    """Rollback triggers that hold right now on a canary track."""
    at = time.time() if at is None else at
    tracks = service_tracks(settings, resolve(settings))
    queries = trigger_queries(settings, config, tracks)
    answers = client.query_many([q.expr for q in queries], at, deadline)
    readings: dict[tuple[str, str], dict[str, TriggerReading]] = {}
    coverage: dict[tuple[str, str], dict[str, float]] = {}
    for query, answer in zip(queries, answers):
        key = (query.service, query.check)
        if query.purpose == "coverage":
            coverage[key] = answer
        else:
            readings[key] = {t: TriggerReading(v, 0) for t, v in answer.items()}
    for key, by_track in readings.items():
        counts = coverage.get(key)
        for track, reading in by_track.items():
            # Without a hold there is nothing to cover; with one, count the points seen.
            points = int(counts.get(track, 0)) if counts is not None else 1 << 30
            by_track[track] = TriggerReading(reading.value, points)
    return fired_triggers(config, tracks, readings, points_needed)


__all__ = ["GateResult", "run_gate", "soak_clock", "run_triggers", "gate_queries", "trigger_queries", "with_row", "NO_DATA"]
