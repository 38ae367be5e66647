"""kill -9 anywhere in a move: no partial file, no temp file after the next run, and the ledger
agrees with the file (an interrupted move is closed as recovered or aborted by the next one)."""
from __future__ import annotations

import os
import random
import re
import time
from collections import Counter
from pathlib import Path

from harness.forked_cli import fork_rollout
from harness.stack_moves import MOVE_MIX, check_consistent, leftovers, prod_project, start
from rollout.core.checkpoints import POINTS
from rollout.core.ledger import ABORTED, RECOVERED
from rollout.core.stackfile import read_text
from rollout.spec.stack import load_stack

KILLS = int(os.environ.get("ROLLOUT_CRASH_KILLS", "300"))
SEED = int(os.environ.get("ROLLOUT_CRASH_SEED", "20261125"))
STAGE_LINE = re.compile(r"  rollout:stage: ")


def whole_file(path: Path, original: str, where: str) -> None:
    """The original file, byte for byte, but for the stage line (which must parse): no line added."""
    load_stack(path)

    def kept(text: str) -> list[str]:
        return [line for line in text.splitlines(keepends=True) if not STAGE_LINE.match(line)]

    assert kept(read_text(path)) == kept(original), f"{where}: the stack file is not a whole, exactly edited file"


def run_to_the_end(path: Path, rng: random.Random, where: str) -> int:
    child = fork_rollout(["-C", str(path.parent), *_argv(rng.choice(MOVE_MIX))], {"ROLLOUT_USER": "finisher"})
    code = child.wait()
    assert code in (0, 2), f"{where}: a move after a crash exited {code}: {child.err.decode()}"
    assert leftovers(path) == [], f"{where}: the next run left {leftovers(path)}"
    return code


def _argv(command: tuple[str, ...]) -> list[str]:
    return [command[0], "prod", *command[1:]]


def test_kill_9_at_random_points_of_hundreds_of_moves_loses_nothing(tmp_path):
    path = prod_project(tmp_path / "project")
    original = read_text(path)
    rng = random.Random(SEED)
    kills: Counter[str] = Counter()
    for step in range(KILLS):
        where = f"seed {SEED}, step {step}"
        env = {"ROLLOUT_USER": f"victim{step}"}
        if step % 2:  # hold the process at a named point of the transaction, then kill it there
            point = rng.choice(POINTS)
            child = fork_rollout(["-C", str(path.parent), *_argv(rng.choice(MOVE_MIX))],
                                 {**env, "ROLLOUT_TEST_PAUSE": f"{point}=30"})
            if child.wait_for_stderr(f"test pause at {point}"):
                child.kill()
            window = point
        else:  # or kill it after a random delay, wherever it is
            child = fork_rollout(["-C", str(path.parent), *_argv(rng.choice(MOVE_MIX))], env)
            time.sleep(rng.uniform(0, 0.05))
            if child.alive():
                child.kill()
            window = "random"
        code = child.wait()
        kills[window if code == -9 else "finished first"] += 1
        whole_file(path, original, where)
        check_consistent(path, "off", where)
        if rng.random() < 0.3:
            moved = run_to_the_end(path, rng, where) == 0
            story = check_consistent(path, "off", where)
            assert not moved or story.dangling == [], f"{where}: a move ran and left {story.dangling} open"
    for _ in range(50):  # until one move completes: it closes whatever the last kill left open
        if run_to_the_end(path, rng, f"seed {SEED}, the end") == 0:
            break
    story = check_consistent(path, "off", f"seed {SEED}, the end")
    assert story.dangling == [], f"seed {SEED}: {story.dangling}"
    recovered = sum(r.phase == RECOVERED for r in story.landed)
    killed = sum(n for k, n in kills.items() if k != "finished first")
    assert killed >= KILLS * 0.6 and recovered > 0 and story.aborted, (
        f"seed {SEED}: the kills did not reach the transaction: {dict(kills)}")
    print(f"\nseed {SEED}: {killed} processes killed with -9 ({dict(kills)}); the ledger holds {len(story.landed)} "
          f"landed moves ({recovered} recovered after a kill), {len(story.aborted)} aborted; nothing lost")


def test_the_installed_command_killed_inside_the_transaction_is_repaired_by_the_next(tmp_path):
    """The same, with real `rollout` processes: one kill at each named point."""
    path = prod_project(tmp_path / "project")
    original = read_text(path)
    expected_phase = {"locked": None, "intent-written": ABORTED, "temp-written": ABORTED,
                      "file-replaced": RECOVERED, "done-written": "done"}
    for point in POINTS:
        before = load_stack(path).stage
        proc = start(path, _possible_move(path), ROLLOUT_USER=f"killed-at-{point}", ROLLOUT_TEST_PAUSE=f"{point}=30")
        assert f"test pause at {point}" in proc.stderr.readline(), point
        proc.kill()
        proc.wait(30)
        proc.stdout.close()
        proc.stderr.close()
        whole_file(path, original, point)
        check_consistent(path, "off", point)
        proc = start(path, _possible_move(path), ROLLOUT_USER="next")
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, f"{point}: {err}"
        story = check_consistent(path, "off", point)
        assert leftovers(path) == [] and story.dangling == [], point
        victim = [r for r in story.records if r.user == f"killed-at-{point}"]
        assert (victim[-1].phase if victim else None) == expected_phase[point], (point, victim)
        moved = expected_phase[point] in (RECOVERED, "done")
        last = story.landed[-1]
        assert last.user == "next" and f"prod: {last.from_stage} -> {last.to_stage}" in out, (point, out)
        assert last.from_stage == (victim[0].to_stage if moved else before), point


def _possible_move(path: Path) -> tuple[str, ...]:
    return ("rollback",) if load_stack(path).stage == "full" else ("promote",)
