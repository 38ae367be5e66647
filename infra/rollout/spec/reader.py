"""Typed reads of a parsed YAML tree, each failure naming the file and the key path."""
from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

from rollout.errors import ConfigError
from rollout.spec.yaml12 import written_as


def describe(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"the number {written_as(value) or value}"
    if isinstance(value, str):
        return f"the text {value!r}" if len(value) <= 80 else f"a text of {len(value):,} characters"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def did_you_mean(word: str, allowed: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(allowed), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def shown_number(value: float) -> str:
    """25.0 as 25, 0.5 as 0.5, 1e6 as 1000000: numbers as people write them."""
    if float(value).is_integer():
        return str(int(value))
    return f"{float(value):.10g}"


def _canonical(value: int | float) -> str:
    """How Pulumi hands a number to the program (JSON), e.g. 8080, 0.5."""
    if isinstance(value, int):
        return str(int(value))
    return repr(float(value))


@dataclass(frozen=True)
class Node:
    """A value in a stack file together with where it came from."""

    value: Any
    file: str
    path: str

    def error(self, problem: str) -> ConfigError:
        return ConfigError(self.file, self.path, problem)

    def child_path(self, key: str | int) -> str:
        if isinstance(key, int):
            return f"{self.path}[{key}]"
        return f"{self.path}.{key}" if self.path else key

    def child(self, key: str, value: Any) -> "Node":
        return Node(value, self.file, self.child_path(key))

    @property
    def present(self) -> bool:
        return self.value is not None

    # -- containers -------------------------------------------------------
    def mapping(self, allowed: Iterable[str] | None = None) -> dict[str, "Node"]:
        if not isinstance(self.value, dict):
            raise self.error(f"must be a mapping of keys to values, got {describe(self.value)}")
        allowed_list = list(allowed) if allowed is not None else None
        out: dict[str, Node] = {}
        for key, val in self.value.items():
            if not isinstance(key, str):
                raise self.error(f"has the key {describe(key)}; keys must be text (quote it)")
            if allowed_list is not None and key not in allowed_list:
                raise ConfigError(
                    self.file, self.child_path(key),
                    f"unknown key{did_you_mean(key, allowed_list)}; allowed: {', '.join(allowed_list)}",
                )
            out[key] = Node(val, self.file, self.child_path(key))
        return out

    def items(self) -> list["Node"]:
        if not isinstance(self.value, list):
            raise self.error(f"must be a list, got {describe(self.value)}")
        return [Node(v, self.file, self.child_path(i)) for i, v in enumerate(self.value)]

    # -- scalars ----------------------------------------------------------
    def text(self, pattern: str | None = None, hint: str = "", max_length: int | None = None) -> str:
        value = self.value
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise self.error(f"must be text, got {describe(value)}")
        if isinstance(value, str):
            text = value
        else:
            source = written_as(value)
            if source is not None and source != _canonical(value):
                raise self.error(f"{source} is read as the number {_canonical(value)} by YAML and Pulumi; "
                                 f"quote it (\"{source}\") to keep the text")
            text = _canonical(value)
        if not text:
            raise self.error("must not be empty")
        if max_length is not None and len(text) > max_length:
            raise self.error(f"is {len(text)} characters long; at most {max_length} are allowed")
        if pattern and not re.fullmatch(pattern, text):
            shown = text if len(text) <= 80 else text[:77] + "..."
            raise self.error(f"{shown!r} is not allowed{': ' + hint if hint else ''}")
        return text

    def boolean(self) -> bool:
        if not isinstance(self.value, bool):
            raise self.error(f"must be true or false, got {describe(self.value)}")
        return self.value

    def integer(self, minimum: int | None = None, maximum: int | None = None) -> int:
        if isinstance(self.value, bool) or not isinstance(self.value, int):
            raise self.error(f"must be a whole number, got {describe(self.value)}")
        self._check_range(self.value, minimum, maximum)
        return int(self.value)

    def number(self, minimum: float | None = None, maximum: float | None = None) -> float:
        if isinstance(self.value, bool) or not isinstance(self.value, (int, float)):
            raise self.error(f"must be a number, got {describe(self.value)}")
        if not math.isfinite(self.value):
            raise self.error(f"must be a finite number, got {written_as(self.value) or self.value}")
        self._check_range(self.value, minimum, maximum)
        return float(self.value)

    def choice(self, allowed: Iterable[str]) -> str:
        options = list(allowed)
        text = self.text()
        if text not in options:
            raise self.error(f"{text!r} is not one of {', '.join(options)}{did_you_mean(text, options)}")
        return text

    def _check_range(self, value: float, minimum: float | None, maximum: float | None) -> None:
        if minimum is not None and value < minimum:
            raise self.error(f"must be at least {shown_number(minimum)}, got {shown_number(value)}")
        if maximum is not None and value > maximum:
            raise self.error(f"must be at most {shown_number(maximum)}, got {shown_number(value)}")


def by_builtins_then_name(entries: dict[str, Any], builtins: Iterable[str]) -> dict[str, Any]:
    """Built-in entries in their table's order, then the stack's own sorted by name: Pulumi hands
    mappings over as JSON with sorted keys, so declared order cannot carry meaning."""
    rank = {name: i for i, name in enumerate(builtins)}
    return dict(sorted(entries.items(), key=lambda item: (0, rank[item[0]], "") if item[0] in rank else (1, 0, item[0])))


def required(nodes: dict[str, Node], key: str, parent: Node) -> Node:
    if key not in nodes or nodes[key].value is None:
        raise ConfigError(parent.file, parent.child_path(key), "is required but missing")
    return nodes[key]


def optional(nodes: dict[str, Node], key: str, parent: Node, default: Any = None) -> Node:
    node = nodes.get(key)
    if node is None or node.value is None:
        return Node(default, parent.file, parent.child_path(key))
    return node


def iter_present(nodes: dict[str, Node]) -> Iterator[tuple[str, Node]]:
    return ((k, n) for k, n in nodes.items() if n.value is not None)
