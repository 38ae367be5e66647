"""Alert rules read like the kubernetes-mixin: names, severities, words, runbooks, parseable PromQL."""
from __future__ import annotations

import re

import promql_parser
import pytest

from conftest import CHAT_FILES, REPO, STACK_FILES, settings_of, stack_id
from rollout.build.monitoring import rule_groups
from rollout.build.monitoring.slo import RATE_WINDOWS
from rollout.output.generate import differences
from rollout.spec.defaults import BUILTIN_ALERTS

RUNBOOK = (REPO / "docs" / "runbook.md").read_text()
ANCHORS = {re.sub(r"[^a-z0-9-]", "", line[3:].strip().lower().replace(" ", "-")) for line in RUNBOOK.splitlines() if line.startswith("## ")}


def _rules(path):
    settings = settings_of(path)
    return settings, [r for g in rule_groups(settings) for r in g["rules"]]


@pytest.mark.parametrize("path", STACK_FILES, ids=stack_id)
def test_alerts_have_prefix_severity_words_and_a_runbook(path):
    settings, rules = _rules(path)
    monitoring = settings.monitoring
    own_runbooks = {monitoring.alert_name(a.name): a.runbook for a in monitoring.alerts.values() if a.runbook}
    for rule in (r for r in rules if "alert" in r):
        assert re.fullmatch(rf"{monitoring.prefix}[A-Z][A-Za-z0-9]+", rule["alert"])
        assert rule["labels"]["severity"] in ("critical", "warning")
        notes = rule["annotations"]
        assert notes["summary"].endswith(".") and "{{" not in notes["summary"]
        assert "{threshold}" not in notes["description"] and "{for}" not in notes["description"]
        if rule["alert"] in own_runbooks:
            assert notes["runbook_url"] == own_runbooks[rule["alert"]]
        else:
            assert notes["runbook_url"].startswith(monitoring.runbook_url + "#")


def test_every_built_in_alert_and_every_chat_alert_has_a_section_in_the_runbook():
    assert {row.name.lower() for row in BUILTIN_ALERTS} <= ANCHORS
    for path in CHAT_FILES:
        for alert in settings_of(path).monitoring.alerts.values():
            assert alert.name.lower() in ANCHORS, alert.name


@pytest.mark.parametrize("path", STACK_FILES, ids=stack_id)
def test_every_expression_parses_and_selects_by_namespace_and_job(path):
    settings, rules = _rules(path)
    for rule in rules:
        promql_parser.parse(rule["expr"])
        for selector in re.findall(r"[a-z_:]+\{[^}]*\}", rule["expr"]):
            assert f'namespace="{settings.namespace}"' in selector or 'slo="' in selector, selector
            if not selector.startswith("container_memory"):
                assert "job=" in selector or 'slo="' in selector, selector


@pytest.mark.parametrize("path", STACK_FILES, ids=stack_id)
def test_canary_alerts_compare_tracks_only_while_both_serve_traffic(path):
    settings, rules = _rules(path)
    canary = [r for r in rules if "Canary" in r.get("alert", "")]
    track_services = [s for s in settings.kubernetes_services if s.has_flags and settings.strategy == "tracks"
                      and s.has("requests", "counter")]  # Cloud Run's canary alerts are Cloud Monitoring policies
    assert bool(canary) == bool(track_services)
    for rule in canary:
        assert 'track="on"' in rule["expr"] and 'track="off"' in rule["expr"]
        assert rule["expr"].count(f"> {settings.monitoring.canary.min_request_rate:g})") == 2, "a request floor on each track"


@pytest.mark.parametrize("path", STACK_FILES, ids=stack_id)
def test_every_slo_expands_to_recordings_and_page_and_ticket_alerts(path):
    settings, rules = _rules(path)
    for slo in settings.monitoring.slos:
        records = {r["record"] for r in rules if "record" in r and r["labels"].get("slo") == slo.name}
        assert {f"slo:sli_error:ratio_rate{w}" for w in (*RATE_WINDOWS, str(slo.window))} <= records
        burns = [r for r in rules if r.get("labels", {}).get("slo") == slo.name and "alert" in r]
        assert {r["labels"]["severity"] for r in burns} == {"critical", "warning"}
        page = next(r for r in burns if r["labels"]["severity"] == "critical")
        assert f"> {14.4 * slo.budget:.10g}" in page["expr"] and f"> {6 * slo.budget:.10g}" in page["expr"]


def test_a_separate_error_counter_is_never_read_as_zero_when_missing():
    """One meaning for a missing series: only errors counted by status code fall back to zero."""
    settings, rules = _rules(REPO / "Pulumi.prod.yaml")
    by_name = {r.get("alert"): r for r in rules}
    assert "or 0 *" in by_name["ChatServerErrorRate"]["expr"]  # 5xx of the request counter
    assert "or 0 *" not in by_name["ChatSseConnectionSuccessLow"]["expr"]  # its own error counter


def test_label_values_are_escaped_in_every_selector(tmp_path):
    text = (REPO / "Pulumi.prod.yaml").read_text().replace("errorCodes:", "errorCodes:") + ""
    text = text.replace("      metrics:\n        job: backend\n", '      metrics:\n        job: backend\n        errorCodes: "5\\\\d\\\\d"\n')
    path = tmp_path / "Pulumi.prod.yaml"
    path.write_text(text)
    from rollout.spec.stack import load_stack

    rules = [r for g in rule_groups(load_stack(path)) for r in g["rules"]]
    rule = next(r for r in rules if r.get("alert") == "ChatServerErrorRate" and r["labels"]["service"] == "backend")
    assert 'code=~"5\\\\d\\\\d"' in rule["expr"]
    promql_parser.parse(rule["expr"])


def test_committed_alerts_tests_and_dashboards_match_the_stack_files():
    problems = differences(REPO)
    assert not problems, "\n".join(problems) + "\nrun `rollout generate` and commit"
