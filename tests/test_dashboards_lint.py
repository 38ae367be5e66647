"""Dashboards checked the way grafana's dashboard-linter would, plus stable uids per stack."""
from __future__ import annotations

import re

import promql_parser
import pytest

from conftest import REPO, STACK_FILES, settings_of, stack_id
from rollout.build.monitoring import build_monitoring
from rollout.build.monitoring.dashboards import DATASOURCE_VAR, SIDECAR_LABEL, dashboards

VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m"}


def _models(path):
    settings = settings_of(path)
    return settings, dashboards(settings)


def _panels(model):
    for panel in model["panels"]:
        yield panel
        yield from panel.get("panels", [])


@pytest.mark.parametrize("path", STACK_FILES, ids=stack_id)
def test_dashboards_lint_clean(path):
    _, models = _models(path)
    # Cloud Run services have their Cloud Monitoring dashboard instead (test_gcp_monitoring.py).
    assert len(models) == 1 + -(-sum(1 for s in settings_of(path).kubernetes_services if s.metrics) // 25)
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


@pytest.mark.parametrize("path", STACK_FILES, ids=stack_id)
def test_dashboard_uids_are_stable_per_stack_and_unique(path):
    settings, models = _models(path)
    assert models == dashboards(settings)
    assert all(uid.startswith(f"{settings.app}-{settings.stack}-") and len(uid) <= 40 for uid in models)
    for other in STACK_FILES:
        if other != path:
            assert not set(models) & set(_models(other)[1]), "two stacks would overwrite each other's dashboards"


@pytest.mark.parametrize("path", STACK_FILES, ids=stack_id)
def test_dashboards_ship_as_sidecar_config_maps_with_a_folder(path):
    settings, models = _models(path)
    maps = [m for m in build_monitoring(settings) if m["kind"] == "ConfigMap"]
    assert {next(iter(m["data"])) for m in maps} == {f"{uid}.json" for uid in models}
    for m in maps:
        assert m["metadata"]["labels"][SIDECAR_LABEL] == "1"
        assert m["metadata"]["annotations"]["grafana_folder"]


def test_overview_maps_live_replicas_to_every_stage_of_the_ladder():
    settings, models = _models(REPO / "Pulumi.prod.yaml")
    overview = models[f"{settings.app}-prod-rollout"]
    stage_panel = next(p for p in _panels(overview) if p["title"].startswith("Current stage (backend"))
    texts = [m["options"]["result"]["text"] for m in stage_panel["fieldConfig"]["defaults"]["mappings"]]
    assert [t.split(" ")[0] for t in texts] == settings.stage_names
    assert "kube_deployment_spec_replicas" in stage_panel["targets"][0]["expr"]


def test_the_percentage_strategy_shows_the_stage_and_weight_from_pod_labels():
    settings, models = _models(REPO / "tests" / "apps" / "Pulumi.shop.yaml")
    overview = models["shop-shop-rollout"]
    panel = next(p for p in _panels(overview) if p["title"].startswith("Current stage and weight of checkout"))
    assert "kube_pod_labels" in panel["targets"][0]["expr"] and "label_rollout_dev_stage" in panel["targets"][0]["expr"]
    assert "label_rollout_dev_weight" in panel["targets"][0]["legendFormat"]


def test_every_gate_check_of_a_flagged_service_is_plotted_by_track():
    settings, models = _models(REPO / "Pulumi.prod.yaml")
    titles = {p["title"] for p in _panels(models["chat-prod-rollout"])}
    for threshold in settings.gates.checks.values():
        assert f"backend: {threshold.indicator.title} by track" in titles


def test_a_large_stack_is_split_into_dashboards_that_fit_a_config_map(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("generate_stack", REPO / "bench" / "generate_stack.py")
    generate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generate)
    path = tmp_path / "Pulumi.big.yaml"
    path.write_text(generate.generate_stack(services=60, flags=1))
    from rollout.spec.stack import load_stack

    maps = [m for m in build_monitoring(load_stack(path)) if m["metadata"]["name"].startswith("dashboard-")]
    assert len(maps) == 4  # the overview and three pages of at most 25 services
    assert all(len(next(iter(m["data"].values())).encode()) < 1024 * 1024 for m in maps)


def test_the_linter_catches_a_rate_without_rate_interval():
    settings, models = _models(REPO / "Pulumi.prod.yaml")
    model = next(iter(models.values()))
    panel = next(p for p in _panels(model) if p["type"] == "timeseries")
    panel["targets"][0]["expr"] = panel["targets"][0]["expr"].replace("$__rate_interval", "5m")
    with pytest.raises(AssertionError):
        for match in re.finditer(r"\brate\([^\[]*\[([^\]]+)\]", panel["targets"][0]["expr"]):
            assert match.group(1) == "$__rate_interval"
