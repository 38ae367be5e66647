"""The rollout:monitoring and rollout:indicators sections: defaults, overrides, the application's own
alerts, and bad values named by key (exit 2) when the file is loaded, before anything is built."""
from __future__ import annotations

import io
import re

import pytest
from ruamel.yaml import YAML

from conftest import REPO
from rollout.build.monitoring import rule_groups
from rollout.errors import ConfigError
from rollout.spec.defaults import BUILTIN_ALERTS
from rollout.spec.stack import load_stack

CUSTOM = {
    "indicator": "sseSuccess", "below": 97, "for": "3m", "severity": "critical",
    "summary": "SSE success is low.", "description": "Only {{ $value | humanizePercentage }} succeed.",
    "test": {"healthy": 99.5, "breaching": 80},
}


def _stack(tmp_path, **sections):
    """Pulumi.prod.yaml with some rollout:* sections replaced (None removes one)."""
    yaml = YAML(typ="safe", pure=True)
    doc = yaml.load((REPO / "Pulumi.prod.yaml").read_text())
    for key, value in sections.items():
        if value is None:
            doc["config"].pop(f"rollout:{key}", None)
        else:
            doc["config"][f"rollout:{key}"] = value
    path = tmp_path / "Pulumi.prod.yaml"
    out = io.StringIO()
    yaml.dump(doc, out)
    path.write_text(out.getvalue())
    return path


def _monitoring(**changes):
    doc = YAML(typ="safe", pure=True).load((REPO / "Pulumi.prod.yaml").read_text())
    section = doc["config"]["rollout:monitoring"]
    section["alerts"].update(changes.pop("alerts", {}))  # the stack's own alerts stay: their roles are in use
    section.update(changes)
    return section


def _rules(path):
    return {(r["alert"], r["labels"]["service"]): r for g in rule_groups(load_stack(path)) for r in g["rules"] if "alert" in r}


def test_no_monitoring_section_means_every_built_in_default(tmp_path):
    # Only the target: prod's frontend runs on Cloud Run, which needs Managed Prometheus.
    path = _stack(tmp_path, monitoring={"target": "gmp"}, indicators=None, gates={"ledger": "ledger/prod.jsonl"})
    text = path.read_text()
    path.write_text(re.sub(r"\n          (session|sse|csrf|active|first|inter|rate|token|response)\w*: \{\w+: \w+\}", "", text))
    monitoring = load_stack(path).monitoring
    assert monitoring.prefix == "Chat" and str(monitoring.evaluation_interval) == "30s" and monitoring.slos == ()
    assert {(n, a.threshold, str(a.for_), a.severity.value) for n, a in monitoring.alerts.items()} == {
        (row.name, row.threshold, row.for_, row.severity) for row in BUILTIN_ALERTS}


def test_an_override_changes_the_rule_and_its_description(tmp_path):
    path = _stack(tmp_path, monitoring=_monitoring(alerts={"ServerErrorRate": {"threshold": 2, "for": "3m", "severity": "warning"}}))
    rule = _rules(path)[("ChatServerErrorRate", "backend")]
    assert rule["expr"].endswith("> 0.02") and rule["for"] == "3m" and rule["labels"]["severity"] == "warning"
    assert "threshold 2%" in rule["annotations"]["description"] and "for 3m" in rule["annotations"]["description"]


def test_a_disabled_alert_is_gone(tmp_path):
    path = _stack(tmp_path, monitoring=_monitoring(alerts={"MemoryHigh": {"enabled": False}}))
    assert not any(name == "ChatMemoryHigh" for name, _ in _rules(path))


def test_an_applications_own_alert_renders_on_every_service_declaring_its_roles(tmp_path):
    path = _stack(tmp_path, monitoring=_monitoring(alerts={"SseDegraded": CUSTOM}))
    rules = _rules(path)
    assert [s for name, s in rules if name == "ChatSseDegraded"] == ["backend"]
    rule = rules[("ChatSseDegraded", "backend")]
    assert rule["expr"].endswith("< 0.97") and "sse_connection_errors" in rule["expr"] and rule["for"] == "3m"
    assert rule["annotations"]["runbook_url"].endswith("#ssedegraded")


def test_durations_are_one_type_everywhere(tmp_path):
    path = _stack(tmp_path, monitoring=_monitoring(alerts={"LatencyHigh": {"for": "1.5m"}, "SseDegraded": {**CUSTOM, "for": "90s"}}))
    rules = _rules(path)
    assert rules[("ChatLatencyHigh", "backend")]["for"] == "1m30s"
    assert rules[("ChatSseDegraded", "backend")]["for"] == "1m30s"
    gates = load_stack(_stack(tmp_path, gates={"window": "1.5m", "minSoak": "500ms"})).gates
    assert str(gates.window) == "1m30s" and gates.min_soak.ms == 500


def _bad_services_signal():
    doc = YAML(typ="safe", pure=True).load((REPO / "Pulumi.prod.yaml").read_text())
    services = doc["config"]["rollout:services"]
    services["backend"]["metrics"]["signals"]["crossContamintion"] = {"gauge": "cross_contamination_count"}
    return services


BAD = [
    ({"monitoring": _monitoring(alertPrefx="X")}, "rollout:monitoring.alertPrefx", "did you mean 'alertPrefix'"),
    ({"monitoring": _monitoring(alertPrefix="lower")}, "rollout:monitoring.alertPrefix", "CamelCase"),
    ({"monitoring": _monitoring(evaluationInterval="5 minutes")}, "rollout:monitoring.evaluationInterval", "duration"),
    ({"monitoring": _monitoring(evaluationInterval=30)}, "rollout:monitoring.evaluationInterval", "no unit"),
    ({"monitoring": _monitoring(rateWindow="1m")}, "rollout:monitoring.rateWindow", "four scrape intervals"),
    ({"monitoring": _monitoring(alerts={"ServerErrorRat": {"threshold": 2}})}, "rollout:monitoring.alerts.ServerErrorRat",
     "did you mean 'ServerErrorRate'"),
    ({"monitoring": _monitoring(alerts={"ServerErrorRate": {"threshold": 150}})},
     "rollout:monitoring.alerts.ServerErrorRate.threshold", "at most 100"),
    ({"monitoring": _monitoring(alerts={"ServerErrorRate": {"threshold": float("nan")}})},
     "rollout:monitoring.alerts.ServerErrorRate.threshold", "finite"),
    ({"monitoring": _monitoring(alerts={"ServerErrorRate": {"severity": "page"}})},
     "rollout:monitoring.alerts.ServerErrorRate.severity", "critical, warning"),
    ({"monitoring": _monitoring(alerts={"CanaryLatencyWorse": {"threshold": 5}})},
     "rollout:monitoring.alerts.CanaryLatencyWorse.threshold", "rollout:gates.margins.red"),
    ({"monitoring": _monitoring(canary={"redMargin": 12})}, "rollout:monitoring.canary.redMargin", "rollout:gates.margins.red"),
    ({"monitoring": _monitoring(alerts={"SseDegraded": {**CUSTOM, "indicator": "sseSucess"}})},
     "rollout:monitoring.alerts.SseDegraded.indicator", "did you mean 'sseSuccess'"),
    ({"monitoring": _monitoring(alerts={"SseDegraded": {k: v for k, v in CUSTOM.items() if k != "test"}})},
     "rollout:monitoring.alerts.SseDegraded.test", "required"),
    ({"monitoring": _monitoring(alerts={"SseDegraded": {**CUSTOM, "test": {"healthy": 96, "breaching": 80}}})},
     "rollout:monitoring.alerts.SseDegraded.test.healthy", "would fire"),
    ({"monitoring": _monitoring(alerts={"SseDegraded": {**CUSTOM, "above": 1}})}, "rollout:monitoring.alerts.SseDegraded",
     "exactly one of above"),
    ({"monitoring": _monitoring(alerts={"Leak": {"expr": "max({crossContamination})", "above": 0, "for": "1m",
                                                 "severity": "critical", "summary": "s.", "description": "d",
                                                 "test": {"healthy": {}, "breaching": {}}}})},
     "rollout:monitoring.alerts.Leak.expr", "not a role any service declares"),
    ({"services": _bad_services_signal()}, "rollout:services.backend.metrics.signals.crossContamintion", "unknown role"),
    ({"monitoring": _monitoring(slos=[{"name": "x", "service": "nope", "objective": 99, "indicator": "errorRate"}])},
     "rollout:monitoring.slos[0].service", "not one of"),
    ({"monitoring": _monitoring(slos=[{"name": "x", "service": "backend", "objective": 99, "indicator": "firstTokenP95"}])},
     "rollout:monitoring.slos[0].indicator", "not an errorRatio or success indicator"),
    ({"monitoring": _monitoring(slos=[{"name": "x", "service": "backend", "objective": 99, "errors": "a", "total": "b"}])},
     "rollout:monitoring.slos[0]", "moved to an indicator"),
    ({"monitoring": _monitoring(slos=[{"name": "x", "service": "backend", "objective": 100, "indicator": "sseSuccess"}])},
     "rollout:monitoring.slos[0].objective", "at most"),
    ({"monitoring": _monitoring(routing={"slack": {"channel": "alerts"}})}, "rollout:monitoring.routing.slack.channel", "#chat-alerts"),
    ({"monitoring": _monitoring(runbookUrl="https://x/runbook.md#a")}, "rollout:monitoring.runbookUrl", "'#'"),
    ({"indicators": {"sseSuccess": {"success": {"errors": "sseErrors", "total": "sseConnections"}}}},
     "rollout:indicators.sseSuccess.success.errors", "no service declares the role 'sseErrors'"),
    ({"indicators": {"errorRate": {"rate": "requests"}}}, "rollout:indicators.errorRate", "built in"),
    ({"indicators": {"x": {"rate": "latency"}}}, "rollout:indicators.x.rate", "histogram, but this needs a counter"),
]


@pytest.mark.parametrize(("sections", "key", "hint"), BAD, ids=[b[1] + ":" + b[2] for b in BAD])
def test_bad_monitoring_values_are_refused_at_load_naming_the_key(tmp_path, sections, key, hint):
    path = _stack(tmp_path, **sections)
    with pytest.raises(ConfigError) as err:
        load_stack(path)
    assert err.value.exit_code == 2
    assert err.value.key == key and hint in err.value.problem, str(err.value)
    assert "Pulumi.prod.yaml" in str(err.value)


@pytest.mark.parametrize("command", ["status", "plan", "render"])
def test_every_command_reports_a_bad_monitoring_value_with_exit_2(tmp_path, rollout, command):
    _stack(tmp_path, monitoring=_monitoring(alerts={"LatencyHigh": {"for": "soon"}}))
    (tmp_path / "Pulumi.yaml").write_text((REPO / "Pulumi.yaml").read_text())
    extra = ["--out", tmp_path / "out"] if command == "render" else []
    result = rollout("-C", tmp_path, command, "prod", *extra)
    assert result.code == 2
    assert "rollout:monitoring.alerts.LatencyHigh.for" in result.err


def test_canary_alerts_page_at_the_gates_red_margin(tmp_path):
    gates = YAML(typ="safe", pure=True).load((REPO / "Pulumi.prod.yaml").read_text())["config"]["rollout:gates"]
    path = _stack(tmp_path, gates={**gates, "margins": {"yellow": 4, "red": 15}})
    rules = [r for (name, _), r in _rules(path).items() if name.startswith("ChatCanary")]
    assert rules and all(re.search(r"\b1\.15\b", r["expr"]) for r in rules), [r["expr"] for r in rules]
