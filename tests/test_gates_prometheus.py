"""`rollout gate` judged against a real Prometheus holding one data set per scenario."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import REPO

from prometheus_fixture import PrometheusServer, scenario_project, shared_gate_prometheus

from rollout.gates.gate import run_triggers
from rollout.core.ledger import FileLedger
from rollout.gates.prometheus import Prometheus
from rollout.spec.stack import load_stack

SOAKED = 30 * 60  # seconds since the promote to canary-25, more than the 15m minimum


@pytest.fixture(scope="module")
def prom(request, tmp_path_factory):
    return shared_gate_prometheus(request.config, tmp_path_factory.mktemp("prometheus"))


def stack(tmp_path: Path, prom, namespace: str, **kwargs) -> Path:
    kwargs.setdefault("soaked_since", prom.now - SOAKED)
    return scenario_project(tmp_path / namespace, namespace, **kwargs)


def gate(rollout, path: Path, prom, *extra: str):
    return rollout("gate", path, "--prometheus", prom.url, "--at", str(prom.now), *extra)


def ledger_records(path: Path) -> list[dict]:
    return [json.loads(line) for line in (path.parent / "ledger" / "prod.jsonl").read_text().splitlines()]


def test_healthy_canary_is_green_and_exits_0(tmp_path, prom, rollout):
    path = stack(tmp_path, prom, "healthy")
    result = gate(rollout, path, prom)
    assert result.code == 0, result.out + result.err
    assert "verdict: GREEN (exit 0)" in result.out
    assert "backend   errorRate" in result.out and "off 0.50%  on 0.50%" in result.out


def test_canary_7_percent_worse_is_yellow_and_exits_3(tmp_path, prom, rollout):
    path = stack(tmp_path, prom, "yellow")
    result = gate(rollout, path, prom)
    assert result.code == 3, result.out + result.err
    assert "canary +7.0% vs baseline" in result.out
    assert "verdict: YELLOW (exit 3)" in result.out


def test_canary_with_3_percent_errors_against_half_a_percent_is_red_and_exits_4(tmp_path, prom, rollout):
    path = stack(tmp_path, prom, "red")
    result = gate(rollout, path, prom, "--json")
    assert result.code == 4, result.out + result.err
    data = json.loads(result.out)
    assert data["verdict"] == "RED" and data["exitCode"] == 4
    row = next(c for c in data["checks"] if c["service"] == "backend" and c["check"] == "errorRate")
    assert row["values"]["on"] == pytest.approx(3.0, rel=1e-3)
    assert row["values"]["off"] == pytest.approx(0.5, rel=1e-3)
    assert row["verdict"] == "RED"
    others = [c for c in data["checks"] if c["verdict"] != "GREEN"]
    assert others == [row]  # nothing else about this canary is wrong


def test_too_few_requests_is_not_enough_data_and_exits_5(tmp_path, prom, rollout):
    path = stack(tmp_path, prom, "few")
    result = gate(rollout, path, prom)
    assert result.code == 5, result.out + result.err
    assert "off had 3 requests in 10m" in result.out
    assert "GREEN (exit 0)" not in result.out


def test_an_absent_metric_is_not_enough_data_and_exits_5(tmp_path, prom, rollout):
    path = stack(tmp_path, prom, "absent")
    result = gate(rollout, path, prom, "--json")
    assert result.code == 5, result.out + result.err
    row = next(c for c in json.loads(result.out)["checks"] if c["check"] == "sseSuccess")
    assert row["verdict"] == "NO DATA" and "sse_connection_errors" in row["reason"]


def test_a_namespace_with_no_series_at_all_is_never_green(tmp_path, prom, rollout):
    path = stack(tmp_path, prom, "nothing-here")
    assert gate(rollout, path, prom).code == 5


def test_a_stage_that_has_not_soaked_long_enough_is_not_green(tmp_path, prom, rollout):
    path = stack(tmp_path, prom, "healthy", soaked_since=prom.now - 5 * 60)
    result = gate(rollout, path, prom)
    assert result.code == 5
    assert "canary-25 has soaked 5m of 15m" in result.out


def test_an_unknown_soak_start_is_not_green_unless_min_soak_is_zero(tmp_path, prom, rollout):
    unknown = stack(tmp_path, prom, "healthy", soaked_since=None)
    result = gate(rollout, unknown, prom)
    assert result.code == 5 and "soak time is unknown" in result.out
    no_minimum = scenario_project(tmp_path / "zero", "healthy", gates={"minSoak": "0s"})
    assert gate(rollout, no_minimum, prom).code == 0


def test_stopped_prometheus_exits_5_with_a_message(tmp_path, prom, rollout):
    server = PrometheusServer(tmp_path / "empty-data", tmp_path).start()
    url = server.url
    server.stop()
    path = stack(tmp_path, prom, "healthy")
    result = rollout("gate", path, "--prometheus", url)
    assert result.code == 5
    assert f"cannot reach Prometheus at {url}" in result.err
    assert "Traceback" not in result.err
    assert ledger_records(path)[-1]["verdict"] == "NO DATA"
    as_json = rollout("gate", path, "--prometheus", url, "--json")
    assert as_json.code == 5 and json.loads(as_json.out)["verdict"] == "NO DATA"


def test_every_gate_verdict_is_recorded_with_its_numbers(tmp_path, prom, rollout):
    path = stack(tmp_path, prom, "red")
    gate(rollout, path, prom)
    record = ledger_records(path)[-1]
    assert record["action"] == "gate" and record["verdict"] == "RED" and record["stack"] == "prod"
    assert record["values"]["backend.errorRate"]["on"] == pytest.approx(3.0, rel=1e-3)
    assert "user" in record and "commit" in record and record["from"] == "canary-25"


def test_promote_with_gate_refuses_yellow_and_leaves_the_stack_file_unchanged(tmp_path, prom, rollout):
    path = stack(tmp_path, prom, "yellow")
    before = path.read_text()
    result = rollout("promote", path, "--gate", prom.url)
    assert result.code == 3
    assert "not promoting prod to canary-50: the gate is YELLOW" in result.err
    assert path.read_text() == before


def test_promote_with_gate_promotes_on_green_and_records_the_numbers(tmp_path, prom, rollout):
    path = stack(tmp_path, prom, "healthy")
    result = rollout("promote", path, "--gate", prom.url)
    assert result.code == 0, result.out + result.err
    assert load_stack(path).stage == "canary-50"
    record = ledger_records(path)[-1]
    assert (record["action"], record["from"], record["to"], record["verdict"]) == ("promote", "canary-25", "canary-50", "GREEN")
    assert record["values"]["backend.errorRate"]["on"] == pytest.approx(0.5, rel=1e-3)


def test_rollback_trigger_fires_only_after_it_held_for_two_minutes(tmp_path, prom):
    # Checks relaxed so only the trigger (5xx > 1% for 2m on the canary) can speak.
    for namespace, fires in (("spike", True), ("spike-new", False), ("healthy", False)):
        settings = load_stack(stack(tmp_path, prom, namespace))
        fired = run_triggers(settings, settings.gates, Prometheus(prom.url), at=prom.now)
        assert [(r.service, r.check) for r in fired] == ([("backend", "errorRate")] if fires else []), namespace


def test_bad_gate_config_is_exit_2_naming_the_key(tmp_path, prom, rollout):
    path = stack(tmp_path, prom, "healthy", gates={"checks": {"latencyP95": {"max": "fast"}}},
                 soaked_since=None)
    result = gate(rollout, path, prom)
    assert result.code == 2
    assert "rollout:gates.checks.latencyP95.max" in result.err and "'fast' is not a duration" in result.err


def test_file_ledger_keeps_every_record(tmp_path, prom, rollout):
    path = stack(tmp_path, prom, "healthy")
    for _ in range(3):
        gate(rollout, path, prom)
    records = FileLedger(path.parent / "ledger" / "prod.jsonl").records("prod")
    assert [r.action for r in records] == ["promote", "gate", "gate", "gate"]
    history = rollout("history", path)
    assert history.code == 0 and history.out.count(" gate ") == 3


# -- never GREEN without evidence --------------------------------------------------------------

EVERY_CHECK_OFF = {"minSoak": 0, "checks": {name: False for name in (
    "errorRate", "latencyP95", "sessionCreationSuccess", "sseSuccess", "firstTokenP95")}}


def test_a_gate_with_every_check_turned_off_is_no_data_though_traffic_is_healthy(tmp_path, prom, rollout):
    path = scenario_project(tmp_path, "healthy", gates=EVERY_CHECK_OFF)
    result = gate(rollout, path, prom)
    assert result.code == 5, result.out + result.err
    assert "backend   requests  off 12000  on 4000" in result.out  # the data is there; nothing judges it
    assert "no check could be evaluated: every check is turned off in rollout:gates.checks" in result.out
    assert ledger_records(path)[-1]["verdict"] == "NO DATA"


def test_promote_with_gate_refuses_a_gate_that_judged_nothing(tmp_path, prom, rollout):
    path = scenario_project(tmp_path, "healthy", gates=EVERY_CHECK_OFF)
    before = path.read_text()
    result = rollout("promote", path, "--gate", prom.url)
    assert result.code == 5
    assert "not promoting prod to canary-50: the gate is NO DATA: checks: no check could be evaluated" in result.err
    assert path.read_text() == before


def test_watch_of_a_gate_that_judges_nothing_ends_no_data(tmp_path, prom, rollout):
    path = scenario_project(tmp_path, "healthy", gates=EVERY_CHECK_OFF)
    result = rollout("watch", path, "--prometheus", prom.url, "--for", "1s", "--interval", "1s")
    assert result.code == 5, result.out + result.err
    assert "canary-25: NO DATA" in result.out and "soak ended NO DATA: not ready to promote" in result.out
    assert ledger_records(path)[-1]["verdict"] == "NO DATA"


def test_a_stack_that_declares_no_metrics_is_no_data(tmp_path, prom, rollout):
    """An application that declares no metrics at all (tests/apps/Pulumi.blank.yaml), at its `on` stage."""
    shutil.copy(REPO / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    text = (REPO / "tests" / "apps" / "Pulumi.blank.yaml").read_text().replace('rollout:stage: "off"', 'rollout:stage: "on"')
    path = tmp_path / "Pulumi.prod.yaml"
    path.write_text(text + "  rollout:gates: {minSoak: 0s}\n")
    result = gate(rollout, path, prom, "--json")
    assert result.code == 5, result.out + result.err
    assert json.loads(result.out)["reasons"] == [
        "checks: no check could be evaluated: no service declares metrics (rollout:services.<name>.metrics)"]


# -- the percentage strategy: one `stable` track that carries the flag ----------------------------

def percentage_stack(folder: Path, stage: str, checks: dict | None = None) -> Path:
    """A one-service app on the percentage strategy, reading the `agent` series of the healthy scenario."""
    from ruamel.yaml import YAML

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "Pulumi.yaml").write_text("name: pct\nruntime: python\n")
    config = {
        "rollout:app": "pct", "rollout:namespace": "healthy", "rollout:strategy": "percentage",
        "rollout:stage": stage,
        "rollout:stages": [{"name": "zero", "weight": 0}, {"name": "pct-25", "weight": 25}],
        "rollout:services": {"api": {
            "image": "registry.example/api:1", "port": 8080, "healthPath": "/health", "replicas": 4,
            "flags": {"NEW_PATH": {"off": "0", "on": "1"}},
            "metrics": {"job": "agent", "signals": {"requests": {"counter": "http_requests_total"},
                                                    "latency": {"histogram": "http_request_duration_seconds"}}},
        }},
        "rollout:gates": {"minSoak": 0, **({"checks": checks} if checks else {})},
    }
    path = folder / "Pulumi.prod.yaml"
    with path.open("w") as handle:
        YAML().dump({"config": config}, handle)
    return path


def test_the_percentage_strategy_is_judged_on_its_stable_track(tmp_path, prom, rollout):
    result = gate(rollout, percentage_stack(tmp_path / "green", "pct-25"), prom)
    assert result.code == 0, result.out + result.err
    assert "api      errorRate   stable 0.50%" in result.out
    tight = {"latencyP95": {"max": "100ms"}}
    result = gate(rollout, percentage_stack(tmp_path / "red", "pct-25", tight), prom)
    assert result.code == 4, result.out + result.err
    assert "canary stable at 235ms breaks <= 100ms" in result.out
    # At 0% the flag is off everywhere: the same latency is not the rollout's doing.
    result = gate(rollout, percentage_stack(tmp_path / "zero", "zero", tight), prom)
    assert result.code == 3, result.out + result.err
    assert "track stable at 235ms breaks <= 100ms" in result.out
