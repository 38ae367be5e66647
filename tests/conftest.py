"""Shared fixtures: every stack file the repository holds, a throwaway project, the CLI in-process.

Properties run over EVERY stack file: the shipped ones at the top level and the varied
applications in tests/apps/. Adding a stack file anywhere there must break no test.
"""
from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "infra"))  # the package is also installed; this keeps a plain checkout working

from rollout.spec.model import StackSettings  # noqa: E402
from rollout.spec.stack import load_stack  # noqa: E402

SHIPPED_FILES = sorted(p for p in REPO.glob("Pulumi.*.yaml"))
APP_FILES = sorted((REPO / "tests" / "apps").glob("Pulumi.*.yaml"))
STACK_FILES = SHIPPED_FILES + APP_FILES
SHIPPED_STACKS = [p.name[len("Pulumi."):-len(".yaml")] for p in SHIPPED_FILES]


@lru_cache(maxsize=None)
def settings_of(path: Path) -> StackSettings:
    return load_stack(path)


def stack_id(path: Path) -> str:
    return path.name if path.parent == REPO else f"apps/{path.name}"


CHAT_FILES = [p for p in STACK_FILES if settings_of(p).app == "chat"]


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the project's Pulumi.yaml and shipped stack files that tests may edit."""
    for path in [REPO / "Pulumi.yaml", *SHIPPED_FILES]:
        shutil.copy(path, tmp_path / path.name)
    return tmp_path


@pytest.fixture
def rollout(capsys: pytest.CaptureFixture[str]):
    """Run `rollout ARGS...` in-process and collect exit status and output."""
    from rollout.cli.main import main

    def run(*args: str | Path) -> CliResult:
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run
