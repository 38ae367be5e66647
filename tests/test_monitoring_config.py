"""The rollout:monitoring section: defaults, overrides, and bad values named by key (exit 2)."""
from __future__ import annotations

import pytest
from ruamel.yaml import YAML

from conftest import REPO
from rollout.errors import ConfigError
from rollout.build.resources import build_manifests
from rollout.build.monitoring import rule_groups
from rollout.spec.catalog import CATALOG
from rollout.spec.monitoring import parse_monitoring
from rollout.spec.stack import load_stack


def _with_monitoring(tmp_path, section):
    doc = YAML(typ="safe", pure=True).load((REPO / "Pulumi.prod.yaml").read_text())
    if section is None:
        doc["config"].pop("rollout:monitoring", None)
    else:
        doc["config"]["rollout:monitoring"] = section
    path = tmp_path / "Pulumi.prod.yaml"
    YAML(typ="safe", pure=True).dump(doc, path)
    return load_stack(path)


def test_no_monitoring_section_means_every_default(tmp_path):
    config = parse_monitoring(_with_monitoring(tmp_path, None))
    assert config.prefix == "Chat" and config.evaluation_interval == "30s" and config.slos == ()
    assert {n: (a.threshold, a.for_, a.severity) for n, a in config.alerts.items()} == {
        n: (d.threshold, d.for_, d.severity) for n, d in CATALOG.items()}


def test_an_override_changes_the_rule_and_its_description(tmp_path):
    settings = _with_monitoring(tmp_path, {"alerts": {"ServerErrorRate": {"threshold": 2, "for": "3m", "severity": "warning"}}})
    rule = next(r for g in rule_groups(settings) for r in g["rules"] if r.get("alert") == "ChatServerErrorRate")
    assert rule["expr"].endswith("> 0.02") and rule["for"] == "3m" and rule["labels"]["severity"] == "warning"
    assert "threshold 2%" in rule["annotations"]["description"] and "for 3m" in rule["annotations"]["description"]


def test_a_disabled_alert_is_gone(tmp_path):
    settings = _with_monitoring(tmp_path, {"alerts": {"MemoryHigh": {"enabled": False}}})
    assert not any(r.get("alert") == "ChatMemoryHigh" for g in rule_groups(settings) for r in g["rules"])


BAD = [
    ({"alertPrefx": "X"}, "rollout:monitoring.alertPrefx", "did you mean 'alertPrefix'"),
    ({"alertPrefix": "lower"}, "rollout:monitoring.alertPrefix", "CamelCase"),
    ({"evaluationInterval": "5 minutes"}, "rollout:monitoring.evaluationInterval", "duration"),
    ({"rateWindow": "1m"}, "rollout:monitoring.rateWindow", "four scrape intervals"),
    ({"alerts": {"ServerErrorRat": {}}}, "rollout:monitoring.alerts.ServerErrorRat", "did you mean 'ServerErrorRate'"),
    ({"alerts": {"ServerErrorRate": {"threshold": 150}}}, "rollout:monitoring.alerts.ServerErrorRate.threshold", "at most 100"),
    ({"alerts": {"ServerErrorRate": {"severity": "page"}}}, "rollout:monitoring.alerts.ServerErrorRate.severity", "critical, warning"),
    ({"alerts": {"CanaryLatencyWorse": {"threshold": 5}}}, "rollout:monitoring.alerts.CanaryLatencyWorse.threshold", "rollout:gates.margins.red"),
    ({"canary": {"redMargin": 12}}, "rollout:monitoring.canary.redMargin", "rollout:gates.margins.red"),
    ({"slos": [{"name": "x", "service": "nope", "objective": 99, "errors": "a", "total": "b"}]}, "rollout:monitoring.slos[0].service", "not one of"),
    ({"slos": [{"name": "x", "service": "backend", "objective": 99, "errors": "activeSessions", "total": "requests"}]},
     "rollout:monitoring.slos[0].errors", "not a counter"),
    ({"slos": [{"name": "x", "service": "backend", "objective": 99, "errors": "requests", "total": "requests"}]},
     "rollout:monitoring.slos[0]", "set errorCodes"),
    ({"slos": [{"name": "x", "service": "backend", "objective": 100, "errors": "sseConnectionErrors", "total": "sseConnections"}]},
     "rollout:monitoring.slos[0].objective", "at most"),
    ({"routing": {"slack": {"channel": "alerts"}}}, "rollout:monitoring.routing.slack.channel", "#chat-alerts"),
    ({"runbookUrl": "https://x/runbook.md#a"}, "rollout:monitoring.runbookUrl", "'#'"),
]


@pytest.mark.parametrize(("section", "key", "hint"), BAD, ids=[b[1] + ":" + b[2] for b in BAD])
def test_bad_monitoring_values_are_config_errors_naming_the_key(tmp_path, section, key, hint):
    settings = _with_monitoring(tmp_path, section)
    with pytest.raises(ConfigError) as err:
        build_manifests(settings)
    assert err.value.exit_code == 2
    assert err.value.key == key and hint in err.value.problem, str(err.value)
    assert "Pulumi.prod.yaml" in str(err.value)


def test_the_cli_reports_a_bad_monitoring_value_with_exit_2(tmp_path, rollout):
    _with_monitoring(tmp_path, {"alerts": {"LatencyHigh": {"for": "soon"}}})
    (tmp_path / "Pulumi.yaml").write_text((REPO / "Pulumi.yaml").read_text())
    result = rollout("-C", tmp_path, "render", "prod", "--out", tmp_path / "out")
    assert result.code == 2
    assert "rollout:monitoring.alerts.LatencyHigh.for" in result.err


def test_canary_alerts_page_at_the_gates_red_margin(tmp_path):
    import re

    from ruamel.yaml import YAML

    _with_monitoring(tmp_path, {})  # writes the stack file this test edits
    path = tmp_path / "Pulumi.prod.yaml"
    doc = YAML(typ="safe").load(path.read_text())
    doc["config"].setdefault("rollout:gates", {})["margins"] = {"yellow": 4, "red": 15}
    import io
    buf = io.StringIO(); YAML(typ="safe").dump(doc, buf); path.write_text(buf.getvalue())
    from rollout.spec.stack import load_stack

    rules = [r for g in rule_groups(load_stack(path)) for r in g["rules"] if r.get("alert", "").startswith("ChatCanary")]
    assert rules and all(re.search(r"\b1\.15\b", r["expr"]) for r in rules), [r["expr"] for r in rules]
