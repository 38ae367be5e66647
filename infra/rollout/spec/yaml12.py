"""Fast YAML reading with YAML 1.2 booleans, so `off`/`on`/`yes`/`no` stay text as Pulumi reads them."""
from __future__ import annotations

import re
from typing import Any

import yaml

try:  # libyaml's parser is ~20x faster than the pure-Python ones on large stack files
    from yaml import CSafeLoader as _Base
except ImportError:  # pragma: no cover
    from yaml import SafeLoader as _Base  # type: ignore[assignment]

YAMLError = yaml.YAMLError


class Yaml12Loader(_Base):  # type: ignore[misc,valid-type]
    """SafeLoader whose implicit booleans are only true/false (YAML 1.2 core schema)."""


Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in _Base.yaml_implicit_resolvers.items()
}
Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=Yaml12Loader)  # noqa: S506 - a SafeLoader subclass
