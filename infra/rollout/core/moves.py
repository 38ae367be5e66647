"""The move transaction: every promote, rollback, kill switch and automatic rollback goes through here.

Holding the stack's lock, it re-reads and re-validates the stack file, decides the target from
what it read, works out the edit (refusing what cannot be written), closes any move a killed
run left open, then writes: ledger intent -> atomic edit of the file -> ledger done.
A ledger that cannot be written stops the move before the file changes.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from rollout.core.checkpoints import checkpoint
from rollout.core.ladder import check_ladder
from rollout.core.ledger import (DONE, INTENT, Ledger, LedgerError, Record, close_intent, dangling_intents,
                                 make_record, open_ledger, record_time)
from rollout.core.lock import stack_lock
from rollout.core.stackfile import STAGE_KEY, apply_stage_edit, prepare_stage_edit, read_text, remove_stale_temp_files
from rollout.core.transitions import (PROMOTE, ROLLBACK, Transition, automatic_rollback_target, prepare,
                                      promotion_target, rollback_target)
from rollout.errors import RolloutError
from rollout.spec.model import StackSettings
from rollout.spec.stack import load_stack
from rollout.spec.yaml12 import load_yaml

Chooser = Callable[[StackSettings], "str | None"]  # the target decided from the file read under the lock


class StackMovedOn(RolloutError):
    """The stack file is no longer what the caller judged before asking for the move."""


@dataclass(frozen=True)
class Evidence:
    """Why the move is made, kept in its ledger records: a gate verdict and its numbers."""

    verdict: str | None = None
    values: dict[str, Any] = field(default_factory=dict)
    reason: str = ""


def choose_target(action: str, to: str | None, force: bool = False, kill_switch: bool = False) -> Chooser:
    """How `rollout promote` and `rollout rollback` pick the target from the file's current stage."""
    if action == PROMOTE:
        return lambda settings: promotion_target(settings, to, force)
    return lambda settings: rollback_target(settings, to, kill_switch)


def automatic_rollback(path: Path, stack: str, watched_stage: str, evidence: Evidence) -> Transition | None:
    """`rollout watch` saw RED at `watched_stage`; None when that stage is already the kill switch."""
    def choose(settings: StackSettings) -> str | None:
        if settings.stage != watched_stage:
            raise StackMovedOn(f"{path.name} moved from {watched_stage} to {settings.stage} during the watch; "
                               "not rolling back")
        return automatic_rollback_target(settings, settings.gates.on_red)

    return move(path, stack, ROLLBACK, choose, command=f"rollout watch {stack} (automatic rollback)", evidence=evidence)


def move(path: Path, stack: str, action: str, choose: Chooser, *, command: str,
         evidence: Evidence | None = None, judged: StackSettings | None = None) -> Transition | None:
    """One move, start to end under the stack lock; None when `choose` finds nothing to do.

    `judged`: the settings a gate found GREEN (read before the lock, so that a slow Prometheus never
    holds it); the move is refused if the file read under the lock is not those settings any more.
    """
    evidence = evidence or Evidence()
    with stack_lock(path, command):
        checkpoint("locked")
        remove_stale_temp_files(path)  # safe now: no other writer is running
        settings = load_stack(path, stack)
        check_ladder(settings)
        if judged is not None and settings != judged:
            raise StackMovedOn(
                f"{path.name} changed while the gate was judging stage {judged.stage} (it is now at "
                f"{settings.stage}); nothing moved: run the command again so the gate judges what is there")
        target = choose(settings)
        if target is None:
            return None
        transition = prepare(settings, action, target)
        edit = prepare_stage_edit(path, target, current=settings.stage)  # forms that cannot be edited stop here
        ledger = open_ledger(settings.gates.ledger, path)
        records = ledger.records(settings.stack)
        origin = str(path.resolve())
        records += _close_open_intents(ledger, records, settings.stage, origin)
        intent = make_record(settings.stack, action, settings.stage, target, evidence.verdict, time.time(), path.parent,
                             dict(evidence.values), evidence.reason, INTENT, records, origin)
        ledger.append(intent)  # a ledger that cannot be written stops here, the file untouched
        checkpoint("intent-written")
        try:
            apply_stage_edit(edit)
        except BaseException:
            _close_after_failed_edit(ledger, path, intent, records)
            raise
        checkpoint("file-replaced")
        done = replace(intent, phase=DONE, time=record_time([*records, intent], time.time()))
        try:
            ledger.append(done)
        except LedgerError as exc:
            raise LedgerError(f"{path.name} now holds {target}, but {exc}; the next promote or rollback of "
                              f"{settings.stack} records this move (as recovered)") from None
        checkpoint("done-written")
        return transition


def _close_open_intents(ledger: Ledger, records: list[Record], file_stage: str, origin: str) -> list[Record]:
    """Moves a killed run left open: recovered if the file holds their target, else aborted.

    A shared store (S3) also holds other checkouts' intents, judged by their own stack files: those
    are left for the next move there."""
    closed: list[Record] = []
    for intent in dangling_intents(records):
        if ledger.shared and intent.origin != origin:
            continue
        record = close_intent(intent, file_stage, record_time([*records, *closed], time.time()))
        ledger.append(record)
        closed.append(record)
    return closed


def _close_after_failed_edit(ledger: Ledger, path: Path, intent: Record, records: list[Record]) -> None:
    """The edit failed: record what the file holds if that can be told; else the next move closes it."""
    try:
        stage = load_yaml(read_text(path.resolve()))["config"][STAGE_KEY]
        ledger.append(close_intent(intent, stage, record_time([*records, intent], time.time())))
    except Exception:  # noqa: BLE001 - the original failure is what the user must see
        pass
