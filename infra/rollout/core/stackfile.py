"""Edit `rollout:stage` in a stack file in place: every other byte kept, written atomically."""
from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any

from rollout.errors import RolloutError
from rollout.spec.yaml12 import load_yaml

# YAML 1.1 readers take these as booleans or null; quote them so every tool reads text.
_NEEDS_QUOTES = re.compile(r"(?i)(y|yes|n|no|on|off|true|false|null|~|[-+.0-9][-+.0-9eE_]*)")


class StackFileChanged(RolloutError):
    """Someone else wrote the file while we were editing it."""


def _line_pattern(key: str) -> re.Pattern[str]:
    return re.compile(
        rf"^(?P<lead>[ \t]+)(?P<q>[\"']?){re.escape(key)}(?P=q):[ \t]*"
        rf"(?P<value>\"[^\"\n]*\"|'[^'\n]*'|[^#\n]*?)(?P<tail>[ \t]+#[^\n]*)?[ \t]*$",
        re.MULTILINE,
    )


def _format_value(name: str, original: str | None) -> str:
    if original and original[:1] in "\"'":
        quote = original[0]
        return f"{quote}{name}{quote}"
    return f'"{name}"' if _NEEDS_QUOTES.fullmatch(name) else name


def with_stage(text: str, stage: str, previous: str | None) -> str:
    """The stack file text with rollout:stage (and rollout:previousStage) set; nothing else changes."""
    stage_match = _line_pattern("rollout:stage").search(text)
    if stage_match is None:
        raise RolloutError("cannot find a `rollout:stage: <name>` line under config: to edit")
    lead = stage_match.group("lead")
    new_line = (
        f"{lead}{stage_match.group('q')}rollout:stage{stage_match.group('q')}: "
        f"{_format_value(stage, stage_match.group('value'))}{stage_match.group('tail') or ''}"
    )
    text = text[: stage_match.start()] + new_line + text[stage_match.end():]
    if previous is None:
        return text
    prev_match = _line_pattern("rollout:previousStage").search(text)
    if prev_match:
        prev_line = (
            f"{prev_match.group('lead')}{prev_match.group('q')}rollout:previousStage{prev_match.group('q')}: "
            f"{_format_value(previous, prev_match.group('value'))}{prev_match.group('tail') or ''}"
        )
        return text[: prev_match.start()] + prev_line + text[prev_match.end():]
    insert_at = stage_match.start() + len(new_line)
    return text[:insert_at] + f"\n{lead}rollout:previousStage: {_format_value(previous, None)}" + text[insert_at:]


def _parse(text: str) -> Any:
    return load_yaml(text)


def verify_only_stage_changed(before: str, after: str, stage: str, previous: str | None) -> None:
    """Refuse to write unless the edit changed exactly the keys we meant to change."""
    old, new = _parse(before), _parse(after)
    expected = dict(old["config"])
    expected["rollout:stage"] = stage
    if previous is not None:
        expected["rollout:previousStage"] = previous
    if {k: v for k, v in old.items() if k != "config"} != {k: v for k, v in new.items() if k != "config"}:
        raise RolloutError("internal check failed: editing the stage would change keys outside config:; nothing written")
    kept_order = [k for k in new["config"] if k in old["config"]] == list(old["config"])
    if new["config"] != expected or not kept_order:
        raise RolloutError("internal check failed: editing the stage would change other keys; nothing written")


def atomic_write(path: Path, text: str, expected_current: str) -> None:
    """Replace the file in one step, keeping its mode; refuse if it changed since it was read."""
    if path.read_text(encoding="utf-8") != expected_current:
        raise StackFileChanged(f"{path.name} changed while rollout was editing it; nothing written, run the command again")
    mode = path.stat().st_mode & 0o7777
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def set_stage(path: Path, stage: str, previous: str | None) -> tuple[str, str]:
    """Write the new stage; returns (old text, new text) so callers can show or undo it."""
    before = path.read_text(encoding="utf-8")
    after = with_stage(before, stage, previous)
    verify_only_stage_changed(before, after, stage, previous)
    if after != before:
        atomic_write(path, after, before)
    return before, after
