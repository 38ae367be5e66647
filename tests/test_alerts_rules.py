"""Alert rules read like the kubernetes-mixin: names, severities, words, runbooks, parseable PromQL."""
from __future__ import annotations

import re

import promql_parser
import pytest

from conftest import REPO, SHIPPED_STACKS
from rollout.build.monitoring import rule_groups
from rollout.spec.catalog import CATALOG
from rollout.spec.monitoring import parse_monitoring
from rollout.output.generate import differences
from rollout.spec.stack import load_stack

RUNBOOK = (REPO / "docs" / "runbook.md").read_text()
ANCHORS = {re.sub(r"[^a-z0-9-]", "", line[3:].strip().lower().replace(" ", "-")) for line in RUNBOOK.splitlines() if line.startswith("## ")}


def _rules(stack: str):
    settings = load_stack(REPO / f"Pulumi.{stack}.yaml")
    config = parse_monitoring(settings)
    return settings, config, [r for g in rule_groups(settings, config) for r in g["rules"]]


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_alerts_have_prefix_severity_words_and_a_real_runbook_anchor(stack):
    settings, config, rules = _rules(stack)
    alerts = [r for r in rules if "alert" in r]
    for rule in alerts:
        assert re.fullmatch(rf"{config.prefix}[A-Z][A-Za-z0-9]+", rule["alert"])
        assert rule["labels"]["severity"] in ("critical", "warning")
        notes = rule["annotations"]
        assert notes["summary"].endswith(".") and "{{" not in notes["summary"]
        assert "$labels" in notes["description"] or "$value" in notes["description"]
        url, _, anchor = notes["runbook_url"].partition("#")
        assert url.endswith("docs/runbook.md") and anchor in ANCHORS, rule["alert"]
    names = {r["alert"][len(config.prefix):] for r in alerts}
    assert names == set(CATALOG), "every alert the checklists name ships in the shipped stacks"


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_every_expression_parses_and_selects_by_namespace_and_job(stack):
    settings, _, rules = _rules(stack)
    for rule in rules:
        promql_parser.parse(rule["expr"])
        for selector in re.findall(r"[a-z_:]+\{[^}]*\}", rule["expr"]):
            assert f'namespace="{settings.namespace}"' in selector or 'slo="' in selector, selector
            if not selector.startswith("container_memory"):
                assert "job=" in selector or 'slo="' in selector, selector


def test_canary_alerts_compare_tracks_only_while_both_serve_traffic():
    _, _, rules = _rules("prod")
    canary = [r for r in rules if r.get("alert", "").startswith("ChatCanary")]
    assert canary
    for rule in canary:
        assert 'track="on"' in rule["expr"] and 'track="off"' in rule["expr"]
        assert rule["expr"].count("> 0.1)") == 2, "a request floor on each track"


def test_every_slo_expands_to_recordings_and_page_and_ticket_alerts():
    settings, config, rules = _rules("prod")
    for slo in config.slos:
        records = {r["record"] for r in rules if "record" in r and r["labels"].get("slo") == slo.name}
        assert {f"slo:sli_error:ratio_rate{w}" for w in ("5m", "30m", "1h", "2h", "6h", "1d", "3d", slo.window)} <= records
        burns = [r for r in rules if r.get("labels", {}).get("slo") == slo.name and "alert" in r]
        assert {r["labels"]["severity"] for r in burns} == {"critical", "warning"}
        page = next(r for r in burns if r["labels"]["severity"] == "critical")
        budget = 1 - slo.objective / 100
        assert f"> {14.4 * budget:.10g}" in page["expr"] and f"> {6 * budget:.10g}" in page["expr"]


def test_committed_alerts_and_dashboards_match_the_stack_files():
    problems = differences(REPO)
    assert not problems, "\n".join(problems) + "\nrun `python -m rollout.output.generate` and commit"
