"""Read a stack file the way Pulumi reads it, and refuse what would hurt: YAML 1.2 core schema
(`off`, `1:30` and `2026-01-01` stay text), duplicate keys, ambiguous numbers, undecodable bytes,
deep nesting, alias bombs and oversized files all end in one error naming the file and line.
"""
from __future__ import annotations

import re
from typing import Any

import yaml

try:  # libyaml's parser is ~20x faster than the pure-Python one on large stack files
    from yaml import CSafeLoader as _Base
except ImportError:  # pragma: no cover
    from yaml import SafeLoader as _Base  # type: ignore[assignment]

YAMLError = yaml.YAMLError

MAX_BYTES = 8 * 1024 * 1024  # a 1,000-service stack file is about 1.5 MB
MAX_FLOW_DEPTH = 64  # libyaml's composer recurses in C: 100,000 nested brackets crash the process
MAX_LINE_PREFIX = 256  # indentation plus compact `- ` markers bound block nesting the same way
MAX_EXPANDED_NODES = 2_000_000  # values after expanding aliases; billion laughs needs 10^9


class StackFileRefused(ValueError):
    """The text cannot be read safely; `where` is a line reference or "(file)"."""

    def __init__(self, where: str, problem: str):
        super().__init__(problem)
        self.where, self.problem = where, problem


class YamlInt(int):
    """An int that remembers how it was written, so `0755` or `+5` can be refused where text is meant."""

    text: str


class YamlFloat(float):
    text: str


def written_as(value: Any) -> str | None:
    """The source text of a number read from YAML, or None for anything else."""
    return getattr(value, "text", None)


class Yaml12Loader(_Base):  # type: ignore[misc,valid-type]
    """SafeLoader with YAML 1.2 core scalars, duplicate-key refusal and number text kept."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                if key in seen:
                    line = key_node.start_mark.line + 1
                    raise StackFileRefused(
                        f"line {line}", f"key {key!r} appears twice in one mapping (first on line {seen[key]}); "
                        "Pulumi refuses duplicate keys, keep one")
                seen[key] = key_node.start_mark.line + 1
            except TypeError:
                raise StackFileRefused(f"line {key_node.start_mark.line + 1}", "a mapping key must be text") from None
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        text = node.value
        if re.fullmatch(r"[-+]?0[0-9]+", text):
            raise StackFileRefused(
                f"line {node.start_mark.line + 1}",
                f"{text} is ambiguous: Pulumi reads a leading 0 as octal, YAML 1.2 as decimal; "
                f"write it without the 0 or quote it as text")
        if text.startswith(("0o", "+0o", "-0o")):
            value = int(text.replace("0o", ""), 8)
        elif text.startswith(("0x", "+0x", "-0x")):
            value = int(text, 16)
        else:
            value = int(text)
        out = YamlInt(value)
        out.text = text
        return out

    def construct_yaml_float(self, node: yaml.ScalarNode) -> float:
        text = node.value
        lowered = text.lower()
        if lowered.endswith(".inf"):
            value = float("-inf") if lowered.startswith("-") else float("inf")
        elif lowered == ".nan":
            value = float("nan")
        else:
            value = float(text)
        out = YamlFloat(value)
        out.text = text
        return out


# YAML 1.2 core schema (https://yaml.org/spec/1.2.2/#1032-tag-resolution): nothing else is implicit.
_CORE = {
    "tag:yaml.org,2002:bool": r"true|True|TRUE|false|False|FALSE",
    "tag:yaml.org,2002:null": r"~|null|Null|NULL|",
    "tag:yaml.org,2002:int": r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+",
    "tag:yaml.org,2002:float": r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?|[-+]?\.(inf|Inf|INF)|\.nan|\.NaN|\.NAN",
}
Yaml12Loader.yaml_implicit_resolvers = {}
for _tag, _pattern in _CORE.items():
    Yaml12Loader.add_implicit_resolver(_tag, re.compile(f"^(?:{_pattern})$"), list("-+0123456789.tTfFnN~") + [""])
Yaml12Loader.add_implicit_resolver("tag:yaml.org,2002:merge", re.compile(r"^(?:<<)$"), ["<"])
Yaml12Loader.add_constructor("tag:yaml.org,2002:int", Yaml12Loader.construct_yaml_int)
Yaml12Loader.add_constructor("tag:yaml.org,2002:float", Yaml12Loader.construct_yaml_float)


def decode(data: bytes) -> str:
    if len(data) > MAX_BYTES:
        raise StackFileRefused("(file)", f"is {len(data):,} bytes; stack files are limited to {MAX_BYTES:,}")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise StackFileRefused(f"line {line}", f"is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})") from None


def _check_nesting(text: str) -> None:
    prefix = max(map(len, re.findall(r"(?m)^[ \t?:-]*", text)), default=0)
    if prefix > MAX_LINE_PREFIX:
        raise StackFileRefused("(file)", f"nests deeper than {MAX_LINE_PREFIX} levels of indentation")
    depth = deepest = 0
    for match in re.finditer(r"[\[\]{}]", text):  # an upper bound: brackets in quoted text count too
        depth += 1 if match.group() in "[{" else -1
        deepest = max(deepest, depth)
        if deepest > MAX_FLOW_DEPTH:
            line = text.count("\n", 0, match.start()) + 1
            raise StackFileRefused(f"line {line}", f"nests more than {MAX_FLOW_DEPTH} brackets deep")


def _check_expansion(document: Any) -> None:
    """Count values as a reader expanding every alias would see them; stop at the bound."""
    budget = MAX_EXPANDED_NODES
    stack = [document]
    while stack:
        value = stack.pop()
        budget -= 1
        if budget < 0:
            raise StackFileRefused("(file)", f"expands to more than {MAX_EXPANDED_NODES:,} values through aliases "
                                             "(an alias bomb?)")
        if isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)


def load_yaml(text: str) -> Any:
    """Parse stack-file text; raises StackFileRefused or yaml.YAMLError."""
    _check_nesting(text)
    document = yaml.load(text, Loader=Yaml12Loader)  # noqa: S506 - a SafeLoader subclass
    if "*" in text:  # only aliases can make the document bigger than the text
        _check_expansion(document)
    return document
