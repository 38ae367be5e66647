"""Find the Pulumi project and a stack's file from what the user typed."""
from __future__ import annotations

import re
from pathlib import Path

from rollout.errors import UsageError
from rollout.spec.model import StackSettings
from rollout.spec.stack import load_stack
from rollout.core.ladder import check_ladder

STACK_NAME = r"[A-Za-z0-9_.\-/]+"


def project_dir_option(args: object) -> Path | None:
    """The folder given with -C/--project-dir, if any."""
    value = getattr(args, "project_dir", None)
    return Path(value) if value else None


def find_project_dir(start: Path | None = None) -> Path:
    """The nearest folder at or above `start` holding Pulumi.yaml, as Pulumi itself looks."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "Pulumi.yaml").is_file() or (folder / "Pulumi.yml").is_file():
            return folder
    raise UsageError(f"no Pulumi.yaml in {here} or any folder above it; run rollout inside the project or pass --project-dir")


def available_stacks(project_dir: Path) -> list[str]:
    names = []
    for path in sorted(project_dir.glob("Pulumi.*.y*ml")):
        match = re.fullmatch(r"Pulumi\.(.+)\.ya?ml", path.name)
        if match:
            names.append(match.group(1))
    return names


def stack_file(stack: str, project_dir: Path | None = None) -> Path:
    """`prod` -> <project>/Pulumi.prod.yaml; a path to a stack file is taken as it is."""
    as_path = Path(stack)
    if as_path.suffix in (".yaml", ".yml") and as_path.is_file():
        return as_path.resolve()
    if not re.fullmatch(STACK_NAME, stack):
        raise UsageError(f"{stack!r} is not a stack name")
    project = project_dir or find_project_dir()
    for suffix in (".yaml", ".yml"):
        candidate = project / f"Pulumi.{stack.split('/')[-1]}{suffix}"
        if candidate.is_file():
            return candidate
    known = available_stacks(project)
    hint = f"; stacks here: {', '.join(known)}" if known else ""
    raise UsageError(f"no stack file Pulumi.{stack}.yaml in {project}{hint}")


def open_stack(stack: str, project_dir: Path | None = None) -> tuple[Path, StackSettings]:
    path = stack_file(stack, project_dir)
    settings = load_stack(path)
    check_ladder(settings)
    return path, settings
