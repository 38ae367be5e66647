"""`rollout gate`, `rollout watch`, `rollout history`, and the gate and ledger hooks of promote/rollback.

Exit status of gate: 0 GREEN, 3 YELLOW, 4 RED, 5 not enough data or Prometheus unreachable;
2 bad input; 1 anything else (a ledger that cannot be written included).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rollout.spec.reader import Node
from rollout.errors import RolloutError, UsageError
from rollout.cli.project import open_stack, project_dir_option
from rollout.spec.stack import StackSettings

if TYPE_CHECKING:
    from rollout.spec.gates import GateConfig
    from rollout.gates.gate import GateResult
    from rollout.core.ledger import Ledger

# The gate machinery (HTTP client, ledger stores) is imported inside the commands that use it:
# `rollout plan` and `rollout status` only need the argument parsers registered here.

PROMETHEUS_ENV = "ROLLOUT_PROMETHEUS_URL"


class GateRefused(RolloutError):
    """promote --gate saw something other than GREEN; the exit status is the gate's."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


def _duration_arg(option: str, text: str) -> float:
    from rollout.spec.gates import parse_duration

    try:
        return parse_duration(Node(text, "command line", option))
    except UsageError:
        raise UsageError(f"{option} {text!r} is not a duration: use e.g. 90s, 15m or 1h") from None


def _time_arg(text: str | None) -> float | None:
    from datetime import datetime

    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise UsageError(f"--at {text!r} is not a time: give unix seconds or RFC 3339 like 2026-05-01T12:00:00Z") from None


def _prometheus_url(args: argparse.Namespace, option: str = "--prometheus") -> str:
    url = getattr(args, "prometheus", None) or os.environ.get(PROMETHEUS_ENV)
    if not url:
        raise UsageError(f"give {option} URL (or set {PROMETHEUS_ENV}), e.g. http://prometheus.monitoring:9090")
    return url


def _open(args: argparse.Namespace) -> tuple[Path, StackSettings, GateConfig, Ledger]:
    from rollout.spec.gates import parse_gates
    from rollout.core.ledger import open_ledger

    path, settings = open_stack(args.stack, project_dir_option(args))
    config = parse_gates(settings)
    return path, settings, config, open_ledger(config.ledger, path)


def _record_gate(ledger: Ledger, path: Path, settings: StackSettings, verdict: str, values: dict[str, Any],
                 reason: str, now: float) -> None:
    from rollout.core.ledger import make_record

    ledger.append(make_record(settings.stack, "gate", settings.stage, None, verdict, now, path.parent, values, reason))


# -- gate ------------------------------------------------------------------------

def evaluate_gate(path: Path, settings: StackSettings, config: GateConfig, ledger: Ledger, url: str,
                  at: float | None = None, timeout: float = 10.0) -> GateResult:
    """Run the gate; an unreachable Prometheus is recorded as NO DATA before the error goes up."""
    from rollout.gates.evaluate import NO_DATA
    from rollout.gates.gate import run_gate
    from rollout.gates.prometheus import Prometheus, PrometheusUnavailable

    client = Prometheus(url, timeout=timeout)
    try:
        return run_gate(settings, config, client, ledger, at)
    except PrometheusUnavailable as exc:
        _record_gate(ledger, path, settings, NO_DATA, {}, str(exc), time.time() if at is None else at)
        raise


def cmd_gate(args: argparse.Namespace) -> int:
    from rollout.gates.evaluate import NO_DATA
    from rollout.gates.prometheus import PrometheusUnavailable
    from rollout.gates.report import gate_text

    path, settings, config, ledger = _open(args)
    try:
        result = evaluate_gate(path, settings, config, ledger, _prometheus_url(args), _time_arg(args.at), args.timeout)
    except PrometheusUnavailable as exc:
        if args.json:  # scripts reading --json still get one object with the verdict
            print(json.dumps({"stack": settings.stack, "stage": settings.stage, "verdict": NO_DATA,
                              "exitCode": exc.exit_code, "reasons": [str(exc)], "checks": []}, indent=2))
        raise
    if args.json:
        print(json.dumps({**result.to_json(), "ledger": ledger.location}, indent=2))
    else:
        sys.stdout.write(gate_text(result))
    _record_gate(ledger, path, settings, result.verdict, result.values(), "; ".join(result.reasons), result.at)
    return result.exit_code


# -- watch -----------------------------------------------------------------------

def cmd_watch(args: argparse.Namespace) -> int:
    from rollout.gates.prometheus import Prometheus

    from rollout.pulumi.apply import pulumi_up, require_pulumi_cli
    from rollout.gates.watch import watch

    path, settings, config, ledger = _open(args)
    url = _prometheus_url(args)
    duration = _duration_arg("--for", args.duration) if args.duration else max(config.min_soak, 60.0)
    interval = _duration_arg("--interval", args.interval)
    if interval <= 0:
        raise UsageError("--interval must be more than 0s")
    apply = None
    if args.apply:
        require_pulumi_cli(settings.stack)  # fail before the soak, not after the rollback
        apply = lambda: print(f"pulumi up: {pulumi_up(path.parent, settings.stack, sys.stdout)}")  # noqa: E731
    outcome = watch(path, settings, config, Prometheus(url, timeout=args.timeout), ledger, duration, interval,
                    sys.stdout, apply)
    return outcome.exit_code


# -- history ---------------------------------------------------------------------

def cmd_history(args: argparse.Namespace) -> int:
    from rollout.gates.report import history_text

    path, settings, config, ledger = _open(args)
    records = sorted(ledger.records(settings.stack), key=lambda r: r.time)
    if args.limit:
        records = records[-args.limit:]
    if args.json:
        print(json.dumps([r.to_json() for r in records], indent=2))
    else:
        print(f"ledger {ledger.location}, stack {settings.stack}")
        sys.stdout.write(history_text(records))
    return 0


# -- hooks for promote / rollback -------------------------------------------------

def guard_stage_change(args: argparse.Namespace, path: Path, settings: StackSettings, transition: Any) -> None:
    """Before promote/rollback edits the stack file: `--gate` must be GREEN, and the move is recorded.

    The record is written first so that a ledger which cannot be written stops the command
    with the stack file untouched.
    """
    from rollout.spec.gates import parse_gates
    from rollout.gates.evaluate import GREEN
    from rollout.core.ledger import make_record, open_ledger
    from rollout.gates.report import gate_text

    config = parse_gates(settings)
    ledger = open_ledger(config.ledger, path)
    gate_url = getattr(args, "gate", None)
    verdict, values, reason = None, {}, ""
    if gate_url:
        result = evaluate_gate(path, settings, config, ledger, gate_url)
        if result.verdict != GREEN:
            sys.stdout.write(gate_text(result))
            _record_gate(ledger, path, settings, result.verdict, result.values(),
                         f"promote to {transition.to_stage} refused: " + "; ".join(result.reasons), result.at)
            raise GateRefused(
                f"not promoting {settings.stack} to {transition.to_stage}: the gate is {result.verdict}: "
                + ("; ".join(result.reasons) or "see the table above"), result.exit_code)
        verdict, values, reason = result.verdict, result.values(), f"gate GREEN at {gate_url}"
    if getattr(args, "dry_run", False):
        return
    ledger.append(make_record(settings.stack, transition.action, transition.from_stage, transition.to_stage,
                              verdict, time.time(), path.parent, values, reason))


def register(sub: argparse._SubParsersAction) -> None:
    gate = sub.add_parser("gate", help="judge the current stage against Prometheus (exit 0 GREEN, 3 YELLOW, 4 RED, 5 no data)")
    gate.add_argument("stack")
    gate.add_argument("--prometheus", metavar="URL", help=f"Prometheus base URL (default ${PROMETHEUS_ENV})")
    gate.add_argument("--json", action="store_true", help="print one JSON object")
    gate.add_argument("--at", metavar="TIME", help="judge as of this time (unix seconds or RFC 3339), default now")
    gate.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for each query (default 10)")
    gate.set_defaults(handler=cmd_gate)

    watch = sub.add_parser("watch", help="re-run the gate during the soak; roll back on RED or a rollback trigger")
    watch.add_argument("stack")
    watch.add_argument("--prometheus", metavar="URL", help=f"Prometheus base URL (default ${PROMETHEUS_ENV})")
    watch.add_argument("--for", dest="duration", metavar="DURATION", help="how long to watch (default rollout:gates.minSoak)")
    watch.add_argument("--interval", default="30s", metavar="DURATION", help="time between checks (default 30s)")
    watch.add_argument("--apply", action="store_true", help="after a rollback, run `pulumi up` (needs the Pulumi CLI)")
    watch.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for each query (default 10)")
    watch.set_defaults(handler=cmd_watch)

    history = sub.add_parser("history", help="the audit ledger: promotes, rollbacks and gate verdicts")
    history.add_argument("stack")
    history.add_argument("--json", action="store_true", help="print a JSON list of records")
    history.add_argument("--limit", type=int, default=0, metavar="N", help="only the last N records")
    history.set_defaults(handler=cmd_history)
