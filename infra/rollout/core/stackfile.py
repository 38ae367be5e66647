"""Edit `rollout:stage` in a stack file in place: every other byte kept, written atomically.

The value is found with the YAML parser's own positions, so every way a person writes it is
either edited exactly (plain, quoted, on the next line, a one-line block scalar, inside a flow
mapping, an alias) or refused with exit 2 before anything is written. Only that one value
changes: no line is added or removed. CRLF stays CRLF; a symlinked stack file has its target
replaced and the link kept; mode and owner are kept; a read-only stack file is refused.
"""
from __future__ import annotations

import glob
import os
import re
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml.events import (AliasEvent, CollectionEndEvent, CollectionStartEvent, Event, MappingEndEvent,
                         MappingStartEvent, ScalarEvent)

from rollout.core.checkpoints import checkpoint
from rollout.errors import ConfigError, RolloutError, UsageError
from rollout.spec.yaml12 import YAMLError, load_yaml

STAGE_KEY = "rollout:stage"
TEMP_SUFFIX = ".rollout-tmp"  # `.Pulumi.prod.yaml.<random>.rollout-tmp`, removed by the next move if left behind

# YAML 1.1 readers take these as booleans or null; quote them so every tool reads text.
_NEEDS_QUOTES = re.compile(r"(?i)(y|yes|n|no|on|off|true|false|null|~|[-+.0-9][-+.0-9eE_]*)")
_SAFE_TEXT = re.compile(r"[A-Za-z0-9._~-]*")  # stage names, or empty or ~: never escaped inside quotes
# libyaml's marks count characters like the Python parser's, ~10x faster; but it does not count a
# byte order mark, so a file that starts with one is read by the Python parser.
_EVENTS_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class StackFileChanged(RolloutError):
    """Someone else wrote the file while we were editing it."""


@dataclass(frozen=True)
class StageEdit:
    path: Path  # the stack file as the user named it
    target: Path  # the file that is replaced: the symlink's target for a linked stack file
    before: str
    after: str


# -- finding the values ------------------------------------------------------------

@dataclass(frozen=True)
class _Value:
    key: ScalarEvent
    event: Event  # ScalarEvent or AliasEvent


def _node_end(events: list[Event], i: int) -> int:
    """Index just after the node that starts at events[i]."""
    if not isinstance(events[i], CollectionStartEvent):
        return i + 1
    depth = 0
    for j in range(i, len(events)):
        if isinstance(events[j], CollectionStartEvent):
            depth += 1
        elif isinstance(events[j], CollectionEndEvent):
            depth -= 1
            if depth == 0:
                return j + 1
    return len(events)


def _entries(events: list[Event], i: int) -> list[tuple[Event, int]]:
    """(key event, index of the value) for the mapping starting at events[i]."""
    out, j = [], i + 1
    while not isinstance(events[j], MappingEndEvent):
        value_at = _node_end(events, j)
        out.append((events[j], value_at))
        j = _node_end(events, value_at)
    return out


def _find_stage(events: list[Event], file: str) -> _Value:
    """rollout:stage under config:, as the parser read it."""
    if len(events) < 3 or not isinstance(events[2], MappingStartEvent):
        raise ConfigError(file, "(file)", "is not a mapping with a config: section; nothing written")
    for key, value_at in _entries(events, 2):
        if isinstance(key, ScalarEvent) and key.value == "config" and isinstance(events[value_at], MappingStartEvent):
            found: _Value | None = None
            for inner, at in _entries(events, value_at):
                if isinstance(inner, ScalarEvent) and inner.value == STAGE_KEY:
                    if found is not None:
                        raise ConfigError(file, STAGE_KEY, f"appears twice under config: (lines "
                                          f"{found.key.start_mark.line + 1} and {inner.start_mark.line + 1}); "
                                          "keep one; nothing written")
                    if not isinstance(events[at], (ScalarEvent, AliasEvent)):
                        raise ConfigError(file, STAGE_KEY, "must be a stage name, not a list or mapping; nothing written")
                    found = _Value(inner, events[at])
            if found is None:
                raise ConfigError(file, STAGE_KEY, "cannot find it under config: to edit; nothing written")
            return found
    raise ConfigError(file, "config", "is missing or not a mapping; nothing written")


def _plain(name: str) -> str:
    """A stage name as a plain value, quoted only where a YAML 1.1 reader would not see text."""
    return f'"{name}"' if _NEEDS_QUOTES.fullmatch(name) else name


def _value_span(text: str, value: _Value, new: str, file: str) -> tuple[int, int, str]:
    """(start, end, replacement) for the characters of the value itself, anchors and tags kept."""
    event = value.event
    start, end = event.start_mark.index, event.end_mark.index
    if isinstance(event, AliasEvent):
        if text[start:end] != f"*{event.anchor}":
            raise ConfigError(file, STAGE_KEY, f"rollout could not find the alias *{event.anchor} it read; nothing written")
        return start, end, _plain(new)
    old = event.value
    refuse = ConfigError(file, STAGE_KEY, f"is written in a form rollout cannot edit exactly (line {event.start_mark.line + 1}); "
                         f"write it on one line as `{STAGE_KEY}: {old}`; nothing written")
    style = event.style or None  # libyaml says '' for plain, the Python parser None
    if not _SAFE_TEXT.fullmatch(old):
        raise refuse
    if style is None and old and text[end - len(old):end] == old:
        return end - len(old), end, _plain(new)
    if style in ("'", '"') and text[end - 1] == style and text[end - 1 - len(old):end - 1] == old:
        return end - 1 - len(old), end - 1, new
    if style in ("|", ">"):
        # A one-line block scalar (`|-` then the name): replace the name on its content line.
        body = text.index("\n", start) + 1 if "\n" in text[start:end] else end
        lines = [m for m in re.finditer(r"[^\r\n]+", text[body:end]) if m.group().strip()]
        if len(lines) == 1 and lines[0].group().strip() == old:
            at = body + lines[0].start() + lines[0].group().index(old)
            return at, at + len(old), new
    raise refuse


def _check_aliases(events: list[Event], value: _Value, file: str) -> None:
    """An anchor on the stage's value must not be aliased anywhere else: that value would move too."""
    anchor = getattr(value.event, "anchor", None)
    if isinstance(value.event, AliasEvent) or anchor is None:
        return
    for other in events:
        if isinstance(other, AliasEvent) and other.anchor == anchor:
            raise ConfigError(file, STAGE_KEY, f"carries the anchor &{anchor}, which line {other.start_mark.line + 1} "
                              f"aliases (*{anchor}); moving the stage would change that value too. "
                              "Write the value out there instead of the alias; nothing written")


def with_stage(text: str, stage: str, file: str = "the stack file") -> str:
    """The stack file text with rollout:stage set; nothing else changes."""
    try:
        events = list(yaml.parse(text, Loader=_EVENTS_LOADER if not text.startswith("\ufeff") else yaml.SafeLoader))
    except YAMLError as exc:
        raise ConfigError(file, "(file)", f"is not valid YAML: {getattr(exc, 'problem', exc)}; nothing written") from None
    value = _find_stage(events, file)
    _check_aliases(events, value, file)
    start, end, replacement = _value_span(text, value, stage, file)
    return text[:start] + replacement + text[end:]


def _parse(text: str) -> Any:
    return load_yaml(text)


def _changed_lines(before: str, after: str) -> int | None:
    """How many lines differ, or None when lines were added or removed."""
    old, new = before.splitlines(keepends=True), after.splitlines(keepends=True)
    return sum(a != b for a, b in zip(old, new)) if len(old) == len(new) else None


def verify_only_stage_changed(before: str, after: str, stage: str, file: str = "the stack file") -> Any:
    """Refuse to write unless the edit set rollout:stage on its one line and changed nothing else;
    returns `before` parsed."""
    try:
        old, new = _parse(before), _parse(after)
    except YAMLError:
        raise ConfigError(file, STAGE_KEY, "editing it would leave the file unreadable; nothing written") from None
    expected = {**old["config"], STAGE_KEY: stage}
    if {k: v for k, v in old.items() if k != "config"} != {k: v for k, v in new.items() if k != "config"}:
        raise ConfigError(file, STAGE_KEY, "editing it would change keys outside config:; nothing written")
    kept_order = [k for k in new["config"] if k in old["config"]] == list(old["config"])
    if new["config"] != expected or not kept_order:
        changed = sorted(k for k in set(expected) | set(new["config"]) if expected.get(k) != new["config"].get(k))
        raise ConfigError(file, STAGE_KEY, f"editing it would also change {', '.join(changed) or 'the key order'}; "
                          "nothing written")
    if _changed_lines(before, after) not in (0, 1):
        raise ConfigError(file, STAGE_KEY, "editing it would change more than its own line; nothing written")
    return old


# -- reading and writing the file ------------------------------------------------------

def read_text(path: Path) -> str:
    """The exact text: bytes decoded as UTF-8 without newline translation (CRLF stays CRLF)."""
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(path.name, "(file)", f"is not UTF-8 text (byte {exc.start}); nothing written") from None
    except OSError as exc:
        raise RolloutError(f"cannot read {path}: {exc.strerror or exc}") from None


def prepare_stage_edit(path: Path, stage: str, current: str) -> StageEdit:
    """Read the file and work out the move from `current` (the stage it must hold) to `stage`.

    Refuses what cannot be written safely; writes nothing."""
    target = path.resolve()
    before = read_text(target)
    after = with_stage(before, stage, path.name)
    if verify_only_stage_changed(before, after, stage, path.name)["config"][STAGE_KEY] != current:
        raise StackFileChanged(f"{path.name} changed while rollout was reading it; nothing written, run the command again")
    check_replaceable(path, target)
    return StageEdit(path, target, before, after)


def check_replaceable(path: Path, target: Path) -> None:
    """Refuse, before anything is written, a file rollout could not replace as it is."""
    info = target.stat()
    mode = stat.S_IMODE(info.st_mode)
    if not mode & stat.S_IWUSR or not os.access(target, os.W_OK):
        raise UsageError(f"{path.name} is read-only (mode {mode:04o}); rollout does not replace a read-only stack "
                         f"file: make it writable (chmod u+w {path.name}) if its stage may change")
    if not os.access(target.parent, os.W_OK | os.X_OK):
        raise RolloutError(f"cannot write in {target.parent}: rollout replaces {path.name} in one step, "
                           "through a new file in the same folder")
    if os.geteuid() != 0 and info.st_uid != os.geteuid():
        raise RolloutError(f"{path.name} belongs to user id {info.st_uid}, rollout runs as {os.geteuid()} and "
                           "could not keep the owner; run it as the file's owner")
    if os.geteuid() != 0 and info.st_gid not in (os.getegid(), *os.getgroups()):
        raise RolloutError(f"{path.name} belongs to group id {info.st_gid}, which rollout's user is not in, so "
                           "the group could not be kept; run it as a member of that group")


def remove_stale_temp_files(path: Path) -> list[Path]:
    """Temp files a killed run left beside the stack file. Call only while holding the stack lock."""
    target = path.resolve()
    stale = sorted(target.parent.glob(f".{glob_escape(target.name)}.*{TEMP_SUFFIX}"))
    for leftover in stale:
        leftover.unlink(missing_ok=True)
    return stale


glob_escape = glob.escape  # `[*]`, `[?]`, `[[]`: a stack file name is matched literally


def atomic_write(path: Path, text: str, expected_current: str) -> None:
    """Replace the file in one step, keeping mode and owner; refuse if it changed since it was read."""
    target = path.resolve()
    if read_text(target) != expected_current:
        raise StackFileChanged(f"{path.name} changed while rollout was editing it; nothing written, run the command again")
    info = target.stat()
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=TEMP_SUFFIX, dir=target.parent)
    except OSError as exc:
        raise RolloutError(f"cannot write {path.name}: {exc.strerror or exc}; the file is unchanged") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode("utf-8"))
            handle.flush()
            os.fchmod(handle.fileno(), stat.S_IMODE(info.st_mode))
            if (info.st_uid, info.st_gid) != (os.geteuid(), os.getegid()):
                os.fchown(handle.fileno(), info.st_uid, info.st_gid)
            os.fsync(handle.fileno())
        checkpoint("temp-written")
        os.replace(tmp, target)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise RolloutError(f"cannot write {path.name}: {exc.strerror or exc}; the file is unchanged") from None
        raise
    _fsync_folder(target.parent)
    if read_text(target) != text:
        raise RolloutError(f"{path.name} does not read back as written; check it by hand")


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)  # the rename itself survives a power cut
    finally:
        os.close(fd)


def apply_stage_edit(edit: StageEdit) -> None:
    if edit.after != edit.before:
        atomic_write(edit.path, edit.after, edit.before)


def set_stage(path: Path, stage: str, current: str) -> tuple[str, str]:
    """Move the file from `current` to `stage` (no lock, no ledger: core/moves.py adds those)."""
    edit = prepare_stage_edit(path, stage, current)
    apply_stage_edit(edit)
    return edit.before, edit.after
