"""The ladder: weights become replica splits, and weights replicas cannot express are refused."""
from __future__ import annotations

import re
import textwrap

import pytest
from hypothesis import given, settings as hypothesis_settings, strategies as st
from ruamel.yaml import YAML

from rollout.errors import UsageError
from rollout.spec.stack import parse_stack
from rollout.core.ladder import check_ladder, next_stage, previous_stage, resolve


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
    thirds = parse_stack(stack("- {name: s0, weight: 0}\n- {name: s33, weight: 33}", replicas=3, tolerance=1), "p", "f")
    assert resolve(thirds, "s33").weights()["api"] == {"requested": 33, "effective": 33.33}  # two decimals shown


def test_a_service_without_flags_asks_for_no_weight():
    settings = parse_stack(stack("- {name: s0, weight: 0}\n- {name: s50, weight: 50}", strategy="percentage"), "p", "f")
    assert resolve(settings, "s50").splits["worker"].requested == 0
    assert resolve(settings, "s50").splits["api"].requested == 50


def test_next_and_previous_stage_follow_the_ladder_and_stop_at_its_ends():
    settings = parse_stack(stack("- {name: s0, weight: 0}\n- {name: s50, weight: 50}\n- {name: s100, weight: 100}"),
                           "p", "f")
    assert [next_stage(settings, s) for s in settings.stage_names] == ["s50", "s100", None]
    assert [previous_stage(settings, s) for s in settings.stage_names] == [None, "s0", "s50"]


def test_five_percent_of_ten_replicas_is_refused_with_what_would_work():
    settings = parse_stack(stack("- {name: s0, weight: 0}\n- {name: s5, weight: 5}", replicas=10), "p", "Pulumi.p.yaml")
    with pytest.raises(UsageError) as err:
        resolve(settings, "s5")
    message = str(err.value)
    assert "Pulumi.p.yaml" in message and "'s5'" in message and "api" in message
    assert "10%" in message and "rollout:services.api.replicas" in message and "e.g. 17" in message


def test_a_canary_weight_that_rounds_to_no_pod_is_refused_even_within_tolerance():
    settings = parse_stack(stack("- {name: s0, weight: 0}\n- {name: s1, weight: 1}", replicas=20, tolerance=5), "p", "f")
    with pytest.raises(UsageError, match="no replica on the on track") as err:
        resolve(settings, "s1")
    assert "weightTolerance" not in str(err.value)  # no tolerance gives a pod to a track with none
    assert "e.g. 50" in str(err.value)  # 0.5 of a pod rounds up to one: 2%, within 5 points


def test_a_weight_that_leaves_no_replica_on_the_off_track_is_refused_without_tolerance_advice():
    settings = parse_stack(stack("- {name: s0, weight: 0}\n- {name: s99, weight: 99}", replicas=20, tolerance=5), "p", "f")
    with pytest.raises(UsageError) as err:
        resolve(settings, "s99")
    message = str(err.value)
    assert "stage 's99' asks for 99% of api but would put no replica on the off track" in message
    assert "weightTolerance" not in message
    assert "e.g. 51" in message  # 99% of 50 is 49.5, which rounds up to all 50: 51 is the first to keep one off


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


@pytest.mark.parametrize("value", ["s0", "s50", "", None])
def test_a_previous_stage_key_is_refused_by_name_whatever_it_holds(value):
    """Older versions wrote rollout:previousStage; nothing reads it now, so keeping it would mislead."""
    doc = stack("- {name: s0, weight: 0}\n- {name: s50, weight: 50}")
    doc["config"]["rollout:previousStage"] = value
    with pytest.raises(UsageError) as refused:
        parse_stack(doc, "p", "Pulumi.p.yaml")
    assert str(refused.value) == ("Pulumi.p.yaml: rollout:previousStage: no longer used: `pulumi up` reads the deployed "
                                  "stage from the stack's own outputs; delete this line")


def test_a_weight_exactly_at_the_tolerance_is_accepted_and_a_hair_more_is_not():
    ladder = "- {name: s0, weight: 0}\n- {name: s33, weight: 33}"
    assert resolve(parse_stack(stack(ladder, replicas=10, tolerance=3), "p", "f"), "s33").weights()["api"] == {
        "requested": 33, "effective": 30}
    with pytest.raises(UsageError, match="more than the 2.99 point tolerance.* raise rollout:weightTolerance to 3$"):
        resolve(parse_stack(stack(ladder, replicas=10, tolerance=2.99), "p", "f"), "s33")


def test_the_tolerance_is_compared_as_written_not_as_binary_floats():
    # 10.3% of 10 replicas is 10%: 0.3 points off, though 10.3 - 10.0 is 0.3000000000000007 in floats.
    ladder = "- {name: s0, weight: 0}\n- {name: s, weight: 10.3}"
    assert resolve(parse_stack(stack(ladder, replicas=10, tolerance=0.3), "p", "f"), "s").splits["api"].replicas["on"] == 1


def test_half_a_replica_rounds_up_in_the_check_and_in_the_advice_alike():
    ladder = "- {name: s0, weight: 0}\n- {name: s, weight: 12.5}"
    split = resolve(parse_stack(stack(ladder, replicas=4, tolerance=12.5), "p", "f"), "s").splits["api"]
    assert dict(split.replicas) == {"off": 3, "on": 1}
    # 98% of 25 is 24.5: rounded half to even it would leave a pod off; rounded up, as the check does, none.
    ladder = "- {name: s0, weight: 0}\n- {name: s, weight: 98}"
    with pytest.raises(UsageError) as err:
        check_ladder(parse_stack(stack(ladder, replicas=5, tolerance=2), "p", "f"))
    count = int(re.search(r"\(e\.g\. (\d+)\)", str(err.value)).group(1))
    assert count != 25
    check_ladder(parse_stack(stack(ladder, replicas=count, tolerance=2), "p", "f"))


def test_a_weight_no_replica_count_can_express_says_to_change_the_weights():
    ladder = "- {name: s0, weight: 0}\n- {name: s, weight: 0.01}"
    with pytest.raises(UsageError) as err:
        check_ladder(parse_stack(stack(ladder, replicas=10, tolerance=0), "p", "f"))
    assert str(err.value).endswith(
        "no replica count from 10 to 1010 expresses every stage's weight (0%, 0.01%): change the weights in rollout:stages")


def test_the_replica_search_covers_exactly_the_counts_its_message_names():
    # 0.09765625% is 1/1024: with no tolerance only multiples of 1024 replicas express it.
    ladder = "- {name: s0, weight: 0}\n- {name: s, weight: 0.09765625}"
    with pytest.raises(UsageError, match=r"\(e\.g\. 1024\)"):
        check_ladder(parse_stack(stack(ladder, replicas=24, tolerance=0), "p", "f"))  # 24 + 1000
    with pytest.raises(UsageError, match="no replica count from 23 to 1023 expresses every stage's weight"):
        check_ladder(parse_stack(stack(ladder, replicas=23, tolerance=0), "p", "f"))


# -- advice in errors is advice that works ---------------------------------------------------------

WEIGHTS = st.one_of(st.integers(0, 100), st.sampled_from([0.5, 1.5, 12.5, 33.3, 62.5, 66.7, 87.5, 98.5, 99.5]))
TOLERANCES = st.sampled_from([0, 0.5, 1, 2, 2.5, 5, 10, 33.3])


def ladder_stack(weights: list[float], replicas: int, tolerance: float) -> dict:
    doc = stack("- {name: s0, weight: 0}", replicas=replicas, tolerance=tolerance)
    doc["config"]["rollout:stages"] += [{"name": f"s{i}", "weight": w} for i, w in enumerate(weights, start=1)]
    return doc


def refusal(weights: list[float], replicas: int, tolerance: float) -> str | None:
    """The ladder's error message, or None when every stage can be expressed."""
    try:
        check_ladder(parse_stack(ladder_stack(weights, replicas, tolerance), "p", "Pulumi.p.yaml"))
    except UsageError as error:
        return str(error)
    return None


@hypothesis_settings(max_examples=150, deadline=None)
@given(weights=st.lists(WEIGHTS, min_size=1, max_size=4), replicas=st.integers(1, 60), tolerance=TOLERANCES)
def test_a_suggested_replica_count_is_accepted_and_is_the_smallest_from_the_current_one(weights, replicas, tolerance):
    message = refusal(weights, replicas, tolerance)
    if message is None:
        return
    suggested = re.search(r"replicas to a count every stage can express \(e\.g\. (\d+)\)", message)
    if suggested is None:
        assert "no replica count from" in message
        assert all(refusal(weights, n, tolerance) for n in (replicas + 1, replicas + 100, replicas + 1000))
        return
    count = int(suggested.group(1))
    assert count > replicas
    assert refusal(weights, count, tolerance) is None, message
    assert refusal(weights, count - 1, tolerance) is not None


@hypothesis_settings(max_examples=150, deadline=None)
@given(weights=st.lists(WEIGHTS, min_size=1, max_size=4), replicas=st.integers(1, 60), tolerance=TOLERANCES)
def test_tolerance_advice_appears_exactly_when_a_tolerance_would_be_accepted(weights, replicas, tolerance):
    message = refusal(weights, replicas, tolerance)
    if message is None:
        return
    advice = re.search(r"raise rollout:weightTolerance to ([0-9.]+)", message)
    any_tolerance_helps = refusal(weights, replicas, 100) is None
    assert (advice is not None) == any_tolerance_helps, message
    if advice:
        needed = float(advice.group(1))
        assert refusal(weights, replicas, needed) is None, message
        assert refusal(weights, replicas, round(needed - 0.01, 2)) is not None  # and no more than needed
