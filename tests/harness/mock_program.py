"""Run infra/__main__.py in-process under Pulumi mocks: no CLI, no plugins, no cluster.

Config reaches the program as the Pulumi language host hands it over: PULUMI_CONFIG and
PULUMI_CONFIG_SECRET_KEYS in the environment, loaded with set_all_config as the exec shim
does. A StackReference returns `deployed`, the outputs of the stack's last update (a stack never
deployed has none). Records what a real engine would receive: each resource's type, name,
inputs, parent, dependencies, aliases and secret outputs, and when its registration started and
finished. Used by tests/test_pulumi_program.py and bench/bench_pulumi.py.
"""
from __future__ import annotations

import gc
import itertools
import json
import os
import runpy
import shutil
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import pulumi
from pulumi.runtime.mocks import MockMonitor

from harness import gcp_provider
from harness.pulumi_config import config_from_stack_file

REPO_ROOT = Path(__file__).resolve().parents[2]
PROGRAM = REPO_ROOT / "infra" / "__main__.py"
PROJECT, ORGANIZATION = "rollout", "organization"  # Pulumi.yaml's name; DIY backends' organization
ROOT_STACK_TYPE = "pulumi:pulumi:Stack"
STACK_REFERENCE_TYPE = "pulumi:pulumi:StackReference"


@dataclass
class Registered:
    type: str
    name: str
    urn: str = ""
    parent: str = ""  # URN; "" for the stack itself
    inputs: dict[str, Any] = field(default_factory=dict)
    dependencies: list[str] = field(default_factory=list)  # URNs from depends_on
    aliases: list[str] = field(default_factory=list)  # the URNs the aliases resolve to, as the engine resolves them
    additional_secret_outputs: list[str] = field(default_factory=list)
    provider_version: str = ""  # the provider plugin version the resource asks for
    started: int = 0  # place in the sequence of registration events
    finished: int = 0


@dataclass
class ProgramRun:
    resources: dict[str, Registered]  # custom resources (the Kubernetes objects) by logical name
    components: dict[str, Registered]  # component resources by name
    reads: dict[str, Registered]  # resources read, not managed (StackReferences), by name; inputs hold the id read
    outputs: dict[str, Any]

    def by_urn(self) -> dict[str, Registered]:
        return {r.urn: r for r in [*self.resources.values(), *self.components.values()]}


class _Mocks(pulumi.runtime.Mocks):
    """Acts like the providers: echoes inputs and makes an id; Kubernetes fills metadata.name when absent,
    Google Cloud adds the outputs its API assigns (harness.gcp_provider); a StackReference returns the
    outputs of the stack's last update."""

    def __init__(self, deployed: dict[str, Any] | None):
        self.deployed = deployed or {}
        self.inputs: dict[tuple[str, str], dict[str, Any]] = {}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        self.inputs[(args.typ, args.name)] = args.inputs
        if args.typ == STACK_REFERENCE_TYPE:
            return args.resource_id, {"name": args.resource_id, "outputs": dict(self.deployed), "secretOutputNames": []}
        if not args.custom:
            return "", {}  # a component: no provider, no state
        if args.typ.startswith("gcp:"):
            return gcp_provider.outputs(args.typ, args.name, dict(args.inputs))
        state = dict(args.inputs)
        metadata = dict(state.get("metadata") or {})
        metadata.setdefault("name", args.name.rsplit("/", 1)[-1] + "-generated")
        state["metadata"] = metadata
        namespace = metadata.get("namespace")
        return (f"{namespace}/{metadata['name']}" if namespace else metadata["name"]), state

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}


class _RecordingMonitor(MockMonitor):
    """The mocks API hides parents, dependencies, aliases and secret outputs: the monitor sees them."""

    def __init__(self, mocks: _Mocks, delay: Callable[[str, str], float] | None):
        super().__init__(mocks)
        self.mocks, self.delay = mocks, delay
        self.custom: dict[str, Registered] = {}
        self.components: dict[str, Registered] = {}
        self.reads: dict[str, Registered] = {}
        self._events, self._lock = itertools.count(1), threading.Lock()

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        # The engine leaves the root stack's type out of its children's URNs; MockMonitor keeps it.
        if parent and parent.split("::")[2] == ROOT_STACK_TYPE:
            parent = ""
        return super().make_urn(parent, type_, name)

    def RegisterResource(self, request):
        if request.type == ROOT_STACK_TYPE:
            return super().RegisterResource(request)
        with self._lock:
            started = next(self._events)
        if self.delay:
            time.sleep(self.delay(request.type, request.name))  # a provider taking its time, e.g. a rollout
        response = super().RegisterResource(request)
        with self._lock:
            finished = next(self._events)
        (self.custom if request.custom else self.components)[request.name] = Registered(
            type=request.type, name=request.name, urn=response.urn, parent=request.parent,
            inputs=self.mocks.inputs[(request.type, request.name)], dependencies=list(request.dependencies),
            aliases=[self.alias_urn(request, alias) for alias in request.aliases],
            additional_secret_outputs=list(request.additionalSecretOutputs), provider_version=request.version,
            started=started, finished=finished,
        )
        return response

    def ReadResource(self, request):
        response = super().ReadResource(request)
        self.reads[request.name] = Registered(request.type, request.name, urn=response.urn, parent=request.parent, inputs={"id": request.id})
        return response

    def alias_urn(self, request, alias) -> str:
        """The old URN an alias names, resolved as the engine's collapseAliasToUrn does."""
        if not alias.HasField("spec"):
            return alias.urn
        spec = alias.spec
        parent = "" if spec.noParent else (spec.parentUrn or request.parent)
        urn = self.make_urn(parent, spec.type or request.type, spec.name or request.name)
        stack, project = pulumi.get_stack(), pulumi.get_project()
        return urn.replace(f"urn:pulumi:{stack}::{project}::", f"urn:pulumi:{spec.stack or stack}::{spec.project or project}::", 1)


def project_copy(directory: Path, stack: str, stack_text: str) -> Path:
    """A project laid out like the repo (Pulumi.yaml, the stack file, infra/__main__.py)."""
    (directory / "infra").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(PROGRAM, directory / "infra" / "__main__.py")
    shutil.copyfile(REPO_ROOT / "Pulumi.yaml", directory / "Pulumi.yaml")
    (directory / f"Pulumi.{stack}.yaml").write_text(stack_text, encoding="utf-8")
    return directory / "infra" / "__main__.py"


def run_stack_file(
    directory: Path, stack: str, stack_text: str, secrets: dict[str, str] | None = None,
    overrides: dict[str, str] | None = None, **options: Any,
) -> ProgramRun:
    """`pulumi up` of a project holding this stack file: the CLI turns the file into config,
    `overrides` play `pulumi up --config key=value`, `secrets` what `pulumi config set --secret` stored."""
    config, _ = config_from_stack_file(stack_text)
    return run_program(project_copy(directory, stack, stack_text), stack, {**config, **(overrides or {})}, secrets, **options)


def run_program(
    program: Path, stack: str, config: dict[str, str] | None = None, secrets: dict[str, str] | None = None,
    deployed: dict[str, Any] | None = None, preview: bool = False, delay: Callable[[str, str], float] | None = None,
) -> ProgramRun:
    """Run the program once with fresh Pulumi state.

    config: plain values as Pulumi passes them (strings); secrets: secret values by full key;
    deployed: the outputs of the stack's last update; delay: seconds a registration takes, by type and name.
    """
    mocks = _Mocks(deployed)
    monitor = _RecordingMonitor(mocks, delay)
    pulumi.runtime.reset_options(project=PROJECT, stack=stack, organization=ORGANIZATION, preview=preview)  # a new Stack per run
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=preview, monitor=monitor, organization=ORGANIZATION)
    outputs: dict[str, Any] = {}

    @pulumi.runtime.test
    def run() -> pulumi.Output:
        runpy.run_path(str(program), run_name="__main__")
        stack_outputs = pulumi.runtime.get_root_resource().outputs  # type: ignore[union-attr]
        return pulumi.Output.all(**stack_outputs).apply(outputs.update)

    thresholds = gc.get_threshold()
    with language_host_config({**(config or {}), **(secrets or {})}, secret_keys=list(secrets or {})):
        try:
            run()
        finally:
            gc.set_threshold(*thresholds)  # the program tunes collection for its own short-lived process
    return ProgramRun(resources=monitor.custom, components=monitor.components, reads=monitor.reads, outputs=outputs)


@contextmanager
def language_host_config(config: dict[str, str], secret_keys: list[str]) -> Iterator[None]:
    """Config as the language host passes it (environment) and the exec shim loads it (set_all_config)."""
    saved = {name: os.environ.get(name) for name in ("PULUMI_CONFIG", "PULUMI_CONFIG_SECRET_KEYS")}
    os.environ["PULUMI_CONFIG"], os.environ["PULUMI_CONFIG_SECRET_KEYS"] = json.dumps(config), json.dumps(secret_keys)
    pulumi.runtime.set_all_config(pulumi.runtime.get_config_env(), pulumi.runtime.get_config_secret_keys_env())
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        pulumi.runtime.set_all_config({}, [])
