"""The audit ledger: file and S3 stores, append-only, and a store that fails stops the stage change."""
from __future__ import annotations

import json

import pytest

from harness.aws import BUCKET, s3_bucket  # noqa: F401 - a fixture

from prometheus_fixture import scenario_project

from rollout.core.ledger import FileLedger, LedgerError, Record, S3Ledger, open_ledger, soak_start
from rollout.spec.stack import load_stack



def record(action: str = "promote", time: str = "2026-05-01T12:00:00.000Z", **kwargs) -> Record:
    fields = dict(user="ada", commit="abc123", stack="prod", from_stage="canary-5", to_stage="canary-25",
                  verdict="GREEN", values={"backend.errorRate": {"on": 0.4}}, reason="")
    fields.update(kwargs)
    return Record(time=time, action=action, **fields)




def test_file_ledger_appends_and_reads_back_only_its_stack(tmp_path):
    ledger = FileLedger(tmp_path / "ledger" / "all.jsonl")
    ledger.append(record())
    ledger.append(record(stack="staging"))
    ledger.append(record("rollback", time="2026-05-01T12:30:00.000Z", from_stage="canary-25", to_stage="canary-5"))
    assert [r.action for r in ledger.records("prod")] == ["promote", "rollback"]
    assert ledger.records("prod")[0] == record()  # every field survives the round trip
    lines = (tmp_path / "ledger" / "all.jsonl").read_text().splitlines()
    assert len(lines) == 3 and json.loads(lines[0])["from"] == "canary-5"


def test_file_ledger_never_rewrites_earlier_lines(tmp_path):
    path = tmp_path / "prod.jsonl"
    ledger = FileLedger(path)
    ledger.append(record())
    first = path.read_bytes()
    ledger.append(record("gate"))
    assert path.read_bytes().startswith(first)


def test_file_ledger_that_cannot_be_written_says_where(tmp_path):
    (tmp_path / "ledger").write_text("a file where a folder should be")
    with pytest.raises(LedgerError, match=r"cannot write the ledger .*ledger/prod.jsonl"):
        FileLedger(tmp_path / "ledger" / "prod.jsonl").append(record())


def test_a_corrupt_ledger_line_is_reported_with_its_line_number(tmp_path):
    path = tmp_path / "prod.jsonl"
    path.write_text(json.dumps(record().to_json()) + "\nnot json\n")
    with pytest.raises(LedgerError, match="prod.jsonl:2: not a ledger record"):
        FileLedger(path).records("prod")


def test_s3_ledger_writes_one_object_per_record_and_lists_them_in_order(s3_bucket):
    ledger = S3Ledger(f"s3://{BUCKET}/rollout-ledger")
    ledger.append(record("rollback", time="2026-05-01T13:00:00.000Z"))
    ledger.append(record("promote", time="2026-05-01T12:00:00.000Z"))
    ledger.append(record("gate", time="2026-05-01T12:00:00.000Z"))  # same time: still its own object
    keys = [o["Key"] for o in s3_bucket.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert len(keys) == 3 and all(k.startswith("rollout-ledger/prod/2026-05-01T") for k in keys)
    assert [r.action for r in ledger.records("prod")][-1] == "rollback"
    assert sorted(r.action for r in ledger.records("prod")) == ["gate", "promote", "rollback"]
    assert ledger.records("staging") == []


def test_s3_ledger_never_overwrites_a_record(s3_bucket):
    ledger = S3Ledger(f"s3://{BUCKET}/l")
    ledger.append(record())
    key = s3_bucket.list_objects_v2(Bucket=BUCKET)["Contents"][0]["Key"]
    with pytest.raises(Exception) as refused:  # the same conditional write the ledger uses
        s3_bucket.put_object(Bucket=BUCKET, Key=key, Body=b"{}", IfNoneMatch="*")
    assert "PreconditionFailed" in str(refused.value)
    assert ledger.records("prod") == [record()]


def test_s3_ledger_to_a_missing_bucket_fails_with_the_location(s3_bucket):
    with pytest.raises(LedgerError, match=r"cannot write the ledger at s3://no-such-bucket/x: NoSuchBucket"):
        S3Ledger("s3://no-such-bucket/x").append(record())


def test_open_ledger_picks_the_store_from_the_location(tmp_path):
    assert isinstance(open_ledger("s3://bucket/prefix", tmp_path / "Pulumi.prod.yaml"), S3Ledger)
    local = open_ledger("audit/prod.jsonl", tmp_path / "Pulumi.prod.yaml")
    assert isinstance(local, FileLedger) and local.path == tmp_path / "audit" / "prod.jsonl"


def test_soak_starts_at_the_last_move_only_if_it_moved_to_the_current_stage():
    moves = [record(time="2026-05-01T12:00:00.000Z"), record("gate", time="2026-05-01T12:10:00.000Z", to_stage=None)]
    assert soak_start(moves, "canary-25") == pytest.approx(1777636800.0)
    assert soak_start(moves, "canary-50") is None  # someone changed the stage by hand since
    assert soak_start([], "canary-25") is None


# -- the stage change waits for the ledger ----------------------------------------------------

def test_promote_and_rollback_record_to_s3(tmp_path, s3_bucket, rollout):
    path = scenario_project(tmp_path, "chat-prod", stage="canary-5", gates={"ledger": f"s3://{BUCKET}/audit"})
    assert rollout("promote", path).code == 0
    assert rollout("rollback", path).code == 0
    history = rollout("history", path, "--json")
    assert history.code == 0
    moves = [(r["action"], r["from"], r["to"]) for r in json.loads(history.out)]
    assert moves == [("promote", "canary-5", "canary-25"), ("rollback", "canary-25", "canary-5")]


def test_a_failing_s3_store_leaves_the_stack_file_unchanged(tmp_path, s3_bucket, rollout):
    path = scenario_project(tmp_path, "chat-prod", stage="canary-5", gates={"ledger": "s3://no-such-bucket/audit"})
    before = path.read_text()
    for command in (("promote", path), ("rollback", path), ("rollback", path, "--kill-switch")):
        result = rollout(*command)
        assert result.code == 1, command
        # A move reads the ledger first (to close a move a killed run left open), so it is the read that fails.
        assert "the ledger at s3://no-such-bucket/audit: NoSuchBucket" in result.err
        assert path.read_text() == before


def test_a_failing_file_store_leaves_the_stack_file_unchanged(tmp_path, rollout):
    path = scenario_project(tmp_path, "chat-prod", stage="canary-5")
    (tmp_path / "ledger").write_text("in the way")
    before = path.read_text()
    result = rollout("promote", path)
    assert result.code == 1 and "cannot write the ledger" in result.err
    assert path.read_text() == before
    assert load_stack(path).stage == "canary-5"


def test_history_lists_records_as_a_table(tmp_path, rollout):
    path = scenario_project(tmp_path, "chat-prod", stage="canary-5")
    rollout("promote", path)
    result = rollout("history", path)
    assert result.code == 0
    assert "TIME" in result.out and "promote  canary-5  canary-25" in result.out
