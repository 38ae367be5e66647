"""The folders are the layers, and data flows one way: spec -> core -> build -> output/gates/pulumi/cli.

Checked on the source (every import statement, at module level or inside a function), so a lazy
import cannot hide a dependency. Only rollout/pulumi/ may import the Pulumi SDKs.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from conftest import REPO

PACKAGE = REPO / "infra" / "rollout"
# layer -> the layers it may import (besides itself)
ALLOWED = {
    "errors": set(),
    "spec": {"errors"},
    "core": {"errors", "spec"},
    "build": {"errors", "spec", "core"},
    "output": {"errors", "spec", "core", "build"},
    "net": {"errors"},
    "notify": {"errors", "spec", "core", "net"},
    "gates": {"errors", "spec", "core", "build", "net", "notify"},
    "policy": {"errors", "spec", "core", "build"},
    "pulumi": {"errors", "spec", "core", "build"},
    "cli": {"errors", "spec", "core", "build", "output", "gates", "notify", "net"},
}
CLI_MAY_CALL = {"rollout.pulumi.apply"}  # `rollout watch --apply` runs `pulumi up` through the Automation API
PULUMI_SDKS = ("pulumi", "pulumi_kubernetes", "pulumi_gcp", "pulumi_policy")


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        layer = rel.parts[0].removesuffix(".py") if len(rel.parts) > 1 or rel.stem != "__init__" else "__init__"
        yield path, layer


def _imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module


@pytest.mark.parametrize("path,layer", list(_modules()), ids=lambda v: str(v.relative_to(PACKAGE)) if isinstance(v, Path) else v)
def test_each_module_imports_only_the_layers_below_it(path, layer):
    if layer == "__init__":
        return
    allowed = ALLOWED[layer] | {layer}
    for name in _imports(path):
        top = name.split(".")[0]
        if top in PULUMI_SDKS:
            assert layer == "pulumi", f"{path.relative_to(REPO)} imports {name}: only rollout/pulumi/ may"
        if top == "rollout":
            target = name.split(".")[1] if "." in name else ""
            if layer == "cli" and name in CLI_MAY_CALL:
                continue
            assert target in allowed, f"{path.relative_to(REPO)} ({layer}) imports {name}"


def test_every_folder_is_a_known_layer():
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert folders <= set(ALLOWED), folders - set(ALLOWED)


def test_the_layer_check_can_fail(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    import pulumi\n    from rollout.cli import main\n")
    assert list(_imports(bad)) == ["pulumi", "rollout.cli"]
