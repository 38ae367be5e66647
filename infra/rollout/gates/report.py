"""Text for people: the gate table, watch progress lines and the ledger history."""
from __future__ import annotations

from typing import Iterable, Sequence

from rollout.gates.evaluate import EXIT_CODES, Row, format_duration, format_value
from rollout.core.ledger import Record, clock_text as _clock


def _values(row: Row) -> str:
    if row.check == "soak":
        value = row.values.get("")
        return "-" if value is None else format_duration(round(value))
    if row.check == "cloudSqlBackup":
        return "  ".join(f"{i} {'-' if v is None else format_duration(round(v)) + ' ago'}" for i, v in row.values.items())
    if row.check == "requests":
        return "  ".join(f"{t} {'-' if v is None else f'{v:.0f}'}" for t, v in row.values.items())
    return "  ".join(f"{t} {format_value(v, row.unit)}" for t, v in row.values.items())


def _table(header: Sequence[str], lines: Iterable[Sequence[str]]) -> list[str]:
    rows = [list(header), *[list(line) for line in lines]]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header) - 1)]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[-1] for r in rows]


def gate_text(result) -> str:
    out = [f"gate {result.stack} at stage {result.stage} ({result.prometheus}, {_clock(result.at)})", ""]
    out += _table(
        ("SERVICE", "CHECK", "VALUE PER TRACK", "THRESHOLD", "VERDICT", "WHY"),
        ((r.service, r.check, _values(r), r.threshold, r.verdict, r.reason) for r in result.rows),
    )
    out += ["", f"verdict: {result.verdict} (exit {result.exit_code})"]
    return "\n".join(line.rstrip() for line in out) + "\n"


def progress_line(elapsed: float, total: float, stage: str, verdict: str, note: str, width: int = 20) -> str:
    done = min(1.0, elapsed / total) if total > 0 else 1.0
    bar = "#" * int(done * width) + "." * (width - int(done * width))
    return (f"[{bar}] {format_duration(round(elapsed))}/{format_duration(total)} {stage}: {verdict}"
            + (f" - {note}" if note else ""))


# How a move that did not simply complete shows in the ACTION column.
_PHASE_NOTES = {"intent": "NOT COMPLETED: interrupted, or still running", "aborted": "aborted",
                "recovered": "recovered"}


def history_text(records: Sequence[Record]) -> str:
    """One line per record of `ledger.history()`; an intent shown there never completed."""
    if not records:
        return "no records\n"
    lines = _table(
        ("TIME", "ACTION", "FROM", "TO", "VERDICT", "USER", "COMMIT", "REASON"),
        ((r.time, r.action + (f" ({_PHASE_NOTES[r.phase]})" if r.phase in _PHASE_NOTES else ""),
          r.from_stage or "-", r.to_stage or "-", r.verdict or "-", r.user, (r.commit or "-")[:10],
          r.reason) for r in records),
    )
    return "\n".join(line.rstrip() for line in lines) + "\n"


__all__ = ["gate_text", "progress_line", "history_text", "EXIT_CODES"]
