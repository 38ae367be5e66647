"""The git commands the GitOps subcommands run, in the project folder; a failure is one readable line."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

from rollout.errors import RolloutError, UsageError

STACK_FILE = re.compile(r"Pulumi\.(.+)\.ya?ml")


def git(project: Path, *args: str, check: bool = True) -> str:
    try:
        result = subprocess.run(["git", *args], cwd=project, capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        raise RolloutError("git is not installed, and the GitOps commands need it") from None
    if check and result.returncode != 0:
        raise RolloutError(f"git {' '.join(args)} failed in {project}: {result.stderr.strip() or result.stdout.strip()}")
    return result.stdout


def merge_base(project: Path, ref: str) -> str:
    """Where the current branch left `ref`: comparing with it shows only this branch's changes."""
    if git(project, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False).strip() == "":
        raise UsageError(f"--base {ref!r} is not a commit in {project}; fetch it first (actions/checkout with fetch-depth: 0)")
    return git(project, "merge-base", ref, "HEAD").strip()


def changed_stack_files(project: Path, base: str) -> tuple[list[str], list[str]]:
    """(changed or added, deleted) stack file names of the project folder since `base`, in name order."""
    changed, deleted = [], []
    for line in git(project, "diff", "--name-status", "--no-renames", "--relative", base, "--", ".").splitlines():
        status, _, name = line.partition("\t")
        if "/" in name or not STACK_FILE.fullmatch(name):
            continue
        (deleted if status.startswith("D") else changed).append(name)
    return sorted(changed), sorted(deleted)


def file_at(project: Path, ref: str, name: str) -> str | None:
    """The text of a project file at `ref`, or None when it did not exist there."""
    result = subprocess.run(["git", "show", f"{ref}:./{name}"], cwd=project, capture_output=True, timeout=60)
    return result.stdout.decode("utf-8", errors="replace") if result.returncode == 0 else None


def is_modified(project: Path, path: Path) -> bool:
    return bool(git(project, "status", "--porcelain", "--", str(path)).strip())
