"""Gate config defaults and the verdict rules, from numbers alone (no Prometheus)."""
from __future__ import annotations

from typing import Mapping

import pytest

from prometheus_fixture import scenario_project

from rollout.errors import ConfigError
from rollout.spec.duration import Duration
from rollout.gates.evaluate import (
    EXIT_CODES, GREEN, NO_DATA, RED, YELLOW, Observations, ServiceTracks, TriggerReading, evaluate, fired_triggers,
    service_tracks, soak_row, worst,
)
from rollout.gates.gate import gate_queries
from rollout.gates.queries import check_expr, points_needed
from rollout.spec.model import StackSettings
from rollout.spec.stack import load_stack, parse_stack
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
    """Backend numbers as given; the frontend canary healthy, so the verdict is the backend's."""
    settings, config, tracks = backend_only(tmp_path)
    healthy = {"off": 0.5, "on": 0.5}
    obs = Observations(
        requests={"backend": {"off": requests[0], "on": requests[1]}, "frontend": {"off": 1000, "on": 300}},
        checks={("backend", "errorRate"): dict(zip(("off", "on"), error_rate)) if error_rate else {},
                ("backend", "latencyP95"): dict(zip(("off", "on"), latency)),
                ("frontend", "errorRate"): healthy},
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


def test_gate_exit_statuses_are_the_documented_ones():
    assert EXIT_CODES == {GREEN: 0, YELLOW: 3, RED: 4, NO_DATA: 5}


def test_red_outranks_no_data_and_no_data_outranks_yellow():
    assert worst([GREEN, NO_DATA, RED]) == RED
    assert worst([YELLOW, NO_DATA, GREEN]) == NO_DATA
    assert worst([GREEN, YELLOW]) == YELLOW
    assert worst([GREEN, GREEN]) == GREEN
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


# -- a made-up application, so that the rules are not the chat app's ----------------------------

API_METRICS = {"job": "api", "signals": {
    "requests": {"counter": "http_requests_total"},
    "latency": {"histogram": "http_request_duration_seconds"},
    "sessionCreations": {"counter": "checkout_total"},
    "sessionCreationErrors": {"counter": "checkout_errors_total"},
}}
WORKER_METRICS = {"job": "worker", "signals": {"requests": {"counter": "jobs_total"}}}
LADDER = [{"name": "s0", "weight": 0}, {"name": "s25", "weight": 25}, {"name": "s100", "weight": 100}]


def shop(stage: str = "s25", strategy: str = "tracks", gates: dict | None = None,
         api_metrics: dict | None = API_METRICS, worker_metrics: dict | None = WORKER_METRICS,
         replicas: int = 20, ladder: list[dict] = LADDER) -> StackSettings:
    """`api` carries the flag, `worker` has none; gates default to no minimum soak."""
    api = {"image": "registry.example/api:1", "port": 9000, "healthPath": "/healthz", "replicas": replicas,
           "flags": {"NEW_CHECKOUT": {"off": "0", "on": "1"}}}
    worker = {"image": "registry.example/worker:1", "port": 9100, "healthPath": "/ready", "replicas": 3}
    if api_metrics is not None:
        api["metrics"] = api_metrics
    if worker_metrics is not None:
        worker["metrics"] = worker_metrics
    gates = {"minSoak": "0s"} if gates is None else gates
    indicators = own_indicators(api_metrics, worker_metrics)
    if "sessionCreationSuccess" in indicators:  # the application's own check, next to the built-in ones
        gates = {**gates, "checks": {"sessionCreationSuccess": {"min": 99}, **gates.get("checks", {})}}
    return parse_stack({"config": {
        "rollout:app": "shop", "rollout:namespace": "shop-prod", "rollout:strategy": strategy,
        "rollout:stage": stage, "rollout:stages": ladder, "rollout:services": {"api": api, "worker": worker},
        "rollout:indicators": indicators, "rollout:gates": gates,
    }}, "prod", "Pulumi.prod.yaml")


def own_indicators(*contracts: dict | None) -> dict:
    """What the made-up application measures: checkout success, and each gauge as it is."""
    roles = {role: kind for c in contracts if c for role, sig in c["signals"].items() for kind in sig}
    indicators = {role: {"gauge": role} for role, kind in roles.items() if kind == "gauge"}
    if {"sessionCreations", "sessionCreationErrors"} <= set(roles):
        indicators["sessionCreationSuccess"] = {"success": {"errors": "sessionCreationErrors", "total": "sessionCreations"}}
    return indicators


Answers = Mapping[tuple[str, str], Mapping[str, float]]


HEALTHY = {"errorRate": 0.05, "latencyP95": 0.05, "sessionCreationSuccess": 99.95}


def gate(settings: StackSettings, answers: Answers | None = None, requests: float | None = 1000,
         soaked: float | None = None) -> tuple[str, dict[tuple[str, str], object]]:
    """The verdict when Prometheus answers `answers` to the queries the gate sends (healthy otherwise);
    `requests` per active track, None for no request series at all."""
    config = settings.gates
    tracks = service_tracks(settings, resolve(settings))
    answers = answers or {}
    req, checks = {}, {}
    for query in gate_queries(settings, config):
        active = tracks[query.service].active
        if query.check == "requests":
            req[query.service] = {t: requests for t in active} if requests is not None else {}
        else:
            checks[(query.service, query.check)] = answers.get(
                (query.service, query.check), {t: HEALTHY[query.check] for t in active})
    rows = evaluate(settings, config, tracks, Observations(req, checks), soaked)
    return worst([r.verdict for r in rows]), {(r.service, r.check): r for r in rows}


def test_a_healthy_made_up_application_is_green():
    verdict, rows = gate(shop())
    assert verdict == GREEN
    assert {check for service, check in rows if service == "api"} == {
        "requests", "errorRate", "latencyP95", "sessionCreationSuccess"}


def test_at_100_percent_only_the_on_track_serves_and_it_is_judged_as_the_canary():
    settings = shop(stage="s100")
    tracks = service_tracks(settings, resolve(settings))
    assert tracks["api"] == ServiceTracks("api", ("on",), "on", None)
    # Prometheus still holds the old off series: they are not judged and not compared with.
    stale_off = {("api", "latencyP95"): {"on": 0.3, "off": 0.01}}
    verdict, rows = gate(settings, stale_off)
    assert verdict == GREEN and dict(rows[("api", "latencyP95")].values) == {"on": 0.3}
    verdict, rows = gate(settings, {("api", "latencyP95"): {"on": 0.7}})
    assert verdict == RED and "canary on at 700ms breaks <= 500ms" in rows[("api", "latencyP95")].reason
    verdict, rows = gate(settings, {("api", "latencyP95"): {"off": 0.1}})
    assert verdict == NO_DATA and "no samples for track on" in rows[("api", "latencyP95")].reason


def test_a_canary_worse_than_the_baseline_on_a_minimum_check_is_yellow_then_red():
    check = ("api", "sessionCreationSuccess")
    # 0.212% failures against 0.200%: 6% worse, though both are above the 99% floor.
    verdict, rows = gate(shop(), {check: {"off": 99.8, "on": 99.788}})
    assert verdict == YELLOW and "canary +6.0% vs baseline" in rows[check].reason
    verdict, rows = gate(shop(), {check: {"off": 99.8, "on": 99.7}})
    assert verdict == RED and "canary +50.0% vs baseline" in rows[check].reason
    verdict, rows = gate(shop(), {check: {"off": 99.7, "on": 99.8}})
    assert verdict == GREEN, "a canary that fails less than the baseline is better, not worse"


def test_a_minimum_check_under_its_floor_is_red_on_the_canary_and_yellow_on_the_baseline():
    check = ("api", "sessionCreationSuccess")
    verdict, rows = gate(shop(), {check: {"off": 99.5, "on": 98.9}})
    assert verdict == RED and "canary on at 98.90% breaks >= 99.00%" in rows[check].reason
    verdict, rows = gate(shop(gates={"minSoak": "0s", "margins": {"yellow": 1000, "red": 1000}}),
                         {check: {"off": 98.9, "on": 99.5}})
    assert verdict == YELLOW and "baseline off at 98.90% breaks >= 99.00%" in rows[check].reason


def test_a_value_exactly_at_a_limit_is_within_it_and_just_past_it_is_not():
    lenient = {"minSoak": "0s", "margins": {"yellow": 1000, "red": 1000}}
    assert gate(shop(gates=lenient), {("api", "errorRate"): {"off": 1.0, "on": 0.5}})[0] == GREEN
    assert gate(shop(gates=lenient), {("api", "errorRate"): {"off": 0.5, "on": 1.0}})[0] == GREEN
    assert gate(shop(gates=lenient), {("api", "errorRate"): {"off": 0.5, "on": 1.0001}})[0] == RED
    floor = ("api", "sessionCreationSuccess")
    assert gate(shop(gates=lenient), {floor: {"off": 99.5, "on": 99.0}})[0] == GREEN
    assert gate(shop(gates=lenient), {floor: {"off": 99.5, "on": 98.9999}})[0] == RED


# Margins and values exact in binary floating point, so "at the margin" is exactly at it.
EXACT_MARGINS = {"minSoak": "0s", "margins": {"yellow": 12.5, "red": 25},
                 "checks": {"errorRate": {"max": 5}, "sessionCreationSuccess": {"min": 90}}}


@pytest.mark.parametrize("check, baseline, at_yellow, at_red", [
    ("latencyP95", 0.25, 0.28125, 0.3125),  # seconds: 12.5% and 25% slower
    ("errorRate", 2.0, 2.25, 2.5),  # percent of requests failing
    ("sessionCreationSuccess", 99.0, 98.875, 98.75),  # 1% failing against 1.125% and 1.25%
])
def test_a_canary_exactly_at_a_margin_takes_that_margins_colour(check, baseline, at_yellow, at_red):
    settings = shop(gates=EXACT_MARGINS)
    below = {"latencyP95": -1e-6, "errorRate": -1e-6, "sessionCreationSuccess": 1e-6}[check]

    def verdict(canary: float) -> str:
        return gate(settings, {("api", check): {"off": baseline, "on": canary}})[0]

    assert verdict(at_yellow + below) == GREEN
    assert verdict(at_yellow) == YELLOW
    assert verdict(at_red + below) == YELLOW
    assert verdict(at_red) == RED
    row = gate(settings, {("api", check): {"off": baseline, "on": at_yellow}})[1][("api", check)]
    assert row.reason == "canary +12.5% vs baseline (YELLOW at 12.5%, RED at 25%)"


def test_a_zero_latency_baseline_is_compared_against_a_floor_not_divided_by():
    settings = shop(gates={"minSoak": "0s", "checks": {"latencyP95": {"max": 1}}})
    assert gate(settings, {("api", "latencyP95"): {"off": 0.0, "on": 0.00001}})[0] == GREEN  # 1% of the 1ms floor
    assert gate(settings, {("api", "latencyP95"): {"off": 0.0, "on": 0.0005}})[0] == RED  # half the floor again


def test_exactly_min_requests_is_enough_and_one_fewer_is_not():
    settings = shop(gates={"minSoak": "0s", "minRequests": 250})
    assert gate(settings, requests=250)[0] == GREEN
    verdict, rows = gate(settings, requests=249)
    assert verdict == NO_DATA
    assert rows[("api", "requests")].reason == "off had 249 requests in 10m, on had 249 requests in 10m (need 250)"
    assert rows[("api", "errorRate")].verdict == NO_DATA and "too few requests" in rows[("api", "errorRate")].reason


def test_a_track_missing_from_the_request_counts_had_no_requests_even_when_one_is_enough():
    settings = shop(gates={"minSoak": "0s", "minRequests": 1})
    config = settings.gates
    tracks = service_tracks(settings, resolve(settings))
    checks = {(q.service, q.check): {t: HEALTHY[q.check] for t in tracks[q.service].active}
              for q in gate_queries(settings, config) if q.check != "requests"}
    obs = Observations(requests={"api": {"off": 1000}, "worker": {"stable": 1000}}, checks=checks)
    rows = {(r.service, r.check): r for r in evaluate(settings, config, tracks, obs, None)}
    assert rows[("api", "requests")].reason == "on had 0 requests in 10m (need 1)"
    assert rows[("api", "errorRate")].reason == "too few requests on on to judge"


def test_a_canary_of_one_replica_is_judged():
    settings = shop(replicas=4)  # 25% of 4: one pod on the on track
    assert service_tracks(settings, resolve(settings))["api"].active == ("off", "on")
    assert gate(settings, {("api", "errorRate"): {"off": 0.5, "on": 3.0}})[0] == RED


def test_a_percentage_canary_below_one_percent_is_still_the_canary():
    settings = shop(stage="s-half", strategy="percentage",
                    ladder=[{"name": "s0", "weight": 0}, {"name": "s-half", "weight": 0.5}])
    assert service_tracks(settings, resolve(settings))["api"].canary == "stable"


def test_a_one_second_minimum_soak_is_still_a_minimum():
    assert gate(shop(gates={"minSoak": "1s"}), soaked=None)[0] == NO_DATA
    assert gate(shop(gates={"minSoak": "1s"}), soaked=1)[0] == GREEN


def test_exactly_the_minimum_soak_is_enough_and_a_second_less_is_not():
    settings = shop(gates={"minSoak": "15m"})
    assert gate(settings, soaked=900)[0] == GREEN
    verdict, rows = gate(settings, soaked=899)
    assert verdict == NO_DATA and rows[("-", "soak")].reason == "s25 has soaked 14m59s of 15m"
    verdict, rows = gate(settings, soaked=None)
    assert verdict == NO_DATA and "unknown how long s25 has run" in rows[("-", "soak")].reason


def test_no_minimum_soak_needs_no_soak_time():
    config = shop(gates={"minSoak": "0s"}).gates
    assert soak_row(config, "s25", None).verdict == GREEN


def test_the_percentage_strategy_judges_its_one_stable_track_as_the_canary():
    settings = shop(strategy="percentage")
    tracks = service_tracks(settings, resolve(settings))
    assert tracks["api"] == ServiceTracks("api", ("stable",), "stable", None)
    assert tracks["worker"] == ServiceTracks("worker", ("stable",), None, None)
    queries = gate_queries(settings, settings.gates)
    assert {(q.service, q.check) for q in queries} == {
        ("api", "requests"), ("api", "errorRate"), ("api", "latencyP95"), ("api", "sessionCreationSuccess"),
        ("worker", "requests"), ("worker", "errorRate")}
    assert gate(settings)[0] == GREEN
    verdict, rows = gate(settings, {("api", "errorRate"): {"stable": 2.0}})
    assert verdict == RED and "canary stable at 2.00% breaks <= 1.00%" in rows[("api", "errorRate")].reason
    # At the kill switch the same numbers are no rollout's doing: YELLOW, the stack is not at fault.
    verdict, rows = gate(shop(stage="s0", strategy="percentage"), {("api", "errorRate"): {"stable": 2.0}})
    assert verdict == YELLOW and "track stable at 2.00%" in rows[("api", "errorRate")].reason


# -- a verdict needs evidence ------------------------------------------------------------------

def test_a_stack_that_declares_no_metrics_is_no_data_never_green():
    settings = shop(api_metrics=None, worker_metrics=None)
    assert gate_queries(settings, settings.gates) == []
    verdict, rows = gate(settings)
    assert verdict == NO_DATA
    assert rows[("-", "checks")].reason == (
        "no check could be evaluated: no service declares metrics (rollout:services.<name>.metrics)")


def test_a_stack_with_every_check_turned_off_is_no_data_never_green():
    off = {name: False for name in ("errorRate", "latencyP95", "sessionCreationSuccess")}
    verdict, rows = gate(shop(gates={"minSoak": "0s", "checks": off}))
    assert verdict == NO_DATA
    assert rows[("api", "requests")].verdict == GREEN  # plenty of traffic, and still nothing judged
    assert rows[("-", "checks")].reason == "no check could be evaluated: every check is turned off in rollout:gates.checks"


def test_metrics_that_no_enabled_check_reads_are_no_data():
    gauges = {"job": "api", "signals": {"queueDepth": {"gauge": "queue_depth"}}}
    verdict, rows = gate(shop(api_metrics=gauges, worker_metrics=None))
    assert verdict == NO_DATA
    assert rows[("-", "checks")].reason.startswith(
        "no check could be evaluated: no service's metrics give the roles the enabled checks read (errorRate: requests;")


def test_a_canary_without_metrics_is_no_data_even_when_other_services_are_checked():
    verdict, rows = gate(shop(api_metrics=None))
    assert verdict == NO_DATA
    assert rows[("worker", "errorRate")].verdict == GREEN
    assert rows[("api", "checks")].reason == (
        "no check could be evaluated on its canary on: it declares no metrics (rollout:services.api.metrics)")


def test_a_canary_whose_metrics_no_enabled_check_reads_is_no_data():
    gauges = {"job": "api", "signals": {"queueDepth": {"gauge": "queue_depth"}}}
    verdict, rows = gate(shop(api_metrics=gauges))
    assert verdict == NO_DATA
    assert rows[("api", "checks")].reason.startswith(
        "no check could be evaluated on its canary on: its metrics give none of the roles the enabled checks read")


def test_a_service_without_a_canary_needs_no_check_of_its_own():
    verdict, rows = gate(shop(worker_metrics=None))
    assert verdict == GREEN and ("worker", "checks") not in rows
    # At the kill switch nothing is a canary; the api's baseline still gives the verdict its evidence.
    verdict, rows = gate(shop(stage="s0", worker_metrics=None))
    assert verdict == GREEN and not any(check == "checks" for _, check in rows)


def test_no_series_at_all_is_no_data():
    settings = shop()
    nothing = {(q.service, q.check): {} for q in gate_queries(settings, settings.gates)}
    verdict, rows = gate(settings, nothing, requests=None)
    assert verdict == NO_DATA
    assert {r.verdict for key, r in rows.items() if key != ("-", "soak")} == {NO_DATA}
    assert "no samples for track off, on" in rows[("api", "errorRate")].reason


# -- rollback triggers -------------------------------------------------------------------------

def triggers(settings: StackSettings, readings) -> list:
    config = settings.gates
    return fired_triggers(config, service_tracks(settings, resolve(settings)), readings, points_needed)


def test_points_needed_is_one_per_step_of_the_hold_and_at_least_one():
    assert points_needed(Duration.parse("2m")) == 8
    assert points_needed(Duration.parse("10s")) == 1 and points_needed(Duration(0)) == 1


def test_a_trigger_without_a_hold_fires_on_one_reading_and_not_at_its_limit():
    settings = shop(gates={"minSoak": "0s", "rollbackTriggers": {"errorRate": {"max": 1, "for": "0s"}}})
    fired = triggers(settings, {("api", "errorRate"): {"on": TriggerReading(1.5, 0)}})
    assert [(r.service, r.check, r.verdict) for r in fired] == [("api", "errorRate", RED)]
    assert fired[0].reason == "canary on at 1.50% over 1.00%"
    assert triggers(settings, {("api", "errorRate"): {"on": TriggerReading(1.0, 0)}}) == []
    assert triggers(settings, {("api", "errorRate"): {"on": TriggerReading(None, 0)}}) == []


def test_a_held_trigger_says_how_long_it_held():
    settings = shop(gates={"minSoak": "0s", "rollbackTriggers": {"errorRate": {"max": 1, "for": "2m"}}})
    fired = triggers(settings, {("api", "errorRate"): {"on": TriggerReading(1.5, 8)}})
    assert fired[0].reason == "canary on at 1.50% over 1.00% for 2m"
    assert triggers(settings, {("api", "errorRate"): {"on": TriggerReading(1.5, 7)}}) == []


def test_a_minimum_trigger_fires_under_its_floor():
    settings = shop(gates={"minSoak": "0s", "rollbackTriggers": {"sessionCreationSuccess": {"min": 95}}})
    fired = triggers(settings, {("api", "sessionCreationSuccess"): {"on": TriggerReading(94.0, 0)}})
    assert fired and fired[0].reason == "canary on at 94.00% under 95.00%"
    assert triggers(settings, {("api", "sessionCreationSuccess"): {"on": TriggerReading(95.0, 0)}}) == []


def test_triggers_fire_on_the_only_track_at_100_percent_and_on_stable_with_percentages_but_never_without_a_canary():
    reading = {("api", "errorRate"): {"on": TriggerReading(9.0, 99), "stable": TriggerReading(9.0, 99)}}
    assert [r.values for r in triggers(shop(stage="s100"), reading)] == [{"on": 9.0}]
    assert [r.values for r in triggers(shop(strategy="percentage"), reading)] == [{"stable": 9.0}]
    assert triggers(shop(stage="s0"), {("api", "errorRate"): {"off": TriggerReading(9.0, 99)}}) == []
    assert triggers(shop(stage="s0", strategy="percentage"), reading) == []
