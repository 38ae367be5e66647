"""Moves are serialized and never lost: the stack lock, and 20 real `rollout` processes at once."""
from __future__ import annotations

import json
import os
import random
import re
import threading
import time
from pathlib import Path

import pytest

from harness.stack_moves import MOVE_MIX, check_consistent, leftovers, ledger_of, prod_project, start
from rollout.core import moves
from rollout.core.lock import StackLocked, lock_path, stack_lock
from rollout.core.moves import Evidence, StackMovedOn
from rollout.core.stackfile import set_stage
from rollout.errors import UsageError
from rollout.spec.stack import load_stack

ROUNDS = int(os.environ.get("ROLLOUT_CONCURRENT_ROUNDS", "6"))
PROCESSES = 20
SEED = int(os.environ.get("ROLLOUT_TEST_SEED", "20261125"))

SUCCESS = re.compile(r"^(promoted|rolled back) prod: (\S+) -> (\S+) \(Pulumi\.prod\.yaml updated\)$", re.M)
LOCKED = re.compile(r"Pulumi\.prod\.yaml is being changed by (\S+) on \S+ \(pid (\d+), `rollout (promote|rollback) prod")
REFUSALS = ("is already at the kill switch stage", "the last stage; there is nothing to promote to",
            "the first stage; there is nothing to roll back to")


def test_twenty_moves_at_once_chain_in_the_file_and_the_ledger(tmp_path):
    path = prod_project(tmp_path / "project")
    rng = random.Random(SEED)
    first = load_stack(path).stage
    successes: list[tuple[str, str, str, str]] = []  # (user, verb, from, to) as the processes printed them
    named_holders = refused = 0
    for round_ in range(ROUNDS):
        where = f"seed {SEED}, round {round_}"
        commands = [rng.choice(MOVE_MIX) for _ in range(PROCESSES)]
        impatient = set(rng.sample(range(PROCESSES), 4))  # no wait at all: they meet a held lock
        users = [f"r{round_}p{i}" for i in range(PROCESSES)]
        procs = [start(path, command, ROLLOUT_USER=user, ROLLOUT_LOCK_WAIT="0" if i in impatient else "60")
                 for i, (command, user) in enumerate(zip(commands, users))]
        pids = {user: proc.pid for user, proc in zip(users, procs)}
        for user, proc in zip(users, procs):
            out, err = proc.communicate(timeout=120)
            said = f"{where}: {user} exit {proc.returncode}: {out}{err}"
            if proc.returncode == 0:
                verb, source, target = SUCCESS.search(out).groups()
                successes.append((user, verb, source, target))
            elif proc.returncode == 1:
                holder = LOCKED.search(err)
                assert holder and "Nothing was changed" in err, said
                assert holder[1] in pids and holder[1] != user and int(holder[2]) == pids[holder[1]], said
                named_holders += 1
            else:
                assert proc.returncode == 2 and any(r in err for r in REFUSALS), said
                refused += 1
        story = check_consistent(path, first, where)
        assert not story.dangling and not story.aborted, f"{where}: {story.dangling or story.aborted}"
        assert leftovers(path) == [], f"{where}: {leftovers(path)}"
        done = [(r.user, "promoted" if r.action == "promote" else "rolled back", r.from_stage, r.to_stage)
                for r in story.landed]
        # Users are unique per process: the same set means every printed move is in the ledger, once,
        # and nothing else is; check_consistent has shown the ledger's order chains through the file.
        assert sorted(done) == sorted(successes), \
            f"{where}: the ledger's moves {done} are not exactly what the processes printed {successes}"
    assert len(successes) > ROUNDS * 5 and named_holders > 0 and len(successes) + named_holders + refused == ROUNDS * PROCESSES
    print(f"\n{ROUNDS} rounds of {PROCESSES} processes: {len(successes)} moves, all in the ledger and chained; "
          f"{named_holders} exited 1 naming the lock holder; {refused} refused (nothing to move)")


# -- the lock, one case at a time -------------------------------------------------------

def test_a_second_writer_waits_then_exits_1_naming_the_holder(tmp_path, monkeypatch, rollout):
    path = prod_project(tmp_path)
    before = path.read_bytes()
    monkeypatch.setenv("ROLLOUT_LOCK_WAIT", "0.2")
    with stack_lock(path, "rollout promote prod"):
        started = time.monotonic()
        result = rollout("-C", tmp_path, "rollback", "prod", "--kill-switch")
        waited = time.monotonic() - started
    assert result.code == 1 and waited >= 0.2
    assert f"(pid {os.getpid()}, `rollout promote prod`" in result.err and "waited 0.2s" in result.err
    assert path.read_bytes() == before and not (tmp_path / "ledger").exists()


def test_a_writer_that_waits_moves_once_the_holder_is_done(tmp_path, monkeypatch, rollout):
    path = prod_project(tmp_path)
    monkeypatch.setenv("ROLLOUT_LOCK_WAIT", "10")
    held, release = threading.Event(), threading.Event()

    def holder():
        with stack_lock(path, "a slow rollout"):
            held.set()
            release.wait(5)

    thread = threading.Thread(target=holder)
    thread.start()
    held.wait(5)
    threading.Timer(0.3, release.set).start()
    result = rollout("-C", tmp_path, "promote", "prod")
    thread.join()
    assert result.code == 0 and "promoted prod: off -> canary-5" in result.out
    assert load_stack(path).stage == "canary-5"


def test_the_lock_file_of_a_killed_holder_does_not_block_and_is_removed(tmp_path, rollout):
    path = prod_project(tmp_path)
    lock_path(path).write_text(json.dumps({"user": "ghost", "host": "vm", "pid": 2**22 + 7, "command": "x", "since": "t"}))
    assert rollout("-C", tmp_path, "promote", "prod").code == 0
    assert leftovers(path) == []


def test_a_link_planted_at_the_lock_name_is_refused_and_its_target_kept(tmp_path, rollout):
    path = prod_project(tmp_path)
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    lock_path(path).symlink_to(victim)
    result = rollout("-C", tmp_path, "promote", "prod")
    assert result.code == 1 and "is a symbolic link" in result.err
    assert victim.read_text() == "keep me" and load_stack(path).stage == "off"


def test_a_lock_wait_that_is_not_a_number_is_a_usage_error(tmp_path, monkeypatch, rollout):
    prod_project(tmp_path)
    monkeypatch.setenv("ROLLOUT_LOCK_WAIT", "soon")
    result = rollout("-C", tmp_path, "promote", "prod")
    assert result.code == 2 and "ROLLOUT_LOCK_WAIT='soon'" in result.err


def test_watch_rollback_waits_for_the_lock_like_everyone_else(tmp_path, monkeypatch):
    path = prod_project(tmp_path)
    monkeypatch.setenv("ROLLOUT_LOCK_WAIT", "0.1")
    with stack_lock(path, "rollout promote prod"), pytest.raises(StackLocked, match="rollout promote prod"):
        moves.automatic_rollback(path, "prod", "off", Evidence("RED"))


# -- decisions come from the file read under the lock --------------------------------------

def promote_by_hand(path: Path, stage: str) -> None:
    set_stage(path, stage, load_stack(path).stage)


def test_promote_goes_one_stage_past_what_the_file_holds_when_it_runs(tmp_path, rollout):
    path = prod_project(tmp_path)
    promote_by_hand(path, "canary-25")  # as if another promote landed just before this one
    result = rollout("-C", tmp_path, "promote", "prod")
    assert result.code == 0 and "canary-25 -> canary-50" in result.out


def test_watch_does_not_roll_back_a_stack_that_has_moved_on(tmp_path):
    path = prod_project(tmp_path)
    promote_by_hand(path, "canary-25")
    before = path.read_bytes()
    with pytest.raises(StackMovedOn, match="moved from canary-5 to canary-25 during the watch; not rolling back"):
        moves.automatic_rollback(path, "prod", "canary-5", Evidence("RED", {}, "rollout watch: errors"))
    assert path.read_bytes() == before and not (tmp_path / "ledger").exists()


def test_watch_rollback_goes_through_the_ledger_like_a_person_s(tmp_path):
    path = prod_project(tmp_path)
    promote_by_hand(path, "canary-25")
    transition = moves.automatic_rollback(path, "prod", "canary-25", Evidence("RED", {"x": 1}, "rollout watch: errors"))
    assert (transition.from_stage, transition.to_stage) == ("canary-25", "canary-5")
    phases = [(r.phase, r.verdict, r.reason) for r in ledger_of(path).records("prod")]
    assert phases == [("intent", "RED", "rollout watch: errors"), ("done", "RED", "rollout watch: errors")]


def test_a_gate_verdict_on_a_file_that_changed_since_promotes_nothing(tmp_path):
    path = prod_project(tmp_path)
    judged = load_stack(path)  # what the gate looked at
    promote_by_hand(path, "canary-5")
    before = path.read_bytes()
    with pytest.raises(StackMovedOn, match="changed while the gate was judging stage off"):
        moves.move(path, "prod", "promote", moves.choose_target("promote", None), command="rollout promote prod",
                   evidence=Evidence("GREEN"), judged=judged)
    assert path.read_bytes() == before and not (tmp_path / "ledger").exists()


def test_a_refused_move_takes_the_lock_and_leaves_nothing_behind(tmp_path):
    path = prod_project(tmp_path)
    with pytest.raises(UsageError, match="nothing to roll back"):
        moves.move(path, "prod", "rollback", moves.choose_target("rollback", None), command="rollout rollback prod")
    assert leftovers(path) == [] and not (tmp_path / "ledger").exists()
