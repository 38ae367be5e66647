"""Manifests to YAML documents: one file per resource, byte-identical on every run."""
from __future__ import annotations

import os
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
    """Write the documents and remove stale ones from an earlier render, so the folder is exact.

    A file that already holds its document is left alone, time stamp included. Plain os calls:
    pathlib's per-file overhead was a tenth of rendering a thousand services.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    folder = str(out_dir)
    existing = {e.name for e in os.scandir(folder) if e.name.endswith(".yaml") and not e.name.startswith(".")}
    for stale in existing - documents.keys():
        os.unlink(os.path.join(folder, stale))
    for name, text in documents.items():
        path, data = os.path.join(folder, name), text.encode("utf-8")
        if name in existing:
            with open(path, "rb") as current:
                if current.read() == data:
                    continue
        with open(path, "wb") as out:
            out.write(data)
    return [out_dir / name for name in documents]


def read_documents(out_dir: Path) -> list[dict[str, Any]]:
    import yaml

    return [yaml.safe_load(p.read_text(encoding="utf-8")) for p in sorted(out_dir.glob("*.yaml"))]
