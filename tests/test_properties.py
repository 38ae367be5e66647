"""Property-based: any stack file and any sequence of commands ends in a defined outcome.

Loading gives settings or one ConfigError (exit 2), never another exception; a command exits 0,
1 or 2 with one line on error; a refused command leaves the stack file byte for byte.
"""
from __future__ import annotations

import copy
import math
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from conftest import REPO, STACK_FILES, stack_id
from rollout.build.resources import build_manifests
from rollout.errors import RolloutError
from rollout.spec.stack import parse_stack, read_document

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-10**12, max_value=10**12),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30),
    st.sampled_from(["off", "on", "5..", "250m", "1:30", "0755", "1.10", "", " ", "a" * 300, "10m", "-1", "☃"]),
)
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=12), inner, max_size=3)),
                      max_leaves=8)


def _paths(node, prefix=()):
    """Every (path to a container, key) in a parsed YAML tree."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield prefix, key
            yield from _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield prefix, index
            yield from _paths(value, prefix + (index,))


def _at(document, path):
    for key in path:
        document = document[key]
    return document


DOCUMENTS = {stack_id(p): read_document(p) for p in STACK_FILES}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(sorted(DOCUMENTS)), data=st.data())
def test_any_mutated_stack_file_loads_or_is_refused_with_one_config_error(name, data):
    document = copy.deepcopy(DOCUMENTS[name])
    for _ in range(data.draw(st.integers(1, 3))):
        places = list(_paths(document))
        if not places:
            break
        parent_path, key = data.draw(st.sampled_from(places))
        parent = _at(document, parent_path)
        if data.draw(st.booleans()) and isinstance(parent, dict):
            del parent[key]
        else:
            parent[key] = data.draw(values)
    try:
        loaded = parse_stack(document, "prod", "Pulumi.prod.yaml")
    except RolloutError as exc:
        assert exc.exit_code == 2 and "\n" not in str(exc) and str(exc).startswith("Pulumi.prod.yaml"), str(exc)
        return
    try:
        for stage in loaded.stage_names:
            build_manifests(loaded, stage)
    except RolloutError as exc:  # a weight replicas cannot express is refused when the ladder is checked
        assert exc.exit_code == 2 and "\n" not in str(exc)
    for threshold in loaded.gates.checks.values():
        assert math.isfinite(threshold.limit)


COMMANDS = st.lists(st.one_of(
    st.just(("promote",)), st.just(("promote", "--force")), st.just(("rollback",)), st.just(("rollback", "--kill-switch")),
    st.tuples(st.just("promote"), st.just("--to"), st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-.", min_size=1, max_size=12)),
    st.tuples(st.sampled_from(["promote", "rollback"]), st.just("--to"), st.sampled_from(["__ladder__"])),
    st.just(("status",)), st.just(("plan",)), st.just(("rollback", "--to", "x", "--kill-switch")),
), min_size=1, max_size=8)


@pytest.mark.parametrize("path", STACK_FILES, ids=stack_id)
def test_any_sequence_of_commands_keeps_the_stack_file_loadable_and_refusals_change_nothing(path, tmp_path_factory, rollout):
    from rollout.spec.stack import load_stack

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(commands=COMMANDS, data=st.data())
    def run(commands, data):
        project = tmp_path_factory.mktemp("seq")
        shutil.copy(REPO / "Pulumi.yaml", project / "Pulumi.yaml")
        stack = project / path.name
        shutil.copy(path, stack)
        ladder = load_stack(stack).stage_names
        for command in commands:
            args = [data.draw(st.sampled_from(ladder)) if a == "__ladder__" else a for a in command]
            before = stack.read_bytes()
            result = rollout("-C", project, args[0], stack.name[len("Pulumi."):-len(".yaml")], *args[1:])
            assert result.code in (0, 1, 2), (args, result.err)
            if result.code:
                assert result.err.count("\n") == 1 and result.err.startswith("rollout: error:"), (args, result.err)
                assert stack.read_bytes() == before, f"{args} was refused but changed the file"
            assert load_stack(stack).stage in ladder

    run()
