"""The move transaction at its edges (found by mutation testing, bench/mutation.py): the default of
--force, the whole ladder checked under the lock, and ledger time order when a move closes several
intents killed runs left open."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from harness.stack_moves import ledger_of, prod_project
from rollout.core.ledger import Record, iso_time
from rollout.core.moves import choose_target, move
from rollout.core.transitions import PROMOTE
from rollout.errors import UsageError
from rollout.spec.stack import load_stack


def test_a_promote_skips_no_stage_unless_forced(tmp_path: Path):
    settings = load_stack(prod_project(tmp_path))
    assert settings.stage == "off" and not settings.allow_skip
    with pytest.raises(UsageError, match="skip"):
        choose_target(PROMOTE, "canary-50")(settings)
    assert choose_target(PROMOTE, "canary-50", force=True)(settings) == "canary-50"


def test_a_move_refuses_a_ladder_with_a_stage_that_cannot_be_expressed_even_when_its_target_can(tmp_path: Path):
    path = prod_project(tmp_path)
    text = path.read_text()
    path.write_text(text.replace("    - name: canary-50\n      weight: 50\n",
                                 "    - name: canary-50\n      weight: 50\n    - name: odd\n      weight: 33\n", 1))
    before = path.read_text()
    with pytest.raises(UsageError, match=r"stage 'odd' asks for 33%"):
        move(path, "prod", PROMOTE, choose_target(PROMOTE, None), command="test")
    assert path.read_text() == before and not ledger_of(path).records("prod")


def test_closing_several_open_intents_keeps_the_ledger_in_time_order_when_the_clock_stands_still(tmp_path: Path,
                                                                                                    monkeypatch):
    path = prod_project(tmp_path)
    ledger = ledger_of(path)
    for n, target in enumerate(("canary-5", "canary-25")):
        ledger.append(Record(time=iso_time(1_700_000_000 + n), user="killed", commit=None, stack="prod",
                             action="promote", from_stage="off", to_stage=target, verdict=None,
                             id=f"open{n}", phase="intent"))
    monkeypatch.setattr(time, "time", lambda: 1_600_000_000.0)  # a clock behind every record
    move(path, "prod", PROMOTE, choose_target(PROMOTE, None), command="test")
    records = ledger_of(path).records("prod")
    assert [r.phase for r in records] == ["intent", "intent", "aborted", "aborted", "intent", "done"]
    times = [r.timestamp for r in records]
    assert times == sorted(times) and len(set(times)) == len(times), times
