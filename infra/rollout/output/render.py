"""Manifests to YAML documents: one file per resource, byte-identical on every run."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterable

import yaml

from rollout.build.cloud import is_cloud_resource

try:  # the C dumper is several times faster; the output is the same
    from yaml import CSafeDumper as _FastDumper
except ImportError:  # pragma: no cover
    from yaml import SafeDumper as _FastDumper  # type: ignore[assignment]


class _Dumper(_FastDumper):
    """Never `&id001`/`*id001`: a dict shared by two fields is written out in full at both, for reviewers."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def to_yaml(manifest: dict[str, Any]) -> str:
    return yaml.dump(manifest, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=100)


def file_name(manifest: dict[str, Any]) -> str:
    if is_cloud_resource(manifest):  # gcp:compute/uRLMap:URLMap -> gcp-compute-urlmap--<name>
        provider, module = re.split(r"[:/]", manifest["type"])[:2]
        return f"{provider}-{module}-{manifest['type'].rsplit(':', 1)[1].lower()}--{manifest['name']}.yaml"
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
    return [yaml.safe_load(p.read_text(encoding="utf-8")) for p in sorted(out_dir.glob("*.yaml"))]
