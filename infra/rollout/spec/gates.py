"""`rollout:gates`: the checks a stage must pass, the rollback triggers, soak time and the ledger."""
from __future__ import annotations

import posixpath
import re
from types import MappingProxyType
from typing import Mapping

from rollout.spec import defaults
from rollout.spec.duration import Duration, duration
from rollout.spec.model import Bound, Form, GateSettings, Indicator, OnRed, Threshold
from rollout.spec.reader import Node, by_builtins_then_name, did_you_mean, optional

SECTION_KEYS = ("window", "minRequests", "minSoak", "margins", "checks", "rollbackTriggers", "onRed", "ledger",
                "triggerWindow", "cloudSqlBackup")  # cloudSqlBackup needs the ladder: spec.gcp reads it
MOVED = {
    "errorCodes": "moved to rollout:services.<service>.metrics.errorCodes, shared by alerts, gates and dashboards",
    "quantile": "moved to the indicator: rollout:indicators.<name>.quantile",
}
# Which bounds make sense for a form: an error ratio only has a ceiling, a success rate only a floor.
BOUNDS = {Form.ERROR_RATIO: (Bound.MAX,), Form.SUCCESS: (Bound.MIN,), Form.QUANTILE: (Bound.MAX,),
          Form.RATE: (Bound.MAX, Bound.MIN), Form.GAUGE: (Bound.MAX, Bound.MIN)}
S3_LOCATION = r"s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9](/[^\s]*)?"


def parse_gates(node: Node, stack: str, indicators: Mapping[str, Indicator]) -> GateSettings:
    """Every key is optional; a typo names the file and key."""
    root = node if node.present else Node({}, node.file, node.path)
    for key, reason in MOVED.items():
        if isinstance(root.value, dict) and key in root.value:
            raise root.child(key, None).error(reason)
    f = root.mapping(SECTION_KEYS)
    window = duration(optional(f, "window", root, defaults.GATE_WINDOW), minimum=Duration.parse("1m"))
    trigger_window = duration(optional(f, "triggerWindow", root, defaults.TRIGGER_WINDOW), minimum=Duration.parse("30s"))
    margins_node = optional(f, "margins", root, {})
    margins = margins_node.mapping(("yellow", "red"))
    yellow = margins["yellow"].number(0, 1000) if "yellow" in margins else defaults.YELLOW_MARGIN
    red = margins["red"].number(0, 1000) if "red" in margins else defaults.RED_MARGIN
    if red < yellow:
        raise margins.get("red", margins_node).error(f"red ({red:g}%) must not be below yellow ({yellow:g}%)")
    checks = _thresholds(optional(f, "checks", root), indicators, defaults.GATE_CHECKS, with_hold=False)
    triggers = _thresholds(optional(f, "rollbackTriggers", root), indicators, defaults.ROLLBACK_TRIGGERS, with_hold=True)
    return GateSettings(
        window=window,
        trigger_window=trigger_window,
        min_requests=optional(f, "minRequests", root, defaults.MIN_REQUESTS).number(0),
        min_soak=duration(optional(f, "minSoak", root, defaults.MIN_SOAK)),
        yellow_margin=yellow,
        red_margin=red,
        checks=MappingProxyType(checks),
        triggers=MappingProxyType(triggers),
        on_red=OnRed(optional(f, "onRed", root, defaults.ON_RED).choice([o.value for o in OnRed])),
        ledger=_ledger(optional(f, "ledger", root, f"ledger/{stack}.jsonl")),
    )


def _ledger(node: Node) -> str:
    """A path inside the project or an S3 location; where a path really leads (symlinks, an absolute
    path) is checked when the ledger is opened (core/ledger.py)."""
    location = node.text(max_length=1024)
    if location.startswith("s3://"):
        if not re.fullmatch(S3_LOCATION, location):
            raise node.error(f"{location!r} is not an S3 location: use s3://bucket or s3://bucket/prefix")
        return location
    if re.match(r"[a-z][a-z0-9+.-]*://", location) or location.startswith("~") or "\\" in location:
        raise node.error(f"{location!r} must be a path inside the project (relative to the stack file) or s3://bucket/prefix")
    if not location.startswith("/") and posixpath.normpath(location).startswith(".."):
        raise node.error(f"{location!r} leaves the project; keep the ledger inside it or use s3://bucket/prefix")
    return location


def _thresholds(node: Node, indicators: Mapping[str, Indicator], table: tuple[defaults.Limit, ...],
                with_hold: bool) -> dict[str, Threshold]:
    out = {d.indicator: Threshold(indicators[d.indicator], Bound(d.bound), d.limit, Duration.parse(d.hold))
           for d in table}
    if not node.present:
        return out
    entries = node.mapping()
    for name, cnode in entries.items():
        if name not in indicators:
            raise cnode.error(f"unknown indicator{did_you_mean(name, indicators)}; indicators: {', '.join(indicators)} "
                              "(declare your own under rollout:indicators)")
        if cnode.value is False:
            out.pop(name, None)  # `false` turns a check off
            continue
        out[name] = threshold(cnode, indicators[name], out.get(name), with_hold)
    return by_builtins_then_name(out, (d.indicator for d in table))


def threshold(node: Node, indicator: Indicator, default: Threshold | None, with_hold: bool) -> Threshold:
    allowed = BOUNDS[indicator.form]
    keys = [b.value for b in allowed] + (["for"] if with_hold else [])
    fields = node.mapping(keys)
    given = [b for b in allowed if b.value in fields]
    if len(given) > 1:
        raise node.error("give either max or min, not both")
    if not given and default is None:
        raise node.error(f"needs {' or '.join(b.value for b in allowed)}: the limit for {indicator.title}")
    bound = given[0] if given else default.bound  # type: ignore[union-attr]
    limit = limit_value(fields[bound.value], indicator) if given else default.limit  # type: ignore[union-attr]
    hold = duration(fields["for"]) if "for" in fields else (default.hold if default else Duration(0))
    return Threshold(indicator, bound, limit, hold)


def limit_value(node: Node, indicator: Indicator) -> float:
    """Percent for ratios (0-100), seconds for quantiles (500ms or 0.5), plain numbers otherwise."""
    if indicator.form is Form.QUANTILE:
        if isinstance(node.value, str):
            return duration(node).seconds
        return node.number(0)
    if indicator.form in (Form.ERROR_RATIO, Form.SUCCESS):
        return node.number(0, 100)
    return node.number(0)
