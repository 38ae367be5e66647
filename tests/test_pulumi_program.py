"""The Pulumi program, run in-process under mocks: it registers exactly what `rollout render` writes.

Each run copies infra/__main__.py into a temp project next to a stack file with the stage set,
so the program finds its stack file the way it does under `pulumi up`.
"""
from __future__ import annotations

import graphlib
import io
import importlib.util
import subprocess
import sys
import time
from pathlib import Path

import pulumi
import pytest
import yaml
from pulumi.runtime import rpc
from ruamel.yaml import YAML

from conftest import APP_FILES
from rollout.build.cloud import REFERENCE, is_cloud_resource
from rollout.build.resources import build_manifests, kubernetes_manifests
from harness import gcp_provider
from harness.mock_program import REPO_ROOT, ProgramRun, project_copy, run_program
from rollout.build.ordering import dependencies, scale_order, topological_order
from rollout.output.render import render_documents
from rollout.spec.stack import load_stack
from rollout.core.ladder import resolve

STACK_FILES = sorted(p for p in REPO_ROOT.glob("Pulumi.*.yaml"))
# Stacks of tests/apps that run on Google Cloud only: their registrations are checked too.
CLOUD_FILES = [p for p in APP_FILES if all(s.on_cloud_run for s in load_stack(p).services.values())]
SECRET_ANNOTATION = "rollout.dev/secret-config-keys"


def _load_bench_generator():
    spec = importlib.util.spec_from_file_location("generate_stack", REPO_ROOT / "bench" / "generate_stack.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


generate = _load_bench_generator()


def stack_cases(files: list[Path] = STACK_FILES + CLOUD_FILES) -> list[tuple[Path, str]]:
    return [(path, stage) for path in files for stage in load_stack(path).stage_names]


def with_stage(stack_text: str, stage: str, previous: str | None = None) -> str:
    """The stack file with rollout:stage (and previousStage) changed, comments and all else kept."""
    yaml12 = YAML()  # round-trip YAML 1.2, as the settings parser reads it (`off:` stays a string)
    document = yaml12.load(stack_text)
    document["config"]["rollout:stage"] = stage
    document["config"].pop("rollout:previousStage", None)
    if previous is not None:
        document["config"]["rollout:previousStage"] = previous
    out = io.StringIO()
    yaml12.dump(document, out)
    return out.getvalue()


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


def run_at(tmp_path: Path, stack: str, stack_text: str, config: dict[str, str]) -> ProgramRun:
    return run_program(project_copy(tmp_path, stack, stack_text), stack, config)


def type_token(api_version: str, kind: str) -> str:
    return f"kubernetes:{'core/v1' if api_version == 'v1' else api_version}:{kind}"


def unwrap_secret(value):
    assert rpc.is_rpc_secret(value), f"expected a Pulumi secret, got {value!r}"
    return rpc.unwrap_rpc_secret(value)


def prod_stack_text() -> str:
    return (REPO_ROOT / "Pulumi.prod.yaml").read_text(encoding="utf-8")


# -- parity: registered == rendered, for every stage of every shipped stack ----------------

def test_shipped_stacks_exist():
    assert {p.name for p in STACK_FILES} >= {"Pulumi.prod.yaml", "Pulumi.staging.yaml"}


@pytest.mark.parametrize("stack_file,stage", stack_cases(), ids=lambda v: getattr(v, "name", v))
def test_program_registers_exactly_the_rendered_documents(tmp_path, stack_file, stage):
    settings = load_stack(stack_file)
    rendered = [yaml.safe_load(text) for text in render_documents(build_manifests(settings, stage)).values()]
    ladder = settings.stage_names
    previous = ladder[ladder.index(stage) - 1] if ladder.index(stage) > 0 else None  # exercises ordering too
    config = secret_values(rendered)

    started = time.perf_counter()
    run = run_at(tmp_path, settings.stack, with_stage(stack_file.read_text(encoding="utf-8"), stage, previous), config)
    elapsed = time.perf_counter() - started

    assert len(run.resources) == len(rendered)
    cloud = [d for d in rendered if is_cloud_resource(d)]
    assert_cloud_resources_registered(run, cloud, config)
    registered = {(r.type, r.inputs["metadata"]["name"]): r for r in run.resources.values() if not r.type.startswith("gcp:")}
    expected = {(type_token(d["apiVersion"], d["kind"]), d["metadata"]["name"]): d for d in kubernetes_manifests(rendered)}
    assert set(registered) == set(expected)
    for key, doc in expected.items():
        inputs = dict(registered[key].inputs)
        if doc["kind"] == "Secret" and SECRET_ANNOTATION in doc["metadata"].get("annotations", {}):
            assert "stringData" not in doc and "data" not in doc, "rendered Secrets must carry no values"
            string_data = unwrap_secret(inputs.pop("stringData"))
            wanted = dict(e.split("=", 1) for e in doc["metadata"]["annotations"][SECRET_ANNOTATION].split(","))
            assert string_data == {env: config[ref] for env, ref in wanted.items()}
            assert "stringData" in registered[key].additional_secret_outputs
        assert inputs == doc, f"{key} inputs differ from the rendered document"
    assert elapsed < 5, f"a mocked run took {elapsed:.2f}s"


def mock_output(docs: dict[str, dict], name: str, output: str):
    """What the provider answered for a resource's output, under the mocks."""
    doc = docs[name]
    return gcp_provider.outputs(doc["type"], name, doc["inputs"])[1][output]


def resolved(value, docs: dict[str, dict]):
    if isinstance(value, str) and REFERENCE.fullmatch(value):
        return mock_output(docs, *REFERENCE.fullmatch(value).groups())
    if isinstance(value, dict):
        return {k: resolved(v, docs) for k, v in value.items()}
    if isinstance(value, list):
        return [resolved(v, docs) for v in value]
    return value


def assert_cloud_resources_registered(run: ProgramRun, cloud: list[dict], config: dict[str, str]) -> None:
    """Each Google Cloud document is one registration: its type, name, inputs (references resolved to the
    provider's outputs, secret inputs secret and equal to their config), and what it waits for."""
    docs = {d["name"]: d for d in cloud}
    registered = {r.name: r for r in run.resources.values() if r.type.startswith("gcp:")}
    assert set(registered) == set(docs)
    for name, doc in docs.items():
        entry = registered[name]
        assert entry.type == doc["type"]
        inputs = dict(entry.inputs)
        for path, config_key in (doc.get("secretInputs") or {}).items():
            top, *rest = path.split(".")
            value = unwrap_secret(inputs.pop(top))  # the whole top-level input arrives as one secret
            for part in rest:
                value = value[part]
            assert value == config[config_key]
        assert inputs == resolved(doc["inputs"], docs), f"{name} inputs differ from the rendered document"
        waits_for = {registered[d].urn for d in doc.get("dependsOn", [])}
        assert waits_for <= set(entry.dependencies), f"{name} does not wait for {doc.get('dependsOn')}"


def test_secret_values_never_reach_rendered_documents():
    for stack_file in STACK_FILES:
        settings = load_stack(stack_file)
        for stage in settings.stage_names:
            text = "".join(render_documents(build_manifests(settings, stage)).values())
            assert "stringData" not in text and "value-of-" not in text


def test_custom_resources_and_unknown_kinds_become_custom_resources(tmp_path):
    """Monitoring CRDs (PrometheusRule, AlertmanagerConfig) go through apiextensions.CustomResource."""
    manifests = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "mon"}},
        {
            "apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
            "metadata": {"name": "chat-rollout", "namespace": "mon", "labels": {"role": "alerts"}},
            "spec": {"groups": [{"name": "g", "rules": [{"alert": "HighErrorRate", "expr": "up == 0", "for": "5m"}]}]},
        },
        {
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "alertmanager-routes", "namespace": "mon",
                         "annotations": {SECRET_ANNOTATION: "slackWebhookUrl=rollout:slackWebhook,pagerKey=rollout:pagerDutyKey"}},
            "type": "Opaque",
        },
    ]
    program = tmp_path / "program.py"
    program.write_text(
        "import json, sys\n"
        "from rollout.pulumi.kubernetes import register\n"
        "from rollout.spec.stack import load_stack\n"
        f"settings = load_stack({str(REPO_ROOT / 'Pulumi.prod.yaml')!r})\n"
        f"register(settings, json.loads({__import__('json').dumps(__import__('json').dumps(manifests))}))\n",
        encoding="utf-8",
    )
    run = run_program(program, "prod", {"rollout:slackWebhook": "https://hooks/x", "rollout:pagerDutyKey": "pd"})
    rule = run.resources["prometheusrule/chat-rollout"]
    assert rule.type == "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
    assert rule.inputs == manifests[1]
    secret = run.resources["secret/alertmanager-routes"]
    assert unwrap_secret(secret.inputs["stringData"]) == {"slackWebhookUrl": "https://hooks/x", "pagerKey": "pd"}
    namespace_urn = run.resources["namespace/mon"].urn
    assert namespace_urn in rule.dependencies and namespace_urn in secret.dependencies


# -- ordering ---------------------------------------------------------------------------------

def _members(run: ProgramRun, service: str) -> list:
    """Everything registered for a service: its Kubernetes resources (app label) or Google Cloud ones."""
    cloud = {d["name"]: d.get("service") for d in build_manifests(load_stack(REPO_ROOT / "Pulumi.prod.yaml"))
             if is_cloud_resource(d)}
    return [r for r in run.resources.values()
            if (cloud.get(r.name) if r.type.startswith("gcp:") else r.inputs["metadata"].get("labels", {}).get("app")) == service]


def _deployments_of(run: ProgramRun, service: str) -> dict[str, str]:
    return {
        r.inputs["metadata"]["labels"]["track"]: r.urn
        for r in run.resources.values()
        if r.type.endswith(":Deployment") and r.inputs["metadata"]["labels"].get("app") == service
    }


def prod_secret_config() -> dict[str, str]:
    settings = load_stack(REPO_ROOT / "Pulumi.prod.yaml")
    return secret_values([yaml.safe_load(t) for t in render_documents(build_manifests(settings)).values()])


def _run_prod(tmp_path: Path, stage: str, previous: str | None) -> ProgramRun:
    return run_at(tmp_path, "prod", with_stage(prod_stack_text(), stage, previous), prod_secret_config())


def test_services_roll_in_declared_order(tmp_path):
    run = _run_prod(tmp_path, "canary-25", "canary-5")
    order = list(load_stack(REPO_ROOT / "Pulumi.prod.yaml").services)
    assert order == ["agent", "backend", "frontend"]
    for earlier, later in zip(order, order[1:]):
        earlier_deployments = set(_deployments_of(run, earlier).values())
        later_resources = _members(run, later)
        assert earlier_deployments and later_resources
        for resource in later_resources:
            assert earlier_deployments <= set(resource.dependencies), f"{resource.name} does not wait for {earlier}"
        for urn in earlier_deployments:  # and never the other way round
            assert not {r.urn for r in later_resources} & set(run.by_urn()[urn].dependencies)


def test_everything_waits_for_the_namespace_and_deployments_for_their_config(tmp_path):
    run = _run_prod(tmp_path, "canary-5", "off")
    namespace = run.resources["namespace/chat-prod"]
    assert namespace.dependencies == []
    for resource in run.resources.values():
        if resource is not namespace and not resource.type.startswith("gcp:"):  # Google Cloud has no namespace
            assert namespace.urn in resource.dependencies, resource.name
    by_name = {(r.type.rsplit(":", 1)[1], r.inputs["metadata"]["name"]): r.urn for r in run.resources.values()
               if not r.type.startswith("gcp:")}
    for resource in run.resources.values():
        if resource.type.endswith(":Deployment"):
            for source in resource.inputs["spec"]["template"]["spec"]["containers"][0]["envFrom"]:
                kind, ref = ("ConfigMap", source["configMapRef"]) if "configMapRef" in source else ("Secret", source["secretRef"])
                assert by_name[(kind, ref["name"])] in resource.dependencies


@pytest.mark.parametrize("previous,stage,grows,shrinks", [
    ("canary-5", "canary-25", "on", "off"),  # promote: the on track scales up first
    ("canary-25", "canary-5", "off", "on"),  # rollback: the off track scales up first
    ("full", "off", "off", "on"),  # kill switch
])
def test_receiving_track_scales_up_before_the_other_scales_down(tmp_path, previous, stage, grows, shrinks):
    run = _run_prod(tmp_path, stage, previous)
    tracks = _deployments_of(run, "backend")
    shrinking, growing = run.by_urn()[tracks[shrinks]], run.by_urn()[tracks[grows]]
    assert growing.urn in shrinking.dependencies
    assert shrinking.urn not in growing.dependencies
    assert set(_deployments_of(run, "agent")) == {"stable"}, "agent has no flags, so one track and nothing to order"
    assert _deployments_of(run, "frontend") == {}, "the frontend's weights are one URL map: nothing to order"


def test_without_a_previous_stage_tracks_are_independent(tmp_path):
    run = _run_prod(tmp_path, "canary-25", None)
    tracks = _deployments_of(run, "backend")
    assert tracks["on"] not in run.by_urn()[tracks["off"]].dependencies
    assert tracks["off"] not in run.by_urn()[tracks["on"]].dependencies


@pytest.mark.parametrize("stack_file,stage", stack_cases(), ids=lambda v: getattr(v, "name", v))
def test_dependency_graph_has_no_cycles_from_any_previous_stage(stack_file, stage):
    settings = load_stack(stack_file)
    manifests = build_manifests(settings, stage)
    for previous in settings.stage_names:
        shifted = load_stack_with(stack_file, stage, previous)
        deps = dependencies(shifted, manifests)
        list(graphlib.TopologicalSorter(deps).static_order())  # raises CycleError on a cycle
        order = topological_order(deps)
        position = {key: i for i, key in enumerate(order)}
        assert all(position[d] < position[k] for k, ds in deps.items() for d in ds)


def load_stack_with(stack_file: Path, stage: str, previous: str) -> object:
    from rollout.spec.stack import parse_stack

    document = YAML(typ="safe", pure=True).load(with_stage(stack_file.read_text(encoding="utf-8"), stage, previous))
    return parse_stack(document, load_stack(stack_file).stack, stack_file.name)


def test_topological_order_reports_a_cycle():
    a, b = ("Deployment", "ns", "a"), ("Deployment", "ns", "b")
    with pytest.raises(ValueError, match="cycle"):
        topological_order({a: [b], b: [a]})


def test_scale_order_follows_the_direction_of_the_move():
    settings = load_stack(REPO_ROOT / "Pulumi.prod.yaml")
    assert scale_order(settings, "canary-5", "canary-25") == {"backend": ("on", "off")}  # frontend: Cloud Run
    assert scale_order(settings, "canary-25", "canary-5") == {"backend": ("off", "on")}
    assert scale_order(settings, "canary-25", "canary-25") == {}
    up = resolve(settings, "canary-50").splits["backend"].replicas
    down = resolve(settings, "canary-25").splits["backend"].replicas
    assert up["on"] > down["on"]  # the fixture really moves replicas


def test_scale_order_is_empty_for_the_percentage_strategy(tmp_path):
    path = tmp_path / "Pulumi.pct.yaml"
    path.write_text(generate.generate_stack(services=2, flags=1, strategy="percentage"), encoding="utf-8")
    settings = load_stack(path)
    assert scale_order(settings, "off", "full") == {}


# -- outputs and errors ---------------------------------------------------------------------

@pytest.mark.parametrize("stack_file", STACK_FILES, ids=lambda p: p.name)
def test_exports_stage_and_weights(tmp_path, stack_file):
    settings = load_stack(stack_file)
    stage = settings.stage_names[-1]
    config = secret_values([yaml.safe_load(t) for t in render_documents(build_manifests(settings, stage)).values()])
    run = run_at(tmp_path, settings.stack, with_stage(stack_file.read_text(encoding="utf-8"), stage), config)
    assert run.outputs["stage"] == stage
    assert run.outputs["previousStage"] is None
    assert run.outputs["ladder"] == settings.stage_names
    assert run.outputs["namespace"] == settings.namespace
    assert run.outputs["strategy"] == settings.strategy
    assert run.outputs["weights"] == resolve(settings, stage).weights()
    assert run.outputs["weights"]["backend"] == {"requested": 100, "effective": 100}


def test_missing_secret_config_is_a_clear_error(tmp_path):
    config = prod_secret_config()
    assert "rollout:sessionSigningKey" in config
    del config["rollout:sessionSigningKey"]
    with pytest.raises(pulumi.RunError) as raised:
        run_at(tmp_path, "prod", prod_stack_text(), config)
    message = str(raised.value)
    assert message.startswith("Pulumi.prod.yaml: missing secret config rollout:sessionSigningKey:")
    assert "pulumi config set --secret rollout:sessionSigningKey <value>" in message
    assert not any(key in message for key in config), "only the missing keys are named"


def test_every_missing_secret_is_named_at_once(tmp_path):
    with pytest.raises(pulumi.RunError) as raised:
        run_at(tmp_path, "prod", prod_stack_text(), {})
    assert all(f"pulumi config set --secret {key} <value>" in str(raised.value) for key in prod_secret_config())


def test_bad_stack_file_is_a_readable_pulumi_error(tmp_path):
    text = prod_stack_text().replace('rollout:stage: "off"', "rollout:stage: canary-7")
    with pytest.raises(pulumi.RunError) as raised:
        run_at(tmp_path, "prod", text, prod_secret_config())
    assert "Pulumi.prod.yaml" in str(raised.value) and "rollout:stage" in str(raised.value)
    assert "canary-7" in str(raised.value)


def test_program_reads_the_stack_file_next_to_its_project(tmp_path):
    """The copy run by these tests is byte-identical to the real program."""
    program = project_copy(tmp_path, "prod", prod_stack_text())
    assert program.read_bytes() == (REPO_ROOT / "infra" / "__main__.py").read_bytes()
    assert (program.parent.parent / "Pulumi.prod.yaml").exists()


def test_generated_stack_runs_under_mocks(tmp_path):
    text = generate.generate_stack(services=5, flags=3, stage="canary-25")
    run = run_at(tmp_path, "bench", text, generate.secret_config(text))
    assert "rollout:svc004Token" in generate.secret_config(text)
    settings = load_stack(tmp_path / "Pulumi.bench.yaml")
    assert len(run.resources) == len(build_manifests(settings))
    assert run.outputs["weights"]["svc-004"] == {"requested": 25, "effective": 25}


# -- the CLI path never loads pulumi ----------------------------------------------------------

@pytest.mark.parametrize("module", ["rollout.cli.main", "rollout.build.resources", "rollout.build.ordering",
                                    "rollout.output.render", "rollout.build.cloudrun", "rollout.cli.gates",
                                    "rollout.gates.gate"])
def test_cli_modules_do_not_import_pulumi_pulumi_gcp_or_google_auth(module):
    code = (
        f"import sys, {module}\n"
        "loaded = sorted(m for m in sys.modules if m in ('pulumi', 'google') or m.startswith(('pulumi.', 'pulumi_', 'google.')))\n"
        "print(','.join(loaded))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "", f"{module} loads {result.stdout.strip()}"


def test_pulumi_gcp_deprecation_warnings_are_silenced_where_its_modules_load_and_only_there():
    """pulumi-gcp 10.2 warns when compute and monitoring first load; the program loads them in a filter."""
    raw = subprocess.run([sys.executable, "-W", "error::DeprecationWarning", "-c",
                          "import pulumi_gcp.compute as compute; compute.URLMap"], capture_output=True, text=True)
    assert raw.returncode != 0 and "DeprecationWarning" in raw.stderr, "the warning this filter exists for is gone"
    ours = subprocess.run([sys.executable, "-W", "error", "-c",
                           "from rollout.pulumi.gcp import CLASSES, resource_class\n"
                           "print(sorted({resource_class(t).__module__.split('.')[1] for t in CLASSES}))"],
                          capture_output=True, text=True)
    assert ours.returncode == 0, ours.stderr
    assert ours.stdout.strip() == "['cloudrunv2', 'compute', 'monitoring', 'secretmanager']"


def test_the_program_loads_pulumi_gcp_only_for_stacks_with_google_cloud_resources():
    code = ("import sys, rollout.pulumi.program\n"
            "print(sorted(m for m in sys.modules if m.startswith('pulumi_gcp')))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_the_program_exports_where_each_cloud_run_service_answers(tmp_path):
    """The load balancer's address (to point DNS at) and each track's own URL, as the provider reports them."""
    docs = {d["name"]: d for d in build_manifests(load_stack(REPO_ROOT / "Pulumi.prod.yaml")) if is_cloud_resource(d)}
    run = _run_prod(tmp_path, "canary-5", "off")
    assert run.outputs["cloudRun"] == {"frontend": {
        "domain": "chat.example.com",
        "address": mock_output(docs, "chat-prod-frontend-ip", "address"),
        "tracks": {t: mock_output(docs, f"chat-prod-frontend-{t}", "uri") for t in ("off", "on")},
    }}
    assert run.outputs["cloudRun"]["frontend"]["tracks"]["on"].startswith("https://chat-prod-frontend-on-")


def test_a_missing_secret_for_google_cloud_is_named_with_the_kubernetes_ones(tmp_path):
    text = (REPO_ROOT / "tests" / "apps" / "Pulumi.runshop.yaml").read_text()
    settings = load_stack(REPO_ROOT / "tests" / "apps" / "Pulumi.runshop.yaml")
    config = secret_values(build_manifests(settings))
    assert set(config) == {"rollout:paymentApiKey", "rollout:shopPagerdutyKey", "rollout:shopSlackToken"}
    del config["rollout:shopSlackToken"], config["rollout:paymentApiKey"]
    with pytest.raises(pulumi.RunError) as raised:
        run_at(tmp_path, "runshop", text, config)
    assert "missing secret config rollout:paymentApiKey, rollout:shopSlackToken" in str(raised.value)


def test_secret_values_reach_the_engine_only_as_secrets(tmp_path):
    settings = load_stack(REPO_ROOT / "tests" / "apps" / "Pulumi.runshop.yaml")
    config = secret_values(build_manifests(settings))
    run = run_at(tmp_path, "runshop", (REPO_ROOT / "tests" / "apps" / "Pulumi.runshop.yaml").read_text(), config)
    for resource in run.resources.values():
        plain = {k: v for k, v in resource.inputs.items() if not rpc.is_rpc_secret(v)}
        assert not any(value in repr(plain) for value in config.values()), resource.name
    version = run.resources["runshop-checkout-paymentApiKey-value"]
    assert unwrap_secret(version.inputs["secretData"]) == config["rollout:paymentApiKey"]


def test_custom_resource_fields_beyond_spec_are_refused_by_name(tmp_path):
    from rollout.errors import UsageError

    manifest = {"apiVersion": "example.dev/v1", "kind": "Widget", "metadata": {"name": "w"}, "data": {"a": "b"}}
    program = tmp_path / "program.py"
    program.write_text(
        "import json\n"
        "from rollout.pulumi.kubernetes import register\n"
        "from rollout.spec.stack import load_stack\n"
        f"register(load_stack({str(REPO_ROOT / 'Pulumi.prod.yaml')!r}), [json.loads({__import__('json').dumps(__import__('json').dumps(manifest))})])\n",
        encoding="utf-8",
    )
    with pytest.raises(UsageError, match="Widget w: fields data cannot be sent"):
        run_program(program, "prod")
