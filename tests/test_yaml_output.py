"""The fast YAML writer prints exactly what PyYAML's C dumper prints, for every manifest we ship and
for generated documents full of strings that need quoting, escaping or folding."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from rollout.build.resources import build_manifests
from rollout.output import yaml_out
from rollout.output.yaml_out import fast_yaml, pyyaml_dump, to_yaml
from rollout.spec.stack import load_stack
from rollout.spec.stack import parse_stack
from rollout.spec.yaml12 import load_yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from bench.generate_stack import generate_stack  # noqa: E402

# Strings each rule of libyaml's scalar analysis reacts to, and words PyYAML's resolver reads as
# something other than text.
NASTY = [
    "", " ", "  ", "a ", " a", "-", "- a", "-a", "--", "---", "--- a", "...", ". ..", "?", "? a", "?a", ":", ": a",
    ":a", "a:", "a: b", "a:b", "#", "# a", "a #b", "a#b", "&a", "*a", "!a", "|", ">", "'", "''", '"', "%a", "@a",
    "`a", ",a", "a,b", "[a]", "{a}", "a]", "a}", "yes", "No", "ON", "off", "y", "n", "true", "False", "null",
    "Null", "~", "0", "-1", "+1", "012", "0o17", "0x1F", "0b101", "1_000", "1:20", "190:20:30", "1.5", ".5",
    "1e3", "1.0e+3", "-.inf", ".NaN", ".nan", "2001-12-14", "2001-12-14t21:59:43.10-05:00", "2001-12-14 21:59:43",
    "=", "<<", "123\n", "a\n", "\n", "\n\n", "a\nb", "a\n\nb", "a \nb", "a\n b", "\na", "a\r\nb", "\t", "x\ty",
    "\x00", "\x07", "\x1b", "\x7f", "\x85", "\xa0", "é", "ü ber", "\u2028", "\u2029", "\ufeff", "\U0001f600",
    "\\", "\\n", "a\\b", 'say "hi"', "it's", "a'b'c", "sum by (track) (rate(x{job=\"a\"}[5m]))",
]
ALPHABET = st.sampled_from(list("ab -:#'\"\\\n\t{}[],&*!|>%@`?~.0189eE_") + ["é", "\x85", "\u2028", "\x00", "\U0001f600"])
WORDS = st.lists(st.sampled_from(["a", "bb", "word", "x" * 30, "", " ", "'", ":", "#", "é", "\n"]), max_size=40)


def scalars() -> st.SearchStrategy:
    text = st.one_of(
        st.sampled_from(NASTY),
        st.text(ALPHABET, max_size=30),
        st.text(max_size=20),  # any code point, surrogates included
        WORDS.map(" ".join),  # long lines with spaces around column 100: folding
        st.tuples(st.sampled_from(NASTY), WORDS.map(" ".join), st.sampled_from(NASTY)).map("".join),
    )
    return st.one_of(
        text, text, text,
        st.integers(), st.integers(-10, 10), st.booleans(), st.none(),
        st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, -0.0, 1e17, 1e-5, 0.1, 2.5]),
    )


KEYS = st.one_of(st.sampled_from(NASTY), st.text(ALPHABET, max_size=12), st.text(max_size=8),
                 st.sampled_from(["metadata", "name", "k" * 90, "é" * 64, "é" * 65, "k" * 129]))


def documents(keys: st.SearchStrategy = KEYS) -> st.SearchStrategy:
    containers = st.recursive(
        scalars(),
        lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=5)),
        max_leaves=30,
    )
    return st.dictionaries(keys, containers, max_size=6)


def _containers(value, found):
    if isinstance(value, (dict, list)):
        found.append(value)
        for child in value.values() if isinstance(value, dict) else value:
            _containers(child, found)
    return found


def share(document: dict, data: st.DataObject) -> dict:
    """Put some dicts and lists in a second place too, as builders do with labels, so anchors are written."""
    for _ in range(data.draw(st.integers(0, 4))):
        found = _containers(document, [])
        shared = data.draw(st.sampled_from(found))
        inside = {id(c) for c in _containers(shared, [])}
        targets = [c for c in found if id(c) not in inside]  # never a value inside itself
        if not targets:
            continue
        target = data.draw(st.sampled_from(targets))
        if isinstance(target, dict):
            target[data.draw(st.sampled_from(["again", "x", "labels"]))] = shared
        else:
            target.insert(data.draw(st.integers(0, len(target))), shared)
    return document


def same_as_pyyaml(document: dict) -> str:
    """What to_yaml writes, after checking it against PyYAML (errors included)."""
    try:
        expected = pyyaml_dump(document)
    except Exception as exc:  # e.g. a lone surrogate: the same error must reach the caller
        with pytest.raises(type(exc)):
            to_yaml(document)
        return ""
    assert to_yaml(document) == expected
    return expected


FAST_KEYS = st.text(st.characters(codec="utf-8", exclude_characters="\n\r\x85\u2028\u2029"), max_size=20) | st.sampled_from(NASTY[:60])


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents(), st.data())
def test_any_document_is_written_as_pyyaml_writes_it(document, data):
    same_as_pyyaml(share(document, data))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents(FAST_KEYS), st.data())
def test_documents_of_manifest_types_never_fall_back_to_pyyaml(document, data):
    """Keys that libyaml writes as simple keys and text that is valid UTF-8: the fast path writes them all."""
    document = share(document, data)
    written = fast_yaml(document)
    assert written is not None
    assert written == pyyaml_dump(document)


@pytest.mark.parametrize("value", NASTY)
@pytest.mark.parametrize("column", [0, 60, 95, 99, 100, 101, 130])
def test_each_nasty_string_as_key_value_and_item_at_columns_near_the_fold(value, column):
    key = "k" * column
    long_line = " ".join([value] * 12)
    same_as_pyyaml({key: value, "list": [value, {key[:40] or "k": long_line}, [long_line]], value or "e": long_line})


def test_shared_values_are_written_out_in_full_never_as_anchors():
    """Reviewers read every field where it applies: a dict two fields share appears twice."""
    labels, probe, empty = {"app": "a"}, {"path": "/"}, {}
    document = {"m": {"labels": labels}, "p": [probe, [probe]], "t": {"labels": labels}, "e": [empty, empty]}
    text = same_as_pyyaml(document)
    assert "&id" not in text and "*id" not in text
    assert text.count("app: a") == 2 and text.count("path: /") == 2


def test_what_the_fast_path_does_not_cover_is_written_by_pyyaml():
    assert fast_yaml({"k" * 129: 1}) is None  # libyaml writes `? key`
    assert fast_yaml({"a\nb": 1}) is None
    assert fast_yaml({1: "a"}) is None
    assert fast_yaml({"t": (1, 2)}) is None
    assert fast_yaml({"a": 1}) is not None and fast_yaml({type("Text", (str,), {})("a"): 1}) is None
    loop: dict = {"a": 1}
    loop["self"] = loop
    with pytest.raises(ValueError, match="contains itself"):
        fast_yaml(loop)
    assert to_yaml({"k" * 129: 1}) == pyyaml_dump({"k" * 129: 1})
    assert to_yaml({"t": (1, 2), "s": {3}}) == "t:\n- 1\n- 2\ns: !!set\n  3: null\n"
    with pytest.raises(yaml.representer.RepresenterError):
        to_yaml({"o": object()})


def test_text_that_cannot_be_utf_8_fails_as_pyyaml_fails():
    for document in ({"k": "a\ud800"}, {"k\udfff": 1}, {"k": ["\ud800 b" * 30]}):
        with pytest.raises(UnicodeEncodeError):
            pyyaml_dump(document)
        with pytest.raises(UnicodeEncodeError):
            to_yaml(document)


def test_folding_caches_never_change_the_text_at_another_column():
    line = " ".join(["word"] * 30)
    for column in (0, 50, 99, 100, 101, 0):
        assert to_yaml({"k" * column: line}) == pyyaml_dump({"k" * column: line})
    assert line in yaml_out._SCALARS


@pytest.mark.parametrize("stack", ["prod", "staging"])
def test_every_shipped_document_at_every_stage_is_byte_identical(stack):
    settings_ = load_stack(REPO / f"Pulumi.{stack}.yaml")
    for stage in settings_.stage_names:
        for manifest in build_manifests(settings_, stage):
            written = fast_yaml(manifest)
            assert written is not None, f"{manifest['kind']} {manifest['metadata']['name']} fell back to PyYAML"
            assert written == pyyaml_dump(manifest), f"{stack} {stage}: {manifest['kind']} {manifest['metadata']['name']}"


@pytest.mark.parametrize("strategy", ["tracks", "percentage"])
def test_every_document_of_a_generated_stack_is_byte_identical(strategy):
    text = generate_stack(services=12, flags=3, strategy=strategy, stage="canary-25")
    settings_ = parse_stack(load_yaml(text), "bench", "Pulumi.bench.yaml")
    for manifest in build_manifests(settings_):
        assert fast_yaml(manifest) == pyyaml_dump(manifest)
