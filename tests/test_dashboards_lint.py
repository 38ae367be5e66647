"""Dashboards checked the way grafana's dashboard-linter would, plus stable uids per stack."""
from __future__ import annotations

import re

import promql_parser
import pytest

from conftest import REPO, SHIPPED_STACKS
from rollout.spec.monitoring import parse_monitoring
from rollout.build.monitoring.dashboards import DATASOURCE_VAR, SIDECAR_LABEL, dashboards
from rollout.build.monitoring import build_monitoring
from rollout.spec.stack import load_stack
from rollout.core.ladder import resolve

VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m"}


def _models(stack: str):
    settings = load_stack(REPO / f"Pulumi.{stack}.yaml")
    return settings, dashboards(settings, parse_monitoring(settings))


def _panels(model):
    for panel in model["panels"]:
        yield panel
        yield from panel.get("panels", [])


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_dashboards_lint_clean(stack):
    _, models = _models(stack)
    assert len(models) == 2
    for uid, model in models.items():
        variables = {v["name"]: v for v in model["templating"]["list"]}
        assert variables[DATASOURCE_VAR]["type"] == "datasource" and variables[DATASOURCE_VAR]["query"] == "prometheus"
        ids = [p["id"] for p in _panels(model)]
        assert len(ids) == len(set(ids)) and all(isinstance(i, int) and i > 0 for i in ids), f"{uid}: panel ids"
        for panel in _panels(model):
            assert panel.get("title"), f"{uid}: panel {panel['id']} has no title"
            if panel["type"] == "row":
                continue
            assert panel["datasource"] == {"type": "prometheus", "uid": "${%s}" % DATASOURCE_VAR}
            assert panel["fieldConfig"]["defaults"].get("unit"), f"{uid}: {panel['title']} has no unit"
            assert panel["targets"], f"{uid}: {panel['title']} has no query"
            for target in panel["targets"]:
                expr = target["expr"]
                for match in re.finditer(r"\brate\([^\[]*\[([^\]]+)\]", expr):
                    assert match.group(1) == "$__rate_interval", f"{panel['title']}: {expr}"
                for name, value in VARIABLES.items():
                    expr = expr.replace(name, value)
                promql_parser.parse(expr)  # raises on a query Prometheus would refuse


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_dashboard_uids_are_stable_per_stack_and_unique(stack):
    settings, models = _models(stack)
    again = dashboards(settings, parse_monitoring(settings))
    assert models == again
    assert all(uid.startswith(f"{settings.app}-{stack}-") and len(uid) <= 40 for uid in models)
    other = [s for s in SHIPPED_STACKS if s != stack]
    for name in other:
        assert not set(models) & set(_models(name)[1]), "two stacks would overwrite each other's dashboards"


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_dashboards_ship_as_sidecar_config_maps_with_a_folder(stack):
    settings, models = _models(stack)
    maps = [m for m in build_monitoring(settings, resolve(settings)) if m["kind"] == "ConfigMap"]
    assert {next(iter(m["data"])) for m in maps} == {f"{uid}.json" for uid in models}
    for m in maps:
        assert m["metadata"]["labels"][SIDECAR_LABEL] == "1"
        assert m["metadata"]["annotations"]["grafana_folder"]


def test_overview_maps_live_replicas_to_every_stage_of_the_ladder():
    settings, models = _models("prod")
    overview = models[f"{settings.app}-prod-rollout"]
    stage_panel = next(p for p in _panels(overview) if p["title"].startswith("Current stage (backend"))
    texts = [m["options"]["result"]["text"] for m in stage_panel["fieldConfig"]["defaults"]["mappings"]]
    assert [t.split(" ")[0] for t in texts] == settings.stage_names
    assert "kube_deployment_spec_replicas" in stage_panel["targets"][0]["expr"]


def test_the_linter_catches_a_rate_without_rate_interval():
    settings, models = _models("prod")
    model = next(iter(models.values()))
    panel = next(p for p in _panels(model) if p["type"] == "timeseries")
    panel["targets"][0]["expr"] = panel["targets"][0]["expr"].replace("$__rate_interval", "5m")
    with pytest.raises(AssertionError):
        for match in re.finditer(r"\brate\([^\[]*\[([^\]]+)\]", panel["targets"][0]["expr"]):
            assert match.group(1) == "$__rate_interval"
