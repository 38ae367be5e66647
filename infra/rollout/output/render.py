"""Manifests to YAML documents: one file per resource, byte-identical on every run."""
from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import Any, Iterable

from rollout.build.cloud import is_cloud_resource
from rollout.output.yaml_out import to_yaml


def file_name(manifest: dict[str, Any]) -> str:
    if is_cloud_resource(manifest):  # gcp:compute/uRLMap:URLMap -> gcp-compute-urlmap--<name>
        provider, module = re.split(r"[:/]", manifest["type"])[:2]
        return f"{provider}-{module}-{manifest['type'].rsplit(':', 1)[1].lower()}--{manifest['name']}.yaml"
    return f"{_kebab(manifest['kind'])}--{manifest['metadata']['name']}.yaml"


@functools.lru_cache(maxsize=None)
def _kebab(kind: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", kind).lower()


def render_documents(manifests: Iterable[dict[str, Any]]) -> dict[str, str]:
    """File name -> YAML text, in manifest order."""
    documents: dict[str, str] = {}
    for manifest in manifests:
        name = file_name(manifest)
        if name in documents:
            raise ValueError(f"two resources render to {name}; kind and name must be unique per stack")
        documents[name] = to_yaml(manifest)
    return documents


_CREATE = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)


def write_documents(documents: dict[str, str], out_dir: Path) -> list[Path]:
    """Write the documents and remove stale ones from an earlier render, so the folder is exact.

    A file that already holds its document is left alone, time stamp included. Plain os calls
    (open, write, close): pathlib's and io's per-file work was a tenth of rendering 1,000 services.
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
        fd = os.open(path, _CREATE, 0o666)
        try:
            rest = memoryview(data)
            while rest:  # a write may take only part
                rest = rest[os.write(fd, rest):]
        finally:
            os.close(fd)
    return [out_dir / name for name in documents]


def read_documents(out_dir: Path) -> list[dict[str, Any]]:
    import yaml

    return [yaml.safe_load(p.read_text(encoding="utf-8")) for p in sorted(out_dir.glob("*.yaml"))]
