"""Every alert of every stack proven with the real promtool: lint, quiet before its `for` window,
firing at it with the labels and words Prometheus renders, a healthy load that never fires."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from conftest import APP_FILES, REPO, SHIPPED_FILES, STACK_FILES, settings_of, stack_id
from rollout.build.monitoring import rule_groups
from rollout.output import promtool
from rollout.output.generate import rule_tests
from rollout.spec.duration import Duration
from rollout.spec.model import AlertKind, Severity


@pytest.fixture(scope="module", params=STACK_FILES, ids=stack_id)
def proven(request, tmp_path_factory):
    """(settings, rules file, tests document, tests file) for a stack, as `rollout generate` writes them."""
    settings = settings_of(request.param)
    folder = tmp_path_factory.mktemp(settings.stack)
    rules = folder / f"{settings.stack}.rules.yaml"
    rules.write_text(yaml.safe_dump({"groups": rule_groups(settings)}, sort_keys=False, width=1000))
    document = rule_tests(settings)
    tests = folder / f"{settings.stack}.tests.yaml"
    tests.write_text(yaml.safe_dump(document, sort_keys=False, width=1000))
    return settings, rules, document, tests


def _run(tests_file: Path) -> promtool.PromtoolResult:
    return promtool.test_file(tests_file)


def test_promtool_is_installed_or_the_suite_says_how_to_get_it():
    try:
        promtool.promtool()
    except promtool.PromtoolMissing as exc:
        pytest.fail(str(exc))


@pytest.mark.parametrize("path", STACK_FILES, ids=stack_id)
def test_promtool_check_rules_accepts_every_stacks_groups_without_lint_warnings(path):
    result = promtool.check_rules(rule_groups(settings_of(path)))
    assert result.returncode == 0, result.output
    assert "SUCCESS" in result.output and "lint" not in result.output, result.output


@pytest.mark.parametrize("path", SHIPPED_FILES, ids=stack_id)
def test_the_committed_tests_pass_as_a_reviewer_runs_them(path):
    """`promtool test rules alerts/<stack>.tests.yaml`, every alert against the whole rules file."""
    result = _run(REPO / "alerts" / f"{settings_of(path).stack}.tests.yaml")
    assert result.returncode == 0 and "SUCCESS" in result.output, result.output[-4000:]


@pytest.mark.parametrize("path", APP_FILES, ids=stack_id)
def test_the_generated_tests_pass_for_every_application(path, tmp_path):
    """The shipped stacks' tests are the committed ones (regenerated and compared in test_alerts_rules)."""
    settings = settings_of(path)
    (tmp_path / f"{settings.stack}.rules.yaml").write_text(yaml.safe_dump({"groups": rule_groups(settings)}, sort_keys=False, width=1000))
    tests = tmp_path / f"{settings.stack}.tests.yaml"
    tests.write_text(yaml.safe_dump(rule_tests(settings), sort_keys=False, width=1000))
    result = _run(tests)
    assert result.returncode == 0 and "SUCCESS" in result.output, result.output[-4000:]


def _cases(document, alert: str):
    for group in document["tests"]:
        for case in group["alert_rule_test"]:
            if case["alertname"] == alert:
                yield group, case


def test_every_alert_rule_is_quiet_one_evaluation_before_it_fires_and_a_healthy_load_never_fires(proven):
    settings, _, document, _ = proven
    evaluation = settings.monitoring.evaluation_interval.seconds
    for group in rule_groups(settings):
        for rule in (r for r in group["rules"] if "alert" in r):
            cases = list(_cases(document, rule["alert"]))
            firing = [(g, c) for g, c in cases if c["exp_alerts"]]
            assert firing, f"{rule['alert']} ({group['name']}) is never shown firing"
            for test_group, case in firing:
                at = Duration.parse(case["eval_time"]).seconds
                quiet = {Duration.parse(c["eval_time"]).seconds for c in test_group["alert_rule_test"]
                         if c["alertname"] == rule["alert"] and not c["exp_alerts"]}
                assert at - evaluation in quiet, f"{test_group['name']}: no quiet case one evaluation before {at}s"
                expected = case["exp_alerts"][0]
                assert set(expected["exp_annotations"]) == {"summary", "description", "runbook_url"}
                assert all("{{" not in v and "<no value>" not in v for v in expected["exp_annotations"].values())
            assert any("healthy load never fires" in g["name"] or "slow burn" in g["name"] for g, _ in cases), rule["alert"]


def test_every_alert_fires_no_earlier_than_its_for_window_and_built_in_criticals_one_evaluation_after(proven):
    settings, _, document, _ = proven
    monitoring = settings.monitoring
    evaluation = monitoring.evaluation_interval.seconds
    for alert in monitoring.enabled_alerts:
        name = monitoring.alert_name(alert.name)
        for group, case in _cases(document, name):
            if not case["exp_alerts"] or "slow burn" in group["name"]:
                continue
            at = Duration.parse(case["eval_time"]).seconds
            assert at >= alert.for_.seconds, f"{group['name']} fired before its for window"
            if alert.kind in (AlertKind.SLO_FAST, AlertKind.SLO_SLOW):
                continue
            if alert.builtin and alert.severity is Severity.CRITICAL:
                # One scrape interval for rate() to have two samples, rounded up to an evaluation.
                assert at <= alert.for_.seconds + evaluation, f"{group['name']}: fired at {at}s, for is {alert.for_}"
            else:  # the stack's own loads may need the rate window to fill before they cross the threshold
                limit = alert.for_.seconds + monitoring.rate_window.seconds + evaluation
                assert at <= limit, f"{group['name']}: fired at {at}s, for is {alert.for_}"


def test_the_applications_own_alerts_are_proven_like_the_built_in_ones(proven):
    settings, _, document, _ = proven
    own = [a for a in settings.monitoring.enabled_alerts if not a.builtin]
    for alert in own:
        name = settings.monitoring.alert_name(alert.name)
        assert any(c["exp_alerts"] for _, c in _cases(document, name)), f"{name} has no firing case"


def test_a_gauge_the_shop_declares_pages_when_it_crosses_zero():
    settings = settings_of(REPO / "tests" / "apps" / "Pulumi.shop.yaml")
    document = rule_tests(settings)
    (group, case), = [(g, c) for g, c in _cases(document, "ShopCrossContamination") if c["exp_alerts"]]
    assert case["exp_alerts"][0]["exp_labels"]["severity"] == "critical"
    assert case["exp_alerts"][0]["exp_annotations"]["description"] == "3 orders crossed between customers in shop."
    assert case["exp_alerts"][0]["exp_annotations"]["runbook_url"] == "https://wiki.example.com/shop/runbooks#cross-contamination"


def test_a_fast_burn_pages_and_a_slow_burn_only_tickets(proven):
    settings, _, document, _ = proven
    monitoring = settings.monitoring
    page, ticket = monitoring.alert_name("SloBudgetBurnFast"), monitoring.alert_name("SloBudgetBurnSlow")
    for slo in monitoring.slos:
        fast = next(g for g in document["tests"] if g["name"] == f"{page} for {slo.name}: a fast burn pages")
        slow = next(g for g in document["tests"] if g["name"] == f"{ticket} for {slo.name}: a slow burn only tickets")
        assert any(c["alertname"] == page and c["exp_alerts"] for c in fast["alert_rule_test"])
        assert any(c["alertname"] == ticket and c["exp_alerts"] for c in slow["alert_rule_test"])
        assert [c for c in slow["alert_rule_test"] if c["alertname"] == page] and \
            all(not c["exp_alerts"] for c in slow["alert_rule_test"] if c["alertname"] == page)


def test_a_broken_rule_makes_the_committed_tests_fail(tmp_path):
    """The proof can fail: lower a threshold below the healthy load and the healthy case fires."""
    shutil.copy(REPO / "alerts" / "prod.rules.yaml", tmp_path / "prod.rules.yaml")
    document = yaml.safe_load((REPO / "alerts" / "prod.tests.yaml").read_text())
    document["tests"] = [g for g in document["tests"] if g["name"].startswith("ChatServerErrorRate on ")]
    (tmp_path / "prod.tests.yaml").write_text(yaml.safe_dump(document, sort_keys=False, width=1000))
    rules = tmp_path / "prod.rules.yaml"
    text = rules.read_text()
    broken = re.sub(r"(- alert: ChatServerErrorRate\n    expr: .*?) > 0\.01\n", r"\1 > 0.0001\n", text, count=1)
    assert broken != text
    rules.write_text(broken)
    result = _run(tmp_path / "prod.tests.yaml")
    assert result.returncode != 0
    assert {f.alert for f in promtool.parse_failures(result.output)} == {"ChatServerErrorRate"}


def test_failures_are_read_back_with_their_labels_and_annotations():
    output = '''  FAILED:
    name: X on api: fires when its for window has passed,
    alertname: X, time: 1m30s, 
        exp:[], 
        got:[
            0:
              Labels:{alertname="X", job="api", severity="critical"}
              Annotations:{description="50% of \\"api\\" failed", summary="s"}
            ]
'''
    (failure,) = promtool.parse_failures(output)
    assert failure.group == "X on api: fires when its for window has passed" and failure.at == Duration.parse("90s")
    assert failure.got[0].labels == {"alertname": "X", "job": "api", "severity": "critical"}
    assert failure.got[0].annotations["description"] == '50% of "api" failed'
