"""The one duration type: `500ms`, `90s`, `1.5m`, `2h`, `1d` everywhere, one formatter.

Kept in whole milliseconds so equal durations compare equal and print the same way.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from rollout.spec.reader import Node

_UNITS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d)")
HINT = "a duration like 500ms, 90s, 1.5m, 2h or 1d"


@dataclass(frozen=True, order=True)
class Duration:
    ms: int

    @classmethod
    def parse(cls, text: str) -> "Duration":
        """'1.5m' -> 90s; '1h30m' works too. Raises ValueError for anything else."""
        text = text.strip()
        parts = _PART.findall(text)
        if not parts or "".join(a + u for a, u in parts) != text:
            raise ValueError(f"{text!r} is not {HINT}")
        total = sum(float(amount) * _UNITS[unit] for amount, unit in parts)
        if total != int(total):
            raise ValueError(f"{text!r} is not a whole number of milliseconds")
        return cls(int(total))

    @classmethod
    def of_seconds(cls, seconds: float) -> "Duration":
        return cls(int(round(seconds * 1000)))

    @property
    def seconds(self) -> float:
        return self.ms / 1000

    def __str__(self) -> str:
        """Prometheus's form: whole units, largest first (90s -> 1m30s, 1d, 36h, 1500ms -> 1s500ms)."""
        if self.ms == 0:
            return "0s"
        if self.ms % _UNITS["d"] == 0:
            return f"{self.ms // _UNITS['d']}d"
        out, rest = "", self.ms
        for unit in ("h", "m", "s", "ms"):
            size = _UNITS[unit]
            if rest >= size:
                out += f"{rest // size}{unit}"
                rest %= size
        return out


def duration(node: Node, minimum: Duration | None = None, maximum: Duration | None = None) -> Duration:
    """A duration from the stack file; bare numbers are refused, since 10 could mean 10s or 10m."""
    if isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        if node.value == 0:
            return Duration(0)  # zero needs no unit
        raise node.error(f"{node.value} has no unit: write e.g. {node.value}s or {node.value}m")
    text = node.text()
    try:
        value = Duration.parse(text)
    except ValueError as exc:
        raise node.error(str(exc)) from None
    if minimum is not None and value < minimum:
        raise node.error(f"must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise node.error(f"must be at most {maximum}, got {value}")
    return value
