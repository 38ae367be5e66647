"""Manifests to YAML documents: one file per resource, byte-identical on every run."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterable

from rollout.output.yaml_out import to_yaml


def file_name(manifest: dict[str, Any]) -> str:
    kind = re.sub(r"(?<!^)(?=[A-Z])", "-", manifest["kind"]).lower()
    return f"{kind}--{manifest['metadata']['name']}.yaml"


def render_documents(manifests: Iterable[dict[str, Any]]) -> dict[str, str]:
    """File name -> YAML text, in manifest order."""
    documents: dict[str, str] = {}
    for manifest in manifests:
        name = file_name(manifest)
        if name in documents:
            raise ValueError(f"two resources render to {name}; kind and name must be unique per stack")
        documents[name] = to_yaml(manifest)
    return documents


def write_documents(documents: dict[str, str], out_dir: Path) -> list[Path]:
    """Write the documents and remove stale ones from an earlier render, so the folder is exact."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in out_dir.glob("*.yaml"):
        if stale.name not in documents:
            stale.unlink()
    written = []
    for name, text in documents.items():
        path = out_dir / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def read_documents(out_dir: Path) -> list[dict[str, Any]]:
    import yaml

    return [yaml.safe_load(p.read_text(encoding="utf-8")) for p in sorted(out_dir.glob("*.yaml"))]
