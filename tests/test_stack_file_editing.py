"""promote and rollback edit the stack file like a careful person would: one line, nothing lost."""
from __future__ import annotations

import difflib
import os
import stat
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from rollout.errors import RolloutError
from rollout.core.stackfile import StackFileChanged, atomic_write, set_stage, verify_only_stage_changed, with_stage


def changed_lines(before: str, after: str) -> list[str]:
    return [l for l in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
            if l[:1] in "+-" and not l.startswith(("+++", "---"))]


def test_promote_changes_only_the_stage_lines_and_keeps_every_comment(project: Path, rollout):
    path = project / "Pulumi.prod.yaml"
    before = path.read_text()
    assert rollout("-C", project, "promote", "prod").code == 0
    after = path.read_text()
    assert changed_lines(before, after) == [
        '-  rollout:stage: "off"', '+  rollout:stage: "canary-5"', '+  rollout:previousStage: "off"',
    ]
    assert [l for l in before.splitlines() if l.lstrip().startswith("#")] == \
           [l for l in after.splitlines() if l.lstrip().startswith("#")]
    doc_before, doc_after = YAML(typ="safe").load(before), YAML(typ="safe").load(after)
    doc_before["config"].update({"rollout:stage": "canary-5", "rollout:previousStage": "off"})
    assert doc_after == doc_before


def test_a_second_promote_updates_previous_stage_in_place(project: Path, rollout):
    path = project / "Pulumi.prod.yaml"
    rollout("-C", project, "promote", "prod")
    before = path.read_text()
    assert rollout("-C", project, "promote", "prod").code == 0
    assert changed_lines(before, path.read_text()) == [
        '-  rollout:stage: "canary-5"', '-  rollout:previousStage: "off"',
        '+  rollout:stage: "canary-25"', '+  rollout:previousStage: "canary-5"',
    ]


def test_unquoted_values_stay_unquoted_and_yaml_1_1_words_get_quotes():
    text = "config:\n  rollout:stage: canary-5   # keep me\n  other:key: 1\n"
    assert with_stage(text, "canary-25", None) == "config:\n  rollout:stage: canary-25   # keep me\n  other:key: 1\n"
    assert 'rollout:stage: "off"   # keep me' in with_stage(text, "off", None)


def test_the_write_keeps_the_file_mode_and_leaves_no_temporary_file(project: Path, rollout):
    path = project / "Pulumi.prod.yaml"
    os.chmod(path, 0o640)
    assert rollout("-C", project, "promote", "prod").code == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert sorted(p.name for p in project.iterdir() if p.name.startswith(".")) == []


def test_a_file_changed_by_someone_else_meanwhile_is_not_overwritten(tmp_path: Path):
    path = tmp_path / "Pulumi.x.yaml"
    path.write_text("config:\n  rollout:stage: a\n")
    with pytest.raises(StackFileChanged):
        atomic_write(path, "config:\n  rollout:stage: b\n", expected_current="config:\n  rollout:stage: z\n")
    assert path.read_text() == "config:\n  rollout:stage: a\n"


def test_a_stack_file_without_a_stage_key_is_refused_not_rewritten(tmp_path: Path):
    path = tmp_path / "Pulumi.x.yaml"
    original = "config: {rollout:app: chat}\n"
    path.write_text(original)
    with pytest.raises(RolloutError, match="rollout:stage"):
        set_stage(path, "b", "a")
    assert path.read_text() == original


def test_a_stage_key_in_another_mapping_is_left_alone(tmp_path: Path):
    path = tmp_path / "Pulumi.x.yaml"
    # A second, nested `rollout:stage:` line earlier in the file: only config's is the stage.
    path.write_text("notes:\n  rollout:stage: draft\nconfig:\n  rollout:stage: a\n")
    set_stage(path, "b", "a")
    assert path.read_text() == "notes:\n  rollout:stage: draft\nconfig:\n  rollout:stage: b\n  rollout:previousStage: a\n"


def test_an_edit_that_would_touch_another_key_is_refused():
    before = "config:\n  rollout:stage: a\n  other: 1\n"
    with pytest.raises(RolloutError, match="would also change other.*nothing written"):
        verify_only_stage_changed(before, "config:\n  rollout:stage: b\n  other: 2\n", "b", None)
    with pytest.raises(RolloutError, match="outside config.*nothing written"):
        verify_only_stage_changed(before, before.replace("config:", "extra: 1\nconfig:").replace(": a", ": b"), "b", None)
    verify_only_stage_changed(before, "config:\n  rollout:stage: b\n  other: 1\n", "b", None)
