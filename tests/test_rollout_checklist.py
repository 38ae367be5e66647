"""The checklist guarantees: stage moves restart no pod, and a rollback reproduces what shipped."""
from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from conftest import REPO, SHIPPED_STACKS
from rollout.build.resources import build_manifests, kubernetes_manifests
from rollout.output.plan import build_plan
from rollout.output.render import render_documents
from rollout.spec.stack import load_stack, parse_stack


def shipped(stack: str):
    return load_stack(REPO / f"Pulumi.{stack}.yaml")


def stage_pairs(stack: str):
    settings = shipped(stack)
    return [(stack, a, b) for a, b in itertools.permutations(settings.stage_names, 2)]


@pytest.mark.parametrize("stack,source,target", [p for s in SHIPPED_STACKS for p in stage_pairs(s)])
def test_every_promote_and_rollback_between_stages_restarts_no_pod(stack, source, target):
    plan = build_plan(shipped(stack), target, source)
    assert plan.pods_restarted == 0
    changed_kinds = {c.kind for c in plan.changes if c.kind in ("Deployment", "ConfigMap", "Secret", "Service")}
    assert changed_kinds <= {"Deployment"}, "only replica counts may change between stages"
    for change in plan.changes:
        if change.kind == "Deployment":
            assert change.before["spec"]["template"] == change.after["spec"]["template"]


@pytest.mark.parametrize("stack,stage", [(s, st) for s in SHIPPED_STACKS for st in shipped(s).stage_names])
def test_the_kill_switch_from_any_stage_restarts_no_pod_and_turns_every_flag_off(stack, stage):
    settings = shipped(stack)
    plan = build_plan(settings, settings.kill_switch, stage)
    assert plan.pods_restarted == 0
    for split in plan.target.splits.values():
        assert split.replicas.get("on", 0) == 0


def test_rolling_back_to_a_stage_renders_the_same_bytes_as_the_first_time(project: Path, rollout):
    first: dict[str, dict[str, str]] = {}
    ladder = load_stack(project / "Pulumi.prod.yaml").stage_names
    for stage in ladder:
        settings = load_stack(project / "Pulumi.prod.yaml")
        assert settings.stage == stage
        first[stage] = render_documents(build_manifests(settings))
        if stage != ladder[-1]:
            assert rollout("-C", project, "promote", "prod").code == 0
    for stage in reversed(ladder[:-1]):
        assert rollout("-C", project, "rollback", "prod").code == 0
        settings = load_stack(project / "Pulumi.prod.yaml")
        assert settings.stage == stage
        assert render_documents(build_manifests(settings)) == first[stage]
    assert rollout("-C", project, "promote", "prod", "--to", "canary-50", "--force").code == 0
    assert rollout("-C", project, "rollback", "prod", "--kill-switch").code == 0
    assert render_documents(build_manifests(load_stack(project / "Pulumi.prod.yaml"))) == first["off"]


def test_the_same_flag_content_gives_the_same_config_map_name_and_a_flag_change_rolls_the_pods():
    settings = shipped("prod")
    names = {m["metadata"]["name"] for m in kubernetes_manifests(build_manifests(settings)) if m["kind"] == "ConfigMap"}
    assert names == {m["metadata"]["name"] for m in kubernetes_manifests(build_manifests(shipped("prod")))
                     if m["kind"] == "ConfigMap"}
    import copy
    from ruamel.yaml import YAML

    doc = YAML(typ="safe").load((REPO / "Pulumi.prod.yaml").read_text())
    changed = copy.deepcopy(doc)
    changed["config"]["rollout:services"]["backend"]["flags"]["ENABLE_ADK_CANONICAL_STREAM"]["on"] = "shadow"
    before = build_manifests(parse_stack(doc, "prod", "f"), "canary-25")
    after = build_manifests(parse_stack(changed, "prod", "f"), "canary-25")
    from rollout.output.plan import diff_manifests, restarted_pods

    changes = diff_manifests(before, after)
    assert {(c.kind, c.action) for c in changes} == {("ConfigMap", "create"), ("ConfigMap", "delete"), ("Deployment", "update")}
    assert restarted_pods(changes) == 5  # the 25% on track of 20 backend replicas


def test_the_receiving_track_is_named_first_in_the_plan_order():
    settings = shipped("prod")
    up = build_plan(settings, "canary-25", "canary-5")
    from rollout.output.plan import plan_text

    assert "scale up backend-on 1 -> 5, then scale down backend-off 19 -> 15" in plan_text(up)
    down = build_plan(settings, "canary-5", "canary-25")
    assert "scale up backend-off 15 -> 19, then scale down backend-on 5 -> 1" in plan_text(down)


def test_the_percentage_strategy_restarts_pods_on_every_stage_and_the_plan_says_so():
    from ruamel.yaml import YAML
    from rollout.output.plan import plan_text

    doc = YAML(typ="safe").load((REPO / "Pulumi.prod.yaml").read_text())
    doc["config"]["rollout:strategy"] = "percentage"
    del doc["config"]["rollout:services"]["frontend"]  # build-time flags cannot be bucketed at run time
    settings = parse_stack(doc, "prod", "Pulumi.prod.yaml")
    plan = build_plan(settings, "canary-25", "canary-5")
    assert plan.pods_restarted == 20
    assert "percentage strategy" in plan_text(plan)
    env = next(m for m in kubernetes_manifests(build_manifests(settings, "canary-25"))
               if m["kind"] == "ConfigMap" and "backend" in m["metadata"]["name"])
    assert env["data"]["ROLLOUT_PERCENTAGE"] == "25"
    assert env["data"]["ENABLE_ADK_CANONICAL_STREAM"] == "true"


def test_the_build_time_flag_service_runs_its_own_image_on_the_on_track():
    manifests = build_manifests(shipped("prod"), "canary-5")
    images = {m["metadata"]["name"]: m["spec"]["template"]["spec"]["containers"][0]["image"]
              for m in kubernetes_manifests(manifests) if m["kind"] == "Deployment"}
    images.update({m["name"]: m["inputs"]["template"]["containers"][0]["image"]  # the frontend runs on Cloud Run
                   for m in manifests if m.get("type") == "gcp:cloudrunv2/service:Service"})
    assert images["chat-prod-frontend-on"].endswith("-adk-stream")
    assert not images["chat-prod-frontend-off"].endswith("-adk-stream")
    assert images["backend-on"] == images["backend-off"]


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_secrets_never_reach_config_maps_or_rendered_files(stack):
    settings = shipped(stack)
    for stage in settings.stage_names:
        manifests = kubernetes_manifests(build_manifests(settings, stage))
        for m in manifests:
            if m["kind"] == "Secret":
                assert "data" not in m and "stringData" not in m
            if m["kind"] == "ConfigMap":
                for service in settings.services.values():
                    assert not set(service.secret_env) & set(m.get("data", {}))
