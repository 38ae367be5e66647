"""Dashboard JSON is written as json.dumps(indent=2, sort_keys=True) writes it, only faster."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from rollout.build.json_text import indented_json
from rollout.build.monitoring.dashboards import dashboard_json, dashboards
from rollout.spec.stack import load_stack

REPO = Path(__file__).resolve().parent.parent

SCALARS = st.one_of(st.text(), st.integers(), st.floats(), st.booleans(), st.none())
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=5), st.tuples(inner, inner),
                            st.dictionaries(st.text(max_size=6), inner, max_size=5)),
    max_leaves=40,
)


@settings(max_examples=300, deadline=None)
@given(VALUES)
def test_any_json_value_is_written_as_json_dumps_writes_it(value):
    assert indented_json(value) == json.dumps(value, indent=2, sort_keys=True)


def test_keys_json_cannot_sort_fail_the_same_way():
    with pytest.raises(TypeError):
        json.dumps({1: "a", "b": 2}, indent=2, sort_keys=True)
    with pytest.raises(TypeError):
        indented_json({1: "a", "b": 2})
    assert indented_json({1: "a", 2: "b"}) == json.dumps({1: "a", 2: "b"}, indent=2, sort_keys=True)


@pytest.mark.parametrize("stack", ["prod", "staging"])
def test_every_shipped_dashboard_is_byte_identical(stack):
    settings_ = load_stack(REPO / f"Pulumi.{stack}.yaml")
    for model in dashboards(settings_).values():
        assert dashboard_json(model) == json.dumps(model, indent=2, sort_keys=True) + "\n"
