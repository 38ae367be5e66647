"""Promote and rollback: choose the target stage and check it (core/moves.py edits the stack file)."""
from __future__ import annotations

from dataclasses import dataclass

from rollout.errors import UsageError
from rollout.spec.model import StackSettings
from rollout.core.ladder import next_stage, previous_stage

PROMOTE, ROLLBACK = "promote", "rollback"


@dataclass(frozen=True)
class Transition:
    stack: str
    action: str
    from_stage: str
    to_stage: str
    settings: StackSettings  # as read when the move was decided (settings.stage == from_stage)


def promotion_target(settings: StackSettings, to: str | None, force: bool) -> str:
    current = settings.stage
    if to is None:
        target = next_stage(settings, current)
        if target is None:
            raise UsageError(f"{settings.file}: rollout:stage is {current!r}, the last stage; there is nothing to promote to")
        return target
    target = settings.stage_named(to).name
    distance = settings.index_of(target) - settings.index_of(current)
    if distance == 0:
        raise UsageError(f"{settings.stack} is already at stage {target!r}")
    if distance < 0:
        raise UsageError(f"{target!r} comes before the current stage {current!r}; use `rollout rollback {settings.stack} --to {target}`")
    if distance > 1 and not (settings.allow_skip or force):
        skipped = settings.stage_names[settings.index_of(current) + 1: settings.index_of(target)]
        raise UsageError(
            f"promoting {settings.stack} from {current!r} to {target!r} skips {', '.join(skipped)}; "
            f"rollout:allowSkip is false in {settings.file}, pass --force to skip anyway"
        )
    return target


def rollback_target(settings: StackSettings, to: str | None, kill_switch: bool) -> str:
    current = settings.stage
    if kill_switch:
        if to is not None:
            raise UsageError("give either --to or --kill-switch, not both")
        if current == settings.kill_switch:
            raise UsageError(f"{settings.stack} is already at the kill switch stage {current!r}")
        return settings.kill_switch
    if to is None:
        target = previous_stage(settings, current)
        if target is None:
            raise UsageError(f"{settings.file}: rollout:stage is {current!r}, the first stage; there is nothing to roll back to")
        return target
    target = settings.stage_named(to).name
    if settings.index_of(target) >= settings.index_of(current):
        raise UsageError(f"{target!r} is not before the current stage {current!r}; use `rollout promote {settings.stack} --to {target}`")
    return target


def automatic_rollback_target(settings: StackSettings, on_red: str) -> str | None:
    """Where `rollout watch` goes on RED: one stage back, or the kill switch when rollout:gates.onRed
    says so; None when the stack is already at the kill switch."""
    if settings.stage == settings.kill_switch:
        return None
    if on_red == "kill-switch":
        return settings.kill_switch
    return rollback_target(settings, None, False)


def prepare(settings: StackSettings, action: str, target: str) -> Transition:
    """The move from the file's stage to `target`; weights replicas cannot express were refused when
    the ladder was checked (core.ladder.check_ladder), before any of this."""
    return Transition(settings.stack, action, settings.stage, target, settings)
