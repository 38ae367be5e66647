"""Stage resolution and moves at their edges: the lines a slip would break without another test noticing
(found by mutation testing, bench/mutation.py)."""
from __future__ import annotations

import dataclasses

import pytest
from ruamel.yaml import YAML

from conftest import REPO
from rollout.core.ladder import check_ladder, resolve, roll_order, tracks_of
from rollout.core.transitions import (
    PROMOTE, ROLLBACK, automatic_rollback_target, prepare, promotion_target, rollback_target,
)
from rollout.errors import UsageError
from rollout.spec.stack import parse_stack

LADDER = [{"name": "off", "weight": 0}, {"name": "s10", "weight": 10}, {"name": "s50", "weight": 50},
          {"name": "full", "weight": 100}]


def shop(stage: str = "off", ladder: list[dict] = LADDER, replicas: int = 10, **extra):
    """Three services declared provider first: db (no flags), api and web (flagged)."""
    def service(port: int, flags: bool) -> dict:
        out = {"image": f"registry.example/s{port}:1", "port": port, "healthPath": "/healthz", "replicas": replicas}
        if flags:
            out["flags"] = {"NEW_UI": {"off": "0", "on": "1"}}
        return out

    config = {
        "rollout:app": "shop", "rollout:namespace": "shop", "rollout:stage": stage, "rollout:stages": ladder,
        "rollout:services": {"db": service(5432, False), "api": service(8080, True), "web": service(8081, True)},
    }
    config.update({f"rollout:{key}": value for key, value in extra.items()})
    return parse_stack({"config": config}, "prod", "Pulumi.prod.yaml")


# -- tracks and splits -------------------------------------------------------------------------

def test_a_flagged_service_has_an_off_and_an_on_track_and_one_without_flags_a_stable_one():
    settings = shop(stage="s50")
    assert tracks_of(settings, settings.services["api"]) == ("off", "on")
    assert tracks_of(settings, settings.services["db"]) == ("stable",)
    state = resolve(settings)
    assert state.splits["api"].tracks == ("off", "on") and state.splits["db"].tracks == ("stable",)
    assert dict(state.splits["api"].replicas) == {"off": 5, "on": 5}


def test_under_the_percentage_strategy_every_service_has_one_stable_track():
    settings = shop(stage="s50", strategy="percentage")
    assert {name: split.tracks for name, split in resolve(settings).splits.items()} == {
        "db": ("stable",), "api": ("stable",), "web": ("stable",)}


def test_a_resolved_stage_cannot_be_changed_by_whoever_reads_it():
    state = resolve(shop(stage="s10"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        state.stage = "full"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        state.splits["api"].effective = 50.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        state.splits["api"].replicas["on"] = 10  # type: ignore[index]


def test_a_weight_the_replicas_miss_by_more_than_the_tolerance_names_the_split_they_can_make():
    settings = shop(ladder=[{"name": "off", "weight": 0}, {"name": "s15", "weight": 15}])
    with pytest.raises(UsageError) as err:
        resolve(settings, "s15")
    assert ("stage 's15' asks for 15% of api but can only be 20% with 10 replicas (2 on, 8 off), "
            "more than the 1 point tolerance; ") in str(err.value)


def test_a_track_with_one_replica_serves_and_one_with_none_does_not():
    state = resolve(shop(stage="s10"))  # 10% of 10 replicas: one pod on
    assert dict(state.splits["api"].replicas) == {"off": 9, "on": 1} and state.splits["api"].active == ("off", "on")
    assert resolve(shop(stage="off")).splits["api"].active == ("off",)
    assert resolve(shop(stage="full")).splits["api"].active == ("on",)
    assert resolve(shop(stage="full")).splits["db"].active == ("stable",)


# -- Cloud Run: traffic is split by the load balancer's weights, not by replicas -------------------

def run_shop(weights: list[float]):
    """tests/apps/Pulumi.runshop.yaml (checkout has a flag, catalog none) with a ladder of these weights."""
    document = YAML(typ="safe").load((REPO / "tests" / "apps" / "Pulumi.runshop.yaml").read_text())
    document["config"]["rollout:stages"] = [{"name": f"s{i}", "weight": w} for i, w in enumerate(weights)]
    document["config"]["rollout:stage"] = "s0"
    document["config"]["rollout:gates"].pop("cloudSqlBackup")
    return parse_stack(document, "prod", "Pulumi.prod.yaml")


def test_a_cloud_run_weight_becomes_exact_load_balancer_weights_out_of_1000():
    settings = run_shop([0, 2.5, 100])
    split = resolve(settings, "s1").splits["checkout"]
    assert (dict(split.traffic), dict(split.replicas)) == ({"off": 975, "on": 25}, {})
    assert (split.requested, split.effective, split.flagged, split.tracks, split.active) == (
        2.5, 2.5, True, ("off", "on"), ("off", "on"))
    assert resolve(settings, "s0").splits["checkout"].active == ("off",)
    assert resolve(settings, "s2").splits["checkout"].active == ("on",)


def test_a_cloud_run_service_without_flags_takes_all_traffic_on_one_track_and_reports_no_weight():
    split = resolve(run_shop([0, 50]), "s1").splits["catalog"]
    assert (dict(split.traffic), split.active, split.requested, split.effective, split.flagged) == (
        {"stable": 1000}, ("stable",), 0.0, 0.0, False)
    assert resolve(run_shop([0, 50]), "s1").weights() == {"checkout": {"requested": 50, "effective": 50}}


@pytest.mark.parametrize("weight, advice", [(2.55, "2.6"), (0.05, "0.1"), (99.94, "99.9")])
def test_a_cloud_run_weight_finer_than_a_tenth_of_a_percent_is_refused_with_the_nearest(weight, advice):
    with pytest.raises(UsageError) as err:
        check_ladder(run_shop([0, weight]))
    assert str(err.value) == (
        f"Pulumi.prod.yaml: rollout:stages: stage 's1' asks for {weight}% of checkout, which runs on Cloud Run behind a "
        f"load balancer that splits traffic in steps of 0.1%; use e.g. {advice}%")


# -- the order services move in ------------------------------------------------------------------

def test_forward_moves_apply_services_in_declared_order():
    settings = shop()
    assert roll_order(settings, "off", "s10") == ["db", "api", "web"]
    assert roll_order(settings, "s10", "full") == ["db", "api", "web"]


def test_moves_toward_the_kill_switch_stop_the_consumer_first():
    settings = shop()
    assert roll_order(settings, "s50", "s10") == ["web", "api", "db"]
    assert roll_order(settings, "full", "off") == ["web", "api", "db"]


def test_rollback_order_declared_keeps_the_declared_order_backward_too():
    settings = shop(rollbackOrder="declared")
    assert roll_order(settings, "s50", "s10") == ["db", "api", "web"]
    assert roll_order(settings, "off", "s10") == ["db", "api", "web"]


def test_a_plan_to_the_stage_the_stack_is_at_is_not_a_move_backward():
    assert roll_order(shop(), "s50", "s50") == ["db", "api", "web"]


def test_a_move_from_an_unknown_stage_has_no_direction_and_keeps_the_declared_order():
    assert roll_order(shop(), None, "off") == ["db", "api", "web"]  # a first deploy
    assert roll_order(shop(), "retired", "off") == ["db", "api", "web"]  # a stage no longer on the ladder


# -- promote ---------------------------------------------------------------------------------

def test_promote_goes_one_stage_up_and_nowhere_from_the_last():
    assert promotion_target(shop(stage="off"), None, False) == "s10"
    assert promotion_target(shop(stage="s50"), None, False) == "full"
    with pytest.raises(UsageError) as err:
        promotion_target(shop(stage="full"), None, False)
    assert str(err.value) == ("Pulumi.prod.yaml: rollout:stage is 'full', the last stage; "
                              "there is nothing to promote to")


def test_promote_to_the_next_stage_needs_no_force_and_to_the_one_after_it_does():
    assert promotion_target(shop(stage="off"), "s10", False) == "s10"
    with pytest.raises(UsageError) as err:
        promotion_target(shop(stage="off"), "s50", False)
    assert str(err.value) == ("promoting prod from 'off' to 's50' skips s10; rollout:allowSkip is false in "
                              "Pulumi.prod.yaml, pass --force to skip anyway")
    with pytest.raises(UsageError, match="skips s10, s50;"):
        promotion_target(shop(stage="off"), "full", False)


def test_force_or_allow_skip_lets_a_promote_skip_stages():
    assert promotion_target(shop(stage="off"), "full", True) == "full"
    assert promotion_target(shop(stage="off", allowSkip=True), "full", False) == "full"


def test_promote_to_the_current_or_an_earlier_stage_is_refused_with_what_to_do():
    with pytest.raises(UsageError) as err:
        promotion_target(shop(stage="s50"), "s50", True)
    assert str(err.value) == "prod is already at stage 's50'"
    with pytest.raises(UsageError) as err:
        promotion_target(shop(stage="s50"), "s10", True)
    assert str(err.value) == "'s10' comes before the current stage 's50'; use `rollout rollback prod --to s10`"


# -- rollback -------------------------------------------------------------------------------

def test_rollback_goes_one_stage_down_and_nowhere_from_the_first():
    assert rollback_target(shop(stage="full"), None, False) == "s50"
    assert rollback_target(shop(stage="s10"), None, False) == "off"
    with pytest.raises(UsageError) as err:
        rollback_target(shop(stage="off"), None, False)
    assert str(err.value) == ("Pulumi.prod.yaml: rollout:stage is 'off', the first stage; "
                              "there is nothing to roll back to")


def test_rollback_to_may_go_several_stages_down_but_never_up_or_nowhere():
    assert rollback_target(shop(stage="full"), "off", False) == "off"
    assert rollback_target(shop(stage="full"), "s50", False) == "s50"
    for target in ("full", "s50"):
        with pytest.raises(UsageError) as err:
            rollback_target(shop(stage="s50"), target, False)
        assert str(err.value) == (f"'{target}' is not before the current stage 's50'; "
                                  f"use `rollout promote prod --to {target}`")


def test_the_kill_switch_goes_straight_to_its_stage_from_anywhere_above_it():
    assert rollback_target(shop(stage="full"), None, True) == "off"
    assert rollback_target(shop(stage="s10"), None, True) == "off"
    with pytest.raises(UsageError) as err:
        rollback_target(shop(stage="off"), None, True)
    assert str(err.value) == "prod is already at the kill switch stage 'off'"
    with pytest.raises(UsageError) as err:
        rollback_target(shop(stage="full"), "s10", True)
    assert str(err.value) == "give either --to or --kill-switch, not both"


def test_a_kill_switch_that_is_not_the_first_stage_is_still_where_the_kill_switch_goes():
    gradual = [{"name": "most", "weight": 75}, {"name": "half", "weight": 50}, {"name": "gone", "weight": 0}]
    assert rollback_target(shop(stage="most", ladder=gradual), None, True) == "gone"
    assert automatic_rollback_target(shop(stage="half", ladder=gradual), "kill-switch") == "gone"


# -- what `rollout watch` does on RED ----------------------------------------------------------

def test_watch_on_red_goes_one_stage_back_or_to_the_kill_switch_as_configured():
    assert automatic_rollback_target(shop(stage="full"), "previous") == "s50"
    assert automatic_rollback_target(shop(stage="full"), "kill-switch") == "off"
    assert automatic_rollback_target(shop(stage="s10"), "previous") == "off"


def test_watch_on_red_at_the_kill_switch_has_nowhere_to_go():
    assert automatic_rollback_target(shop(stage="off"), "previous") is None
    assert automatic_rollback_target(shop(stage="off"), "kill-switch") is None


def test_a_prepared_move_starts_at_the_file_s_stage_and_carries_the_settings_it_was_decided_on():
    settings = shop(stage="s10")
    move = prepare(settings, PROMOTE, "s50")
    assert (move.stack, move.action, move.from_stage, move.to_stage) == ("prod", "promote", "s10", "s50")
    assert move.settings is settings
    assert prepare(settings, ROLLBACK, "off").action == "rollback"
