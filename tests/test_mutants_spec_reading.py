"""How stack-file values are read: YAML as Pulumi reads it, typed reads naming the key, durations and
quantities, each at its edges (found by mutation testing, bench/mutation.py)."""
from __future__ import annotations

import math
from decimal import Decimal

import pytest

from rollout.errors import ConfigError
from rollout.spec import quantity
from rollout.spec.duration import Duration, duration
from rollout.spec.reader import (
    Node, by_builtins_then_name, describe, did_you_mean, iter_present, optional, required, shown_number,
)
from rollout.spec.yaml12 import MAX_BYTES, StackFileRefused, decode, load_yaml


def node(value, path: str = "rollout:x") -> Node:
    return Node(value, "Pulumi.prod.yaml", path)


def refusal(read, value, *args, **kwargs) -> str:
    """The message a typed read of `value` gives, without the file and key in front."""
    with pytest.raises(ConfigError) as err:
        getattr(node(value), read)(*args, **kwargs)
    assert str(err.value).startswith("Pulumi.prod.yaml: rollout:x: ")
    return err.value.problem


def yaml_number(text: str):
    """A number as the stack-file reader gives it: remembering how it was written."""
    return load_yaml(f"v: {text}")["v"]


# -- YAML 1.2 core schema, as Pulumi reads it ------------------------------------------------------

def test_only_the_yaml_1_2_core_forms_are_numbers_booleans_or_null():
    doc = load_yaml("a: 0o17\nb: 0x1F\nc: +5\nd: yes\ne: ~\nf:\ng: 1_000\nh: True\ni: .5\nj: 1e3\nk: off\nl: 1:30\n")
    assert doc == {"a": 15, "b": 31, "c": 5, "d": "yes", "e": None, "f": None, "g": "1_000", "h": True, "i": 0.5,
                   "j": 1000.0, "k": "off", "l": "1:30"}


def test_infinities_and_not_a_number_are_read_so_that_they_can_be_refused():
    doc = load_yaml("a: .inf\nb: -.inf\nc: +.Inf\nd: .NaN\ne: -.5\n")
    assert doc["a"] == math.inf and doc["b"] == -math.inf and doc["c"] == math.inf and math.isnan(doc["d"])
    assert doc["e"] == -0.5


@pytest.mark.parametrize("text", ["0755", "-012", "+09"])
def test_a_number_with_a_leading_zero_is_refused_as_ambiguous(text):
    with pytest.raises(StackFileRefused) as err:
        load_yaml(f"a: 1\nb: {text}\n")
    assert err.value.where == "line 2"
    assert err.value.problem == (f"{text} is ambiguous: Pulumi reads a leading 0 as octal, YAML 1.2 as decimal; "
                                 "write it without the 0 or quote it as text")


def test_zero_itself_is_a_number_not_an_ambiguous_octal():
    assert load_yaml("a: 0\nb: -0\n") == {"a": 0, "b": 0}


def test_a_duplicate_key_names_both_lines():
    with pytest.raises(StackFileRefused) as err:
        load_yaml("config:\n  a: 1\n  b: 2\n  a: 3\n")
    assert err.value.where == "line 4"
    assert err.value.problem == ("key 'a' appears twice in one mapping (first on line 2); "
                                 "Pulumi refuses duplicate keys, keep one")
    assert str(err.value) == err.value.problem  # what a traceback would show, were it ever uncaught


def test_the_same_key_in_two_mappings_is_not_a_duplicate():
    assert load_yaml("a: {x: 1}\nb: {x: 2}\n") == {"a": {"x": 1}, "b": {"x": 2}}


def test_a_list_as_a_mapping_key_is_refused_naming_the_line():
    with pytest.raises(StackFileRefused) as err:
        load_yaml("a: 1\n? [b]\n: 2\n")
    assert (err.value.where, err.value.problem) == ("line 2", "a mapping key must be text")


def test_merge_keys_are_merged_not_taken_for_duplicates():
    doc = load_yaml("base: &b {x: 1}\none:\n  <<: *b\n  y: 2\ntwo:\n  <<: *b\n  <<: *b\n")
    assert doc["one"] == {"x": 1, "y": 2} and doc["two"] == {"x": 1}


def test_only_a_bare_double_angle_bracket_is_a_merge_key():
    assert load_yaml("a: <b>bold</b>\n<c: 1\n") == {"a": "<b>bold</b>", "<c": 1}


# -- hostile files, exactly at their bounds --------------------------------------------------------

def test_a_file_of_exactly_the_size_bound_is_read_and_one_byte_more_is_refused():
    assert len(decode(b"#" * MAX_BYTES)) == MAX_BYTES
    with pytest.raises(StackFileRefused) as err:
        decode(b"#" * (MAX_BYTES + 1))
    assert (err.value.where, err.value.problem) == ("(file)", "is 8,388,609 bytes; stack files are limited to 8,388,608")


def test_a_byte_order_mark_is_not_part_of_the_text():
    assert decode("\ufeffconfig: {}\n".encode("utf-8")) == "config: {}\n"


def test_undecodable_bytes_name_their_line_byte_and_offset():
    with pytest.raises(StackFileRefused) as err:
        decode(b"a: 1\nb: 2\nc: \xff\n")
    assert (err.value.where, err.value.problem) == ("line 3", "is not UTF-8 text (byte 0xff at offset 13)")


def test_sixty_four_nested_brackets_are_read_and_sixty_five_are_refused_naming_the_line():
    assert load_yaml("a: " + "[" * 64 + "]" * 64)["a"] is not None
    with pytest.raises(StackFileRefused) as err:
        load_yaml("a: 1\nb: 2\nc: " + "{x: " * 10 + "[" * 55 + "]" * 55 + "}" * 10)
    assert (err.value.where, err.value.problem) == ("line 3", "nests more than 64 brackets deep")


def test_brackets_side_by_side_are_not_nesting_and_nesting_after_a_closed_pair_still_counts():
    assert len(load_yaml("a: [" + ", ".join(["[[1]]"] * 100) + "]")["a"]) == 100
    with pytest.raises(StackFileRefused, match="nests more than 64 brackets deep"):
        load_yaml("a: [[], " + "[" * 64 + "]" * 64 + "]")  # 1 + 64 deep


def test_the_line_of_deep_nesting_counts_a_leading_blank_line():
    with pytest.raises(StackFileRefused) as err:
        load_yaml("\na: " + "[" * 65 + "]" * 65)
    assert err.value.where == "line 2"


def test_an_indentation_of_256_is_read_and_257_is_refused():
    assert load_yaml("a:\n" + " " * 256 + "b: 1\n") == {"a": {"b": 1}}
    with pytest.raises(StackFileRefused) as err:
        load_yaml("a:\n" + " " * 257 + "b: 1\n")
    assert (err.value.where, err.value.problem) == ("(file)", "nests deeper than 256 levels of indentation")


def aliased(copies: int) -> str:
    """A document of 3 + 1000 + copies x 1001 values once every alias is expanded."""
    return "a: &a [" + "0, " * 999 + "0]\nb: [" + ", ".join(["*a"] * copies) + "]\n"


def test_aliases_expanding_to_exactly_two_million_values_are_read_and_one_more_is_refused():
    assert len(load_yaml(aliased(1997))["b"]) == 1997  # 3 + 1000 + 1997 x 1001 = 2,000,000
    with pytest.raises(StackFileRefused) as err:
        load_yaml(aliased(1997) + "c: 0\n")
    assert err.value.problem == "expands to more than 2,000,000 values through aliases (an alias bomb?)"


# -- typed reads ---------------------------------------------------------------------------------

@pytest.mark.parametrize("value, shown", [
    (None, "nothing"), (True, "the boolean true"), (False, "the boolean false"), (7, "the number 7"),
    (2.5, "the number 2.5"), ("x" * 80, f"the text '{'x' * 80}'"), ("x" * 81, "a text of 81 characters"),
    (["a"], "a list"), ({"a": 1}, "a mapping"), (b"raw", "bytes"),
])
def test_a_wrong_value_is_described_as_a_person_would(value, shown):
    assert describe(value) == shown


def test_a_number_is_described_as_it_was_written():
    assert describe(yaml_number("1.10")) == "the number 1.10"
    assert describe(yaml_number("0x1F")) == "the number 0x1F"


@pytest.mark.parametrize("value, shown", [(25.0, "25"), (0.5, "0.5"), (1e6, "1000000"), (1 / 3, "0.3333333333"), (7, "7")])
def test_numbers_in_messages_are_shown_as_people_write_them(value, shown):
    assert shown_number(value) == shown


def test_a_near_miss_is_suggested_and_a_far_one_is_not():
    assert did_you_mean("windw", ["window", "minSoak"]) == " (did you mean 'window'?)"
    assert did_you_mean("zzz", ["window", "minSoak"]) == ""


def test_key_paths_name_list_items_by_index_and_mapping_keys_with_dots():
    assert node(None).child_path(2) == "rollout:x[2]"
    assert node(None).child_path("a") == "rollout:x.a"
    assert Node(None, "f", "").child_path("config") == "config"
    assert node({"a": 1}).child("a", 1) == Node(1, "Pulumi.prod.yaml", "rollout:x.a")


def test_a_mapping_refuses_other_values_keys_that_are_not_text_and_unknown_keys():
    assert refusal("mapping", [1]) == "must be a mapping of keys to values, got a list"
    assert refusal("mapping", {1: "a"}) == "has the key the number 1; keys must be text (quote it)"
    with pytest.raises(ConfigError) as err:
        node({"windw": 1}).mapping(("window", "minSoak"))
    assert str(err.value) == ("Pulumi.prod.yaml: rollout:x.windw: unknown key (did you mean 'window'?); "
                              "allowed: window, minSoak")
    assert node({"a": 1, "b": None}).mapping() == {"a": node(1, "rollout:x.a"), "b": node(None, "rollout:x.b")}


def test_a_list_is_read_item_by_item_and_anything_else_is_refused():
    assert node(["a", "b"]).items() == [node("a", "rollout:x[0]"), node("b", "rollout:x[1]")]
    assert refusal("items", "a") == "must be a list, got the text 'a'"


def test_text_refuses_what_is_not_text_or_empty():
    assert refusal("text", True) == "must be text, got the boolean true"
    assert refusal("text", ["a"]) == "must be text, got a list"
    assert refusal("text", "") == "must not be empty"


def test_a_number_read_as_text_is_the_text_pulumi_hands_over_or_refused_when_it_differs():
    assert node(yaml_number("8080")).text() == "8080"
    assert node(yaml_number("0.5")).text() == "0.5"
    assert node(8080).text() == "8080" and node(0.25).text() == "0.25"
    assert refusal("text", yaml_number("1.10")) == '1.10 is read as the number 1.1 by YAML and Pulumi; quote it ("1.10") to keep the text'
    assert refusal("text", yaml_number("0x1F")) == '0x1F is read as the number 31 by YAML and Pulumi; quote it ("0x1F") to keep the text'


def test_text_of_exactly_the_maximum_length_is_read_and_one_more_is_refused():
    assert node("abcde").text(max_length=5) == "abcde"
    assert refusal("text", "abcdef", max_length=5) == "is 6 characters long; at most 5 are allowed"


def test_text_that_breaks_the_pattern_shows_it_and_the_hint_and_long_text_is_shortened():
    assert node("abc").text(r"[a-z]+", "letters") == "abc"
    assert refusal("text", "ab1", r"[a-z]+", "letters") == "'ab1' is not allowed: letters"
    assert refusal("text", "ab1", r"[a-z]+") == "'ab1' is not allowed"
    assert refusal("text", "1" * 80, r"[a-z]+") == f"'{'1' * 80}' is not allowed"
    assert refusal("text", "1" * 81, r"[a-z]+") == f"'{'1' * 77}...' is not allowed"


def test_a_pattern_must_match_the_whole_text():
    assert refusal("text", "abc1", r"[a-z]+") == "'abc1' is not allowed"


def test_booleans_are_only_true_and_false():
    assert node(True).boolean() is True and node(False).boolean() is False
    assert refusal("boolean", "yes") == "must be true or false, got the text 'yes'"


def test_whole_numbers_refuse_fractions_booleans_and_text_and_hold_their_range_inclusively():
    assert node(1).integer(1, 10) == 1 and node(10).integer(1, 10) == 10
    assert refusal("integer", 0, 1, 10) == "must be at least 1, got 0"
    assert refusal("integer", 11, 1, 10) == "must be at most 10, got 11"
    assert refusal("integer", 1.5) == "must be a whole number, got the number 1.5"
    assert refusal("integer", True) == "must be a whole number, got the boolean true"
    assert refusal("integer", "3") == "must be a whole number, got the text '3'"


def test_numbers_refuse_booleans_text_and_infinities_and_hold_their_range_inclusively():
    assert node(0).number(0, 100) == 0.0 and node(100).number(0, 100) == 100.0 and node(2.5).number() == 2.5
    assert refusal("number", -0.5, 0, 100) == "must be at least 0, got -0.5"
    assert refusal("number", 100.5, 0, 100) == "must be at most 100, got 100.5"
    assert refusal("number", False) == "must be a number, got the boolean false"
    assert refusal("number", "5") == "must be a number, got the text '5'"
    assert refusal("number", yaml_number(".nan")) == "must be a finite number, got .nan"
    assert refusal("number", math.inf) == "must be a finite number, got inf"


def test_a_choice_names_the_options_and_the_nearest_one():
    assert node("tracks").choice(["tracks", "percentage"]) == "tracks"
    assert refusal("choice", "trakcs", ["tracks", "percentage"]) == (
        "'trakcs' is not one of tracks, percentage (did you mean 'tracks'?)")


def test_built_in_entries_keep_their_order_and_the_stack_s_own_follow_by_name():
    entries = {"zeta": 1, "latencyP95": 2, "alpha": 3, "errorRate": 4}
    assert list(by_builtins_then_name(entries, ["errorRate", "latencyP95"])) == ["errorRate", "latencyP95", "alpha", "zeta"]


def test_a_required_key_that_is_missing_or_empty_is_named():
    parent = node({"a": 1, "b": None})
    nodes = parent.mapping()
    assert required(nodes, "a", parent).value == 1
    for key in ("b", "c"):
        with pytest.raises(ConfigError) as err:
            required(nodes, key, parent)
        assert str(err.value) == f"Pulumi.prod.yaml: rollout:x.{key}: is required but missing"


def test_an_optional_key_that_is_missing_or_empty_takes_the_default_at_its_own_path():
    parent = node({"a": 1, "b": None})
    nodes = parent.mapping()
    assert optional(nodes, "a", parent, 5).value == 1
    assert optional(nodes, "b", parent, 5) == node(5, "rollout:x.b")
    assert optional(nodes, "c", parent) == node(None, "rollout:x.c")


def test_only_keys_with_a_value_are_present():
    nodes = node({"a": 1, "b": None, "c": False}).mapping()
    assert [key for key, _ in iter_present(nodes)] == ["a", "c"]
    assert nodes["c"].present and not nodes["b"].present


# -- durations ----------------------------------------------------------------------------------

@pytest.mark.parametrize("text, ms", [
    ("500ms", 500), ("90s", 90_000), ("1.5m", 90_000), ("2h", 7_200_000), ("1d", 86_400_000),
    ("1h30m", 5_400_000), (" 5m ", 300_000), ("0s", 0), ("1s500ms", 1500),
])
def test_durations_are_read_in_every_unit_and_in_combinations(text, ms):
    assert Duration.parse(text).ms == ms


@pytest.mark.parametrize("text, problem", [
    ("", "'' is not a duration like 500ms, 90s, 1.5m, 2h or 1d"),
    ("5x", "'5x' is not a duration like 500ms, 90s, 1.5m, 2h or 1d"),
    ("5m3", "'5m3' is not a duration like 500ms, 90s, 1.5m, 2h or 1d"),
    ("0.5ms", "'0.5ms' is not a whole number of milliseconds"),
    ("1.0005s", "'1.0005s' is not a whole number of milliseconds"),
])
def test_anything_else_is_not_a_duration(text, problem):
    with pytest.raises(ValueError) as err:
        Duration.parse(text)
    assert str(err.value) == problem


@pytest.mark.parametrize("ms, shown", [
    (0, "0s"), (500, "500ms"), (1500, "1s500ms"), (61_000, "1m1s"), (90_000, "1m30s"), (3_600_000, "1h"),
    (86_400_000, "1d"), (172_800_000, "2d"), (129_600_000, "36h"), (3_661_001, "1h1m1s1ms"),
])
def test_durations_print_in_prometheus_s_form(ms, shown):
    assert str(Duration(ms)) == shown


def test_seconds_convert_both_ways_to_the_nearest_millisecond():
    assert Duration.of_seconds(1.2344) == Duration(1234) and Duration.of_seconds(1.2346) == Duration(1235)
    assert Duration.of_seconds(2.5) == Duration(2500) and Duration(2500).seconds == 2.5
    assert Duration.parse("1m") < Duration.parse("61s")


def test_a_duration_in_the_stack_file_needs_a_unit_except_zero():
    assert duration(node(0)) == Duration(0)
    assert duration(node("15m")) == Duration(900_000)
    with pytest.raises(ConfigError) as err:
        duration(node(10))
    assert err.value.problem == "10 has no unit: write e.g. 10s or 10m"
    with pytest.raises(ConfigError) as err:
        duration(node(True))
    assert err.value.problem == "must be text, got the boolean true"
    with pytest.raises(ConfigError) as err:
        duration(node("soon"))
    assert err.value.problem == "'soon' is not a duration like 500ms, 90s, 1.5m, 2h or 1d"


def test_a_duration_exactly_at_its_bounds_is_accepted_and_past_them_is_not():
    low, high = Duration.parse("1m"), Duration.parse("5m")
    assert duration(node("1m"), low, high) == low and duration(node("5m"), low, high) == high
    with pytest.raises(ConfigError) as err:
        duration(node("59s"), low, high)
    assert err.value.problem == "must be at least 1m, got 59s"
    with pytest.raises(ConfigError) as err:
        duration(node("5m1s"), low, high)
    assert err.value.problem == "must be at most 5m, got 5m1s"


# -- Kubernetes quantities ----------------------------------------------------------------------

@pytest.mark.parametrize("text, amount", [
    ("1", 1), ("1.5", Decimal("1.5")), ("250m", Decimal("0.25")), ("2k", 2000), ("3M", 3 * 10**6), ("4G", 4 * 10**9),
    ("5T", 5 * 10**12), ("6P", 6 * 10**15), ("1Ki", 1024), ("512Mi", 512 * 2**20), ("2Gi", 2 * 2**30),
    ("3Ti", 3 * 2**40), ("4Pi", 4 * 2**50),
])
def test_every_kubernetes_quantity_suffix_has_its_value(text, amount):
    assert quantity.amount(text) == amount


@pytest.mark.parametrize("text", ["1 gig", "1Xi", "", "m", "-1", "1.5.5"])
def test_what_is_not_a_quantity_is_refused(text):
    with pytest.raises(ValueError) as err:
        quantity.amount(text)
    assert str(err.value) == f"{text!r} is not a Kubernetes quantity like 250m, 1, 512Mi or 2Gi"


def test_whole_bytes_drop_fractions():
    assert quantity.whole_bytes("1Ki") == 1024 and quantity.whole_bytes("1.5") == 1
