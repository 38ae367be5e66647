"""Gate config defaults and the verdict rules, from numbers alone (no Prometheus)."""
from __future__ import annotations

import pytest

from prometheus_fixture import scenario_project

from rollout.errors import ConfigError
from rollout.gates.evaluate import (
    GREEN, NO_DATA, RED, YELLOW, Observations, ServiceTracks, TriggerReading, evaluate, fired_triggers,
    service_tracks, worst,
)
from rollout.gates.queries import check_expr, points_needed
from rollout.spec.stack import load_stack
from rollout.core.ladder import resolve


def settings_at(tmp_path, stage="canary-25", gates=None):
    return load_stack(scenario_project(tmp_path, "chat-prod", stage=stage, gates=gates))


def test_defaults_are_the_checklists_numbers(tmp_path):
    config = settings_at(tmp_path, gates={}).gates
    limits = {name: t.limit for name, t in config.checks.items()}
    assert limits == {"errorRate": 1.0, "latencyP95": 0.5, "sessionCreationSuccess": 99.0, "sseSuccess": 99.0,
                      "firstTokenP95": 0.15}
    triggers = {name: (t.limit, t.hold.seconds) for name, t in config.triggers.items()}
    assert triggers == {"errorRate": (1.0, 120.0), "sseSuccess": (95.0, 120.0), "latencyP95": (5.0, 0.0)}
    assert (config.yellow_margin, config.red_margin, config.min_requests, config.min_soak.seconds) == (5, 10, 100, 900)
    assert config.on_red == "previous" and config.ledger == "ledger/prod.jsonl"


def test_overrides_and_turning_a_check_off(tmp_path):
    config = settings_at(tmp_path, gates={
        "checks": {"latencyP95": {"max": "300ms"}, "firstTokenP95": False},
        "rollbackTriggers": {"errorRate": {"for": "5m"}},
        "margins": {"yellow": 3, "red": 8}, "minSoak": "1h", "onRed": "kill-switch", "ledger": "s3://bucket/audit",
    }).gates
    assert config.checks["latencyP95"].limit == pytest.approx(0.3)
    assert "firstTokenP95" not in config.checks
    assert config.triggers["errorRate"].limit == 1.0 and config.triggers["errorRate"].hold.seconds == 300
    assert (config.yellow_margin, config.red_margin, config.min_soak.seconds, config.on_red) == (3, 8, 3600, "kill-switch")


@pytest.mark.parametrize("gates, key, words", [
    ({"windw": "5m"}, "rollout:gates.windw", "did you mean 'window'"),
    ({"checks": {"errorRatio": {"max": 1}}}, "rollout:gates.checks.errorRatio", "did you mean 'errorRate'"),
    ({"checks": {"errorRate": {"min": 1}}}, "rollout:gates.checks.errorRate.min", "allowed: max"),
    ({"checks": {"latencyP95": {"max": float("inf")}}}, "rollout:gates.checks.latencyP95.max", "finite"),
    ({"minRequests": float("nan")}, "rollout:gates.minRequests", "finite"),
    ({"minSoak": 900}, "rollout:gates.minSoak", "no unit"),
    ({"errorCodes": "5.."}, "rollout:gates.errorCodes", "metrics.errorCodes"),
    ({"ledger": "gs://bucket/audit"}, "rollout:gates.ledger", "inside the project"),
    ({"ledger": "../audit.jsonl"}, "rollout:gates.ledger", "leaves the project"),
    ({"checks": {"sseSuccess": {"min": 120}}}, "rollout:gates.checks.sseSuccess.min", "at most 100"),
    ({"margins": {"yellow": 12, "red": 10}}, "rollout:gates.margins.red", "must not be below yellow"),
    ({"onRed": "panic"}, "rollout:gates.onRed", "previous, kill-switch"),
    ({"ledger": "s3://"}, "rollout:gates.ledger", "not an S3 location"),
    ({"window": "10s"}, "rollout:gates.window", "at least 1m"),
    ({"minSoak": "soon"}, "rollout:gates.minSoak", "not a duration"),
])
def test_bad_gate_config_names_the_key(tmp_path, gates, key, words):
    with pytest.raises(ConfigError) as error:
        settings_at(tmp_path, gates=gates)
    assert error.value.exit_code == 2
    assert f"Pulumi.prod.yaml: {key}:" in str(error.value) and words in str(error.value)


def backend_only(tmp_path, **gates):
    settings = settings_at(tmp_path, gates=gates or {"minSoak": "0s"})
    config = settings.gates
    tracks = service_tracks(settings, resolve(settings))
    return settings, config, tracks


def judge(tmp_path, error_rate, latency=(0.2, 0.2), requests=(1000, 300), soaked=None):
    settings, config, tracks = backend_only(tmp_path)
    obs = Observations(
        requests={"backend": {"off": requests[0], "on": requests[1]}},
        checks={("backend", "errorRate"): dict(zip(("off", "on"), error_rate)) if error_rate else {},
                ("backend", "latencyP95"): dict(zip(("off", "on"), latency))},
    )
    rows = evaluate(settings, config, tracks, obs, soaked)
    return {r.check: r for r in rows if r.service == "backend"}, worst([r.verdict for r in rows])


def test_equal_tracks_are_green(tmp_path):
    rows, overall = judge(tmp_path, (0.5, 0.5))
    assert overall == GREEN and rows["errorRate"].verdict == GREEN


def test_canary_5_to_10_percent_worse_is_yellow_and_over_10_is_red(tmp_path):
    assert judge(tmp_path, (0.5, 0.5), latency=(0.2, 0.214))[1] == YELLOW  # 7% slower
    assert judge(tmp_path, (0.5, 0.5), latency=(0.2, 0.2099))[1] == GREEN  # 4.95%
    assert judge(tmp_path, (0.5, 0.5), latency=(0.2, 0.221))[1] == RED  # 10.5%


def test_canary_over_an_absolute_threshold_is_red_but_the_baseline_over_it_is_yellow(tmp_path):
    rows, overall = judge(tmp_path, (0.5, 3.0))
    assert overall == RED and "canary on at 3.00% breaks <= 1.00%" in rows["errorRate"].reason
    rows, overall = judge(tmp_path, (1.5, 0.9))
    assert overall == YELLOW and "baseline off at 1.50%" in rows["errorRate"].reason


def test_tiny_error_shares_are_not_a_huge_relative_regression(tmp_path):
    # 0.001% against 0.005% is five times as bad, but both are noise under the 0.1 point floor.
    assert judge(tmp_path, (0.001, 0.005))[1] == GREEN
    assert judge(tmp_path, (0.001, 0.05))[1] == RED  # 0.049 points is 49% of the floor


def test_missing_values_are_never_green(tmp_path):
    rows, overall = judge(tmp_path, None)
    assert rows["errorRate"].verdict == NO_DATA and overall == NO_DATA
    assert "needs http_requests_total" in rows["errorRate"].reason


def test_too_few_requests_make_every_check_of_that_service_no_data(tmp_path):
    rows, overall = judge(tmp_path, (0.5, 0.5), requests=(1000, 40))
    assert overall == NO_DATA
    assert rows["requests"].verdict == NO_DATA and "on had 40 requests in 10m (need 100)" in rows["requests"].reason
    assert rows["errorRate"].verdict == NO_DATA


def test_red_outranks_no_data_and_no_data_outranks_yellow():
    assert worst([GREEN, NO_DATA, RED]) == RED
    assert worst([YELLOW, NO_DATA, GREEN]) == NO_DATA
    assert worst([]) == NO_DATA


def test_at_the_off_stage_only_the_off_track_is_judged_and_nothing_is_a_canary(tmp_path):
    settings = settings_at(tmp_path, stage="off")
    tracks = service_tracks(settings, resolve(settings))
    assert tracks["backend"] == ServiceTracks("backend", ("off",), None, None)
    assert tracks["agent"] == ServiceTracks("agent", ("stable",), None, None)


def test_a_trigger_with_a_hold_fires_only_after_enough_points(tmp_path):
    settings, config, tracks = backend_only(tmp_path)
    need = points_needed(config.triggers["errorRate"].hold)
    short = {("backend", "errorRate"): {"on": TriggerReading(4.0, need - 1)}}
    held = {("backend", "errorRate"): {"on": TriggerReading(4.0, need)}}
    baseline_only = {("backend", "errorRate"): {"off": TriggerReading(4.0, need)}}
    assert fired_triggers(config, tracks, short, points_needed) == []
    assert [r.check for r in fired_triggers(config, tracks, held, points_needed)] == ["errorRate"]
    assert fired_triggers(config, tracks, baseline_only, points_needed) == []  # a rollback cannot fix the baseline


def test_queries_use_the_contract_and_the_label_convention(tmp_path):
    settings = settings_at(tmp_path)
    config = settings.gates
    expr = check_expr(settings.services["backend"], config.checks["sseSuccess"].indicator, "chat-prod", config.window)
    assert 'sse_connection_errors{namespace="chat-prod", job="backend"}[10m]' in expr
    assert "sum by (track)" in expr and expr.startswith("100 * (1 - ")
    latency = check_expr(settings.services["backend"], config.checks["latencyP95"].indicator, "chat-prod", config.window)
    assert latency.startswith("histogram_quantile(0.95, sum by (track, le) (rate(http_request_duration_seconds_bucket{")
