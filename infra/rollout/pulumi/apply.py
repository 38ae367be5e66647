"""`pulumi up` through the Pulumi Automation API, for `rollout watch --apply` (pulumi imported only here)."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import TextIO

from rollout.errors import RolloutError


class PulumiUnavailable(RolloutError):
    """--apply was asked for on a machine without the Pulumi CLI."""


def require_pulumi_cli(stack: str) -> str:
    path = shutil.which("pulumi")
    if path is None:
        raise PulumiUnavailable(
            "--apply runs `pulumi up` through the Pulumi Automation API, which needs the Pulumi CLI, "
            "and there is no `pulumi` on PATH; install it (https://www.pulumi.com/docs/install/) "
            f"or leave out --apply and run `pulumi up --stack {stack}` yourself"
        )
    return path


def pulumi_up(project_dir: Path, stack: str, out: TextIO) -> str:
    """Run `pulumi up` for the stack in the project folder; returns the update's result."""
    require_pulumi_cli(stack)
    try:
        from pulumi import automation as auto  # costs over a second: only on the --apply path
    except ImportError:
        raise PulumiUnavailable("--apply needs the pulumi Python package: pip install 'rollout[pulumi]'") from None
    try:
        selected = auto.select_stack(stack_name=stack, work_dir=str(project_dir))
        result = selected.up(on_output=lambda line: print(line, file=out), message=f"rollout watch: roll back {stack}")
    except auto.errors.CommandError as exc:
        raise RolloutError(f"pulumi up for stack {stack} failed: {str(exc).strip()[-2000:]}") from None
    return result.summary.result
