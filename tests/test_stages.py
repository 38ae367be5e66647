"""The ladder: weights become replica splits, and weights replicas cannot express are refused."""
from __future__ import annotations

import textwrap

import pytest
from ruamel.yaml import YAML

from rollout.errors import UsageError
from rollout.spec.stack import parse_stack
from rollout.core.ladder import resolve


def stack(ladder: str, replicas: int = 20, tolerance: float = 1, strategy: str = "tracks") -> dict:
    """A two-service stack of a made-up application: nothing about the chat app is assumed."""
    return {"config": {
        "rollout:app": "shop",
        "rollout:namespace": "shop-prod",
        "rollout:strategy": strategy,
        "rollout:stage": "s0",
        "rollout:weightTolerance": tolerance,
        "rollout:stages": YAML(typ="safe").load(textwrap.dedent(ladder)),
        "rollout:services": {
            "api": {
                "image": "registry.example/api:1", "port": 9000, "healthPath": "/healthz",
                "replicas": replicas, "flags": {"NEW_CHECKOUT": {"off": "0", "on": "1"}},
            },
            "worker": {"image": "registry.example/worker:1", "port": 9100, "healthPath": "/ready", "replicas": 3},
        },
    }}


def test_a_10_25_50_75_100_ladder_is_config_alone():
    doc = stack("""
        - {name: s0, weight: 0}
        - {name: s10, weight: 10}
        - {name: s25, weight: 25}
        - {name: s50, weight: 50}
        - {name: s75, weight: 75}
        - {name: s100, weight: 100}
    """)
    settings = parse_stack(doc, "prod", "Pulumi.prod.yaml")
    on = [resolve(settings, s).splits["api"].replicas["on"] for s in settings.stage_names]
    assert on == [0, 2, 5, 10, 15, 20]


def test_a_gradual_rollback_ladder_75_50_25_0_is_config_alone():
    doc = stack("""
        - {name: s0, weight: 75}
        - {name: down-50, weight: 50}
        - {name: down-25, weight: 25}
        - {name: gone, weight: 0}
    """)
    settings = parse_stack(doc, "prod", "Pulumi.prod.yaml")
    assert settings.kill_switch == "gone"
    assert [resolve(settings, s).weights()["api"]["requested"] for s in settings.stage_names] == [75, 50, 25, 0]


def test_a_service_without_flags_keeps_one_stable_track_at_every_stage():
    settings = parse_stack(stack("- {name: s0, weight: 0}\n- {name: s50, weight: 50}"), "prod", "f")
    for name in settings.stage_names:
        assert dict(resolve(settings, name).splits["worker"].replicas) == {"stable": 3}


def test_effective_weight_is_reported_next_to_the_requested_one():
    settings = parse_stack(stack("- {name: s0, weight: 0}\n- {name: s33, weight: 33}", replicas=10, tolerance=5), "p", "f")
    weights = resolve(settings, "s33").weights()["api"]
    assert weights == {"requested": 33, "effective": 30}


def test_five_percent_of_ten_replicas_is_refused_with_what_would_work():
    settings = parse_stack(stack("- {name: s0, weight: 0}\n- {name: s5, weight: 5}", replicas=10), "p", "Pulumi.p.yaml")
    with pytest.raises(UsageError) as err:
        resolve(settings, "s5")
    message = str(err.value)
    assert "Pulumi.p.yaml" in message and "'s5'" in message and "api" in message
    assert "10%" in message and "rollout:services.api.replicas" in message and "e.g. 17" in message


def test_a_canary_weight_that_rounds_to_no_pod_is_refused_even_within_tolerance():
    settings = parse_stack(stack("- {name: s0, weight: 0}\n- {name: s1, weight: 1}", replicas=20, tolerance=5), "p", "f")
    with pytest.raises(UsageError, match="no replica on the on track"):
        resolve(settings, "s1")


def test_per_service_weights_set_each_service():
    doc = stack("- {name: s0, weight: 0}\n- {name: split, weights: {api: 25}}")
    settings = parse_stack(doc, "p", "f")
    assert resolve(settings, "split").weights()["api"]["requested"] == 25


def test_a_stage_giving_both_weight_and_weights_is_refused():
    doc = stack("- {name: s0, weight: 0}\n- {name: split, weight: 50, weights: {api: 25}}")
    with pytest.raises(UsageError, match=r"rollout:stages\[1\]: gives both weight and weights"):
        parse_stack(doc, "p", "f")


def test_percentage_strategy_keeps_one_track_and_reports_the_requested_weight():
    settings = parse_stack(stack("- {name: s0, weight: 0}\n- {name: s5, weight: 5}", replicas=3, strategy="percentage"), "p", "f")
    split = resolve(settings, "s5").splits["api"]
    assert dict(split.replicas) == {"stable": 3}
    assert resolve(settings, "s5").weights() == {"api": {"requested": 5, "effective": 5}}  # worker has no flags


def test_an_empty_previous_stage_means_unknown_as_on_a_first_deploy():
    doc = stack("- {name: s0, weight: 0}\n- {name: s50, weight: 50}")
    doc["config"]["rollout:previousStage"] = ""
    assert parse_stack(doc, "p", "f").previous_stage is None
