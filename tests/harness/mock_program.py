"""Run infra/__main__.py in-process under Pulumi mocks: no CLI, no plugins, no cluster.

Used by tests/test_pulumi_program.py and bench/bench_pulumi.py. Records what a real engine
would receive: each resource's type, name, inputs, dependencies and secret outputs.
"""
from __future__ import annotations

import runpy
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import settings as runtime_settings
from pulumi.runtime.mocks import MockMonitor

from harness import gcp_provider

REPO_ROOT = Path(__file__).resolve().parents[2]
PROGRAM = REPO_ROOT / "infra" / "__main__.py"


@dataclass
class Registered:
    type: str
    name: str
    urn: str = ""
    inputs: dict[str, Any] = field(default_factory=dict)
    dependencies: list[str] = field(default_factory=list)  # URNs from depends_on
    additional_secret_outputs: list[str] = field(default_factory=list)


@dataclass
class ProgramRun:
    resources: dict[str, Registered]  # logical name -> registration
    outputs: dict[str, Any]

    def by_urn(self) -> dict[str, Registered]:
        return {r.urn: r for r in self.resources.values()}


class _Mocks(pulumi.runtime.Mocks):
    """Acts like the providers: echoes inputs and makes an id; Kubernetes fills metadata.name when absent,
    Google Cloud adds the outputs its API assigns (harness.gcp_provider)."""

    def __init__(self, resources: dict[str, Registered]):
        self.resources = resources

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        if args.typ.startswith("gcp:"):
            registered = self.resources.setdefault(args.name, Registered(args.typ, args.name))
            registered.inputs = args.inputs
            return gcp_provider.outputs(args.typ, args.name, dict(args.inputs))
        state = dict(args.inputs)
        metadata = dict(state.get("metadata") or {})
        metadata.setdefault("name", args.name.rsplit("/", 1)[-1] + "-generated")
        state["metadata"] = metadata
        registered = self.resources.setdefault(args.name, Registered(args.typ, args.name))
        registered.inputs = args.inputs
        namespace = metadata.get("namespace")
        return (f"{namespace}/{metadata['name']}" if namespace else metadata["name"]), state

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}


class _RecordingMonitor(MockMonitor):
    """Keeps what the mocks API hides: dependencies and additional secret outputs."""

    def __init__(self, mocks: _Mocks):
        super().__init__(mocks)
        self.recorded = mocks.resources

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            registered = self.recorded.setdefault(request.name, Registered(request.type, request.name))
            registered.urn = response.urn
            registered.dependencies = list(request.dependencies)
            registered.additional_secret_outputs = list(request.additionalSecretOutputs)
        return response


def project_copy(directory: Path, stack: str, stack_text: str) -> Path:
    """A project laid out like the repo (Pulumi.yaml, the stack file, infra/__main__.py)."""
    (directory / "infra").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(PROGRAM, directory / "infra" / "__main__.py")
    shutil.copyfile(REPO_ROOT / "Pulumi.yaml", directory / "Pulumi.yaml")
    (directory / f"Pulumi.{stack}.yaml").write_text(stack_text, encoding="utf-8")
    return directory / "infra" / "__main__.py"


def run_program(program: Path, stack: str, config: dict[str, str] | None = None, preview: bool = False) -> ProgramRun:
    """Run the program once with fresh Pulumi state; config keys like 'rollout:x' are secrets."""
    resources: dict[str, Registered] = {}
    mocks = _Mocks(resources)
    runtime_settings.ROOT.set(None)  # a new Stack resource per run, so runs never share state
    pulumi.runtime.set_mocks(mocks, project="rollout", stack=stack, preview=preview, monitor=_RecordingMonitor(mocks))
    config = dict(config or {})
    pulumi.runtime.set_all_config(config, secret_keys=list(config))
    outputs: dict[str, Any] = {}

    @pulumi.runtime.test
    def run() -> pulumi.Output:
        runpy.run_path(str(program), run_name="__main__")
        stack_outputs = pulumi.runtime.get_root_resource().outputs  # type: ignore[union-attr]
        return pulumi.Output.all(**stack_outputs).apply(outputs.update)

    run()
    return ProgramRun(resources=resources, outputs=outputs)
