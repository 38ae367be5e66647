"""Tell the team in Slack what moved, and when `rollout watch` rolled back, the incident message.

The webhook URL comes from $ROLLOUT_SLACK_WEBHOOK_URL (CI passes a secret), never the stack file.
Posting is best effort within a few seconds: a failing webhook is a warning on stderr and never
blocks, delays past its bound or undoes a move. Messages carry stages, weights, verdicts and their
numbers, who and which commit: nothing from env, flags or secret config.
"""
from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from typing import Any, Mapping, TextIO

from rollout.core.ledger import clock_text as _clock

WEBHOOK_ENV = "ROLLOUT_SLACK_WEBHOOK_URL"
TIMEOUT = 5.0  # seconds for the whole post; a rollback must not wait on chat
MAX_NUMBERS = 20  # lines of gate numbers shown; the ledger keeps them all
ANSWER_LIMIT = 64 * 1024  # Slack answers "ok"


@dataclass(frozen=True)
class Move:
    """A promote or rollback that landed in the stack file."""

    stack: str
    action: str  # promote or rollback
    from_stage: str
    to_stage: str
    weights: Mapping[str, Mapping[str, float]]  # service -> {requested, effective}
    user: str
    commit: str | None
    at: float
    verdict: str | None = None  # the gate's, when the move was gated or made by watch
    numbers: Mapping[str, Any] = field(default_factory=dict)
    reason: str = ""


def _weights(move: Move) -> str:
    return ", ".join(f"{svc} {w['requested']:g}% (effective {w['effective']:g}%)" for svc, w in move.weights.items()) \
        or "no flagged service"


def _numbers(numbers: Mapping[str, Any]) -> list[str]:
    lines = []
    for check, by_track in list(numbers.items())[:MAX_NUMBERS]:
        shown = ", ".join(f"{t or 'value'} {v:.4g}" if isinstance(v, (int, float)) else f"{t or 'value'} -"
                          for t, v in (by_track or {}).items()) if isinstance(by_track, dict) else str(by_track)
        lines.append(f"• {check}: {shown or '-'}")
    if len(numbers) > MAX_NUMBERS:
        lines.append(f"• … {len(numbers) - MAX_NUMBERS} more in `rollout history`")
    return lines


def move_message(move: Move) -> dict[str, Any]:
    """Slack payload for a promote or a manual rollback."""
    verb = "promoted" if move.action == "promote" else "rolled back"
    head = f"*{move.stack}* {verb}: `{move.from_stage}` → `{move.to_stage}`"
    lines = [head, f"Weights: {_weights(move)}",
             f"Gate: {move.verdict}" + (f" ({move.reason})" if move.reason else "") if move.verdict else "Gate: not run",
             *_numbers(move.numbers),
             f"By {move.user} at {_clock(move.at)}, commit {(move.commit or 'unknown')[:12]}",
             f"Next: `pulumi up --stack {move.stack}`"]
    return {"text": f"{move.stack} {verb}: {move.from_stage} -> {move.to_stage}", "blocks": _blocks(lines)}


def incident_message(move: Move, applied: bool) -> dict[str, Any]:
    """The checklists' incident message for an automatic rollback: trigger, time, action, status."""
    status = ("`pulumi up` applied the rollback" if applied
              else f"stack file rolled back; `pulumi up --stack {move.stack}` is still to run")
    lines = [f":rotating_light: *Incident: automatic rollback of {move.stack}*",
             f"Trigger: {move.reason or move.verdict or 'RED'}",
             f"Time: {_clock(move.at)}",
             f"Action taken: rolled back `{move.from_stage}` → `{move.to_stage}` (weights now {_weights(move)})",
             f"Status: {status}",
             *_numbers(move.numbers),
             f"By {move.user}, commit {(move.commit or 'unknown')[:12]}"]
    return {"text": f"Incident: automatic rollback of {move.stack} from {move.from_stage} to {move.to_stage}",
            "blocks": _blocks(lines)}


def soak_message(stack: str, stage: str, verdict: str, note: str, at: float) -> dict[str, Any]:
    outcome = "soak passed: ready to promote" if verdict == "GREEN" else f"soak ended {verdict}: not ready to promote"
    lines = [f"*{stack}* at `{stage}`: {outcome}", *([note] if note else []), f"At {_clock(at)}"]
    return {"text": f"{stack} at {stage}: {outcome}", "blocks": _blocks(lines)}


def _blocks(lines: list[str]) -> list[dict[str, Any]]:
    text = "\n".join(lines)
    return [{"type": "section", "text": {"type": "mrkdwn", "text": text[:2900]}}]  # Slack's limit is 3000


def post(payload: dict[str, Any], url: str | None = None, err: TextIO | None = None) -> bool:
    """Send to the webhook if one is configured; False (with a warning) when it fails or none is set."""
    url = url if url is not None else os.environ.get(WEBHOOK_ENV, "")
    if not url:
        return False
    err = err or sys.stderr
    from rollout.net.http import Deadline, TimeUp, TooLarge, send  # only when sending

    if not url.startswith(("https://", "http://")):
        print(f"rollout: warning: {WEBHOOK_ENV} is not an http(s) URL; no Slack notification sent", file=err)
        return False
    try:
        with Deadline(TIMEOUT) as deadline:
            status, _ = send(url, json.dumps(payload).encode(), {"Content-Type": "application/json"},
                                  deadline, ANSWER_LIMIT)
    except TimeUp:
        problem = f"no answer within {TIMEOUT:g}s"
    except TooLarge:
        problem = "an oversized answer"
    except Exception as exc:  # noqa: BLE001 - any failure to notify is only a warning
        problem = str(getattr(exc, "reason", None) or exc) or type(exc).__name__
    else:
        if 200 <= status < 300:
            return True
        problem = f"HTTP {status}"
    print(f"rollout: warning: the Slack notification failed ({problem}); the move itself is done", file=err)
    return False


def configured() -> bool:
    return bool(os.environ.get(WEBHOOK_ENV))


def describe_move(stack: str, transition: Any, folder: Any, evidence: Any = None) -> Move:
    """A Move from a landed transition (core.transitions.Transition) and its evidence (core.moves.Evidence)."""
    import time

    from rollout.core.ladder import resolve
    from rollout.core.ledger import current_commit, current_user

    return Move(stack=stack, action=transition.action, from_stage=transition.from_stage, to_stage=transition.to_stage,
                weights=resolve(transition.settings, transition.to_stage).weights(), user=current_user(), commit=current_commit(folder),
                at=time.time(), verdict=getattr(evidence, "verdict", None), numbers=getattr(evidence, "values", {}) or {},
                reason=getattr(evidence, "reason", ""))
