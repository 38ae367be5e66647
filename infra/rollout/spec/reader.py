"""Typed reads of a parsed YAML tree, each failure naming the file and the key path."""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

from rollout.errors import ConfigError

_MISSING = object()


def _describe(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the text {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def did_you_mean(word: str, allowed: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(allowed), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


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

    # -- containers -------------------------------------------------------
    def mapping(self, allowed: Iterable[str] | None = None) -> dict[str, "Node"]:
        if not isinstance(self.value, dict):
            raise self.error(f"must be a mapping of keys to values, got {_describe(self.value)}")
        allowed_set = list(allowed) if allowed is not None else None
        out: dict[str, Node] = {}
        for key, val in self.value.items():
            key_text = str(key)
            if allowed_set is not None and key_text not in allowed_set:
                raise ConfigError(
                    self.file,
                    self.child_path(key_text),
                    f"unknown key{did_you_mean(key_text, allowed_set)}; allowed: {', '.join(allowed_set)}",
                )
            out[key_text] = Node(val, self.file, self.child_path(key_text))
        return out

    def items(self) -> list["Node"]:
        if not isinstance(self.value, list):
            raise self.error(f"must be a list, got {_describe(self.value)}")
        return [Node(v, self.file, self.child_path(i)) for i, v in enumerate(self.value)]

    # -- scalars ----------------------------------------------------------
    def text(self, pattern: str | None = None, hint: str = "") -> str:
        if isinstance(self.value, bool) or not isinstance(self.value, (str, int, float)):
            raise self.error(f"must be text, got {_describe(self.value)}")
        text = str(self.value)
        if not text:
            raise self.error("must not be empty")
        if pattern and not re.fullmatch(pattern, text):
            raise self.error(f"{text!r} is not allowed{': ' + hint if hint else ''}")
        return text

    def boolean(self) -> bool:
        if not isinstance(self.value, bool):
            raise self.error(f"must be true or false, got {_describe(self.value)}")
        return self.value

    def integer(self, minimum: int | None = None, maximum: int | None = None) -> int:
        if isinstance(self.value, bool) or not isinstance(self.value, int):
            raise self.error(f"must be a whole number, got {_describe(self.value)}")
        self._check_range(self.value, minimum, maximum)
        return self.value

    def number(self, minimum: float | None = None, maximum: float | None = None) -> float:
        if isinstance(self.value, bool) or not isinstance(self.value, (int, float)):
            raise self.error(f"must be a number, got {_describe(self.value)}")
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
            raise self.error(f"must be at least {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise self.error(f"must be at most {maximum}, got {value}")


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
