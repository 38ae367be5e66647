"""Shared fixtures: a throwaway copy of the project and the CLI run in-process."""
from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "infra"))  # the package is also installed; this keeps a plain checkout working

SHIPPED_STACKS = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in REPO.glob("Pulumi.*.yaml"))


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the project's Pulumi.yaml and stack files that tests may edit."""
    for path in [REPO / "Pulumi.yaml", *REPO.glob("Pulumi.*.yaml")]:
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
