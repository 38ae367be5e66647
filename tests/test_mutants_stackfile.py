"""Editing the stack file at its edges: each refusal with its own message (another layer would often
refuse too, and hide a refusal that went missing), and the steps of the atomic write that only a
crash or a power cut would show (found by mutation testing, bench/mutation.py)."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import yaml

from rollout.core import stackfile
from rollout.core.stackfile import (
    StackFileChanged, _find_stage, _node_end, _Value, _value_span, atomic_write, check_replaceable, glob_escape,
    prepare_stage_edit, read_text, remove_stale_temp_files, set_stage, verify_only_stage_changed, with_stage,
)
from rollout.errors import ConfigError, RolloutError

FILE = "Pulumi.prod.yaml"
STACK = 'config:\n  rollout:app: shop\n  rollout:stage: "off"\n'
AFTER = STACK.replace('"off"', '"full"')  # a quoted value stays quoted


def refusal(text: str, stage: str = "full", file: str = FILE) -> str:
    with pytest.raises(ConfigError) as caught:
        with_stage(text, stage, file)
    return str(caught.value)


# -- finding the value -----------------------------------------------------------------------------

def test_a_file_with_no_mapping_is_refused_as_such():
    assert refusal("") == f"{FILE}: (file): is not a mapping with a config: section; nothing written"
    assert refusal("just text\n") == f"{FILE}: (file): is not a mapping with a config: section; nothing written"


def test_a_missing_or_scalar_config_section_is_refused_naming_config():
    assert refusal("name: shop\n") == f"{FILE}: config: is missing or not a mapping; nothing written"
    assert refusal("config: 1\n") == f"{FILE}: config: is missing or not a mapping; nothing written"


def test_the_stage_key_twice_is_refused_with_both_line_numbers():
    text = 'config:\n  rollout:app: shop\n  rollout:stage: "off"\n  rollout:stage: full\n'
    assert refusal(text) == (f"{FILE}: rollout:stage: appears twice under config: (lines 3 and 4); "
                             "keep one; nothing written")


def test_a_stage_that_is_a_list_or_mapping_is_refused():
    for value in ("[off]", "{name: off}"):
        assert refusal(f"config:\n  rollout:stage: {value}\n") == (
            f"{FILE}: rollout:stage: must be a stage name, not a list or mapping; nothing written")


def test_a_node_that_never_closes_ends_at_the_last_event():
    events = list(yaml.parse("config:\n  a: [1, 2]\n"))
    start = next(i for i, e in enumerate(events) if isinstance(e, yaml.SequenceStartEvent))
    assert _node_end(events, start) == start + 4  # [, 1, 2, ]
    assert _node_end(events[:start + 2], start) == start + 2  # cut short: everything that is there


def test_invalid_yaml_is_refused_before_anything_else():
    assert refusal("config: [\n").startswith(f"{FILE}: (file): is not valid YAML: ")


def test_the_default_file_name_in_messages_is_the_stack_file():
    with pytest.raises(ConfigError, match=r"^the stack file: config: is missing"):
        with_stage("name: shop\n", "full")
    with pytest.raises(ConfigError, match=r"^the stack file: rollout:stage: editing it would leave the file unreadable"):
        verify_only_stage_changed(STACK, "config: [\n", "full")


# -- the characters of the value -------------------------------------------------------------------

def test_a_value_that_is_not_plain_stage_text_is_refused_with_its_line():
    assert refusal('config:\n  rollout:app: shop\n  rollout:stage: "a b"\n') == (
        f"{FILE}: rollout:stage: is written in a form rollout cannot edit exactly (line 3); "
        "write it on one line as `rollout:stage: a b`; nothing written")


def test_a_quoted_value_written_with_an_escape_is_refused_not_edited_at_the_wrong_place():
    assert refusal('config:\n  rollout:stage: "of\\x66"\n') == (
        f"{FILE}: rollout:stage: is written in a form rollout cannot edit exactly (line 2); "
        "write it on one line as `rollout:stage: off`; nothing written")


def test_an_empty_block_scalar_is_refused():
    assert refusal("config:\n  rollout:stage: |-\n  rollout:app: shop\n").startswith(
        f"{FILE}: rollout:stage: is written in a form rollout cannot edit exactly (line 2)")


def test_a_block_scalar_with_no_content_at_the_end_of_the_file_is_refused():
    assert refusal("config:\n  rollout:stage: |-").startswith(
        f"{FILE}: rollout:stage: is written in a form rollout cannot edit exactly (line 2)")


def test_a_one_line_block_scalar_has_just_its_name_replaced():
    text = "config:\n  rollout:stage: |-\n      off\n  rollout:app: shop\n"
    assert with_stage(text, "full") == "config:\n  rollout:stage: |-\n      full\n  rollout:app: shop\n"


def test_an_alias_whose_text_is_not_where_the_parser_put_it_is_refused():
    text = 'x: &s "off"\nconfig:\n  rollout:stage: *s\n'
    value = _find_stage(list(yaml.parse(text)), FILE)
    moved = text.replace("*s", "?s")
    with pytest.raises(ConfigError) as caught:
        _value_span(moved, value, "full", FILE)
    assert str(caught.value) == f"{FILE}: rollout:stage: rollout could not find the alias *s it read; nothing written"
    assert _value_span(text, value, "full", FILE)[2] == "full"
    assert isinstance(value, _Value)


def test_an_anchored_stage_another_key_aliases_is_refused_with_the_alias_line():
    text = 'config:\n  rollout:stage: &s "off"\n  rollout:app: shop\n  rollout:killSwitch: *s\n'
    assert refusal(text) == (f"{FILE}: rollout:stage: carries the anchor &s, which line 4 aliases (*s); moving the "
                             "stage would change that value too. Write the value out there instead of the alias; "
                             "nothing written")


def test_an_anchored_stage_is_edited_when_only_other_anchors_are_aliased():
    text = 'config:\n  rollout:stage: &s "off"\n  rollout:app: &a shop\n  rollout:namespace: *a\n'
    assert with_stage(text, "full") == 'config:\n  rollout:stage: &s "full"\n  rollout:app: &a shop\n  rollout:namespace: *a\n'


def test_a_file_that_starts_with_a_byte_order_mark_is_edited_at_the_right_place():
    text = '\ufeffconfig:\n  rollout:app: shop\n  rollout:stage: "off"\n'
    assert with_stage(text, "canary-5") == '\ufeffconfig:\n  rollout:app: shop\n  rollout:stage: "canary-5"\n'


def test_libyaml_finds_the_value_when_it_is_installed():
    assert stackfile._EVENTS_LOADER is getattr(yaml, "CSafeLoader", yaml.SafeLoader)


# -- checking the edit -----------------------------------------------------------------------------

def test_an_edit_that_leaves_the_file_unreadable_or_touches_keys_outside_config_is_refused():
    with pytest.raises(ConfigError) as caught:
        verify_only_stage_changed(STACK, "config: [\n", "full", FILE)
    assert str(caught.value) == f"{FILE}: rollout:stage: editing it would leave the file unreadable; nothing written"
    with pytest.raises(ConfigError) as caught:
        verify_only_stage_changed(STACK, AFTER + "name: x\n", "full", FILE)
    assert str(caught.value) == f"{FILE}: rollout:stage: editing it would change keys outside config:; nothing written"


# -- reading and preparing -------------------------------------------------------------------------

def test_reading_a_missing_or_undecodable_file_says_why(tmp_path: Path):
    missing = tmp_path / FILE
    with pytest.raises(RolloutError) as caught:
        read_text(missing)
    assert str(caught.value) == f"cannot read {missing}: No such file or directory"
    missing.write_bytes(b"config:\n  rollout:stage: \xff\n")
    with pytest.raises(ConfigError) as caught:
        read_text(missing)
    assert str(caught.value) == f"{FILE}: (file): is not UTF-8 text (byte 25); nothing written"


def test_a_file_that_no_longer_holds_the_stage_the_move_started_from_is_not_edited(tmp_path: Path):
    path = tmp_path / FILE
    path.write_text(STACK)
    with pytest.raises(StackFileChanged) as caught:
        prepare_stage_edit(path, "full", "canary-5")
    assert str(caught.value) == f"{FILE} changed while rollout was reading it; nothing written, run the command again"
    assert prepare_stage_edit(path, "full", "off").after == AFTER


def test_set_stage_returns_the_text_before_and_after(tmp_path: Path):
    path = tmp_path / FILE
    path.write_text(STACK)
    assert set_stage(path, "full", "off") == (STACK, AFTER)
    assert path.read_text() == AFTER


# -- what rollout could not replace as it is -------------------------------------------------------

@pytest.fixture
def stack(tmp_path: Path) -> Path:
    path = tmp_path / FILE
    path.write_text(STACK)
    return path


def test_a_folder_rollout_cannot_write_in_is_refused(stack: Path, monkeypatch):
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == stack.parent else real(p, mode))
    with pytest.raises(RolloutError) as caught:
        check_replaceable(stack, stack)
    assert str(caught.value).startswith(f"cannot write in {stack.parent}: rollout replaces {FILE} in one step")


def test_a_file_of_another_user_is_refused_unless_rollout_runs_as_root(stack: Path, monkeypatch):
    info = stack.stat()
    monkeypatch.setattr(os, "geteuid", lambda: info.st_uid + 1)
    with pytest.raises(RolloutError) as caught:
        check_replaceable(stack, stack)
    assert str(caught.value).startswith(f"{FILE} belongs to user id {info.st_uid}, rollout runs as {info.st_uid + 1}")
    monkeypatch.setattr(os, "geteuid", lambda: 0)  # root keeps any owner with fchown
    check_replaceable(stack, stack)


def test_a_file_of_a_group_rollout_s_user_is_not_in_is_refused(stack: Path, monkeypatch):
    real = stack.stat()
    owned = os.stat_result((real.st_mode, real.st_ino, real.st_dev, real.st_nlink, 1000, 2000, real.st_size,
                            int(real.st_atime), int(real.st_mtime), int(real.st_ctime)))
    monkeypatch.setattr(type(stack), "stat", lambda self, **kwargs: owned)  # uid 1000, gid 2000
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setattr(os, "getegid", lambda: 1000)
    monkeypatch.setattr(os, "getgroups", lambda: [3000])
    with pytest.raises(RolloutError) as caught:
        check_replaceable(stack, stack)
    assert str(caught.value).startswith(f"{FILE} belongs to group id 2000, which rollout's user is not in")
    monkeypatch.setattr(os, "getgroups", lambda: [2000])
    check_replaceable(stack, stack)


# -- temp files ------------------------------------------------------------------------------------

def test_glob_escape_makes_pattern_characters_literal():
    assert glob_escape("Pulumi.a[b]*?.yaml") == "Pulumi.a[[]b][*][?].yaml"


def test_stale_temp_files_of_this_stack_only_are_removed_and_listed(tmp_path: Path):
    path = tmp_path / "Pulumi.a[b].yaml"
    path.write_text(STACK)
    mine = tmp_path / ".Pulumi.a[b].yaml.x1.rollout-tmp"
    other = tmp_path / ".Pulumi.ab.yaml.x2.rollout-tmp"
    for leftover in (mine, other):
        leftover.write_text("partial")
    assert remove_stale_temp_files(path) == [mine]
    assert not mine.exists() and other.exists()


# -- the atomic write ------------------------------------------------------------------------------

def test_the_temp_file_is_complete_on_disk_when_synced_and_the_folder_is_synced_after_the_rename(stack: Path, monkeypatch):
    after = AFTER
    synced: list[tuple[str, bytes | None]] = []
    real_fsync, checkpoints = os.fsync, []

    def fsync(fd: int) -> None:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            synced.append(("folder", stack.read_bytes()))  # the rename is done when the folder is synced
        else:
            synced.append(("file", os.pread(fd, 1 << 16, 0)))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(stackfile, "checkpoint", checkpoints.append)
    fds_before = len(os.listdir("/proc/self/fd"))
    atomic_write(stack, after, STACK)
    assert synced == [("file", after.encode()), ("folder", after.encode())]
    assert checkpoints == ["temp-written"]
    assert len(os.listdir("/proc/self/fd")) == fds_before  # the folder's descriptor is closed again


def test_an_interrupted_write_removes_its_temp_file_and_leaves_the_file_as_it_was(stack: Path, monkeypatch):
    def interrupted(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        atomic_write(stack, AFTER, STACK)
    assert stack.read_text() == STACK
    assert [p.name for p in stack.parent.iterdir()] == [FILE]


def test_a_temp_file_that_cannot_be_made_says_why_and_changes_nothing(stack: Path, monkeypatch):
    def full_disk(**kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(stackfile.tempfile, "mkstemp", full_disk)
    with pytest.raises(RolloutError) as caught:
        atomic_write(stack, AFTER, STACK)
    assert str(caught.value) == f"cannot write {FILE}: No space left on device; the file is unchanged"
    assert stack.read_text() == STACK


def test_a_file_that_does_not_read_back_as_written_is_reported(stack: Path, monkeypatch):
    reads = iter([STACK, "something else"])
    monkeypatch.setattr(stackfile, "read_text", lambda path: next(reads))
    with pytest.raises(RolloutError) as caught:
        atomic_write(stack, AFTER, STACK)
    assert str(caught.value) == f"{FILE} does not read back as written; check it by hand"
