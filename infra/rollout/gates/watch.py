"""The watched soak: re-run the gate and the rollback triggers until the soak ends or something is RED."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TextIO

from rollout.core import moves
from rollout.core.transitions import Transition
from rollout.notify import slack
from rollout.spec.model import GateSettings, StackSettings
from rollout.gates.evaluate import EXIT_CODES, GREEN, NO_DATA, RED, Row, format_duration
from rollout.gates.gate import GateResult, run_gate, run_triggers, soak_clock
from rollout.core.ledger import Ledger, make_record
from rollout.gates.prometheus import Prometheus, PrometheusUnavailable
from rollout.gates.report import progress_line


@dataclass(frozen=True)
class WatchOutcome:
    verdict: str
    rolled_back_to: str | None
    reason: str

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[RED] if self.rolled_back_to else EXIT_CODES[self.verdict]


def round_verdict(result: GateResult | None, fired: list[Row], unreachable: str) -> str:
    """RED when anything seen is RED; otherwise a round that could not ask everything is NO DATA."""
    if fired or (result is not None and result.verdict == RED):
        return RED
    if unreachable or result is None:
        return NO_DATA
    return result.verdict


def _why(result: GateResult | None, fired: list[Row]) -> str:
    """Triggers first (they decide a rollback on their own), then what the gate found."""
    reasons = [f"{r.service} {r.reason}" for r in fired]
    reasons += [f"gate: {reason}" for reason in (result.reasons if result else [])]
    return "; ".join(reasons)


def roll_back(path: Path, settings: StackSettings, why: str, values: dict, out: TextIO) -> Transition | None:
    """Move the stack file back through the move transaction (lock, re-read, ledger intent and done):
    not at all if the file has left the stage this watch judged, nothing when already at the kill switch."""
    transition = moves.automatic_rollback(path, settings.stack, settings.stage,
                                          moves.Evidence(RED, values, f"rollout watch: {why}"))
    if transition is None:
        print(f"RED at {settings.stage}, which is already the kill switch: nothing to roll back", file=out)
        return None
    print(f"rolled back {settings.stack}: {transition.from_stage} -> {transition.to_stage} ({path.name} updated)",
          file=out)
    return transition


def watch(path: Path, settings: StackSettings, config: GateSettings, client: Prometheus, ledger: Ledger,
          duration: float, interval: float, out: TextIO, apply: Callable[[], None] | None = None,
          clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep,
          records: list | None = None) -> WatchOutcome:
    """`records`: the ledger's records when the caller already read them."""
    start = clock()
    soak = soak_clock(settings, config, ledger, records)  # the stage cannot change during the watch
    print(f"watching {settings.stack} at {settings.stage} for {format_duration(duration)} "
          f"(every {format_duration(interval)}, Prometheus {client.url})", file=out, flush=True)
    while True:
        now = clock()
        elapsed = now - start
        result, fired, unreachable = None, [], ""
        with client.deadline() as deadline:  # --timeout bounds the whole round: gate and triggers
            try:
                result = run_gate(settings, config, client, ledger, now, soak, deadline)
                fired = run_triggers(settings, config, client, now, deadline)
            except PrometheusUnavailable as exc:
                # A failed query is no reason to roll back, nor to forget a RED gate read before it.
                unreachable = str(exc)
        verdict = round_verdict(result, fired, unreachable)
        why = _why(result, fired)
        note = "; ".join(part for part in (why, unreachable) if part)
        print(progress_line(elapsed, duration, settings.stage, verdict, note), file=out, flush=True)
        if verdict == RED:
            values = result.values() if result else {}
            values.update({f"trigger.{r.service}.{r.check}": dict(r.values) for r in fired})
            transition = roll_back(path, settings, why, values, out)
            if transition is None:
                return WatchOutcome(RED, None, note)
            print(f"next: commit {path.name} and run `pulumi up --stack {settings.stack}` "
                  f"(or rerun with --apply)" if apply is None else "running pulumi up ...", file=out, flush=True)
            applied = False
            try:
                if apply is not None:
                    apply()
                    applied = True
            finally:  # the incident is announced whether or not `pulumi up` worked, saying which
                _announce_incident(path, settings, transition, moves.Evidence(RED, values, why), applied)
            return WatchOutcome(RED, transition.to_stage, note)
        if elapsed >= duration:
            break
        sleep(max(0.0, min(interval, duration - elapsed)))
    final = verdict
    ledger.append(make_record(settings.stack, "gate", settings.stage, None, final, clock(), path.parent,
                              result.values() if result else {}, f"rollout watch: soak of {format_duration(duration)} ended"
                              + (f"; {note}" if note else "")))
    summary = {GREEN: "soak passed: ready to promote"}.get(final, f"soak ended {final}: not ready to promote")
    print(f"{summary}" + (f" ({note})" if final != GREEN and note else ""), file=out, flush=True)
    if slack.configured():
        slack.post(slack.soak_message(settings.stack, settings.stage, final, note, clock()))
    return WatchOutcome(final, None, note)


def _announce_incident(path: Path, settings: StackSettings, transition: Transition, evidence: moves.Evidence,
                       applied: bool) -> None:
    if slack.configured():
        move = slack.describe_move(settings.stack, transition, path.parent, evidence)
        slack.post(slack.incident_message(move, applied))
