"""`rollout watch`: a soak with progress, automatic rollback on RED or a held trigger, --apply."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from prometheus_fixture import scenario_project, shared_gate_prometheus

from rollout.spec.stack import load_stack

SOAKED = 30 * 60


@pytest.fixture(scope="module")
def prom(request, tmp_path_factory):
    return shared_gate_prometheus(request.config, tmp_path_factory.mktemp("prometheus"))


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in (path.parent / "ledger" / "prod.jsonl").read_text().splitlines()]


def test_watch_rolls_back_one_stage_on_red(tmp_path, prom, rollout):
    path = scenario_project(tmp_path, "red", soaked_since=prom.now - SOAKED)
    before = path.read_text().splitlines()
    result = rollout("watch", path, "--prometheus", prom.url, "--for", "3s", "--interval", "1s")
    assert result.code == 4, result.out + result.err
    assert "[" in result.out and "canary-25: RED" in result.out  # the progress line
    assert "rolled back prod: canary-25 -> canary-5" in result.out
    assert "pulumi up --stack prod" in result.out
    assert load_stack(path).stage == "canary-5"
    after = path.read_text().splitlines()
    assert [(a, b) for a, b in zip(before, after) if a != b] == [("  rollout:stage: canary-25", "  rollout:stage: canary-5")]
    assert len(after) == len(before), "the rollback changes the stage line and adds none"
    last = records(path)[-1]
    assert (last["action"], last["from"], last["to"], last["verdict"]) == ("rollback", "canary-25", "canary-5", "RED")
    assert last["values"]["backend.errorRate"]["on"] == pytest.approx(3.0, rel=1e-3)
    assert "rollout watch" in last["reason"]


def test_watch_rolls_back_to_the_kill_switch_when_configured_and_a_trigger_holds(tmp_path, prom, rollout):
    # Gate checks relaxed so that only the 5xx-for-2-minutes trigger can cause the rollback.
    gates = {"onRed": "kill-switch", "checks": {"errorRate": {"max": 99}}, "margins": {"yellow": 1000, "red": 1000}}
    path = scenario_project(tmp_path, "spike", gates=gates, soaked_since=prom.now - SOAKED)
    result = rollout("watch", path, "--prometheus", prom.url, "--for", "2s", "--interval", "1s")
    assert result.code == 4, result.out + result.err
    assert "backend canary on at" in result.out and "over 1.00% for 2m" in result.out
    assert "rolled back prod: canary-25 -> off" in result.out
    assert load_stack(path).stage == "off"
    assert "over 1.00% for 2m" in records(path)[-1]["reason"]


def test_watch_does_not_roll_back_when_the_ledger_cannot_be_written(tmp_path, prom, rollout):
    path = scenario_project(tmp_path, "red", gates={"minSoak": "0s"})
    (tmp_path / "ledger").write_text("a file where the ledger folder should be")
    before = path.read_text()
    result = rollout("watch", path, "--prometheus", prom.url, "--for", "1s", "--interval", "1s")
    assert result.code == 1
    assert "cannot write the ledger" in result.err
    assert path.read_text() == before


def test_watch_of_a_healthy_canary_shows_progress_and_changes_nothing(tmp_path, prom, rollout):
    path = scenario_project(tmp_path, "healthy", soaked_since=prom.now - SOAKED)
    before = path.read_text()
    result = rollout("watch", path, "--prometheus", prom.url, "--for", "2s", "--interval", "1s")
    assert result.code == 0, result.out + result.err
    progress = [line for line in result.out.splitlines() if line.startswith("[")]
    assert len(progress) >= 2 and all("canary-25: GREEN" in line for line in progress)
    assert progress[-1].startswith("[####################]")
    assert "soak passed" in result.out
    assert path.read_text() == before
    assert records(path)[-1]["action"] == "gate" and records(path)[-1]["verdict"] == "GREEN"


def test_watch_with_too_little_data_never_passes_and_never_rolls_back(tmp_path, prom, rollout):
    path = scenario_project(tmp_path, "few", soaked_since=prom.now - SOAKED)
    before = path.read_text()
    result = rollout("watch", path, "--prometheus", prom.url, "--for", "1s", "--interval", "1s")
    assert result.code == 5
    assert path.read_text() == before


def test_watch_apply_without_a_pulumi_cli_fails_clearly_before_watching(tmp_path, prom, rollout, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))  # no pulumi anywhere
    path = scenario_project(tmp_path, "red", soaked_since=prom.now - SOAKED)
    before = path.read_text()
    result = rollout("watch", path, "--prometheus", prom.url, "--for", "1s", "--apply")
    assert result.code == 1
    assert "there is no `pulumi` on PATH" in result.err and "pulumi up --stack prod" in result.err
    assert "Traceback" not in result.err
    assert path.read_text() == before  # it stopped before judging, so nothing was rolled back


def test_pulumi_up_refuses_without_the_cli_and_does_not_import_pulumi_first(tmp_path, monkeypatch):
    import sys

    from rollout.pulumi.apply import PulumiUnavailable, pulumi_up

    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delitem(sys.modules, "pulumi.automation", raising=False)
    with pytest.raises(PulumiUnavailable, match="needs the Pulumi CLI"):
        pulumi_up(tmp_path, "prod", sys.stdout)
    assert "pulumi.automation" not in sys.modules


def test_the_cli_does_not_import_pulumi_or_boto3():
    import subprocess
    import sys

    code = "import sys, rollout.cli.main; print(any(m.split('.')[0] in ('pulumi', 'boto3') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
