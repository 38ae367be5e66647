"""`rollout gate`, `rollout watch`, `rollout history`, and the gate and ledger hooks of promote/rollback.

Exit status of gate: 0 GREEN, 3 YELLOW, 4 RED, 5 not enough data, Prometheus unreachable or a
ledger that cannot be read (a corrupt line, named by file and line); 2 bad input; 1 anything else
(a ledger that cannot be written included). `history` of a corrupt ledger exits 1 naming the line.

Managed Prometheus (monitoring.googleapis.com, the default URL of a stack whose
rollout:monitoring.target is gmp) is asked with Google application-default credentials, as is the
Cloud SQL Admin API when the stage a promote goes to needs a fresh backup.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rollout.errors import RolloutError, UsageError
from rollout.cli.project import open_stack, project_dir_option
from rollout.spec.model import StackSettings

if TYPE_CHECKING:
    from rollout.core.moves import Evidence
    from rollout.spec.model import GateSettings
    from rollout.gates.gate import GateResult
    from rollout.gates.prometheus import Prometheus
    from rollout.core.ledger import Ledger

# The gate machinery (HTTP client, ledger stores) is imported inside the commands that use it:
# `rollout plan` and `rollout status` only need the argument parsers registered here.

PROMETHEUS_ENV = "ROLLOUT_PROMETHEUS_URL"
AUTH_ENV = "ROLLOUT_PROMETHEUS_AUTH"  # google: send a Google bearer token (default for monitoring.googleapis.com)
AUTH_CHOICES = ("none", "google")


class LedgerUnreadable(RolloutError):
    """The gate cannot tell how long the stage has soaked: NO DATA, never a verdict on half a ledger."""

    exit_code = 5


class GateRefused(RolloutError):
    """promote --gate saw something other than GREEN; the exit status is the gate's."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


def _duration_arg(option: str, text: str) -> float:
    from rollout.spec.duration import Duration

    try:
        return Duration.parse(text).seconds
    except ValueError:
        raise UsageError(f"{option} {text!r} is not a duration: use e.g. 90s, 15m or 1h") from None


def _timeout_arg(text: str) -> float:
    """--timeout: a number of seconds above 0 (argparse makes the refusal exit 2)."""
    import math

    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds above 0, e.g. 10 or 2.5")
    return seconds


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


def _prometheus_url(args: argparse.Namespace, settings: StackSettings, option: str = "--prometheus") -> str:
    url = getattr(args, "prometheus", None) or os.environ.get(PROMETHEUS_ENV)
    if not url and settings.monitoring.target == "gmp" and settings.gcp.project:
        from rollout.gates.google import managed_prometheus_url

        return managed_prometheus_url(settings.gcp.project)  # the stack's own Managed Prometheus
    if not url:
        raise UsageError(f"give {option} URL (or set {PROMETHEUS_ENV}), e.g. http://prometheus.monitoring:9090")
    return url


def _auth(args: argparse.Namespace, url: str) -> str:
    """google for Managed Prometheus's own host; --auth or ROLLOUT_PROMETHEUS_AUTH says so for any other URL."""
    from rollout.gates.google import is_managed_prometheus

    auth = getattr(args, "auth", None) or os.environ.get(AUTH_ENV) or ("google" if is_managed_prometheus(url) else "none")
    if auth not in AUTH_CHOICES:
        raise UsageError(f"{AUTH_ENV}={auth!r} is not one of {', '.join(AUTH_CHOICES)}")
    return auth


def prometheus_client(url: str, auth: str, timeout: float) -> Prometheus:
    """The query client; with google auth every query carries a token (no credentials: no data, exit 5)."""
    from rollout.gates.prometheus import Prometheus

    if auth == "google":
        from rollout.gates.google import MONITORING_READ, google_headers

        return Prometheus(url, timeout=timeout, headers=lambda: google_headers(MONITORING_READ), method="GET")
    return Prometheus(url, timeout=timeout)


def backup_stage(settings: StackSettings, to_stage: str | None) -> str | None:
    """`to_stage` when promoting into it needs a fresh Cloud SQL backup (rollout:gates.cloudSqlBackup)."""
    check = settings.gates.backup
    return to_stage if check is not None and to_stage in check.stages else None


def _open(args: argparse.Namespace) -> tuple[Path, StackSettings, GateSettings, Ledger]:
    from rollout.core.ledger import open_ledger

    path, settings = open_stack(args.stack, project_dir_option(args))
    config = settings.gates
    return path, settings, config, open_ledger(config.ledger, path)


def _record_gate(ledger: Ledger, path: Path, settings: StackSettings, verdict: str, values: dict[str, Any],
                 reason: str, now: float) -> None:
    from rollout.core.ledger import make_record

    ledger.append(make_record(settings.stack, "gate", settings.stage, None, verdict, now, path.parent, values, reason))


# -- gate ------------------------------------------------------------------------

def require_readable(ledger: Ledger, settings: StackSettings) -> list:
    """The stack's ledger records; a corrupt line (or too big, or unreadable) makes the gate NO DATA, exit 5."""
    from rollout.core.ledger import LedgerError

    try:
        return ledger.records(settings.stack)
    except LedgerError as exc:
        raise LedgerUnreadable(f"{exc}; the gate cannot judge without it: NO DATA") from None


def evaluate_gate(path: Path, settings: StackSettings, config: GateSettings, ledger: Ledger, url: str,
                  at: float | None = None, timeout: float = 10.0, auth: str = "none",
                  before_stage: str | None = None) -> GateResult:
    """Run the gate (with the Cloud SQL backup check when `before_stage` needs one); an unreachable
    Prometheus is recorded as NO DATA before the error goes up."""
    from rollout.gates.evaluate import NO_DATA
    from rollout.gates.gate import run_gate, soak_clock
    from rollout.gates.prometheus import PrometheusUnavailable

    soak = soak_clock(settings, config, ledger, require_readable(ledger, settings))
    try:
        result = run_gate(settings, config, prometheus_client(url, auth, timeout), ledger, at, soak=soak)
    except PrometheusUnavailable as exc:
        _record_gate(ledger, path, settings, NO_DATA, {}, str(exc), time.time() if at is None else at)
        raise
    if before_stage is not None and config.backup is not None:
        from rollout.gates.backup import backup_row
        from rollout.gates.gate import with_row
        from rollout.gates.google import SQL_ADMIN, google_headers

        result = with_row(result, backup_row(config.backup, before_stage, result.at, lambda: google_headers(SQL_ADMIN),
                                             timeout=timeout))
    return result


def cmd_gate(args: argparse.Namespace) -> int:
    from rollout.gates.evaluate import NO_DATA
    from rollout.gates.prometheus import PrometheusUnavailable
    from rollout.gates.report import gate_text

    from rollout.core.ladder import next_stage

    path, settings, config, ledger = _open(args)
    url = _prometheus_url(args, settings)
    try:
        result = evaluate_gate(path, settings, config, ledger, url, _time_arg(args.at), args.timeout, _auth(args, url),
                               backup_stage(settings, next_stage(settings, settings.stage)))
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
    from rollout.pulumi.apply import pulumi_up, require_pulumi_cli
    from rollout.gates.watch import watch

    path, settings, config, ledger = _open(args)
    url = _prometheus_url(args, settings)
    records = require_readable(ledger, settings)
    duration = _duration_arg("--for", args.duration) if args.duration else max(config.min_soak.seconds, 60.0)
    interval = _duration_arg("--interval", args.interval)
    if interval <= 0:
        raise UsageError("--interval must be more than 0s")
    apply = None
    if args.apply:
        require_pulumi_cli(settings.stack)  # fail before the soak, not after the rollback
        apply = lambda: print(f"pulumi up: {pulumi_up(path.parent, settings.stack, sys.stdout)}")  # noqa: E731
    outcome = watch(path, settings, config, prometheus_client(url, _auth(args, url), args.timeout), ledger, duration,
                    interval, sys.stdout, apply, records=records)
    return outcome.exit_code


# -- history ---------------------------------------------------------------------

def cmd_history(args: argparse.Namespace) -> int:
    from rollout.core.ledger import history
    from rollout.gates.report import history_text

    path, settings, config, ledger = _open(args)
    records = history(ledger.records(settings.stack))
    if args.limit:
        records = records[-args.limit:]
    if args.json:
        print(json.dumps([r.to_json() for r in records], indent=2))
    else:
        print(f"ledger {ledger.location}, stack {settings.stack}")
        sys.stdout.write(history_text(records))
    return 0


# -- hooks for promote / rollback -------------------------------------------------

def guard_stage_change(args: argparse.Namespace, path: Path, settings: StackSettings, transition: Any) -> Evidence | None:
    """Before promote edits the stack file: with `--gate` the gate must be GREEN.

    Returns the verdict and its numbers for the move's ledger records. The gate judges the file as
    read before the stack lock is taken (a slow Prometheus must not hold the lock a kill switch
    needs); the move then refuses a file that changed since (core/moves.py, `judged`).
    """
    config = settings.gates
    needs_backup = backup_stage(settings, transition.to_stage) if transition.action == "promote" else None
    gate_url = getattr(args, "gate", None)
    if not gate_url:
        return None
    from rollout.core.ledger import open_ledger
    from rollout.core.moves import Evidence
    from rollout.gates.evaluate import GREEN
    from rollout.gates.report import gate_text

    ledger = open_ledger(config.ledger, path)
    result = evaluate_gate(path, settings, config, ledger, gate_url, auth=_auth(args, gate_url), before_stage=needs_backup)
    if result.verdict != GREEN:
        sys.stdout.write(gate_text(result))
        _record_gate(ledger, path, settings, result.verdict, result.values(),
                     f"promote to {transition.to_stage} refused: " + "; ".join(result.reasons), result.at)
        raise GateRefused(
            f"not promoting {settings.stack} to {transition.to_stage}: the gate is {result.verdict}: "
            + ("; ".join(result.reasons) or "see the table above"), result.exit_code)
    return Evidence(result.verdict, result.values(), f"gate GREEN at {gate_url}")


def note_unchecked_backup(args: argparse.Namespace, transition: Any) -> None:
    """A promote into a stage that needs a fresh Cloud SQL backup, made without --gate, says so."""
    needs_backup = backup_stage(transition.settings, transition.to_stage) if transition.action == "promote" else None
    if needs_backup and not getattr(args, "gate", None):
        check = transition.settings.gates.backup
        print(f"note: {needs_backup} needs a Cloud SQL backup of {check.instance} younger than {check.max_age}; "
              "`promote --gate` checks it, this promote did not")


def register(sub: argparse._SubParsersAction) -> None:
    gate = sub.add_parser("gate", help="judge the current stage against Prometheus (exit 0 GREEN, 3 YELLOW, 4 RED, 5 no data)")
    gate.add_argument("stack")
    gate.add_argument("--prometheus", metavar="URL", help=f"Prometheus base URL (default ${PROMETHEUS_ENV}, or the "
                      "stack's Managed Prometheus under rollout:monitoring.target gmp)")
    gate.add_argument("--json", action="store_true", help="print one JSON object")
    gate.add_argument("--at", metavar="TIME", help="judge as of this time (unix seconds or RFC 3339), default now")
    gate.add_argument("--timeout", type=_timeout_arg, default=10.0, metavar="SECONDS",
                      help="seconds the whole gate may take, every query included (default 10); later is exit 5")
    gate.add_argument("--auth", choices=AUTH_CHOICES, help=f"google: send a Google application-default bearer token "
                      f"(default for monitoring.googleapis.com; also ${AUTH_ENV})")
    gate.set_defaults(handler=cmd_gate)

    watch = sub.add_parser("watch", help="re-run the gate during the soak; roll back on RED or a rollback trigger")
    watch.add_argument("stack")
    watch.add_argument("--prometheus", metavar="URL", help=f"Prometheus base URL (default ${PROMETHEUS_ENV})")
    watch.add_argument("--for", dest="duration", metavar="DURATION", help="how long to watch (default rollout:gates.minSoak)")
    watch.add_argument("--interval", default="30s", metavar="DURATION", help="time between checks (default 30s)")
    watch.add_argument("--apply", action="store_true", help="after a rollback, run `pulumi up` (needs the Pulumi CLI)")
    watch.add_argument("--timeout", type=_timeout_arg, default=10.0, metavar="SECONDS",
                       help="seconds each check round (gate and rollback triggers) may take (default 10); "
                            "a late round is NO DATA, never a rollback")
    watch.add_argument("--auth", choices=AUTH_CHOICES, help=f"google: send a Google bearer token (also ${AUTH_ENV})")
    watch.set_defaults(handler=cmd_watch)

    history = sub.add_parser("history", help="the audit ledger: promotes, rollbacks and gate verdicts")
    history.add_argument("stack")
    history.add_argument("--json", action="store_true", help="print a JSON list of records")
    history.add_argument("--limit", type=int, default=0, metavar="N", help="only the last N records")
    history.set_defaults(handler=cmd_history)
