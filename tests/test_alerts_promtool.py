"""Every alert proven with the real promtool: lint, before/at its `for` window, detection time."""
from __future__ import annotations

import re

import pytest

from conftest import REPO, SHIPPED_STACKS
from rollout.build.monitoring import rule_groups
from rollout.spec.monitoring import parse_monitoring
from harness.rule_tests import (
    PromtoolMissing, alert_tests, check_rules, detection_times, promtool, promtool_test_rules,
)
from rollout.spec.stack import load_stack


@pytest.fixture(scope="module", params=SHIPPED_STACKS)
def stack(request):
    settings = load_stack(REPO / f"Pulumi.{request.param}.yaml")
    return settings, parse_monitoring(settings)


def test_promtool_is_installed_or_the_suite_says_how_to_get_it():
    try:
        promtool()
    except PromtoolMissing as exc:
        pytest.fail(str(exc))


def test_promtool_check_rules_accepts_every_stacks_groups_without_lint_warnings(stack):
    settings, config = stack
    result = check_rules(rule_groups(settings, config))
    assert result.returncode == 0, result.output
    assert "SUCCESS" in result.output and "lint" not in result.output, result.output


def _at(text: str) -> int:
    return sum(int(n) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[u] for n, u in re.findall(r"([0-9]+)([smhd])", text))


def test_every_alert_rule_is_quiet_one_evaluation_before_it_fires_with_exact_labels(stack):
    settings, config = stack
    tests = alert_tests(settings, config)
    for group in rule_groups(settings, config):
        for rule in (r for r in group["rules"] if "alert" in r):
            proven = False
            for key, test_groups in tests.items():
                if key[0] != group["name"]:
                    continue
                for test in test_groups:
                    cases = [c for c in test["alert_rule_test"] if c["alertname"] == rule["alert"]]
                    firing = [c for c in cases if c["exp_alerts"]]
                    quiet_times = {_at(c["eval_time"]) for c in cases if not c["exp_alerts"]}
                    for case in firing:
                        expected = case["exp_alerts"][0]
                        assert expected["exp_labels"]["severity"] == rule["labels"]["severity"]
                        assert set(expected["exp_annotations"]) == {"summary", "description", "runbook_url"}
                        assert "{{" not in expected["exp_annotations"]["description"]
                        proven |= _at(case["eval_time"]) - config.evaluation_seconds in quiet_times
            assert proven, f"{rule['alert']} in {group['name']} lacks a quiet case just before a firing case"


def test_promtool_test_rules_passes_for_every_alert_and_burn_rate(stack):
    settings, config = stack
    result = promtool_test_rules(rule_groups(settings, config), alert_tests(settings, config), config)
    assert result.returncode == 0, result.output[:4000]
    assert "FAILED" not in result.output


def test_a_fast_burn_pages_and_a_slow_burn_only_tickets(stack):
    settings, config = stack
    assert config.slos, "the shipped stacks declare SLOs"
    tests = alert_tests(settings, config)
    page, ticket = config.alert_name("SloBudgetBurnFast"), config.alert_name("SloBudgetBurnSlow")
    for slo in config.slos:
        fast, slow = tests[(f"{settings.app}.slo.{slo.name}", None)]
        assert any(c["alertname"] == page and c["exp_alerts"] for c in fast["alert_rule_test"])
        assert any(c["alertname"] == ticket and c["exp_alerts"] for c in slow["alert_rule_test"])
        assert all(not c["exp_alerts"] for c in slow["alert_rule_test"] if c["alertname"] == page)


def test_a_broken_rule_makes_promtool_fail(stack):
    """The harness can fail: lower a threshold below the healthy load and the healthy case fires."""
    settings, config = stack
    groups = rule_groups(settings, config)
    name = config.alert_name("ServerErrorRate")
    for group in groups:
        for rule in group["rules"]:
            if rule.get("alert") == name:
                rule["expr"] = re.sub(r"> [0-9.]+$", "> 0.0001", rule["expr"])
    only_this_alert = {key: t for key, t in alert_tests(settings, config).items() if key[1] == name}
    result = promtool_test_rules(groups, only_this_alert, config)
    assert result.returncode != 0
    assert any(alert == name for _, alert, _ in result.failures)


def test_each_critical_alert_fires_within_its_for_window_plus_one_evaluation(stack):
    settings, config = stack
    detections = detection_times(settings, config)
    assert detections and {d.alert for d in detections} >= {config.alert_name("ServerErrorRate")}
    for d in detections:
        assert d.detected_seconds is not None, f"{d.alert} on {d.subject} never fired"
        assert d.for_seconds <= d.detected_seconds <= d.for_seconds + config.evaluation_seconds, d
