"""A Google Cloud resource as a plain document: its Pulumi type token, its name and its inputs.

    type: gcp:compute/uRLMap:URLMap
    name: chat-prod-frontend            # the Pulumi resource name (and the GCP name where it has one)
    service: frontend                   # the stack service it belongs to (rolls in its order)
    dependsOn: [chat-prod-frontend-off-be, chat-prod-frontend-on-be]
    inputs: {...}                       # camelCase, exactly what the Pulumi engine receives

Resources refer to each other by literal partial URLs (projects/P/global/backendServices/N), so
`rollout render` writes exactly what the program registers. An id only the API assigns (a
notification channel's) is written `${name.id}`, as Pulumi YAML writes a reference, and
`secretInputs` names the Pulumi secret config key an input is filled from; neither holds a value.
"""
from __future__ import annotations

import re
from typing import Any, Iterable

Document = dict[str, Any]
REFERENCE = re.compile(r"\$\{([a-z0-9][-a-z0-9]*)\.([A-Za-z]+)\}")


def cloud_resource(type_token: str, name: str, inputs: dict[str, Any], service: str | None = None,
                   depends_on: Iterable[str] = (), secret_inputs: dict[str, str] | None = None) -> Document:
    doc: Document = {"type": type_token, "name": name}
    if service is not None:
        doc["service"] = service
    depends = sorted(set(depends_on) | set(references(inputs)))
    if depends:
        doc["dependsOn"] = depends
    if secret_inputs:
        doc["secretInputs"] = dict(sorted(secret_inputs.items()))
    doc["inputs"] = inputs
    return doc


def is_cloud_resource(doc: Document) -> bool:
    return "type" in doc and "inputs" in doc


def reference(name: str, output: str = "id") -> str:
    return f"${{{name}.{output}}}"


def references(value: Any) -> list[str]:
    """Names of the resources whose outputs `value` refers to."""
    if isinstance(value, str):
        return [m.group(1) for m in REFERENCE.finditer(value)]
    if isinstance(value, dict):
        return [n for v in value.values() for n in references(v)]
    if isinstance(value, list):
        return [n for v in value for n in references(v)]
    return []


def labels(*parts: tuple[str, str]) -> dict[str, str]:
    """Google Cloud labels: lowercase letters, digits, '_' and '-', at most 63 characters per value."""
    return {key: re.sub(r"[^a-z0-9_-]", "-", value.lower())[:63] for key, value in parts}
