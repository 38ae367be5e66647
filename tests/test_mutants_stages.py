"""Stage resolution and moves at their edges: the lines a slip would break without another test noticing
(found by mutation testing, bench/mutation.py)."""
from __future__ import annotations

import dataclasses

import pytest

from rollout.core.ladder import resolve, roll_order, tracks_of
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
