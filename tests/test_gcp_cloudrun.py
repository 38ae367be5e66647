"""Cloud Run's guarantees, for every stack with Cloud Run services and every pair of its stages:

- a stage move changes the URL map's weights and nothing else: no Cloud Run service (so no template,
  no revision) changes, and each track keeps warm instances and all of its own traffic;
- the weights are exact (0.1% steps, no rounding) and every stage has the same shape;
- rolling back to a stage, the kill switch included, renders the bytes that stage rendered first;
- a brand-new stack at any stage is one `pulumi up`: everything a resource names is created with it.
"""
from __future__ import annotations

import itertools
import re
from decimal import Decimal
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from conftest import REPO, STACK_FILES, settings_of, stack_id
from rollout.build.cloud import is_cloud_resource
from rollout.build.cloudrun import RUN_SERVICE, URL_MAP
from rollout.build.resources import build_manifests
from rollout.errors import ConfigError
from rollout.output.plan import build_plan, build_plan_between, plan_json, plan_text
from rollout.output.render import render_documents
from rollout.spec.stack import load_stack, parse_stack

CLOUD_RUN_FILES = [p for p in STACK_FILES if settings_of(p).cloud_run_services]


def pairs():
    return [(path, a, b) for path in CLOUD_RUN_FILES for a, b in itertools.permutations(settings_of(path).stage_names, 2)]


def cloud(settings, stage: str) -> dict[str, dict]:
    return {d["name"]: d for d in build_manifests(settings, stage) if is_cloud_resource(d)}


def without_weights(url_map: dict) -> dict:
    inputs = url_map["inputs"]
    backends = [{k: v for k, v in b.items() if k != "weight"} for b in inputs["defaultRouteAction"]["weightedBackendServices"]]
    return {**url_map, "inputs": {**inputs, "defaultRouteAction": {"weightedBackendServices": backends}}}


def test_there_are_stacks_with_cloud_run_services_to_check():
    assert {p.name for p in CLOUD_RUN_FILES} >= {"Pulumi.prod.yaml", "Pulumi.staging.yaml", "Pulumi.runshop.yaml"}


@pytest.mark.parametrize("path,source,target", pairs(), ids=lambda v: stack_id(v) if isinstance(v, Path) else v)
def test_a_stage_move_changes_only_the_url_maps_weights(path, source, target):
    settings = settings_of(path)
    before, after = cloud(settings, source), cloud(settings, target)
    assert set(before) == set(after), "a stage move creates or deletes no Google Cloud resource"
    changed = [name for name in after if before[name] != after[name]]
    assert all(after[name]["type"] == URL_MAP for name in changed)
    for name in changed:
        assert without_weights(before[name]) == without_weights(after[name]), "only the weights may differ"
    plan = build_plan(settings, target, source)
    assert plan.revisions_created == 0 and plan_json(plan)["revisions_created"] == 0
    assert "Cloud Run: 0 revisions created" in plan_text(plan)
    assert {c.kind for c in plan.changes if c.kind.startswith("gcp:")} <= {URL_MAP}


@pytest.mark.parametrize("path", CLOUD_RUN_FILES, ids=stack_id)
def test_weights_are_exact_and_every_stage_keeps_both_tracks_warm(path):
    settings = settings_of(path)
    for stage in settings.stages:
        docs = cloud(settings, stage.name)
        for service in settings.cloud_run_services:
            run = service.cloud_run
            if not service.has_flags:
                assert f"{run.name}-off" not in docs and run.name in docs  # one track, no load balancer
                continue
            weights = {b["backendService"].rsplit("/", 1)[1]: b["weight"]
                       for b in docs[run.name]["inputs"]["defaultRouteAction"]["weightedBackendServices"]}
            on = int(Decimal(str(stage.weight_of(service.name))) * 10)
            assert weights == {f"{run.name}-off-be": 1000 - on, f"{run.name}-on-be": on}
            for track in ("off", "on"):
                template = docs[f"{run.name}-{track}"]["inputs"]["template"]
                assert template["scaling"]["minInstanceCount"] >= 1, "a track at weight 0 stays warm"
                assert docs[f"{run.name}-{track}"]["inputs"]["traffics"] == [
                    {"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST", "percent": 100}]


@pytest.mark.parametrize("path", CLOUD_RUN_FILES, ids=stack_id)
def test_rolling_back_to_any_stage_renders_its_first_bytes(path):
    settings = settings_of(path)
    first = {stage: render_documents(build_manifests(settings, stage)) for stage in settings.stage_names}
    walk = settings.stage_names + settings.stage_names[::-1] + [settings.stage_names[-1], settings.kill_switch]
    for stage in walk:
        assert render_documents(build_manifests(settings, stage)) == first[stage]
    assert any(name.startswith("gcp-compute-urlmap--") for name in first[settings.kill_switch])


def test_the_kill_switch_through_the_cli_renders_the_first_bytes_of_the_off_stage(tmp_path, rollout):
    source = REPO / "tests" / "apps" / "Pulumi.runshop.yaml"
    path = tmp_path / source.name
    path.write_text(source.read_text())
    (tmp_path / "Pulumi.yaml").write_text((REPO / "Pulumi.yaml").read_text())
    first = render_documents(build_manifests(load_stack(path)))
    assert rollout("-C", tmp_path, "promote", "runshop", "--to", "half", "--force").code == 0
    assert rollout("-C", tmp_path, "rollback", "runshop", "--kill-switch").code == 0
    assert render_documents(build_manifests(load_stack(path))) == first
    out = tmp_path / "rendered"
    assert rollout("-C", tmp_path, "render", "runshop", "--out", out).code == 0
    assert {p.name: p.read_text() for p in out.glob("*.yaml")} == first


@pytest.mark.parametrize("path", CLOUD_RUN_FILES, ids=stack_id)
def test_a_brand_new_stack_at_any_stage_creates_everything_its_resources_name(path):
    settings = settings_of(path)
    for stage in settings.stage_names:
        plan = build_plan_between(None, settings.stage_names[0], settings, stage)
        assert {c.action for c in plan.changes} == {"create"}
        created = {c.name for c in plan.changes}
        assert plan.revisions_created == sum(1 for c in plan.changes if c.kind == RUN_SERVICE)
        named = 0
        for change in plan.changes:
            doc = change.after
            if not is_cloud_resource(doc):
                continue
            assert set(doc.get("dependsOn", [])) <= created, doc["name"]
            text = repr(doc["inputs"])
            for kind, name in re.findall(r"projects/[^/']+/(?:global|regions/[^/']+)/(\w+)/([a-z0-9-]+)", text):
                assert name in created, f"{doc['name']} names {kind}/{name}, which nothing creates"
                named += 1
        assert named >= 8  # backends name NEGs, the URL map backends, the proxy the map and certificate ...


@pytest.mark.parametrize("path", CLOUD_RUN_FILES, ids=stack_id)
def test_a_track_runs_its_own_image_and_env_and_never_a_secret_value(path):
    settings = settings_of(path)
    docs = cloud(settings, settings.stage_names[-1])
    for service in settings.cloud_run_services:
        tracks = ("off", "on") if service.has_flags else ("stable",)
        for track in tracks:
            name = service.cloud_run.name if track == "stable" else f"{service.cloud_run.name}-{track}"
            container = docs[name]["inputs"]["template"]["containers"][0]
            image = service.on_image if track == "on" and service.on_image else service.image
            assert container["image"] == image
            env = {e["name"]: e for e in container["envs"]}
            for flag in service.flags.values():
                assert env[flag.name]["value"] == getattr(flag, track)
            for secret in [*service.secret_env, *service.cloud_run.secrets]:
                assert set(env[secret]) == {"name", "valueSource"}, "a secret is never a plain value"


def runshop(**changes) -> dict:
    document = YAML(typ="safe", pure=True).load((REPO / "tests" / "apps" / "Pulumi.runshop.yaml").read_text())
    for key, value in changes.items():
        document["config"][key] = value
    return document


def refusal(document: dict) -> str:
    with pytest.raises(ConfigError) as raised:
        parse_stack(document, "runshop", "Pulumi.runshop.yaml")
    return str(raised.value)


def test_the_percentage_strategy_is_refused_for_cloud_run():
    message = refusal(runshop(**{"rollout:strategy": "percentage"}))
    assert "rollout:services.catalog.platform" in message and "every stage would create a revision" in message


def test_secrets_from_pulumi_config_need_the_service_account_that_reads_them():
    document = runshop()
    del document["config"]["rollout:services"]["checkout"]["cloudRun"]["serviceAccount"]
    assert "rollout:services.checkout.cloudRun.serviceAccount" in refusal(document)


def test_an_slo_on_a_cloud_run_service_is_refused_rather_than_dropped():
    document = runshop()
    document["config"]["rollout:monitoring"]["slos"] = [{"name": "checkout", "service": "checkout", "objective": 99.9,
                                                          "indicator": "errorRate"}]
    assert "rollout:monitoring.slos[0].service" in refusal(document)


def test_a_secret_reference_may_not_shadow_an_env_var():
    document = runshop()
    document["config"]["rollout:services"]["checkout"]["cloudRun"]["secrets"]["CATALOG_URL"] = {"secret": "x"}
    assert "rollout:services.checkout.cloudRun.secrets.CATALOG_URL" in refusal(document)


def test_an_env_var_cloud_run_sets_itself_is_refused():
    document = runshop()
    document["config"]["rollout:services"]["catalog"]["env"]["PORT"] = "8080"
    assert "rollout:services.catalog.env.PORT: Cloud Run sets PORT itself" in refusal(document)


def test_memory_too_small_for_four_cpus_is_refused():
    document = runshop()
    document["config"]["rollout:services"]["checkout"]["cloudRun"].update(cpu="4", memory="1Gi")
    assert "needs at least 2Gi" in refusal(document)


def test_names_too_long_for_cloud_run_are_refused_with_the_fix():
    document = runshop(**{"rollout:namespace": "a-very-long-namespace-for-a-shop-that-sells-things"})
    message = refusal(document)
    assert "rollout:services.catalog.cloudRun.name" in message and "set cloudRun.name" in message


def test_under_gmp_two_services_may_not_share_a_job():
    document = YAML(typ="safe", pure=True).load((REPO / "Pulumi.prod.yaml").read_text())
    document["config"]["rollout:services"]["agent"]["metrics"]["job"] = "backend"
    message = refusal(document)
    assert "rollout:services.backend.metrics.job" in message and "unique" in message
