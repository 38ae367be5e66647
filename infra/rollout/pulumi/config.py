"""The stack's settings from Pulumi's config, checked by the same validator as the stack file.

The engine hands a program every config value as a string: text as written, booleans and
numbers as their text, mappings and lists as JSON. ESC environments, `--config-file`,
`pulumi up --config`, the Kubernetes Operator's Stack `config` and Pulumi Deployments all arrive
this way, so reading Pulumi's config (not Pulumi.<stack>.yaml) is what makes them count.
Each `rollout:*` value is turned back into what the stack file would hold, by the type the key
has in the schema, and the document goes through spec.stack.parse_stack: the same checks and
messages as `rollout` on the file, naming Pulumi.<stack>.yaml and the key. Secret values never
enter the document; the Secrets that need them read them with `require_secret`.

Pulumi builds a mapping's JSON from a Go map, so its keys arrive sorted and the declared roll
order of `rollout:services` is lost on the way. It is taken back from the stack file when that
file declares the same services; otherwise the program refuses rather than guess an order.
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any, Collection, Mapping

import pulumi

from rollout.errors import ConfigError
from rollout.spec.gcp import PROVIDER_KEYS
from rollout.spec.model import StackSettings
from rollout.spec.stack import NAMESPACE, TOP_LEVEL_KEYS, TOP_LEVEL_TYPES, parse_stack, read_document

# The type each top-level key has in the stack file schema (Pulumi.yaml): str is text, float a number.
BOOLEANS = {"true": True, "True": True, "false": False, "False": False}  # what pulumi.Config.get_bool accepts
SERVICES = f"{NAMESPACE}:services"


def settings_from_pulumi_config(stack: str, stack_file: Path) -> StackSettings:
    """Validated settings from the config Pulumi passed this run; errors name stack_file's name and the key."""
    file = stack_file.name
    values, secret_keys = pulumi_config()
    document = stack_document(values, secret_keys, file)
    return parse_stack(with_declared_roll_order(document, declared_services(stack_file), file), stack, file)


def pulumi_config() -> tuple[dict[str, str], set[str]]:
    """Every plain `rollout:*` value Pulumi passed this run, and the secret keys (values unread)."""
    prefix = f"{NAMESPACE}:"
    # The language host passes the whole config in PULUMI_CONFIG: the one place that lists its keys.
    keys = {prefix + name for name in TOP_LEVEL_KEYS} | {k for k in pulumi.runtime.get_config_env() if k.startswith(prefix)}
    secret_keys = {k for k in keys if pulumi.runtime.is_config_secret(k)} | {
        k for k in pulumi.runtime.get_config_secret_keys_env() if k.startswith(prefix)
    }
    config = pulumi.Config(NAMESPACE)
    values = {key: config.get(key[len(prefix):]) for key in sorted(keys - secret_keys)}
    for key in PROVIDER_KEYS:  # the spec reads the Google provider's project and region as defaults
        namespace, _, name = key.partition(":")
        values[key] = pulumi.Config(namespace).get(name)
    return {key: value for key, value in values.items() if value is not None}, secret_keys


def stack_document(values: Mapping[str, str], secret_keys: Collection[str], file: str) -> dict[str, Any]:
    """`{"config": {...}}` as parse_stack reads it from a stack file; secret values never enter it."""
    for key in sorted(secret_keys):
        namespace, _, name = key.partition(":")
        if namespace == NAMESPACE and name in TOP_LEVEL_KEYS:
            raise ConfigError(
                file, key, "is set as a secret, but only the keys a service's secretEnv or "
                f"rollout:monitoring routing names may be; set it in the clear: pulumi config set {key} <value>",
            )
    config: dict[str, Any] = {}
    for key, text in values.items():
        namespace, _, name = key.partition(":")
        if namespace == NAMESPACE and key not in secret_keys:  # a secret is read by the Secret that names it
            config[key] = typed_value(name, text)
        elif key in PROVIDER_KEYS:
            config[key] = text
    return {"config": config}


def typed_value(name: str, text: str) -> Any:
    """The value the stack file would hold for `rollout:<name>`, from the string Pulumi passed."""
    if text == "":
        return None  # a YAML null reaches the program as ""; read from the file it means unset
    kind = TOP_LEVEL_TYPES.get(name, str)  # unknown keys are refused by parse_stack, by name
    if kind is bool:
        return BOOLEANS.get(text, text)
    if kind is float:
        return _number(text)
    if kind in (list, dict):
        try:
            return json.loads(text)
        except ValueError:
            return text  # the validator then says which type it wanted
    return text  # text stays text: a stage named "1.10" or "off" is a string


def declared_services(stack_file: Path) -> list[str] | None:
    """The services the stack file declares, in roll order; None without a file or the key."""
    if not stack_file.exists():
        return None
    document = read_document(stack_file)
    services = ((document or {}).get("config") or {}).get(SERVICES) if isinstance(document, dict) else None
    return [str(name) for name in services] if isinstance(services, dict) else None


def with_declared_roll_order(document: dict[str, Any], declared: list[str] | None, file: str) -> dict[str, Any]:
    """The document with rollout:services in the order the stack file declares them."""
    config = document["config"]
    services = config.get(SERVICES)
    if not isinstance(services, dict) or len(services) < 2:
        return document  # one service or none: no order to lose (the validator judges the rest)
    if declared is not None and sorted(declared) == sorted(services):
        return {**document, "config": {**config, SERVICES: {name: services[name] for name in declared}}}
    where = f"declares {', '.join(declared)}" if declared else "does not declare rollout:services"
    raise ConfigError(
        file, SERVICES,
        f"Pulumi config passes the services {', '.join(sorted(services))} but {file} {where}; Pulumi hands a "
        f"mapping over with its keys sorted, so their roll order is only known from {file}: "
        "declare these services there, in roll order",
    )


def _number(text: str) -> Any:
    if re.fullmatch(r"[-+]?[0-9]+", text):
        return int(text)
    try:
        value = float(text)
    except ValueError:
        return text
    return value if math.isfinite(value) else text
