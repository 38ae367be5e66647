"""A stack file as the Pulumi CLI hands it to a program: PULUMI_CONFIG's string values.

Mirrors sdk/go/common/resource/config (value.go) in pulumi/pulumi:
- a scalar is first unmarshalled into a Go string, so it arrives as written: `1.10` stays
  "1.10", `true` is "true", `off` is "off", a null is "";
- a mapping or a list is JSON-marshalled from Go maps, whose keys encoding/json sorts: the
  declared order of a mapping does not survive (rollout.pulumi.config restores the roll order);
- `{secure: ...}` arrives decrypted and its key is listed in PULUMI_CONFIG_SECRET_KEYS; these
  keys are returned apart, their values being for the caller to supply.
"""
from __future__ import annotations

import json

import yaml

from rollout.spec.yaml12 import Yaml12Loader, load_yaml


def config_from_stack_file(text: str) -> tuple[dict[str, str], list[str]]:
    """(plain config values by full key, the keys stored `secure`) of a Pulumi.<stack>.yaml text."""
    document = load_yaml(text) or {}
    nodes = _config_nodes(text)
    config: dict[str, str] = {}
    secure: list[str] = []
    for key, value in (document.get("config") or {}).items():
        node = nodes[key]
        if isinstance(node, yaml.ScalarNode):
            config[key] = "" if node.tag == "tag:yaml.org,2002:null" else node.value
        elif isinstance(value, dict) and set(value) == {"secure"}:
            secure.append(key)
        else:
            config[key] = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return config, secure


def _config_nodes(text: str) -> dict[str, yaml.Node]:
    """The YAML node of each config key: a scalar node keeps the text as written."""
    root = yaml.compose(text, Loader=Yaml12Loader)
    if root is None:
        return {}
    config = next((value for key, value in root.value if key.value == "config"), None)
    return {key.value: value for key, value in (config.value if config is not None else [])}
