"""Run `rollout` as real processes on a copy of the project, and check that the stack file and
the ledger tell the same story (the rules of core/ledger.py), whatever happened to the processes."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from rollout.core.ledger import ABORTED, CLOSING, INTENT, MOVES, FileLedger, Record, dangling_intents, landed_moves
from rollout.core.lock import lock_path
from rollout.core.stackfile import TEMP_SUFFIX
from rollout.spec.stack import load_stack

REPO = Path(__file__).resolve().parents[2]
_INSTALLED = Path(sys.executable).with_name("rollout")
# The installed console script, as a user runs it; `python -m` when the venv has none.
ROLLOUT = [str(_INSTALLED)] if _INSTALLED.exists() else [sys.executable, "-m", "rollout.cli.main"]
MOVE_COMMANDS = (("promote",), ("rollback",), ("rollback", "--kill-switch"))
MOVE_MIX = (("promote",),) * 3 + MOVE_COMMANDS  # promote half the time, so the moves climb the ladder too


def prod_project(folder: Path) -> Path:
    """A copy of Pulumi.yaml and Pulumi.prod.yaml (at `off`, ledger in ledger/prod.jsonl); returns the stack file."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("Pulumi.yaml", "Pulumi.prod.yaml"):
        shutil.copy(REPO / name, folder / name)
    return folder / "Pulumi.prod.yaml"


def start(path: Path, command: tuple[str, ...], **env: str) -> subprocess.Popen:
    """`rollout -C <project> <command[0]> prod <command[1:]>` as its own process."""
    return subprocess.Popen(
        [*ROLLOUT, "-C", str(path.parent), command[0], "prod", *command[1:]],
        env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def leftovers(path: Path) -> list[str]:
    """Temp files and the lock file a run leaves beside the stack file; a finished run leaves none."""
    names = [p.name for p in path.parent.glob(f".{path.name}.*{TEMP_SUFFIX}")]
    return sorted(names + ([lock_path(path).name] if lock_path(path).exists() else []))


def ledger_of(path: Path) -> FileLedger:
    return FileLedger(path.parent / "ledger" / "prod.jsonl")


@dataclass(frozen=True)
class Story:
    stage: str  # what the stack file holds
    landed: list[Record]  # moves that reached the file, in ledger order
    dangling: list[Record]  # intents nothing closed yet
    aborted: list[Record]
    records: list[Record]


def check_consistent(path: Path, first_stage: str, where: str) -> Story:
    """The file is whole and the ledger agrees with it; `where` goes into every failure message."""
    settings = load_stack(path)  # a partial or corrupt file fails here
    stage = settings.stage
    records = [r for r in ledger_of(path).records("prod") if r.action in MOVES]  # a corrupt line fails here
    opened: dict[str, Record] = {}
    closed: set[str] = set()
    for record in records:
        if record.phase == INTENT:
            assert record.id not in opened, f"{where}: intent id {record.id} written twice"
            opened[record.id] = record
        else:
            assert record.phase in CLOSING, f"{where}: a move record without a phase: {record}"
            assert record.id in opened and record.id not in closed, f"{where}: {record.phase} without its intent: {record}"
            intent = opened[record.id]
            assert (intent.action, intent.from_stage, intent.to_stage) == \
                   (record.action, record.from_stage, record.to_stage), f"{where}: {record} closes another move"
            closed.add(record.id)
    held = first_stage
    for record in records:  # landed moves chain; an aborted one left the file where it was
        if record.phase in (ABORTED,):
            assert record.from_stage == held, f"{where}: aborted {record.from_stage}->{record.to_stage} while at {held}"
        elif record.phase != INTENT:
            assert record.from_stage == held, (
                f"{where}: ledger chain broken: {record.action} {record.from_stage}->{record.to_stage} after {held}")
            held = record.to_stage
    dangling = dangling_intents(records)
    assert len(dangling) <= 1, f"{where}: {len(dangling)} moves open at once: {dangling}"
    if dangling:
        open_move = dangling[0]
        assert open_move.from_stage == held, f"{where}: open move {open_move} does not start at {held}"
        assert stage in (open_move.from_stage, open_move.to_stage), \
            f"{where}: the file holds {stage}, the open move is {open_move.from_stage}->{open_move.to_stage}"
    else:
        assert stage == held, f"{where}: the file holds {stage} but the ledger's last landed move ends at {held}"
    return Story(stage, landed_moves(records), dangling, [r for r in records if r.phase == ABORTED], records)
