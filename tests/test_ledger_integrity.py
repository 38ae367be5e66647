"""The ledger and the stack file agree: intent and done records, corrupt lines named by file and
line, no record glued onto a half line, a location inside the project, bounded reads."""
from __future__ import annotations

import errno
import json
import os
import time
from pathlib import Path

import pytest

from harness.aws import BUCKET, s3_bucket  # noqa: F401 - a fixture

from harness.stack_moves import check_consistent, leftovers, ledger_of, prod_project
from prometheus_fixture import scenario_project
from rollout.core import ledger as ledger_module
from rollout.core.ledger import FileLedger, LedgerCorrupt, Record, S3Ledger, iso_time
from rollout.core.stackfile import set_stage
from rollout.spec.stack import load_stack

GOOD = {"time": "2026-05-01T12:00:00.000Z", "user": "ada", "commit": None, "stack": "prod", "action": "gate",
        "from": "off", "to": None, "verdict": "GREEN", "values": {}, "reason": "", "id": "g1", "phase": None}
CORRUPT_LINES = {
    "half a line": b'{"time": "2026-05-01T12:00:00.000Z", "stack": "pr',
    "not JSON": b"promoted prod to canary-5, trust me",
    "a bad time": json.dumps({**GOOD, "time": "yesterday"}).encode(),
    "a time without a zone": json.dumps({**GOOD, "time": "2026-05-01T12:00:00"}).encode(),
    "no stack": json.dumps({k: v for k, v in GOOD.items() if k != "stack"}).encode(),
    "a move without stages": json.dumps({**GOOD, "action": "promote", "from": None}).encode(),
    "an unknown phase": json.dumps({**GOOD, "phase": "maybe"}).encode(),
    "not UTF-8": b'{"reason": "\xff\xfe"}',
    "not an object": b"[1, 2, 3]",
}
NOWHERE = "http://127.0.0.1:9"  # never asked: an unreadable ledger stops the gate first


def write_ledger(path: Path, *lines: bytes, end: bytes = b"\n") -> Path:
    ledger = path.parent / "ledger" / "prod.jsonl"
    ledger.parent.mkdir(exist_ok=True)
    ledger.write_bytes(b"\n".join(lines) + end)
    return ledger


# -- corrupt lines ---------------------------------------------------------------------

@pytest.mark.parametrize("kind", CORRUPT_LINES)
def test_a_corrupt_line_is_named_by_history_gate_and_promote(tmp_path, rollout, kind):
    path = prod_project(tmp_path)
    ledger = write_ledger(path, json.dumps(GOOD).encode(), CORRUPT_LINES[kind])
    before_ledger, before_stack = ledger.read_bytes(), path.read_bytes()
    history = rollout("-C", tmp_path, "history", "prod")
    assert history.code == 1 and f"{ledger}:2: not a ledger record" in history.err, history.err
    gate = rollout("-C", tmp_path, "gate", "prod", "--prometheus", NOWHERE)
    assert gate.code == 5 and f"{ledger}:2: not a ledger record" in gate.err and "NO DATA" in gate.err, gate.err
    promote = rollout("-C", tmp_path, "promote", "prod")
    assert promote.code == 1 and f"{ledger}:2:" in promote.err
    assert ledger.read_bytes() == before_ledger and path.read_bytes() == before_stack
    for result in (history, gate, promote):
        assert result.err.count("\n") == 1 and "Traceback" not in result.err


def test_a_record_is_never_glued_onto_a_line_without_its_newline(tmp_path):
    ledger = tmp_path / "prod.jsonl"
    ledger.write_bytes(json.dumps(GOOD).encode())  # a hand edit dropped the final newline
    FileLedger(ledger).append(Record.from_json({**GOOD, "id": "g2"}))
    assert [r.id for r in FileLedger(ledger).records("prod")] == ["g1", "g2"]
    ledger.write_bytes(ledger.read_bytes() + CORRUPT_LINES["half a line"])
    FileLedger(ledger).append(Record.from_json({**GOOD, "id": "g3"}))
    lines = ledger.read_bytes().split(b"\n")
    assert lines[2] == CORRUPT_LINES["half a line"] and json.loads(lines[3])["id"] == "g3"
    with pytest.raises(LedgerCorrupt, match=r"prod.jsonl:3: not a ledger record \(not JSON"):
        FileLedger(ledger).records("prod")


def test_a_valid_last_line_without_newline_still_takes_a_move(tmp_path, rollout):
    path = prod_project(tmp_path)
    write_ledger(path, json.dumps(GOOD).encode(), end=b"")
    assert rollout("-C", tmp_path, "promote", "prod").code == 0
    assert [r.phase for r in ledger_of(path).records("prod")] == [None, "intent", "done"]


# -- where the ledger may be -----------------------------------------------------------

@pytest.mark.parametrize("location", ["../outside.jsonl", "/var/tmp/rollout-ledger.jsonl", "ledger/../../x.jsonl",
                                      "linked/prod.jsonl", "Pulumi.prod.yaml", "."])
def test_a_ledger_outside_the_project_is_refused_naming_the_key(tmp_path, rollout, location):
    (tmp_path / "elsewhere").mkdir()
    path = scenario_project(tmp_path / "project", "chat-prod", stage="canary-5", gates={"ledger": location})
    (path.parent / "linked").symlink_to(tmp_path / "elsewhere")  # inside by name, outside in fact
    before = path.read_bytes()
    for command in (("promote", path), ("rollback", path, "--kill-switch"), ("history", path)):
        result = rollout(*command)
        assert result.code == 2 and "rollout:gates.ledger" in result.err, (command, result.err)
        assert result.err.count("\n") == 1
    assert path.read_bytes() == before
    assert list((tmp_path / "elsewhere").iterdir()) == [] and not (tmp_path / "outside.jsonl").exists()


@pytest.mark.parametrize("location", ["audit/prod.jsonl", "./deep/er/prod.jsonl", "{project}/audit.jsonl"])
def test_a_ledger_inside_the_project_is_used(tmp_path, rollout, location):
    project = tmp_path / "project"
    path = scenario_project(project, "chat-prod", stage="canary-5", gates={"ledger": location.format(project=project)})
    assert rollout("promote", path).code == 0
    written = (project / location.format(project=project)).resolve()
    assert [r.phase for r in FileLedger(written).records("prod")] == ["intent", "done"]


def test_an_oversized_ledger_is_refused_not_read(tmp_path, rollout):
    path = prod_project(tmp_path)
    ledger = write_ledger(path, json.dumps(GOOD).encode())
    with ledger.open("r+b") as handle:
        handle.truncate(ledger_module.MAX_LEDGER_BYTES + 1)  # sparse: costs no disk
    history = rollout("-C", tmp_path, "history", "prod")
    assert history.code == 1 and "more than the 64 MiB rollout reads" in history.err
    assert rollout("-C", tmp_path, "gate", "prod", "--prometheus", NOWHERE).code == 5
    assert rollout("-C", tmp_path, "promote", "prod").code == 1
    assert load_stack(path).stage == "off" and ledger.stat().st_size == ledger_module.MAX_LEDGER_BYTES + 1


# -- intent, done, and what the next move makes of an open intent ------------------------------

def open_intent(path: Path, source: str, target: str, user: str = "killed") -> None:
    ledger_of(path).append(Record(time=iso_time(1_700_000_000), user=user, commit=None, stack="prod",
                                  action="promote", from_stage=source, to_stage=target, verdict=None,
                                  id="open1", phase="intent"))


def test_a_move_writes_an_intent_then_a_done_with_one_id(tmp_path, rollout):
    path = prod_project(tmp_path)
    assert rollout("-C", tmp_path, "promote", "prod").code == 0
    intent, done = ledger_of(path).records("prod")
    assert (intent.phase, done.phase, intent.id) == ("intent", "done", done.id) and intent.id
    assert (done.from_stage, done.to_stage) == ("off", "canary-5") and done.timestamp > intent.timestamp


def test_history_shows_an_intent_that_never_completed(tmp_path, rollout):
    path = prod_project(tmp_path)
    open_intent(path, "off", "canary-5")
    text = rollout("-C", tmp_path, "history", "prod")
    assert text.code == 0 and "promote (NOT COMPLETED: interrupted, or still running)  off" in text.out
    listed = json.loads(rollout("-C", tmp_path, "history", "prod", "--json").out)
    assert [(r["phase"], r["from"], r["to"]) for r in listed] == [("intent", "off", "canary-5")]


def test_an_open_intent_whose_target_the_file_holds_is_recovered(tmp_path, rollout):
    path = prod_project(tmp_path)
    set_stage(path, "canary-5", "off")  # the killed run got this far
    open_intent(path, "off", "canary-5")
    assert rollout("-C", tmp_path, "promote", "prod").code == 0
    history = json.loads(rollout("-C", tmp_path, "history", "prod", "--json").out)
    assert [(r["phase"], r["from"], r["to"]) for r in history] == [
        ("recovered", "off", "canary-5"), ("done", "canary-5", "canary-25")]
    assert "recovered: the stack file holds canary-5" in history[0]["reason"] and history[0]["user"] == "killed"
    check_consistent(path, "off", "recovered")


def test_an_open_intent_the_file_never_saw_is_aborted(tmp_path, rollout):
    path = prod_project(tmp_path)
    open_intent(path, "off", "canary-5")
    assert rollout("-C", tmp_path, "rollback", "prod", "--to", "off").code == 2  # refused: nothing closes it yet
    assert rollout("-C", tmp_path, "promote", "prod").code == 0
    history = rollout("-C", tmp_path, "history", "prod")
    assert "promote (aborted)" in history.out and "the stack file still holds off" in history.out
    assert check_consistent(path, "off", "aborted").aborted[0].id == "open1"


def test_an_open_intent_after_a_hand_edit_is_aborted_and_says_so(tmp_path, rollout):
    path = prod_project(tmp_path)
    open_intent(path, "off", "canary-5")
    set_stage(path, "canary-25", "off")  # someone edited the stage by hand meanwhile
    assert rollout("-C", tmp_path, "promote", "prod").code == 0
    aborted = [r for r in ledger_of(path).records("prod") if r.phase == "aborted"]
    assert len(aborted) == 1 and "neither off nor canary-5" in aborted[0].reason


def test_a_done_record_that_cannot_be_written_is_reported_and_recovered_next_time(tmp_path, rollout, monkeypatch):
    path = prod_project(tmp_path)
    real_append = FileLedger.append

    def append(self, record):
        if record.phase == "done":
            raise ledger_module.LedgerError(f"cannot write the ledger {self.path}: No space left on device")
        real_append(self, record)

    monkeypatch.setattr(FileLedger, "append", append)
    result = rollout("-C", tmp_path, "promote", "prod")
    assert result.code == 1 and "Pulumi.prod.yaml now holds canary-5, but cannot write the ledger" in result.err
    assert "promoted" not in result.out and load_stack(path).stage == "canary-5"
    monkeypatch.setattr(FileLedger, "append", real_append)
    assert rollout("-C", tmp_path, "promote", "prod").code == 0
    story = check_consistent(path, "off", "done lost")
    assert [(r.phase, r.to_stage) for r in story.landed] == [("recovered", "canary-5"), ("done", "canary-25")]


def test_a_failed_file_write_is_an_error_the_ledger_calls_aborted(tmp_path, rollout, monkeypatch):
    path = prod_project(tmp_path)
    before = path.read_bytes()

    def replace(src, dst):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "replace", replace)
    result = rollout("-C", tmp_path, "promote", "prod")
    assert result.code == 1 and "cannot write Pulumi.prod.yaml: Input/output error; the file is unchanged" in result.err
    assert "promoted" not in result.out and path.read_bytes() == before and leftovers(path) == []
    assert [r.phase for r in ledger_of(path).records("prod")] == ["intent", "aborted"]


# -- the S3 store keeps the same promises ------------------------------------------------





def test_s3_moves_are_intent_and_done_and_an_open_intent_is_closed(tmp_path, s3_bucket, rollout):
    path = scenario_project(tmp_path, "chat-prod", stage="canary-5", gates={"ledger": f"s3://{BUCKET}/audit"})
    store = S3Ledger(f"s3://{BUCKET}/audit")
    assert rollout("promote", path).code == 0
    for n, (origin, user) in enumerate(((str(path.resolve()), "killed here"), ("/home/bob/infra/Pulumi.prod.yaml", "bob"))):
        store.append(Record(time=iso_time(time.time() + n / 100), user=user, commit=None, stack="prod", action="rollback",
                            from_stage="canary-25", to_stage="canary-5", verdict=None, id=user, phase="intent",
                            origin=origin))
    assert rollout("promote", path).code == 0  # the file still holds canary-25: the open rollback never happened
    phases = [(r.phase, r.user, r.from_stage, r.to_stage) for r in store.records("prod")]
    assert phases[2:] == [("intent", "killed here", "canary-25", "canary-5"), ("intent", "bob", "canary-25", "canary-5"),
                          ("aborted", "killed here", "canary-25", "canary-5"),
                          ("intent", phases[0][1], "canary-25", "canary-50"), ("done", phases[0][1], "canary-25", "canary-50")]
    assert phases[:2] == [("intent", phases[0][1], "canary-5", "canary-25"), ("done", phases[0][1], "canary-5", "canary-25")]
    # Bob's checkout judges Bob's intent against Bob's file; here it stays open, and history says so.
    history = json.loads(rollout("history", path, "--json").out)
    assert [r["phase"] for r in history if r["user"] == "bob"] == ["intent"]
    assert len(s3_bucket.list_objects_v2(Bucket=BUCKET)["Contents"]) == 7


def test_s3_reads_are_bounded_and_a_corrupt_object_is_named(tmp_path, s3_bucket, rollout, monkeypatch):
    path = scenario_project(tmp_path, "chat-prod", stage="canary-5", gates={"ledger": f"s3://{BUCKET}/audit"})
    assert rollout("promote", path).code == 0
    monkeypatch.setattr(ledger_module, "MAX_S3_RECORDS", 1)
    result = rollout("history", path)
    assert result.code == 1 and "holds more than 1 records" in result.err
    monkeypatch.setattr(ledger_module, "MAX_S3_RECORDS", 20_000)
    s3_bucket.put_object(Bucket=BUCKET, Key="audit/prod/2999-01-01T00:00:00.000Z-bad.json", Body=b"{not json")
    result = rollout("history", path)
    assert result.code == 1 and f"s3://{BUCKET}/audit/prod/2999-01-01T00:00:00.000Z-bad.json: not a ledger record" in result.err
