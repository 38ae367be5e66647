"""promote and rollback edit the stack file like a careful person would: one line, nothing lost."""
from __future__ import annotations

import difflib
import os
import shutil
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from conftest import REPO

from rollout.errors import RolloutError
from rollout.core.stackfile import StackFileChanged, atomic_write, set_stage, verify_only_stage_changed, with_stage


def changed_lines(before: str, after: str) -> list[str]:
    return [l for l in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
            if l[:1] in "+-" and not l.startswith(("+++", "---"))]


def test_promote_changes_only_the_stage_line_and_keeps_every_comment(project: Path, rollout):
    path = project / "Pulumi.prod.yaml"
    before = path.read_text()
    assert rollout("-C", project, "promote", "prod").code == 0
    after = path.read_text()
    assert changed_lines(before, after) == ['-  rollout:stage: "off"', '+  rollout:stage: "canary-5"']
    assert [l for l in before.splitlines() if l.lstrip().startswith("#")] == \
           [l for l in after.splitlines() if l.lstrip().startswith("#")]
    doc_before, doc_after = YAML(typ="safe").load(before), YAML(typ="safe").load(after)
    doc_before["config"]["rollout:stage"] = "canary-5"
    assert doc_after == doc_before


def test_each_move_changes_exactly_one_line_and_a_rollback_restores_the_file_byte_for_byte(project: Path, rollout):
    path = project / "Pulumi.prod.yaml"
    original = path.read_bytes()
    for command in (["promote", "prod"], ["promote", "prod"], ["rollback", "prod"], ["rollback", "prod", "--kill-switch"]):
        before = path.read_text()
        assert rollout("-C", project, *command).code == 0
        changed = changed_lines(before, path.read_text())
        assert len(changed) == 2 and all("rollout:stage: " in line for line in changed), (command, changed)
    assert path.read_bytes() == original


def test_unquoted_values_stay_unquoted_and_yaml_1_1_words_get_quotes():
    text = "config:\n  rollout:stage: canary-5   # keep me\n  other:key: 1\n"
    assert with_stage(text, "canary-25") == "config:\n  rollout:stage: canary-25   # keep me\n  other:key: 1\n"
    assert 'rollout:stage: "off"   # keep me' in with_stage(text, "off")


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
    assert path.read_text() == "notes:\n  rollout:stage: draft\nconfig:\n  rollout:stage: b\n"


def test_an_edit_that_would_touch_another_key_is_refused():
    before = "config:\n  rollout:stage: a\n  other: 1\n"
    with pytest.raises(RolloutError, match="would also change other.*nothing written"):
        verify_only_stage_changed(before, "config:\n  rollout:stage: b\n  other: 2\n", "b")
    with pytest.raises(RolloutError, match="would also change rollout:previousStage.*nothing written"):
        verify_only_stage_changed(before, "config:\n  rollout:stage: b\n  other: 1\n  rollout:previousStage: a\n", "b")
    verify_only_stage_changed(before, "config:\n  rollout:stage: b\n  other: 1\n", "b")


@pytest.mark.parametrize("after", [
    "config:\n  rollout:stage: b\n  other: 1\n\n",  # a line added, the same document
    "config:\n  rollout:stage: b\n  other:   1\n",  # a second line rewritten, the same document
    "config:\n  rollout:stage:\n    b\n  other: 1\n",  # the value moved to a line of its own
])
def test_an_edit_that_changes_more_than_the_stage_line_is_refused_even_when_the_values_agree(after):
    with pytest.raises(RolloutError, match="rollout:stage: editing it would change more than its own line; nothing written"):
        verify_only_stage_changed("config:\n  rollout:stage: a\n  other: 1\n", after, "b")


@pytest.mark.parametrize("command", [["promote", "prod"], ["rollback", "prod"], ["rollback", "prod", "--kill-switch"]])
def test_a_stack_file_that_still_holds_previous_stage_is_refused_naming_the_key(project: Path, rollout, command):
    """Earlier versions wrote rollout:previousStage; a move refuses the file, before the ledger, until it is deleted."""
    path = project / "Pulumi.prod.yaml"
    path.write_text(path.read_text().replace('  rollout:stage: "off"\n', '  rollout:stage: canary-25\n  rollout:previousStage: canary-5\n'))
    before = path.read_bytes()
    result = rollout("-C", project, *command)
    assert result.code == 2 and result.err.count("\n") == 1, result.err
    assert result.err == ("rollout: error: Pulumi.prod.yaml: rollout:previousStage: no longer used: `pulumi up` reads the "
                          "deployed stage from the stack's own outputs; delete this line\n")
    assert path.read_bytes() == before and not (project / "ledger").exists()
    path.write_text(path.read_text().replace("  rollout:previousStage: canary-5\n", ""))
    assert rollout("-C", project, *command).code == 0, "deleting the line is all it takes"


# -- the file is kept as the user keeps it ----------------------------------------------

STAGE_LINE = '  rollout:stage: "off"\n'


def prod_with(project: Path, stage_lines: str, *replacements: tuple[str, str]) -> Path:
    """Pulumi.prod.yaml with its stage line written another way (and other lines replaced)."""
    path = project / "Pulumi.prod.yaml"
    text = path.read_text()
    assert STAGE_LINE in text
    text = text.replace(STAGE_LINE, stage_lines)
    for old, new in replacements:
        assert old in text
        text = text.replace(old, new)
    path.write_text(text)
    return path


def config_of(path: Path) -> dict:
    from rollout.spec.yaml12 import load_yaml

    return load_yaml(path.read_bytes().decode())["config"]


EDITABLE_FORMS = {
    "plain": ("  rollout:stage: off\n",),
    "single-quoted": ("  rollout:stage: 'off'\n",),
    "on the next line": ("  rollout:stage:\n    \"off\"\n",),
    "a literal block scalar": ("  rollout:stage: |-\n    off\n",),
    "a folded block scalar": ("  rollout:stage: >-\n    off\n",),
    "with a comment": ('  rollout:stage: "off"   # where prod is\n',),
    "with a tag": ("  rollout:stage: !!str off\n",),
    "a quoted key": ('  "rollout:stage": "off"\n',),
    "an anchor nothing aliases": ('  rollout:stage: &now "off"\n',),
    "an alias of the ladder's first name": ("", ('    - name: "off"', '    - name: &first "off"'),
                                            ("  # Services roll", "  rollout:stage: *first\n  # Services roll")),
}


@pytest.mark.parametrize("form", EDITABLE_FORMS)
def test_a_stage_written_in_any_form_a_person_uses_is_edited_exactly(project: Path, rollout, form):
    stage_lines, *others = EDITABLE_FORMS[form]
    path = prod_with(project, stage_lines, *others)
    before_text, before = path.read_text(), config_of(path)
    result = rollout("-C", project, "promote", "prod")
    assert result.code == 0, result.err
    assert config_of(path) == {**before, "rollout:stage": "canary-5"}
    removed, added = changed_lines(before_text, path.read_text())
    assert removed.startswith("-") and added.startswith("+") and "canary-5" in added, "exactly one line changes"
    assert rollout("-C", project, "promote", "prod").code == 0 and config_of(path)["rollout:stage"] == "canary-25"


def test_a_flow_mapping_stack_file_is_edited_inside_its_braces(project: Path, rollout):
    import json

    path = project / "Pulumi.prod.yaml"
    config = config_of(path)
    path.write_text("config: " + json.dumps(config) + "\n")  # JSON is YAML: one flow mapping
    assert rollout("-C", project, "promote", "prod").code == 0
    text = path.read_text()
    assert text.count("\n") == 1 and '"rollout:stage": "canary-5",' in text
    assert config_of(path) == {**config, "rollout:stage": "canary-5"}


REFUSED_FORMS = {
    "an anchor another key aliases": ('  rollout:stage: &s "off"\n', ('  rollout:killSwitch: "off"', "  rollout:killSwitch: *s")),
    "an escape inside the quotes": ('  rollout:stage: "\\x6ff"\n',),
    "the key twice": ('  rollout:stage: "off"\n  rollout:stage: "off"\n',),
}


@pytest.mark.parametrize("form", REFUSED_FORMS)
def test_a_stage_form_that_cannot_be_edited_exactly_is_refused_before_the_ledger(project: Path, rollout, form):
    stage_lines, *others = REFUSED_FORMS[form]
    path = prod_with(project, stage_lines, *others)
    before = path.read_bytes()
    result = rollout("-C", project, "promote", "prod")
    assert result.code == 2 and "rollout:stage" in result.err and result.err.count("\n") == 1, result.err
    assert path.read_bytes() == before and not (project / "ledger").exists()


def test_crlf_files_stay_crlf(project: Path, rollout):
    path = project / "Pulumi.prod.yaml"
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    lines = path.read_bytes().count(b"\r\n")
    assert rollout("-C", project, "promote", "prod").code == 0
    assert rollout("-C", project, "promote", "prod").code == 0
    data = path.read_bytes()
    assert data.count(b"\r\n") == lines and data.count(b"\n") == data.count(b"\r\n")
    assert b'\r\n  rollout:stage: "canary-25"\r\n' in data


def test_a_symlinked_stack_file_has_its_target_edited_and_the_link_kept(tmp_path: Path, rollout):
    real, project = tmp_path / "shared", tmp_path / "project"
    real.mkdir()
    project.mkdir()
    shutil.copy(REPO / "Pulumi.prod.yaml", real / "Pulumi.prod.yaml")
    shutil.copy(REPO / "Pulumi.yaml", project / "Pulumi.yaml")
    (project / "Pulumi.prod.yaml").symlink_to("../shared/Pulumi.prod.yaml")
    assert rollout("-C", project, "promote", "prod").code == 0
    assert (project / "Pulumi.prod.yaml").is_symlink()
    assert os.readlink(project / "Pulumi.prod.yaml") == "../shared/Pulumi.prod.yaml"
    assert config_of(real / "Pulumi.prod.yaml")["rollout:stage"] == "canary-5"
    assert sorted(p.name for p in real.iterdir()) == ["Pulumi.prod.yaml"]  # no temp or lock file left
    assert (project / "ledger" / "prod.jsonl").exists()  # the ledger stays with the project


def test_the_owner_is_kept(project: Path, rollout):
    path = project / "Pulumi.prod.yaml"
    if os.geteuid() == 0:  # root can hand the file to someone else first, as on a shared checkout
        os.chown(path, 4321, 4322)
    owner = (path.stat().st_uid, path.stat().st_gid)
    assert rollout("-C", project, "promote", "prod").code == 0
    assert (path.stat().st_uid, path.stat().st_gid) == owner and config_of(path)["rollout:stage"] == "canary-5"


def test_a_read_only_stack_file_is_refused_not_replaced(project: Path, rollout):
    path = project / "Pulumi.prod.yaml"
    os.chmod(path, 0o444)
    before = path.read_bytes()
    result = rollout("-C", project, "promote", "prod")
    assert result.code == 2 and "Pulumi.prod.yaml is read-only (mode 0444)" in result.err
    assert path.read_bytes() == before and stat.S_IMODE(path.stat().st_mode) == 0o444
    assert not (project / "ledger").exists()


def test_a_temp_file_left_by_a_killed_run_is_removed_by_the_next(project: Path, rollout):
    stale = project / ".Pulumi.prod.yaml.k1ll3d.rollout-tmp"
    stale.write_text("config:\n  rollout:stage: half")
    unrelated = project / ".Pulumi.prod.yaml.notes"
    unrelated.write_text("mine")
    assert rollout("-C", project, "promote", "prod").code == 0
    assert not stale.exists() and unrelated.read_text() == "mine"


# -- property: every supported way of writing the stage, in every combination ------------------

LADDER = ["off", "canary-5", "canary-25", "full", "1.10", "on"]
VALUE_FORMS = {
    "plain": lambda v, ind: f" {v}" if v not in ("off", "on", "1.10") else f' "{v}"',
    "double": lambda v, ind: f' "{v}"',
    "single": lambda v, ind: f" '{v}'",
    "next line": lambda v, ind: f"\n{ind}  '{v}'",
    "literal": lambda v, ind: f" |-\n{ind}  {v}",
    "folded": lambda v, ind: f" >-\n{ind}  {v}",
}


@st.composite
def stack_texts(draw):
    indent = " " * draw(st.sampled_from([2, 4]))
    stage = draw(st.sampled_from(LADDER))
    key = draw(st.sampled_from(["rollout:stage", '"rollout:stage"', "'rollout:stage'"]))
    form = draw(st.sampled_from(list(VALUE_FORMS)))
    comment = draw(st.sampled_from(["", "  # here"])) if form not in ("literal", "folded") else ""
    lines = [f"{indent}rollout:app: chat", f"{indent}rollout:killSwitch: 'off'"]
    lines.insert(draw(st.integers(0, 2)), f"{indent}{key}:{VALUE_FORMS[form](stage, indent)}{comment}")
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    text = "\n".join(["# a stack", "config:", *lines, "other: {a: 1}"]) + draw(st.sampled_from(["", "\n"]))
    text = text.replace("\n", newline)
    return text, newline


@settings(max_examples=300, deadline=None)
@given(stack_texts(), st.sampled_from(LADDER))
def test_any_supported_form_is_edited_to_exactly_the_new_stage_on_one_line(case, target):
    from rollout.spec.yaml12 import load_yaml

    text, newline = case
    before = load_yaml(text)
    current = before["config"]["rollout:stage"]
    after_text = with_stage(text, target)
    after = load_yaml(after_text)
    assert after == {**before, "config": {**before["config"], "rollout:stage": target}}
    verify_only_stage_changed(text, after_text, target)
    old_lines, new_lines = text.splitlines(keepends=True), after_text.splitlines(keepends=True)
    assert len(new_lines) == len(old_lines), "no line added or removed"
    assert sum(a != b for a, b in zip(old_lines, new_lines)) == (target != current), "exactly the stage's line changes"
    if newline == "\r\n":
        assert after_text.count("\n") == after_text.count("\r\n")
    assert load_yaml(with_stage(after_text, current)) == before, "and moving back restores the document"
