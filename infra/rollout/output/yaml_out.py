"""Manifests as YAML text: byte for byte what PyYAML's C dumper writes, without its per-scalar Python calls.

`to_yaml(m)` equals `yaml.dump(m, Dumper=CSafeDumper, sort_keys=False, default_flow_style=False,
width=100)`. The rules here are libyaml 0.2.5's emitter (yaml_emitter_analyze_scalar,
select_scalar_style and the plain, single- and double-quoted writers, unicode off) applied to what
manifests hold: dicts with str keys, lists, str, int, float, bool and None. A dict or list that
appears twice is written out in full both times, never as `&id001`/`*id001`: reviewers read every
field where it applies. Anything else (other types, keys libyaml writes as `? key`) is written by
PyYAML itself, so the text never depends on the path.
"""
from __future__ import annotations

import re
import sys
from typing import Any

import yaml

try:  # libyaml's emitter; these rules are its rules, so without it PyYAML writes every document
    from yaml import CSafeDumper as _BaseDumper

    _FAST = True
except ImportError:  # pragma: no cover
    from yaml import SafeDumper as _BaseDumper  # type: ignore[assignment]

    _FAST = False


class _Dumper(_BaseDumper):  # type: ignore[misc,valid-type]
    """Never `&id001`/`*id001`: a dict shared by two fields is written out in full at both."""

    def ignore_aliases(self, data: Any) -> bool:
        return True

WIDTH = 100  # libyaml folds a scalar at the first allowed space once the column is past this
INDENT = 2
MAX_SIMPLE_KEY = 128  # bytes; a longer key is written as `? key` (PyYAML does that part)

STR, INT, FLOAT = (f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float"))

_BREAKS = "\n\r\x85\u2028\u2029"  # libyaml's IS_BREAK
_FIRST_INDICATORS = frozenset("#,[]{}&*!|>'\"%@`")
_ESCAPES = {0x00: "0", 0x07: "a", 0x08: "b", 0x09: "t", 0x0A: "n", 0x0B: "v", 0x0C: "f", 0x0D: "r", 0x1B: "e",
            0x22: '"', 0x5C: "\\", 0x85: "N", 0xA0: "_", 0x2028: "L", 0x2029: "P"}


class _Unsupported(Exception):
    """A value this writer does not cover: PyYAML writes the whole document."""


def to_yaml(manifest: Any) -> str:
    text = fast_yaml(manifest)
    return pyyaml_dump(manifest) if text is None else text


def fast_yaml(manifest: Any) -> str | None:
    """The text of a manifest, or None when it holds something only PyYAML writes."""
    if not _FAST or type(manifest) is not dict:
        return None
    try:
        return _Document(manifest).text()
    except _Unsupported:
        return None


def pyyaml_dump(value: Any) -> str:
    """The reference: what `to_yaml` must equal."""
    return yaml.dump(value, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=WIDTH)


# -- scalars -----------------------------------------------------------------------------------

def _escape_char(code: int) -> str:
    if code in _ESCAPES:
        return "\\" + _ESCAPES[code]
    if code <= 0xFF:
        return f"\\x{code:02X}"
    if code <= 0xFFFF:
        return f"\\u{code:04X}"
    return f"\\U{code:08X}"


# After backslashes, quotes and line breaks are escaped with str.replace (fast on long text), the
# other ASCII characters outside 0x20-0x7E are escaped through this table.
_CONTROL_TABLE = {c: _escape_char(c) for c in range(0x80) if not 0x20 <= c <= 0x7E and c != 0x0A}


def _tag_of_plain(text: str) -> str:
    """The tag PyYAML's resolver reads `text` as when it is written plain (YAML 1.1 implicit types)."""
    resolvers = _Dumper.yaml_implicit_resolvers
    for tag, regexp in resolvers.get(text[0] if text else "", []) + resolvers.get(None, []):
        if regexp.match(text):
            return tag
    return STR


def _block_plain_allowed(s: str) -> bool:
    """yaml_emitter_analyze_scalar's block_plain_allowed for one line of printable ASCII."""
    first = s[0]
    if first == " " or s[-1] == " " or first in _FIRST_INDICATORS:
        return False
    if first in "?:-" and (len(s) == 1 or s[1] == " "):
        return False
    if s.startswith(("---", "...")):
        return False
    return not (": " in s or s[-1] == ":" or " #" in s)


def _printable_ascii(s: str) -> bool:
    """Only 0x20-0x7E and line feeds: nothing libyaml escapes when unicode is off."""
    return s.isascii() and (s.isprintable() or s.replace("\n", "").isprintable())


def _style(s: str) -> str:
    """"plain", "single" or "double", as select_scalar_style picks for a str in block context."""
    if not _printable_ascii(s):
        return "double"  # special characters
    if "\n" in s:
        return "double" if ("\n " in s or " \n" in s) else "single"
    if s and _block_plain_allowed(s) and _tag_of_plain(s) == STR:
        return "plain"
    return "single"


def _double_quoted(s: str) -> str:
    text = s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    if not text.isprintable():
        text = text.translate(_CONTROL_TABLE)
    if not text.isascii():
        if any(0xD800 <= ord(c) <= 0xDFFF for c in text):
            raise _Unsupported("a lone surrogate cannot be written as UTF-8")
        text = "".join(c if c.isascii() else _escape_char(ord(c)) for c in text)
    return '"' + text + '"'


def _fold(text: str, column: int, indent: int, first: int, last: int, double: bool) -> str:
    """Break one line of scalar output at spaces the way libyaml's writers do.

    A space at position q may break when the column there is past WIDTH, q is not the scalar's first
    or last character, and the character before it is not a space; plain and single-quoted text also
    need the next character not to be a space, double-quoted text escapes that one with a backslash.
    """
    pieces: list[str] = []
    pos, end = 0, len(text)
    while True:
        q = text.find(" ", max(pos, pos + WIDTH + 1 - column))
        while q != -1 and (q == first or q == last or q == 0 or text[q - 1] == " "
                           or (not double and q + 1 < end and text[q + 1] == " ")):
            q = text.find(" ", q + 1)
        if q == -1:
            break
        pieces.append(text[pos:q])
        pieces.append("\n" + " " * indent)
        column = indent
        if double and q + 1 < end and text[q + 1] == " ":
            pieces.append("\\")
            column += 1
        pos = q + 1
    pieces.append(text[pos:])
    return "".join(pieces)


def _single_quoted(s: str, column: int, indent: int) -> str:
    """Single quotes with line breaks: each run of n breaks is written as n+1, then the indent."""
    parts = re.split("(\n+)", s)
    last_part = len(parts) - 1
    out = ["'"]
    column += 1
    for i, part in enumerate(parts):
        if i % 2:
            out.append("\n" * (len(part) + 1) + " " * indent)
            column = indent
            continue
        escaped = part.replace("'", "''")
        first = 0 if i == 0 else -1
        last = len(escaped) - 1 if i == last_part else -1
        out.append(_fold(escaped, column, indent, first, last, double=False))
    out.append("'")
    return "".join(out)


class _Scalar:
    """One str value: its text while nothing folds, and the last starting column at which nothing does."""

    __slots__ = ("style", "text", "fits_until")

    def __init__(self, s: str):
        self.style = _style(s)
        self.fits_until = sys.maxsize
        if self.style == "single" and "\n" in s:
            self.style, self.text, self.fits_until = "lines", "", -1  # _single_quoted writes it at each use
            return
        if self.style == "plain":
            self.text = s
        elif self.style == "double":
            self.text = _double_quoted(s)
        else:
            self.text = "'" + s.replace("'", "''") + "'"
        # Starting at column c, the space at position q is at column c + q: it breaks only past WIDTH.
        latest = self._last_breakable()
        if latest >= 0:
            self.fits_until = WIDTH - latest

    def _edges(self) -> tuple[int, int]:
        """Positions of the scalar's first and last characters in the text, which never break."""
        first = 0 if self.style == "plain" else 1
        return first, len(self.text) - 1 - first

    def _last_breakable(self) -> int:
        text, double = self.text, self.style == "double"
        first, last = self._edges()
        q = text.rfind(" ")
        while q != -1:
            if q not in (first, last, 0) and text[q - 1] != " " and (double or text[q + 1:q + 2] != " "):
                return q
            q = text.rfind(" ", 0, q)
        return -1

    def at(self, s: str, column: int, indent: int) -> str:
        if column <= self.fits_until:
            return self.text
        if self.style == "lines":
            return _single_quoted(s, column, indent)
        first, last = self._edges()
        return _fold(self.text, column, indent, first, last, self.style == "double")


_SCALARS: dict[str, _Scalar] = {}
_KEYS: dict[str, str] = {}  # key -> `key:` as written
_INTS: dict[int, str] = {}
_CACHE_LIMIT = 50_000  # entries; past this a cache is emptied, so a long process stays bounded
_CACHED_LENGTH = 200  # longer strings are rarely repeated


def _value_text(s: str, column: int, indent: int) -> str:
    scalar = _SCALARS.get(s)
    if scalar is None:
        scalar = _Scalar(s)
        if len(s) <= _CACHED_LENGTH:
            if len(_SCALARS) >= _CACHE_LIMIT:
                _SCALARS.clear()
            _SCALARS[s] = scalar
    return scalar.at(s, column, indent)


def _key_text(key: Any) -> str:
    """`key:` in a simple key's style; keys libyaml would write as `? key` go to PyYAML."""
    if type(key) is not str:
        raise _Unsupported("a key that is not text")
    if len(key.encode("utf-8", "surrogatepass")) > MAX_SIMPLE_KEY or any(c in key for c in _BREAKS):
        raise _Unsupported("a key libyaml writes as `? key`")
    style = _style(key)
    if style == "double":
        text = _double_quoted(key)
    elif style == "plain":
        text = key
    else:
        text = "'" + key.replace("'", "''") + "'"
    if len(_KEYS) >= _CACHE_LIMIT:
        _KEYS.clear()
    _KEYS[key] = text + ":"
    return text + ":"


def _float_text(value: float) -> str:
    """SafeRepresenter.represent_float."""
    if value != value:
        return ".nan"
    if value == float("inf"):
        return ".inf"
    if value == -float("inf"):
        return "-.inf"
    text = repr(value).lower()
    if "." not in text and "e" in text:
        text = text.replace("e", ".0e", 1)
    return text


def _word(value: Any) -> str:
    """int, float, bool or None as its representer writes it: always plain, never folded."""
    kind = type(value)
    if kind is bool:
        return "true" if value else "false"
    if value is None:
        return "null"
    if kind is float:  # not cached: 0.0 == -0.0 and nan != nan
        return _checked(_float_text(value), FLOAT)
    text = _INTS.get(value)
    if text is None:
        text = _checked(str(value), INT)
        if len(_INTS) >= _CACHE_LIMIT:
            _INTS.clear()
        _INTS[value] = text
    return text


def _checked(text: str, tag: str) -> str:
    if _tag_of_plain(text) != tag:
        raise _Unsupported(f"{text!r} would not read back as {tag}")
    return text


# -- containers --------------------------------------------------------------------------------

_WORDS = frozenset((int, float, bool, type(None)))


class _Document:
    """One manifest in block style, laid out as libyaml's state machine lays it out."""

    def __init__(self, root: dict[str, Any]):
        self.root = root
        self.out: list[str] = []
        self.open: set[int] = set()  # ids of the dicts and lists being written: one met again contains itself

    def text(self) -> str:
        if not self.root:
            return "{}\n"
        self.open.add(id(self.root))
        self.mapping(self.root, 0, "")
        self.out.append("\n")
        return "".join(self.out)

    def _enter(self, value: Any) -> None:
        if id(value) in self.open:
            raise ValueError("a manifest that contains itself cannot be written as YAML")
        self.open.add(id(value))

    def mapping(self, mapping: dict[str, Any], indent: int, first_prefix: str | None) -> None:
        """Keys at `indent`; the first right after `first_prefix`, or on a new line if None."""
        out, scalars, keys = self.out, _SCALARS, _KEYS
        newline = "\n" + " " * indent
        prefix = newline if first_prefix is None else first_prefix
        inner = indent + INDENT
        for key, value in mapping.items():
            key_text = (type(key) is str and keys.get(key)) or _key_text(key)  # a str subclass: PyYAML refuses it
            out.append(prefix + key_text)
            prefix = newline
            kind = type(value)
            if kind is str:
                column = indent + len(key_text) + 1
                scalar = scalars.get(value)
                if scalar is not None and column <= scalar.fits_until:
                    out.append(" " + scalar.text)
                else:
                    out.append(" " + _value_text(value, column, inner))
            elif kind is dict:
                if value:
                    self._enter(value)
                    self.mapping(value, inner, None)
                    self.open.discard(id(value))
                else:
                    out.append(" {}")
            elif kind is list:
                if value:
                    self._enter(value)
                    self.sequence(value, indent, None)  # indentless: `- ` under the key
                    self.open.discard(id(value))
                else:
                    out.append(" []")
            elif kind in _WORDS:
                out.append(" " + _word(value))
            else:
                raise _Unsupported(kind.__name__)

    def sequence(self, items: list[Any], indent: int, first_prefix: str | None) -> None:
        """`- ` items at `indent`; the first right after `first_prefix`, or on a new line if None."""
        out, scalars = self.out, _SCALARS
        newline = "\n" + " " * indent + "-"
        prefix = newline if first_prefix is None else first_prefix + "-"
        inner = indent + INDENT
        for item in items:
            out.append(prefix)
            prefix = newline
            kind = type(item)
            if kind is str:
                scalar = scalars.get(item)
                if scalar is not None and inner <= scalar.fits_until:
                    out.append(" " + scalar.text)
                else:
                    out.append(" " + _value_text(item, inner, inner))
            elif kind is dict:
                if item:
                    self._enter(item)
                    self.mapping(item, inner, " ")  # `- key: value` on the item's line
                    self.open.discard(id(item))
                else:
                    out.append(" {}")
            elif kind is list:
                if item:
                    self._enter(item)
                    self.sequence(item, inner, " ")  # `- - item`
                    self.open.discard(id(item))
                else:
                    out.append(" []")
            elif kind in _WORDS:
                out.append(" " + _word(item))
            else:
                raise _Unsupported(kind.__name__)
