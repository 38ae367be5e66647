"""`rollout:gates` as typed settings, with the deployment checklists' numbers as defaults."""
from __future__ import annotations

import re
from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

from rollout.spec.reader import Node, optional
from rollout.spec.stack import StackSettings

ON_RED = ("previous", "kill-switch")
SECTION_KEYS = (
    "window", "minRequests", "minSoak", "margins", "checks", "rollbackTriggers", "onRed",
    "ledger", "errorCodes", "quantile", "triggerWindow",
)
_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class CheckKind:
    """A named metric check: which contract roles it reads and how it is judged."""

    name: str
    title: str
    form: str  # "error_ratio" (share of requests with a 5xx code), "success" (1 - errors/total), "quantile"
    roles: tuple[str, ...]  # contract roles it needs; a service without them is not checked
    bound: str  # "max" (value must stay below) or "min" (value must stay above)
    unit: str  # "%" or "s"


CHECK_KINDS: Mapping[str, CheckKind] = MappingProxyType({
    k.name: k for k in (
        CheckKind("errorRate", "5xx error rate", "error_ratio", ("requests",), "max", "%"),
        CheckKind("latencyP95", "p95 latency", "quantile", ("latency",), "max", "s"),
        CheckKind("sessionCreationSuccess", "session creation success", "success",
                  ("sessionCreations", "sessionCreationErrors"), "min", "%"),
        CheckKind("sseSuccess", "SSE connection success", "success",
                  ("sseConnections", "sseConnectionErrors"), "min", "%"),
        CheckKind("firstTokenP95", "first-token p95 latency", "quantile", ("firstTokenLatency",), "max", "s"),
    )
})

DEFAULT_CHECKS = {
    "errorRate": 1.0, "latencyP95": 0.5, "sessionCreationSuccess": 99.0, "sseSuccess": 99.0,
    "firstTokenP95": 0.15,
}
# The checklists' automatic rollback triggers: (threshold, seconds it must hold).
DEFAULT_TRIGGERS = {"errorRate": (1.0, 120.0), "sseSuccess": (95.0, 0.0), "latencyP95": (5.0, 0.0)}


@dataclass(frozen=True)
class Threshold:
    check: CheckKind
    limit: float  # percent for "%" checks, seconds for "s" checks
    hold: float = 0.0  # seconds a rollback trigger must hold before it fires

    def breached(self, value: float) -> bool:
        return value > self.limit if self.check.bound == "max" else value < self.limit

    def describe(self) -> str:
        op = "<" if self.check.bound == "max" else ">="
        text = f"{op} {format_value(self.limit, self.check.unit)}"
        return text + (f" (fires after {format_duration(self.hold)})" if self.hold else "")


@dataclass(frozen=True)
class GateConfig:
    window: float  # seconds of data behind each rate and quantile
    trigger_window: float  # shorter rate window for rollback triggers, so they react fast
    min_requests: float  # per track and window; fewer means "not enough data"
    min_soak: float  # seconds at the current stage before a gate can be GREEN
    yellow_margin: float  # percent worse than baseline
    red_margin: float
    quantile: float
    error_codes: str  # regex on the `code` label
    checks: Mapping[str, Threshold]
    triggers: Mapping[str, Threshold]
    on_red: str  # "previous" or "kill-switch"
    ledger: str  # path relative to the stack file's folder, or s3://bucket/prefix


def parse_duration(node: Node) -> float:
    """'500ms', '2m', '1h' or a number of seconds."""
    if isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return node.number(0)
    text = node.text()
    match = _DURATION.fullmatch(text.strip())
    if not match:
        raise node.error(f"{text!r} is not a duration: use e.g. 500ms, 30s, 15m, 1h or a number of seconds")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def format_duration(seconds: float) -> str:
    if seconds == 0:
        return "0s"
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    if seconds % 3600 == 0:
        return f"{seconds / 3600:g}h"
    if seconds % 60 == 0:
        return f"{seconds / 60:g}m"
    if seconds >= 60:
        return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"
    return f"{seconds:g}s"


def format_value(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "s":
        return f"{value * 1000:.0f}ms" if value < 10 else f"{value:.1f}s"
    return f"{value:.2f}%"


def promql_duration(seconds: float) -> str:
    """Prometheus wants whole units: 90s, 10m, 1500ms."""
    ms = int(round(seconds * 1000))
    for unit, size in (("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms % size == 0 and ms > 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def _limit(node: Node, kind: CheckKind) -> float:
    if kind.unit == "s":
        return parse_duration(node)
    return node.number(0, 100)


def _parse_checks(node: Node, defaults: Mapping[str, float], key: str, with_hold: bool,
                  default_holds: Mapping[str, float] | None = None) -> dict[str, Threshold]:
    out = {name: Threshold(CHECK_KINDS[name], limit, (default_holds or {}).get(name, 0.0))
           for name, limit in defaults.items()}
    if node.value is None:
        return out
    for name, cnode in node.mapping(CHECK_KINDS).items():
        kind = CHECK_KINDS[name]
        if cnode.value is False:
            out.pop(name, None)  # `false` turns a check off
            continue
        fields = cnode.mapping((kind.bound, "for") if with_hold else (kind.bound,))
        if kind.bound not in fields and name not in out:
            raise cnode.error(f"needs `{kind.bound}`: the {kind.title} {'limit' if kind.bound == 'max' else 'floor'}")
        limit = _limit(fields[kind.bound], kind) if kind.bound in fields else out[name].limit
        hold = parse_duration(fields["for"]) if "for" in fields else (out[name].hold if name in out else 0.0)
        out[name] = Threshold(kind, limit, hold)
    return out


def parse_gates(settings: StackSettings) -> GateConfig:
    """Read `rollout:gates`; every key is optional, and a typo names the file and key."""
    root = settings.node("gates")
    if root.value is None:
        root = Node({}, root.file, root.path)
    f = root.mapping(SECTION_KEYS)
    window = parse_duration(optional(f, "window", root, "10m"))
    if window < 60:
        raise f["window"].error("must be at least 1m so rates have enough samples")
    trigger_window = parse_duration(optional(f, "triggerWindow", root, "1m"))
    if trigger_window < 30:
        raise f["triggerWindow"].error("must be at least 30s so rates have two samples")
    margins = optional(f, "margins", root, {}).mapping(("yellow", "red"))
    yellow = margins["yellow"].number(0, 1000) if "yellow" in margins else 5.0
    red = margins["red"].number(0, 1000) if "red" in margins else 10.0
    if red < yellow:
        raise margins.get("red", margins.get("yellow")).error(f"red ({red:g}%) must not be below yellow ({yellow:g}%)")
    on_red = optional(f, "onRed", root, "previous").choice(ON_RED)
    ledger = optional(f, "ledger", root, f"ledger/{settings.stack}.jsonl").text()
    if ledger.startswith("s3://") and not re.fullmatch(r"s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9](/\S*)?", ledger):
        raise f["ledger"].error(f"{ledger!r} is not an S3 location: use s3://bucket or s3://bucket/prefix")
    return GateConfig(
        window=window,
        trigger_window=trigger_window,
        min_requests=optional(f, "minRequests", root, 100).number(0),
        min_soak=parse_duration(optional(f, "minSoak", root, "15m")),
        yellow_margin=yellow,
        red_margin=red,
        quantile=optional(f, "quantile", root, 0.95).number(0.5, 0.999),
        error_codes=optional(f, "errorCodes", root, "5..").text(r"[0-9.|]+", "a regex on the code label, e.g. 5.."),
        checks=MappingProxyType(_parse_checks(optional(f, "checks", root), DEFAULT_CHECKS, "checks", False)),
        triggers=MappingProxyType(_parse_checks(
            optional(f, "rollbackTriggers", root),
            {k: v[0] for k, v in DEFAULT_TRIGGERS.items()}, "rollbackTriggers", True,
            {k: v[1] for k, v in DEFAULT_TRIGGERS.items()},
        )),
        on_red=on_red,
        ledger=ledger,
    )
