"""Gate verdicts at their edges: floors of other units, the smallest soak, and the words scripts read
(found by mutation testing, bench/mutation.py). Uses the made-up application of test_gates_verdicts."""
from __future__ import annotations

import pytest

from rollout.core.ladder import resolve
from rollout.gates.evaluate import (
    GREEN, NO_DATA, RED, YELLOW, Observations, evaluate, format_value, service_tracks, soak_row, worst,
)
from rollout.spec.model import Unit
from test_gates_verdicts import gate, shop

QUEUE = {"job": "api", "signals": {
    "requests": {"counter": "http_requests_total"}, "latency": {"histogram": "http_request_duration_seconds"},
    "queueDepth": {"gauge": "queue_depth"},
}}
CHECK = ("api", "queueDepth")


def with_queue_floor(floor: float = 1):
    """The api gated on a gauge that must stay at least `floor` (workers draining a queue, say)."""
    return shop(api_metrics=QUEUE, gates={"minSoak": "0s", "checks": {"queueDepth": {"min": floor}}})


def judge(settings, answers):
    """The verdict on `answers` alone, with plenty of requests on every track."""
    tracks = service_tracks(settings, resolve(settings))
    requests = {name: {t: 1000 for t in st.active} for name, st in tracks.items()}
    rows = evaluate(settings, settings.gates, tracks, Observations(requests, answers), None)
    return worst([r.verdict for r in rows]), {(r.service, r.check): r for r in rows}


# -- a minimum on a plain number: less than the baseline is worse ---------------------------------

@pytest.mark.parametrize("canary, verdict", [
    (100.0, GREEN), (120.0, GREEN),  # as much or more than the baseline is not worse
    (95.02, GREEN),  # 4.98% under the baseline
    (95.0, YELLOW), (90.02, YELLOW),  # exactly the YELLOW margin (5%), and just under RED's
    (90.0, RED), (50.0, RED),  # exactly the RED margin (10%), and far past it
])
def test_a_canary_under_the_baseline_on_a_minimum_gauge_check_takes_the_colour_of_its_shortfall(canary, verdict):
    result, rows = judge(with_queue_floor(), {CHECK: {"off": 100.0, "on": canary}})
    assert result == verdict, rows[CHECK].reason


def test_a_minimum_gauge_check_says_how_far_under_the_baseline_the_canary_is():
    _, rows = judge(with_queue_floor(), {CHECK: {"off": 100.0, "on": 92.0}})
    assert rows[CHECK].reason == "canary +8.0% vs baseline (YELLOW at 5%, RED at 10%)"


def test_a_zero_gauge_baseline_is_compared_against_a_floor_not_divided_by():
    settings = with_queue_floor(0)
    assert judge(settings, {CHECK: {"off": 0.0, "on": 0.0}})[0] == GREEN
    _, rows = judge(settings, {CHECK: {"off": 0.05, "on": 0.0}})  # 0.05 short of a 0.1 floor: 50%
    assert rows[CHECK].reason == "canary +50.0% vs baseline (YELLOW at 5%, RED at 10%)"


# -- soak ---------------------------------------------------------------------------------------

def test_a_one_millisecond_minimum_soak_still_needs_a_known_soak_time():
    config = shop(gates={"minSoak": "1ms"}).gates
    assert soak_row(config, "s25", None).verdict == NO_DATA
    assert soak_row(config, "s25", 0.001).verdict == GREEN
    assert soak_row(config, "s25", 0.0).verdict == NO_DATA


# -- what people and scripts read -------------------------------------------------------------------

def test_latencies_under_ten_seconds_read_in_milliseconds_and_from_ten_seconds_in_seconds():
    assert format_value(0.15, Unit.SECONDS) == "150ms"
    assert format_value(9.999, Unit.SECONDS) == "9999ms"
    assert format_value(10.0, Unit.SECONDS) == "10.0s"
    assert format_value(12.34, Unit.SECONDS) == "12.3s"


def test_values_keep_their_unit_and_a_missing_one_reads_as_a_dash():
    assert format_value(99.5, Unit.PERCENT) == "99.50%"
    assert format_value(2.5, Unit.PER_SECOND) == "2.5/s"
    assert format_value(1234.0, Unit.COUNT) == "1234"
    assert format_value(None, Unit.PERCENT) == "-"


def test_each_row_in_json_has_the_documented_fields_and_verdict_words():
    settings = shop()
    _, rows = gate(settings, {("api", "errorRate"): {"off": 0.5, "on": 3.0},
                              ("api", "latencyP95"): {"off": 0.2, "on": 0.214}})
    assert rows[("api", "errorRate")].to_json() == {
        "service": "api", "check": "errorRate", "values": {"off": 0.5, "on": 3.0}, "unit": "%",
        "threshold": "<= 1.00%", "verdict": "RED", "reason": "canary on at 3.00% breaks <= 1.00%; "
        "canary +500.0% vs baseline (YELLOW at 5%, RED at 10%)"}
    assert rows[("api", "latencyP95")].to_json()["verdict"] == "YELLOW"
    assert rows[("worker", "errorRate")].to_json()["verdict"] == "GREEN"


def test_a_gate_with_nothing_to_check_says_so_in_json_as_no_data():
    settings = shop(api_metrics=None, worker_metrics=None)
    rows = evaluate(settings, settings.gates, service_tracks(settings, resolve(settings)), Observations(), None)
    assert rows[0].to_json() == {
        "service": "-", "check": "checks", "values": {}, "unit": "", "threshold": ">= 1", "verdict": "NO DATA",
        "reason": "no check could be evaluated: no service declares metrics (rollout:services.<name>.metrics)"}
