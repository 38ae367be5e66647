"""`promtool test rules` for every alert, and detection times measured with promtool.

For each alert: one evaluation just before its `for` window ends with nothing firing, one
at the window with the exact labels and annotations, and a healthy load that never fires.
SLO burn alerts: a fast burn that pages, and a slower one that only opens a ticket.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from rollout.spec.stack import StackSettings
from rollout.build.monitoring import rule_groups
from rollout.build.monitoring.alerts import service_group_name
from rollout.spec.monitoring import MonitoringConfig, Slo, duration_text, parse_monitoring, seconds
from harness.scenarios import Scenario, scenarios, slo_scenario
from rollout.build.monitoring.slo import PAGE, TICKET, slo_group_name

PROMTOOL_TIMEOUT = 120  # seconds; a whole stack's tests take well under one


class PromtoolMissing(RuntimeError):
    pass


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        raise PromtoolMissing(
            "promtool is not on PATH: install Debian's `prometheus` package (apt-get install prometheus)"
        )
    return path


# -- Go template functions the annotations use, as Prometheus formats them -------------------

def _g4(value: float) -> str:
    return "%.4g" % value


def humanize(v: float) -> str:
    if v == 0 or abs(v) < 1:
        return _g4(v)  # the shipped alerts never show fractions below 1 through humanize
    prefix = ""
    for p in ("k", "M", "G", "T", "P", "E", "Z", "Y"):
        if abs(v) < 1000:
            break
        prefix, v = p, v / 1000
    return _g4(v) + prefix


def humanize_duration(v: float) -> str:
    if v == 0:
        return _g4(v) + "s"
    if abs(v) >= 1:
        whole = int(v)
        days, hours, minutes, secs = whole // 86400, whole // 3600 % 24, whole // 60 % 60, whole % 60
        if days:
            return f"{days}d {hours}h {minutes}m {secs}s"
        if hours:
            return f"{hours}h {minutes}m {secs}s"
        if minutes:
            return f"{minutes}m {secs}s"
        return _g4(v) + "s"
    prefix = ""
    for p in ("m", "u", "n", "p", "f", "a", "z", "y"):
        if abs(v) >= 1:
            break
        prefix, v = p, v * 1000
    return f"{_g4(v)}{prefix}s"


def _go_default(v: float) -> str:
    text = repr(float(v))
    return text[:-2] if text.endswith(".0") else text


FORMATTERS = {
    "humanizePercentage": lambda v: _g4(v * 100) + "%",
    "humanizeDuration": humanize_duration,
    "humanize": humanize,
    'printf "%.2f"': lambda v: f"{v:.2f}",
    'printf "%.1f"': lambda v: f"{v:.1f}",
}


def render_template(text: str, labels: dict[str, str], value: float) -> str:
    """Expand the few template forms the alert annotations use."""

    def expand(match: re.Match[str]) -> str:
        expr = match.group(1).strip()
        if expr.startswith("$labels."):
            return labels.get(expr[len("$labels."):], "")
        if expr == "$value":
            return _go_default(value)
        if expr.startswith("$value |"):
            return FORMATTERS[expr.split("|", 1)[1].strip()](value)
        raise ValueError(f"template form not supported by the test renderer: {{{{ {expr} }}}}")

    return re.sub(r"\{\{(.*?)\}\}", expand, text)


# -- test documents -------------------------------------------------------------------------

@dataclass(frozen=True)
class Expectation:
    alert: str  # full alert name
    fires_at: int  # seconds after the breach started
    rule: dict[str, Any]


def _rules_by_group(groups: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """group name -> alert name -> rule (services share alert names, each in its own group)."""
    return {g["name"]: {r["alert"]: r for r in g["rules"] if "alert" in r} for g in groups}


def _firing(rule: dict[str, Any], labels: dict[str, str], value: float) -> dict[str, Any]:
    all_labels = {**labels, **rule["labels"]}
    with_name = {**all_labels, "alertname": rule["alert"]}
    return {
        "exp_labels": all_labels,
        "exp_annotations": {k: render_template(v, with_name, value) for k, v in rule["annotations"].items()},
    }


def _test_group(name: str, interval: int, scenario: Scenario, checks: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "name": name,
        "interval": duration_text(interval),
        "input_series": [{"series": s, "values": v} for s, v in scenario.series],
        "alert_rule_test": checks,
    }


def _check(alert: str, at: int, firing: list[dict[str, Any]]) -> dict[str, Any]:
    return {"eval_time": duration_text(at), "alertname": alert, "exp_alerts": firing}


def fire_time(scenario: Scenario, for_seconds: int, evaluation: int) -> int:
    """The first evaluation at which the alert fires: its expression holds for `for`."""
    first_true = -(-scenario.lag // evaluation) * evaluation
    return first_true + for_seconds


# (rule group, alert or None for the whole group) -> promtool test groups. A service alert is
# tested against its own rule alone: alerts never read each other, and it is 10x less work.
TestsByGroup = dict[tuple[str, str | None], list[dict[str, Any]]]


def alert_tests(settings: StackSettings, config: MonitoringConfig) -> TestsByGroup:
    """promtool test groups for every alert, filed under the rule group that holds the alert."""
    rules = _rules_by_group(rule_groups(settings, config))
    interval, evaluation = seconds(config.scrape_interval), config.evaluation_seconds
    tests: TestsByGroup = {}
    healthy = {(s.alert, s.subject): s for s in scenarios(settings, config, breach=False)}
    for breach in scenarios(settings, config, breach=True):
        name = config.alert_name(breach.alert)
        group = service_group_name(settings, breach.subject)
        rule = rules[group][name]
        at = fire_time(breach, seconds(rule["for"]), evaluation)
        label = f"{name} on {breach.subject}"
        tests.setdefault((group, name), []).extend([
            _test_group(f"{label}: breach", interval, breach, [
                _check(name, at - evaluation, []),
                _check(name, at, [_firing(rule, breach.labels, breach.value(at))]),
            ]),
            _test_group(f"{label}: healthy", interval, healthy[(breach.alert, breach.subject)], [
                _check(name, at, []), _check(name, at + 4 * evaluation, []),
            ]),
        ])
    for slo in config.slos:
        tests[(slo_group_name(settings, slo), None)] = slo_tests(settings, config, slo, rules[slo_group_name(settings, slo)])
    return tests


def slo_tests(settings: StackSettings, config: MonitoringConfig, slo: Slo, rules: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """A fast burn pages; a burn between the ticket and page factors only tickets."""
    interval, evaluation = seconds(config.scrape_interval), config.evaluation_seconds
    page, ticket = config.alert_name("SloBudgetBurnFast"), config.alert_name("SloBudgetBurnSlow")
    if page not in rules or ticket not in rules:
        return []
    page_for, ticket_for = seconds(rules[page]["for"]), seconds(rules[ticket]["for"])
    horizon = ticket_for + page_for + 10 * evaluation
    fast_factor = 2 * PAGE[0].factor  # well past 14.4x
    slow_factor = (TICKET[0].factor + PAGE[1].factor) / 2  # over 3x, under 6x: never pages
    fast = slo_scenario(settings, config, slo, fast_factor, horizon)
    at_fast = fire_time(fast, page_for, evaluation)
    slow = slo_scenario(settings, config, slo, slow_factor, horizon)
    at_slow = fire_time(slow, ticket_for, evaluation)
    return [
        _test_group(f"{page} for {slo.name}: fast burn pages", interval, fast, [
            _check(page, at_fast - evaluation, []),
            _check(page, at_fast, [_firing(rules[page], fast.labels, fast.value(at_fast))]),
        ]),
        _test_group(f"{ticket} for {slo.name}: slow burn only tickets", interval, slow, [
            _check(ticket, at_slow - evaluation, []),
            _check(ticket, at_slow, [_firing(rules[ticket], slow.labels, slow.value(at_slow))]),
            _check(page, at_slow, []),
            _check(page, horizon - interval, []),
        ]),
    ]


@dataclass(frozen=True)
class PromtoolResult:
    returncode: int
    output: str

    @property
    def failures(self) -> list[tuple[str, str, str]]:
        """(test group, alert, eval time) of every failed check."""
        return re.findall(r"name: (.*?),\s*\n\s*alertname: (\S+), time: (\S+), ", self.output)


def _file_name(group: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", group)


def write_rule_files(groups: list[dict[str, Any]], keys: list[tuple[str, str | None]], folder: Path) -> dict[tuple[str, str | None], str]:
    """A rules file per key: a whole group, or one alert of a group on its own."""
    by_name = {g["name"]: g for g in groups}
    files = {}
    for group_name, alert in keys:
        group = by_name[group_name]
        if alert is not None:
            group = {**group, "rules": [r for r in group["rules"] if r.get("alert") == alert]}
        name = _file_name(f"{group_name}.{alert or 'all'}") + ".rules.yaml"
        (folder / name).write_text(yaml.safe_dump({"groups": [group]}, sort_keys=False, width=1000), encoding="utf-8")
        files[(group_name, alert)] = name
    return files


def check_rules(groups: list[dict[str, Any]]) -> PromtoolResult:
    """`promtool check rules` on the stack's groups, as one plain rules file."""
    with tempfile.TemporaryDirectory(prefix="rollout-promtool-") as tmp:
        path = Path(tmp) / "rules.yaml"
        path.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False, width=1000), encoding="utf-8")
        return _run([promtool(), "check", "rules", str(path)], tmp)


def promtool_test_rules(groups: list[dict[str, Any]], tests: TestsByGroup, config: MonitoringConfig) -> PromtoolResult:
    """`promtool test rules`, spread over one process per CPU (a stack takes a few seconds)."""
    with tempfile.TemporaryDirectory(prefix="rollout-promtool-") as tmp:
        folder = Path(tmp)
        rule_files = write_rule_files(groups, list(tests), folder)
        workers = max(1, os.cpu_count() or 1)
        shares: list[list[str]] = [[] for _ in range(workers)]
        for key, group_tests in tests.items():
            # Deal each group's tests round-robin so every process gets an even share of work.
            for worker in range(workers):
                dealt = group_tests[worker::workers]
                if not dealt:
                    continue
                path = folder / rule_files[key].replace(".rules.yaml", f".{worker}.tests.yaml")
                document = {"rule_files": [rule_files[key]], "evaluation_interval": config.evaluation_interval,
                            "tests": dealt}
                path.write_text(yaml.safe_dump(document, sort_keys=False, width=1000), encoding="utf-8")
                shares[worker].append(path.name)
        procs = [subprocess.Popen([promtool(), "test", "rules", *share], cwd=tmp, text=True, env=_fast_tmp_env(),
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for share in shares if share]
        outputs, code = [], 0
        for proc in procs:
            try:
                out, _ = proc.communicate(timeout=PROMTOOL_TIMEOUT)
            except subprocess.TimeoutExpired:
                for p in procs:
                    p.kill()
                raise
            outputs.append(out)
            code = code or proc.returncode
        return PromtoolResult(code, "\n".join(outputs))


def _fast_tmp_env() -> dict[str, str]:
    """promtool builds a TSDB per test group in TMPDIR; on tmpfs the suite runs about 3x faster."""
    env = dict(os.environ)
    if os.access("/dev/shm", os.W_OK):
        env["TMPDIR"] = "/dev/shm"
    return env


def _run(args: list[str], cwd: str) -> PromtoolResult:
    proc = subprocess.run(args, capture_output=True, text=True, timeout=PROMTOOL_TIMEOUT, cwd=cwd)
    return PromtoolResult(proc.returncode, proc.stdout + proc.stderr)


def run_alert_tests(settings: StackSettings, config: MonitoringConfig | None = None) -> PromtoolResult:
    config = config or parse_monitoring(settings)
    return promtool_test_rules(rule_groups(settings, config), alert_tests(settings, config), config)


# -- detection time ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Detection:
    alert: str
    subject: str
    for_seconds: int
    detected_seconds: int | None  # None: never fired within the probe horizon

    @property
    def minutes(self) -> float | None:
        return None if self.detected_seconds is None else self.detected_seconds / 60


def detection_times(settings: StackSettings, config: MonitoringConfig | None = None) -> list[Detection]:
    """Minutes from the start of each critical alert's breach until it fires, probed by promtool.

    Every probe expects nothing firing; promtool reports each probe the alert fails, so the
    earliest failed probe is the moment the alert fired.
    """
    config = config or parse_monitoring(settings)
    groups = rule_groups(settings, config)
    rules = _rules_by_group(groups)
    interval, evaluation = seconds(config.scrape_interval), config.evaluation_seconds
    probes: TestsByGroup = {}
    subjects = []
    for breach in scenarios(settings, config, breach=True):
        name = config.alert_name(breach.alert)
        rule = rules[service_group_name(settings, breach.subject)][name]
        if rule["labels"]["severity"] != "critical":
            continue
        for_seconds = seconds(rule["for"])
        horizon = for_seconds + 4 * evaluation
        group = f"probe {name} on {breach.subject}"
        checks = [_check(name, t, []) for t in range(0, horizon + 1, evaluation)]
        probes.setdefault((service_group_name(settings, breach.subject), name), []).append(
            _test_group(group, interval, breach, checks))
        subjects.append((group, name, breach.subject, for_seconds))
    result = promtool_test_rules(groups, probes, config)
    first: dict[str, int] = {}
    for group, _, at in result.failures:
        first[group] = min(first.get(group, 10**9), _parse_duration(at))
    return [Detection(name, subject, for_s, first.get(group)) for group, name, subject, for_s in subjects]


def _parse_duration(text: str) -> int:
    total = 0
    for amount, unit in re.findall(r"([0-9]+)(ms|s|m|h|d)", text):
        total += int(amount) * {"ms": 0, "s": 1, "m": 60, "h": 3600, "d": 86400}[unit]
    return total
