"""The stack files the Pulumi program is tested on, their rendered documents and the secrets they need."""
from __future__ import annotations

from pathlib import Path

import yaml

from rollout.build.cloud import is_cloud_resource
from rollout.build.resources import build_manifests
from rollout.output.render import render_documents
from rollout.spec.model import StackSettings

REPO_ROOT = Path(__file__).resolve().parents[2]
# Every stack file in the repository: the shipped ones and any test application's.
STACK_FILES = sorted(REPO_ROOT.glob("Pulumi.*.yaml")) + sorted((REPO_ROOT / "tests" / "apps").glob("Pulumi.*.yaml"))
SECRET_ANNOTATION = "rollout.dev/secret-config-keys"


def rendered(settings: StackSettings, stage: str | None = None) -> list[dict]:
    """What `rollout render` writes for the stage, read back."""
    return [yaml.safe_load(text) for text in render_documents(build_manifests(settings, stage)).values()]


def secret_values(documents: list[dict]) -> dict[str, str]:
    """A distinct value for every `namespace:key` a rendered Secret (or Google Cloud resource) asks for."""
    values = {}
    for doc in documents:
        if is_cloud_resource(doc):
            for config_key in (doc.get("secretInputs") or {}).values():
                values[config_key] = f"value-of-{config_key}"
            continue
        spec = ((doc["metadata"].get("annotations") or {}).get(SECRET_ANNOTATION)) or ""
        for entry in filter(None, spec.split(",")):
            config_key = entry.split("=", 1)[1]
            values[config_key] = f"value-of-{config_key}"
    return values
