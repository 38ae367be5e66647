"""Gates on Google Cloud: Managed Prometheus asked with application-default credentials, Cloud Run tracks
judged like Kubernetes tracks, and a fresh Cloud SQL backup before a risky stage.

Google's APIs are fakes on 127.0.0.1 (harness/fake_google.py) that demand the bearer token google-auth
obtained from the fake token endpoint; the query API is answered by the session's real Prometheus.
"""
from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from harness.fake_google import FakeGoogle
from prometheus_fixture import scenario_project, shared_gate_prometheus
from rollout.gates.backup import BackupUnknown, newest_success
from rollout.gates.google import MONITORING_READ, SQL_ADMIN, managed_prometheus_url
from rollout.spec.stack import load_stack

SOAKED = 30 * 60
PROJECT = "acme-chat-prod"  # the shipped prod stack's gcp:project


@pytest.fixture(scope="module")
def prom(request, tmp_path_factory):
    return shared_gate_prometheus(request.config, tmp_path_factory.mktemp("prometheus"))


@pytest.fixture
def google(prom, tmp_path, monkeypatch):
    """The fake Google, and application-default credentials that lead to it."""
    fake = FakeGoogle(PROJECT, prometheus=prom.url).start()
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(fake.write_service_account_key(tmp_path / "key.json")))
    monkeypatch.setenv("NO_GCE_CHECK", "True")  # never probe a metadata server
    monkeypatch.setenv("ROLLOUT_SQLADMIN_URL", fake.url)
    yield fake
    fake.stop()


def at_stage(tmp_path: Path, prom, namespace: str, stage: str = "canary-25") -> Path:
    return scenario_project(tmp_path / namespace, namespace, stage=stage, soaked_since=prom.now - SOAKED)


def gmp_gate(rollout, path: Path, prom, google: FakeGoogle, *extra: str):
    return rollout("gate", path, "--prometheus", google.prometheus_url, "--auth", "google", "--at", str(prom.now), *extra)


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in (path.parent / "ledger" / "prod.jsonl").read_text().splitlines()]


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# -- Managed Prometheus with Google credentials -------------------------------------------------

def test_the_gate_asks_managed_prometheus_with_the_bearer_token_and_judges_cloud_run_tracks(tmp_path, prom, google, rollout):
    path = at_stage(tmp_path, prom, "healthy")
    result = gmp_gate(rollout, path, prom, google, "--json")
    assert result.code == 0, result.out + result.err
    data = json.loads(result.out)
    frontend = {row["check"]: row for row in data["checks"] if row["service"] == "frontend"}
    assert set(frontend) == {"requests", "errorRate", "latencyP95"}
    assert all(set(row["values"]) == {"off", "on"} and None not in row["values"].values() for row in frontend.values())
    calls = google.api_calls()
    assert calls and all(c.headers["Authorization"] == f"Bearer {google.token}" for c in calls)
    assert any("run_googleapis_com:request_count" in c.query["query"] for c in calls)
    assert all(c.method == "GET" and c.path.endswith("/prometheus/api/v1/query") for c in calls)
    assert google.jwt_claims and MONITORING_READ in google.jwt_claims[0]["scope"]


def test_a_cloud_run_canary_that_fails_more_is_red_like_a_kubernetes_one(tmp_path, prom, google, rollout):
    result = gmp_gate(rollout, at_stage(tmp_path, prom, "run-red"), prom, google, "--json")
    assert result.code == 4, result.out + result.err
    red = [r for r in json.loads(result.out)["checks"] if r["verdict"] == "RED"]
    assert [(r["service"], r["check"]) for r in red] == [("frontend", "errorRate")]
    assert "canary on at 3.00%" in red[0]["reason"] and red[0]["values"]["off"] == pytest.approx(0.5, abs=0.05)


def test_a_slow_cloud_run_canary_is_red_with_latencies_read_in_milliseconds(tmp_path, prom, google, rollout):
    result = gmp_gate(rollout, at_stage(tmp_path, prom, "run-slow"), prom, google, "--json")
    assert result.code == 4, result.out + result.err
    latency = next(r for r in json.loads(result.out)["checks"] if (r["service"], r["check"]) == ("frontend", "latencyP95"))
    assert latency["verdict"] == "RED"
    # Uniform latencies up to 2 s: histogram_quantile interpolates p95 between the 1000 and 2500 ms buckets to
    # 2350 ms, the same 2.35 a Kubernetes histogram in seconds gives; shown in seconds, as thresholds are written.
    assert latency["values"]["on"] == pytest.approx(2.35, rel=0.01)
    assert latency["values"]["off"] == pytest.approx(0.235, rel=0.01)


def test_without_credentials_the_gate_has_no_data_and_asks_nothing(tmp_path, prom, google, rollout, monkeypatch):
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    path = at_stage(tmp_path, prom, "healthy")
    result = gmp_gate(rollout, path, prom, google)
    assert result.code == 5
    assert "gcloud auth application-default login" in result.err and "Traceback" not in result.err
    assert google.api_calls() == []
    assert records(path)[-1]["verdict"] == "NO DATA"


def test_a_token_the_api_refuses_is_no_data(tmp_path, prom, google, rollout):
    google.accepts = "ya29.another-token"
    result = gmp_gate(rollout, at_stage(tmp_path, prom, "healthy"), prom, google)
    assert result.code == 5 and "refused the credentials (HTTP 401)" in result.err
    assert google.api_calls() and all(c.headers["Authorization"] == f"Bearer {google.token}" for c in google.api_calls())


def test_managed_prometheus_is_the_default_for_a_gmp_stack_and_gets_google_auth(tmp_path, prom, rollout, monkeypatch):
    """No --prometheus: the stack's own Managed Prometheus; no credentials here, so no data (and no network)."""
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    monkeypatch.setenv("NO_GCE_CHECK", "True")
    monkeypatch.delenv("ROLLOUT_PROMETHEUS_URL", raising=False)
    result = rollout("gate", at_stage(tmp_path, prom, "healthy"), "--json")
    assert result.code == 5
    assert managed_prometheus_url(PROJECT) == "https://monitoring.googleapis.com/v1/projects/acme-chat-prod/location/global/prometheus"
    assert "no Google application-default credentials" in result.err


# -- a fresh Cloud SQL backup before a risky stage ------------------------------------------------

def backup_run(status: str, ended: float | None, run_id: str = "1") -> dict:
    run = {"kind": "sql#backupRun", "status": status, "id": run_id, "type": "ON_DEMAND", "instance": "chat-db",
           "enqueuedTime": iso((ended or time.time()) - 300)}
    if ended is not None:
        run["endTime"] = iso(ended)
    return run


def promote_into_canary_5(tmp_path, prom, google, rollout, runs=None, status: int = 200):
    """prod at `off` (healthy metrics), `promote --gate` to canary-5, which needs a backup of chat-db within 24h."""
    google.backup_runs = {"kind": "sql#backupRunsList", "items": runs or []}
    google.sqladmin_status = status
    path = at_stage(tmp_path, prom, "healthy", stage="off")
    before = path.read_text()
    result = rollout("promote", path, "--gate", google.prometheus_url)
    return path, before, result


@pytest.fixture
def google_env(google, monkeypatch):
    monkeypatch.setenv("ROLLOUT_PROMETHEUS_AUTH", "google")  # promote --gate takes the URL only
    return google


def test_promote_into_a_stage_that_needs_a_backup_goes_ahead_with_a_fresh_one(tmp_path, prom, google_env, rollout):
    now = time.time()
    path, before, result = promote_into_canary_5(tmp_path, prom, google_env, rollout,
                                                 [backup_run("FAILED", None, "3"), backup_run("SUCCESSFUL", now - 2 * 3600, "2")])
    assert result.code == 0, result.out + result.err
    assert load_stack(path).stage == "canary-5"
    backup = [c for c in google_env.api_calls() if c.path.endswith("/backupRuns")]
    assert [c.path for c in backup] == ["/v1/projects/acme-chat-prod/instances/chat-db/backupRuns"]
    assert backup[0].headers["Authorization"] == f"Bearer {google_env.token}"
    assert any(SQL_ADMIN in claims["scope"] for claims in google_env.jwt_claims)
    assert records(path)[-1]["action"] == "promote" and "-.cloudSqlBackup" in records(path)[-1]["values"]


@pytest.mark.parametrize("runs,status,code,words", [
    ([{"status": "SUCCESSFUL", "id": "9", "endTime": iso(time.time() - 30 * 3600)}], 200, 4, ["30h", "old", "gcloud sql backups create"]),
    ([{"status": "FAILED", "id": "8"}, {"status": "ENQUEUED", "id": "9"}], 200, 4, ["no successful backup run"]),
    ([], 200, 4, ["no successful backup run"]),
    ([{"status": "SUCCESSFUL", "id": "7"}], 200, 5, ["no readable endTime"]),
    ([], 403, 5, ["HTTP 403"]),
], ids=["stale", "only-failed", "none", "undated", "forbidden"])
def test_promote_without_a_fresh_backup_is_refused_and_changes_nothing(tmp_path, prom, google_env, rollout,
                                                                       runs, status, code, words):
    path, before, result = promote_into_canary_5(tmp_path, prom, google_env, rollout, runs, status)
    assert result.code == code, result.out + result.err
    assert path.read_text() == before
    assert "not promoting prod to canary-5" in result.err
    for word in words:
        assert word in result.err + result.out, word
    assert records(path)[-1]["verdict"] == ("RED" if code == 4 else "NO DATA")


def test_a_stage_that_needs_no_backup_never_asks_cloud_sql(tmp_path, prom, google_env, rollout):
    path = at_stage(tmp_path, prom, "healthy", stage="canary-25")
    result = rollout("promote", path, "--gate", google_env.prometheus_url)
    assert result.code == 0, result.out + result.err
    assert not [c for c in google_env.api_calls() if c.path.endswith("/backupRuns")]


def test_rolling_back_never_waits_for_a_backup(tmp_path, prom, google_env, rollout):
    path = at_stage(tmp_path, prom, "healthy", stage="canary-25")
    assert rollout("rollback", path, "--to", "canary-5").code == 0
    assert rollout("rollback", path, "--kill-switch").code == 0
    assert google_env.api_calls() == []


def test_the_gate_shows_the_backup_the_next_stage_needs(tmp_path, prom, google, rollout):
    google.backup_runs = {"items": [backup_run("SUCCESSFUL", prom.now - 3 * 3600)]}
    result = gmp_gate(rollout, at_stage(tmp_path, prom, "healthy", stage="off"), prom, google)
    assert result.code == 0, result.out + result.err
    line = next(line for line in result.out.splitlines() if "cloudSqlBackup" in line)
    assert "chat-db 3h ago" in line and "<= 1d old before canary-5" in line and "GREEN" in line


def test_promote_without_gate_into_a_backup_stage_says_it_did_not_check(tmp_path, prom, rollout):
    path = at_stage(tmp_path, prom, "healthy", stage="off")
    result = rollout("promote", path)
    assert result.code == 0
    assert "canary-5 needs a Cloud SQL backup of chat-db younger than 1d" in result.out


def test_the_newest_successful_run_counts_whatever_the_order():
    runs = [{"status": "SUCCESSFUL", "endTime": "2026-05-01T10:00:00Z"}, {"status": "FAILED"},
            {"status": "SUCCESSFUL", "endTime": "2026-05-01T12:00:00.123456789Z"}, {"status": "RUNNING"}]
    assert newest_success(runs) == datetime(2026, 5, 1, 12, 0, 0, 123456, tzinfo=timezone.utc).timestamp()
    assert newest_success([{"status": "FAILED", "endTime": "2026-05-01T12:00:00Z"}]) is None
    with pytest.raises(BackupUnknown):
        newest_success([{"status": "SUCCESSFUL", "endTime": "yesterday"}])
