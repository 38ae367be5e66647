"""What bench/mutation.py measures: the core modules and, for each, the tests that should catch its
mutants (the most direct first: pytest stops at the first failure)."""
from __future__ import annotations

SPEC_TESTS = [
    "tests/test_mutants_spec_reading.py", "tests/test_mutants_spec_stack.py", "tests/test_mutants_spec_sections.py",
    "tests/test_bad_stack_files.py", "tests/test_hostile_stack_files.py", "tests/test_monitoring_config.py",
    "tests/test_credentials.py", "tests/test_pulumi_config.py", "tests/test_stages.py", "tests/test_gates_verdicts.py",
    "tests/test_gcp_cloudrun.py",
]
MOVE_TESTS = ["tests/test_mutants_stackfile.py", "tests/test_stack_file_editing.py", "tests/test_ledger_integrity.py", "tests/test_cli.py"]

TARGETS: dict[str, list[tuple[str, list[str]]]] = {
    "stages": [
        ("infra/rollout/core/ladder.py", ["tests/test_mutants_stages.py", "tests/test_stages.py",
                                          "tests/test_gcp_cloudrun.py", "tests/test_rollout_checklist.py",
                                          "tests/test_cli.py"]),
        ("infra/rollout/core/transitions.py", ["tests/test_mutants_stages.py", "tests/test_cli.py",
                                               "tests/test_rollout_checklist.py"]),
    ],
    "verdicts": [
        ("infra/rollout/gates/evaluate.py", ["tests/test_mutants_verdicts.py", "tests/test_gates_verdicts.py"]),
    ],
    "spec": [
        (f"infra/rollout/spec/{name}.py", SPEC_TESTS)
        for name in ("reader", "duration", "services", "stack", "gates", "indicators", "monitoring", "yaml12", "quantity")
    ],
    "moves": [
        ("infra/rollout/core/stackfile.py", MOVE_TESTS),
        ("infra/rollout/core/moves.py", ["tests/test_mutants_moves.py", *MOVE_TESTS, "tests/test_concurrent_moves.py", "tests/test_crash_safety.py"]),
    ],
}

# Survivors judged equivalent: no test could tell them apart from the original. key -> why.
_RANK_ORDER = "only the order of _RANK matters (max by rank): RED at 4 still outranks NO DATA at 2"
_ROW_TITLE = "Row.title is read nowhere: the gate table shows the check name, --json has no title"
_OWN_AFTER_BUILTINS = ("the stack's own entries need only sort after the built-ins (0 first) and by name among "
                       "themselves: the middle slot is the same for all of them")
_DEEP = ("deep only changes when nested values are built, not what they are; a key that is not text is refused "
         "either way")
_AFTER_EQUAL = "distance == 0 was refused on the line before, and distance is a whole number"
_THREE_EVENTS = ("no YAML event stream has exactly 3 events: stream start and end, and a document's start and end "
                 "around any node")
_BLOCK_BODY = ("the content line is matched by [^\\r\\n]+ and stripped: starting one character earlier (the newline) or "
               "later (its indentation, at least one space) finds the same line at the same place")
_UNDER_LOCK = "called under the stack lock, or on the temp file this run made: nothing else removes it in between"
EQUIVALENT: dict[str, str] = {
    "infra/rollout/core/stackfile.py:_find_stage: len(events) < 3 -> len(events) < 4": _THREE_EVENTS,
    "infra/rollout/core/stackfile.py:_find_stage: len(events) < 3 -> len(events) <= 3": _THREE_EVENTS,
    "infra/rollout/core/stackfile.py:_value_span: text.index('\\n', start) + 1 -> text.index('\\n', start) + 0": _BLOCK_BODY,
    "infra/rollout/core/stackfile.py:_value_span: text.index('\\n', start) + 1 -> text.index('\\n', start) + 2": _BLOCK_BODY,
    "infra/rollout/core/stackfile.py:_value_span: body + lines[0].start() -> body - lines[0].start()":
        "the first content line starts at body (indentation included in the match; blank lines before it would make "
        "the value fail the stage-name pattern first), so lines[0].start() is 0",
    "infra/rollout/core/stackfile.py:with_stage: text.startswith('\\ufeff') -> text.startswith('')":
        "the Python parser reads every file right; libyaml is only faster (it does not count a byte order mark)",
    "infra/rollout/core/stackfile.py:remove_stale_temp_files: missing_ok=True -> missing_ok=False": _UNDER_LOCK,
    "infra/rollout/core/stackfile.py:atomic_write: missing_ok=True -> missing_ok=False": _UNDER_LOCK,
    "infra/rollout/core/transitions.py:promotion_target: distance < 0 -> distance <= 0": _AFTER_EQUAL,
    "infra/rollout/core/transitions.py:promotion_target: distance < 0 -> distance < 1": _AFTER_EQUAL,
    "infra/rollout/gates/evaluate.py:<module>: {GREEN: 0, YELLOW: 1, NO_DATA: 2, RED: 3} -> "
    "{GREEN: 0, YELLOW: 1, NO_DATA: 2, RED: 4}": _RANK_ORDER,
    "infra/rollout/gates/evaluate.py:requests_rows: 'requests per track' -> ''": _ROW_TITLE,
    "infra/rollout/gates/evaluate.py:soak_row: 'time at stage' -> ''": _ROW_TITLE,
    "infra/rollout/gates/evaluate.py:unchecked_row: 'checks evaluated' -> ''": _ROW_TITLE,
    "infra/rollout/spec/reader.py:did_you_mean: n=1 -> n=2":
        "only the best match is shown (close[0]); asking difflib for two does not change which is best",
    "infra/rollout/spec/reader.py:by_builtins_then_name: (1, 0, item[0]) -> (2, 0, item[0])": _OWN_AFTER_BUILTINS,
    "infra/rollout/spec/reader.py:by_builtins_then_name: (1, 0, item[0]) -> (1, 1, item[0])": _OWN_AFTER_BUILTINS,
    "infra/rollout/spec/yaml12.py:Yaml12Loader.construct_mapping: self, node: yaml.MappingNode, deep: bool=False -> "
    "self, node: yaml.MappingNode, deep: bool=True": _DEEP,
    "infra/rollout/spec/yaml12.py:Yaml12Loader.construct_mapping: deep=True -> deep=False": _DEEP,
    "infra/rollout/spec/yaml12.py:Yaml12Loader.construct_yaml_int: text.replace('0o', '') -> text.replace('', '')":
        "int(text, 8) accepts the 0o prefix itself",
    "infra/rollout/spec/yaml12.py:_check_nesting: default=0 -> default=1":
        "the pattern matches at the start of any text, so max() is never given an empty sequence",
    "infra/rollout/spec/services.py:_full_match: return False -> return None": "None is as false as False for any()",
    "infra/rollout/spec/stack.py:<module>: CONFIG_KEY_REF = 'CONFIG_KEY_NAME' -> CONFIG_KEY_REF = ''":
        "any name the keyword detector does not take for a secret's name serves: only the value is judged",
    "infra/rollout/spec/stack.py:read_document: raise ConfigError(path.name, '(file)', 'nests too deeply to read') "
    "from None -> pass": "unreachable: the nesting bounds (64 brackets, 256 columns) keep the reader's recursion far "
                         "under Python's limit; a last guard",
    "infra/rollout/spec/yaml12.py:load_yaml: '*' in text -> '' in text":
        "the test only skips counting where no alias can be: counting every document gives the same result, slower",
}
