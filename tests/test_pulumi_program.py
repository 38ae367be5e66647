"""The Pulumi program, run in-process under mocks: it registers exactly what `rollout render` writes,
one component per service (Kubernetes or Cloud Run) in roll order, the growing track before the shrinking one.

Each run copies infra/__main__.py into a temp project next to the stack file and hands the
program the stack's config the way the Pulumi CLI does (harness/pulumi_config.py).
"""
from __future__ import annotations

import dataclasses
import graphlib
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pulumi
import pytest
from pulumi.runtime import rpc

from harness import gcp_provider
from harness.mock_program import ProgramRun, project_copy, run_program, run_stack_file
from harness.stacks import REPO_ROOT, SECRET_ANNOTATION, STACK_FILES, rendered, secret_values
from rollout.build.ordering import layout, scale_order, scale_up_first, service_waits, topological_order
from rollout.build.cloud import REFERENCE, is_cloud_resource
from rollout.build.cloudrun import RUN_SERVICE, URL_MAP
from rollout.build.resources import build_manifests, kubernetes_manifests, manifest_key
from rollout.core.ladder import resolve
from rollout.output.plan import build_plan
from rollout.output.render import render_documents
from rollout.spec.model import RollbackOrder
from rollout.spec.stack import load_stack

SERVICE_TYPE = "rollout:index:Service"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"


def _load_bench_generator():
    spec = importlib.util.spec_from_file_location("generate_stack", REPO_ROOT / "bench" / "generate_stack.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


generate = _load_bench_generator()


def stack_cases() -> list[tuple[Path, str]]:
    return [(path, stage) for path in STACK_FILES for stage in load_stack(path).stage_names]


def type_token(api_version: str, kind: str) -> str:
    return f"kubernetes:{'core/v1' if api_version == 'v1' else api_version}:{kind}"


def unwrap_secret(value):
    # The mocks API hands secrets over in their wire form; pulumi.runtime.rpc is where the SDK decodes it.
    assert rpc.is_rpc_secret(value), f"expected a Pulumi secret, got {value!r}"
    return rpc.unwrap_rpc_secret(value)


PROD = REPO_ROOT / "Pulumi.prod.yaml"
RUNSHOP = REPO_ROOT / "tests" / "apps" / "Pulumi.runshop.yaml"  # Cloud Run only
# The chat application with every service on GKE (the shipped prod runs its frontend on Cloud Run):
# the ordering tests need three services on Kubernetes, flagged and not.
GKE = REPO_ROOT / "tests" / "apps" / "Pulumi.chat-gke.yaml"


def prod_secrets() -> dict[str, str]:
    return secret_values(rendered(load_stack(PROD)))


def run_prod(tmp_path: Path, stage: str, deployed: str | None, stack_file: Path = GKE, **options) -> ProgramRun:
    """`pulumi up` of the chat stack moved to `stage` while it runs `deployed` (None: never deployed)."""
    outputs = {"stage": deployed} if deployed else None
    settings = load_stack(stack_file)
    return run_stack_file(
        tmp_path, settings.stack, stack_file.read_text(encoding="utf-8"), secret_values(rendered(settings)),
        overrides={"rollout:stage": stage}, deployed=outputs, **options,
    )


def deployments_of(run: ProgramRun, service: str) -> dict[str, str]:
    """track -> URN of the service's Deployments."""
    return {
        r.inputs["metadata"]["labels"]["track"]: r.urn
        for r in run.resources.values()
        if r.type == DEPLOYMENT and r.inputs["metadata"]["labels"].get("app") == service
    }


def owner(settings, document: dict) -> str | None:
    """The declared service a rendered document belongs to, read off the document itself: a Google
    Cloud document's `service`, a Kubernetes manifest's app label; None for stack-wide ones."""
    service = document.get("service") if is_cloud_resource(document) else document["metadata"].get("labels", {}).get("app")
    return service if service in settings.services else None


def service_resources(run: ProgramRun, service: str) -> list:
    """What the program registered under the service's component, Kubernetes and Google Cloud alike
    (the parity test proves these are the documents rendered for that service)."""
    return [r for r in run.resources.values() if service in run.components and r.parent == run.components[service].urn]


# -- parity: registered == rendered, for every stage of every stack file --------------------

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



def test_the_shipped_stacks_are_among_the_stack_files():
    assert {p.name for p in STACK_FILES} >= {"Pulumi.prod.yaml", "Pulumi.staging.yaml"}


@pytest.mark.parametrize("stack_file,stage", stack_cases(), ids=lambda v: getattr(v, "name", v))
def test_program_registers_exactly_the_rendered_documents(tmp_path, stack_file, stage):
    settings = load_stack(stack_file)
    documents = rendered(settings, stage)
    ladder = settings.stage_names
    deployed = ladder[ladder.index(stage) - 1] if ladder.index(stage) > 0 else None  # exercises ordering too
    secrets = secret_values(documents)

    run = run_stack_file(
        tmp_path, settings.stack, stack_file.read_text(encoding="utf-8"), secrets,
        overrides={"rollout:stage": stage}, deployed={"stage": deployed} if deployed else None,
    )

    assert len(run.resources) == len(documents)
    assert_cloud_resources_registered(run, [d for d in documents if is_cloud_resource(d)], secrets)
    assert_each_resource_is_under_its_services_component(run, settings, documents)
    registered = {(r.type, r.inputs["metadata"]["name"]): r for r in run.resources.values() if not r.type.startswith("gcp:")}
    expected = {(type_token(d["apiVersion"], d["kind"]), d["metadata"]["name"]): d for d in kubernetes_manifests(documents)}
    assert set(registered) == set(expected)
    for key, doc in expected.items():
        inputs = dict(registered[key].inputs)
        if doc["kind"] == "Secret" and SECRET_ANNOTATION in doc["metadata"].get("annotations", {}):
            assert "stringData" not in doc and "data" not in doc, "rendered Secrets must carry no values"
            string_data = unwrap_secret(inputs.pop("stringData"))
            wanted = dict(e.split("=", 1) for e in doc["metadata"]["annotations"][SECRET_ANNOTATION].split(","))
            assert string_data == {env: secrets[ref] for env, ref in wanted.items()}
            assert "stringData" in registered[key].additional_secret_outputs
        assert inputs == doc, f"{key} inputs differ from the rendered document"
    assert set(run.components) == set(settings.services), "one component per service, on Kubernetes or Cloud Run"


def assert_each_resource_is_under_its_services_component(run: ProgramRun, settings, documents: list[dict]) -> None:
    """A service's resources, whatever runs them, are children of its component; stack-wide ones stay at the stack."""
    stack_urn = run.reads["rollout-deployed"].parent
    components = {name: c.urn for name, c in run.components.items()}
    registered = {(r.name if r.type.startswith("gcp:") else (r.type.rsplit(":", 1)[1], r.inputs["metadata"]["name"])): r
                  for r in run.resources.values()}
    for document in documents:
        key = document["name"] if is_cloud_resource(document) else (document["kind"], document["metadata"]["name"])
        service = owner(settings, document)
        assert registered[key].parent == (components[service] if service else stack_urn), \
            f"{key} belongs to {service or 'the stack'}"


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
    program = _register_program(tmp_path, manifests)
    run = run_program(program, "prod", secrets={"rollout:slackWebhook": "https://hooks/x", "rollout:pagerDutyKey": "pd"})
    rule = run.resources["prometheusrule/chat-rollout"]
    assert rule.type == "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
    assert rule.inputs == manifests[1]
    secret = run.resources["secret/alertmanager-routes"]
    assert unwrap_secret(secret.inputs["stringData"]) == {"slackWebhookUrl": "https://hooks/x", "pagerKey": "pd"}
    namespace_urn = run.resources["namespace/mon"].urn
    assert namespace_urn in rule.dependencies and namespace_urn in secret.dependencies


def _register_program(tmp_path: Path, manifests: list[dict]) -> Path:
    """A program that registers these manifests for the prod stack's settings."""
    program = tmp_path / "program.py"
    program.write_text(
        "import json\n"
        "from rollout.pulumi.registration import register\n"
        "from rollout.spec.stack import load_stack\n"
        f"register(load_stack({str(PROD)!r}), json.loads({json.dumps(json.dumps(manifests))}))\n",
        encoding="utf-8",
    )
    return program


def test_a_custom_resource_carries_every_field_as_written(tmp_path):
    widget = {"apiVersion": "example.dev/v1", "kind": "Widget", "metadata": {"name": "w"}, "data": {"a": "b"}, "spec": {"x": 1}}
    run = run_program(_register_program(tmp_path, [widget]), "prod")
    assert run.resources["widget/w"].type == "kubernetes:example.dev/v1:Widget"
    assert run.resources["widget/w"].inputs == widget


def test_resources_ask_for_the_provider_pulumi_kubernetes_own_classes_ask_for(tmp_path):
    program = tmp_path / "typed.py"
    program.write_text("import pulumi_kubernetes as k8s\nk8s.core.v1.Namespace('typed', metadata={'name': 'typed'})\n", encoding="utf-8")
    typed = run_program(program, "prod").resources["typed"]
    run = run_prod(tmp_path / "run", "canary-25", "canary-5")
    assert typed.provider_version
    assert {r.provider_version for r in run.resources.values()} == {typed.provider_version}


# -- one component per service, in roll order ------------------------------------------------

def test_each_service_is_one_component_and_waits_for_all_of_the_service_before_it(tmp_path):
    run = run_prod(tmp_path, "canary-25", "canary-5")
    order = list(load_stack(GKE).services)
    assert order == ["agent", "backend", "frontend"]
    reference = run.reads["rollout-deployed"]
    stack_urn = reference.parent
    for earlier, later in zip([None, *order], order):
        component = run.components[later]
        assert component.type == SERVICE_TYPE and component.parent == stack_urn
        before = {r.urn for r in service_resources(run, earlier)} if earlier else set()
        # The order is known once the deployed stage is read: the reference is the one other edge.
        assert set(component.dependencies) == before | {reference.urn}, f"{later} waits for all of {earlier}"
        for resource in run.resources.values():
            if resource.inputs["metadata"].get("labels", {}).get("app") == later:
                assert resource.parent == component.urn
                assert not set(resource.dependencies) & before, "one edge per service"
    for resource in run.resources.values():
        if "app" not in resource.inputs["metadata"].get("labels", {}):
            assert resource.parent == stack_urn, f"{resource.name} is stack-wide and stays at the stack"


def applied_order(run: ProgramRun, services) -> list[str]:
    """Services in the order their resources were sent to the engine."""
    return sorted(services, key=lambda service: min(r.started for r in service_resources(run, service)))


def assert_each_service_waits_for_the_one_before(run: ProgramRun, order: list[str]) -> None:
    """Nothing of a service is sent before every resource of the service before it is applied."""
    for earlier, later in zip(order, order[1:]):
        applied = max(r.finished for r in service_resources(run, earlier))
        assert min(r.started for r in service_resources(run, later)) > applied, f"{later} started before {earlier} was applied"
        assert set(run.components[later].dependencies) >= {r.urn for r in service_resources(run, earlier)}


# Providers waiting for a rollout: Pods becoming ready, a Cloud Run service's revision, a URL map's update.
SLOW_WORKLOADS = {"delay": lambda typ, name: 0.02 if typ in (DEPLOYMENT, RUN_SERVICE, URL_MAP) else 0}


@pytest.mark.parametrize("move,deployed,stage,order", [
    ("promote", "canary-5", "canary-25", ["agent", "backend", "frontend"]),
    ("rollback", "canary-25", "canary-5", ["frontend", "backend", "agent"]),
    ("kill switch", "full", "off", ["frontend", "backend", "agent"]),
    ("first deploy", None, "canary-25", ["agent", "backend", "frontend"]),  # nothing deployed: declared order
    ("re-run", "canary-25", "canary-25", ["agent", "backend", "frontend"]),
    ("renamed stage", "canary-10", "canary-5", ["agent", "backend", "frontend"]),  # no known direction
])
def test_prod_rolls_forward_provider_first_and_back_consumer_first(tmp_path, move, deployed, stage, order):
    run = run_prod(tmp_path, stage, deployed, **SLOW_WORKLOADS)
    assert applied_order(run, order) == order, move
    assert_each_service_waits_for_the_one_before(run, order)
    assert run.components[order[0]].dependencies == [run.reads["rollout-deployed"].urn], f"{order[0]} waits for no service"


def moves_of(settings) -> list[tuple[str, str | None, str]]:
    """A promote, a rollback, the kill switch and a first deploy on the stack's own ladder."""
    ladder = settings.stage_names
    return [("promote", ladder[0], ladder[1]), ("rollback", ladder[-1], ladder[-2]),
            ("kill switch", ladder[-1], settings.kill_switch), ("first deploy", None, ladder[-1])]


@pytest.mark.parametrize("stack_file", STACK_FILES, ids=lambda p: p.name)
def test_every_stack_applies_services_in_the_order_rollout_plan_shows(tmp_path, stack_file):
    settings = load_stack(stack_file)
    declared = list(settings.services)
    for move, deployed, stage in moves_of(settings):
        backward = deployed is not None and settings.index_of(stage) < settings.index_of(deployed)
        expected = declared[::-1] if backward and settings.rollback_order == "reverse" else declared
        run = run_stack_file(
            tmp_path / move, settings.stack, stack_file.read_text(encoding="utf-8"), secret_values(rendered(settings, stage)),
            overrides={"rollout:stage": stage}, deployed={"stage": deployed} if deployed else None, **SLOW_WORKLOADS,
        )
        assert applied_order(run, declared) == expected, f"{stack_file.name} {move}"
        assert_each_service_waits_for_the_one_before(run, expected)
        assert list(build_plan(settings, stage, deployed).roll_order) == expected, f"rollout plan shows the {move} order"


def test_a_stack_that_rolls_back_in_declared_order_keeps_it(tmp_path):
    path = REPO_ROOT / "tests" / "apps" / "Pulumi.pipeline.yaml"
    settings = load_stack(path)
    assert settings.rollback_order == "declared" and list(settings.services) == ["ingest", "process", "publish"]
    for deployed, stage in (("all", "half"), ("all", "none"), ("none", "all")):
        run = run_stack_file(
            tmp_path / stage, "pipeline", path.read_text(encoding="utf-8"), secret_values(rendered(settings, stage)),
            overrides={"rollout:stage": stage}, deployed={"stage": deployed}, **SLOW_WORKLOADS,
        )
        assert applied_order(run, settings.services) == ["ingest", "process", "publish"], f"{deployed} -> {stage}"
        assert_each_service_waits_for_the_one_before(run, ["ingest", "process", "publish"])


def url_map_of(settings, service: str) -> str:
    """The name of the service's URL map, the resource that holds a Cloud Run service's weights."""
    return next(d["name"] for d in build_manifests(settings) if is_cloud_resource(d) and d["type"] == URL_MAP
                and d["service"] == service)


@pytest.mark.parametrize("move,deployed,stage", [
    ("rollback", "canary-25", "canary-5"), ("kill switch", "full", "off"), ("promote", "canary-5", "canary-25"),
])
def test_prod_moves_the_frontends_weights_before_the_backend_on_the_way_down_and_after_it_on_the_way_up(
        tmp_path, move, deployed, stage):
    """The frontend runs on Cloud Run: its stage is the URL map's weights, and they roll in the frontend's place."""
    settings = load_stack(PROD)
    assert settings.services["frontend"].on_cloud_run and not settings.services["backend"].on_cloud_run
    run = run_prod(tmp_path, stage, deployed, PROD, **SLOW_WORKLOADS)
    url_map = run.resources[url_map_of(settings, "frontend")]
    backend = [run.by_urn()[urn] for urn in deployments_of(run, "backend").values()]
    assert len(backend) == 2, "both tracks of the backend"
    if move == "promote":
        assert url_map.started > max(d.finished for d in backend), "the consumer's weights move once its provider is applied"
    else:
        assert url_map.finished < min(d.started for d in backend), f"{move}: the consumer's weights move first"


def runshop_with_a_worker_on_kubernetes(directory: Path) -> Path:
    """tests/apps/Pulumi.runshop.yaml with a Kubernetes service declared after its two Cloud Run services."""
    worker = ("    worker:\n      image: europe-west1-docker.pkg.dev/acme-shop-prod/shop/worker:1.0.0\n"
              "      port: 8080\n      healthPath: /healthz\n      replicas: 2\n")
    text = RUNSHOP.read_text(encoding="utf-8").replace("  rollout:gates:\n", worker + "  rollout:gates:\n", 1)
    assert worker in text
    path = directory / "Pulumi.runshop.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("deployed,stage,order", [
    ("canary-2.5", "half", ["catalog", "checkout", "worker"]),
    ("half", "canary-2.5", ["worker", "checkout", "catalog"]),
    ("all", "off", ["worker", "checkout", "catalog"]),
], ids=["promote", "rollback", "kill switch"])
def test_a_kubernetes_service_declared_after_cloud_run_ones_rolls_in_its_declared_place(tmp_path, deployed, stage, order):
    path = runshop_with_a_worker_on_kubernetes(tmp_path)
    settings = load_stack(path)
    assert [s.name for s in settings.kubernetes_services] == ["worker"], "declared last, after the Cloud Run services"
    run = run_stack_file(
        tmp_path / "project", "runshop", path.read_text(encoding="utf-8"), secret_values(rendered(settings, stage)),
        overrides={"rollout:stage": stage}, deployed={"stage": deployed}, **SLOW_WORKLOADS,
    )
    assert applied_order(run, settings.services) == order
    assert_each_service_waits_for_the_one_before(run, order)
    assert list(build_plan(settings, stage, deployed).roll_order) == order, "rollout plan shows the same order"


def test_everything_waits_for_the_namespace_and_deployments_for_their_config(tmp_path):
    run = run_prod(tmp_path, "canary-5", "off")
    namespace = run.resources["namespace/chat-prod"]
    assert namespace.dependencies == []
    for resource in run.resources.values():
        if resource is not namespace:
            assert namespace.urn in resource.dependencies, resource.name
    by_name = {(r.type.rsplit(":", 1)[1], r.inputs["metadata"]["name"]): r.urn for r in run.resources.values()}
    for resource in run.resources.values():
        if resource.type == DEPLOYMENT:
            for source in resource.inputs["spec"]["template"]["spec"]["containers"][0]["envFrom"]:
                kind, ref = ("ConfigMap", source["configMapRef"]) if "configMapRef" in source else ("Secret", source["secretRef"])
                assert by_name[(kind, ref["name"])] in resource.dependencies


def dependency_edges(run: ProgramRun) -> int:
    return sum(len(r.dependencies) for r in [*run.resources.values(), *run.components.values()])


def largest_wait(run: ProgramRun) -> int:
    """The most resources any registration waits for, directly or through what those wait for.

    The SDK walks all of it for every depends_on edge to rule out cycles: it must not grow with
    the stack, or the program's cost per resource does."""
    by_urn = run.by_urn()

    def closure(urn: str, seen: set[str]) -> set[str]:
        for dep in by_urn[urn].dependencies if urn in by_urn else ():
            if dep not in seen:
                seen.add(dep)
                closure(dep, seen)
        return seen

    return max(len(closure(urn, set())) for urn in by_urn)


@pytest.mark.parametrize("deployed,stage", [("canary-5", "canary-25"), ("canary-25", "canary-5")], ids=["promote", "rollback"])
def test_ordering_edges_grow_linearly_with_services(tmp_path, deployed, stage):
    edges, waits = [], []
    for services in (4, 8, 12):
        text = generate.generate_stack(services=services, flags=2, stage=stage)
        run = run_stack_file(tmp_path / str(services), "bench", text, generate.secret_config(text), deployed={"stage": deployed})
        edges.append(dependency_edges(run))
        waits.append(largest_wait(run))
    assert edges[1] - edges[0] == edges[2] - edges[1] > 0, f"edges at 4, 8, 12 services: {edges}"
    assert waits[0] == waits[1] == waits[2], f"largest wait at 4, 8, 12 services: {waits}"


def test_a_resource_reading_a_later_services_config_is_refused():
    settings = load_stack(GKE)
    manifests = kubernetes_manifests(build_manifests(settings))
    agent = next(m for m in manifests if m["kind"] == "Deployment" and m["metadata"]["name"] == "agent")
    agent["spec"]["template"]["spec"]["containers"][0]["envFrom"].append({"secretRef": {"name": "backend-secrets"}})
    with pytest.raises(ValueError, match="Deployment/chat-prod/agent reads Secret/chat-prod/backend-secrets, which is registered later"):
        layout(settings, manifests)


def reading(manifests: list[dict], deployment: str, secret: str) -> list[dict]:
    """The manifests with one Deployment's pods also reading another service's Secret."""
    reader = next(m for m in manifests if m["kind"] == "Deployment" and m["metadata"]["name"] == deployment)
    reader["spec"]["template"]["spec"]["containers"][0]["envFrom"].append({"secretRef": {"name": secret}})
    return manifests


def test_a_resource_reading_an_earlier_services_config_is_refused_when_rollbacks_reverse_the_order():
    """frontend first on a rollback would wait for backend's Secret while backend waits for frontend."""
    settings = load_stack(GKE)
    assert settings.rollback_order == "reverse"
    with pytest.raises(ValueError, match="frontend-off reads Secret/chat-prod/backend-secrets of an earlier service, "
                                         "which a move toward the kill switch applies later"):
        layout(settings, reading(kubernetes_manifests(build_manifests(settings)), "frontend-off", "backend-secrets"))


def test_a_resource_may_read_an_earlier_services_config_when_rollbacks_keep_the_declared_order():
    settings = dataclasses.replace(load_stack(GKE), rollback_order=RollbackOrder.DECLARED)
    plan = layout(settings, reading(kubernetes_manifests(build_manifests(settings)), "frontend-off", "backend-secrets"))
    assert ("Secret", "chat-prod", "backend-secrets") in plan.waits_for[("Deployment", "chat-prod", "frontend-off")]


def test_google_cloud_documents_join_their_services_group_and_wait_for_what_they_name():
    settings = load_stack(PROD)
    documents = build_manifests(settings, "canary-25")
    plan = layout(settings, documents)
    cloud = [d for d in documents if is_cloud_resource(d)]
    assert {d.get("service") for d in cloud} == {"frontend", None}, "the frontend's resources and stack-wide channels"
    for doc in cloud:
        key = manifest_key(doc)
        assert key in (plan.services[doc["service"]] if "service" in doc else plan.stack_wide)
        assert set(plan.waits_for[key]) == {(d["type"], "", d["name"]) for d in cloud if d["name"] in doc.get("dependsOn", [])}
    group = plan.services["frontend"]
    assert all(group.index(dep) < group.index(key) for key in group for dep in plan.waits_for[key] if dep in group), \
        "registered after what it waits for"
    assert plan.deployments["frontend"] == {} and set(plan.deployments["backend"]) == {"off", "on"}, \
        "tracks are ordered on Kubernetes only"
    assert {k[2] for k in scale_up_first(settings, plan, "canary-25", "canary-5")} == {"backend-on"}
    assert service_waits(settings, plan, "canary-25", "canary-5") == {"backend": "frontend", "agent": "backend"}
    assert service_waits(settings, plan, "canary-5", "canary-25") == {"backend": "agent", "frontend": "backend"}


def test_a_google_cloud_document_naming_an_unknown_resource_or_service_is_refused():
    settings = load_stack(PROD)
    documents = build_manifests(settings)
    url_map = next(d for d in documents if is_cloud_resource(d) and d["type"] == URL_MAP)
    url_map["dependsOn"] = [*url_map["dependsOn"], "chat-prod-frontend-typo-be"]
    with pytest.raises(ValueError, match="chat-prod-frontend depends on chat-prod-frontend-typo-be, which no document"):
        layout(settings, documents)
    url_map["dependsOn"], url_map["service"] = url_map["dependsOn"][:-1], "frontdoor"
    with pytest.raises(ValueError, match="chat-prod-frontend belongs to service 'frontdoor', which the stack does not declare"):
        layout(settings, documents)


# -- no resource is replaced by the move under components ------------------------------------

@pytest.mark.parametrize("stack_file", [GKE, PROD], ids=lambda p: p.name)
def test_every_moved_resource_keeps_its_old_urn_through_an_alias(tmp_path, stack_file):
    """The old layouts registered every resource at the stack (Kubernetes services had no component,
    then Cloud Run services were registered after the components); register them that way for their URNs."""
    settings = load_stack(stack_file)
    documents = build_manifests(settings, "canary-25")
    old = {r.name: r.urn for r in run_program(_old_layout_program(tmp_path, documents), settings.stack,
                                               secrets=secret_values(rendered(settings))).resources.values()}
    new = run_prod(tmp_path / "new", "canary-25", "canary-5", stack_file).resources
    owners = {(d["name"] if is_cloud_resource(d) else f"{d['kind']}/{d['metadata']['name']}".lower()): owner(settings, d)
              for d in documents}

    assert set(new) == set(old) == set(owners), "the same logical names"
    for name, resource in new.items():
        if resource.urn == old[name]:
            assert owners[name] is None, f"{name} belongs to {owners[name]} but did not move"
        else:
            assert old[name] in resource.aliases, f"{name} moved without an alias to {old[name]}"
    moved = {r.name for r in new.values() if r.urn != old[r.name]}
    assert moved == {name for name, service in owners.items() if service}
    if settings.cloud_run_services:
        assert any(new[name].type.startswith("gcp:") for name in moved), "Google Cloud resources moved too"


def _old_layout_program(tmp_path: Path, documents: list[dict]) -> Path:
    program = tmp_path / "old_layout.py"
    program.write_text(
        "import json, pulumi\n"
        "from rollout.build.cloud import is_cloud_resource\n"
        "from rollout.pulumi import gcp, kubernetes\n"
        "cloud = {}\n"
        f"for document in json.loads({json.dumps(json.dumps(documents))}):\n"
        "    if is_cloud_resource(document):\n"
        "        cloud[document['name']] = gcp.resource_for(document, cloud, pulumi.ResourceOptions())\n"
        "    else:\n"
        "        kubernetes.resource_for(document, pulumi.ResourceOptions())\n",
        encoding="utf-8",
    )
    return program


# -- scale up first, from what is deployed --------------------------------------------------

@pytest.mark.parametrize("deployed,stage,grows,shrinks", [
    ("canary-5", "canary-25", "on", "off"),  # promote: the on track scales up first
    ("canary-25", "canary-5", "off", "on"),  # rollback: the off track scales up first
    ("full", "off", "off", "on"),  # kill switch
])
def test_the_receiving_track_scales_up_before_the_other_scales_down(tmp_path, deployed, stage, grows, shrinks):
    run = run_prod(tmp_path, stage, deployed)
    for service in ("backend", "frontend"):
        tracks = deployments_of(run, service)
        shrinking, growing = run.by_urn()[tracks[shrinks]], run.by_urn()[tracks[grows]]
        assert growing.urn in shrinking.dependencies
        assert shrinking.urn not in growing.dependencies
    assert set(deployments_of(run, "agent")) == {"stable"}, "agent has no flags, so one track and nothing to order"


def test_the_shrinking_track_is_sent_only_once_the_growing_one_is_applied(tmp_path):
    run = run_prod(tmp_path, "canary-5", "canary-25", delay=lambda typ, name: 0.03 if typ == DEPLOYMENT else 0)
    for service in ("backend", "frontend"):
        tracks = deployments_of(run, service)
        assert run.by_urn()[tracks["on"]].started > run.by_urn()[tracks["off"]].finished


def test_the_stack_reads_what_it_deployed_from_its_own_outputs(tmp_path):
    run = run_prod(tmp_path, "canary-25", "canary-5")
    reference = run.reads["rollout-deployed"]
    assert reference.type == "pulumi:pulumi:StackReference"
    assert reference.inputs["id"] == "organization/rollout/chat-gke", "the stack itself, fully qualified"
    assert run.outputs["previousStage"] == "canary-5", "the stage this update moved from"


def tracks_are_independent(run: ProgramRun, service: str) -> bool:
    tracks = deployments_of(run, service)
    return tracks["on"] not in run.by_urn()[tracks["off"]].dependencies and tracks["off"] not in run.by_urn()[tracks["on"]].dependencies


def test_a_brand_new_stack_orders_no_tracks(tmp_path):
    run = run_prod(tmp_path, "canary-25", None)
    assert tracks_are_independent(run, "backend") and tracks_are_independent(run, "frontend")
    assert run.outputs["previousStage"] is None


def test_a_deployed_stage_no_longer_on_the_ladder_orders_nothing(tmp_path):
    run = run_prod(tmp_path, "canary-25", "canary-10")  # a stage renamed since the last update
    assert tracks_are_independent(run, "backend") and run.outputs["stage"] == "canary-25"


def test_a_stack_file_still_holding_previous_stage_stops_the_program_naming_the_key(tmp_path):
    """Older versions wrote rollout:previousStage; what is deployed decides now, so the line must go."""
    text = PROD.read_text(encoding="utf-8").replace('rollout:stage: "off"', 'rollout:stage: "canary-25"\n  rollout:previousStage: "canary-50"')
    assert "rollout:previousStage" in text
    with pytest.raises(pulumi.RunError) as raised:
        run_stack_file(tmp_path, "prod", text, prod_secrets(), deployed={"stage": "canary-5"})
    assert str(raised.value) == ("Pulumi.prod.yaml: rollout:previousStage: no longer used: `pulumi up` reads the deployed "
                                 "stage from the stack's own outputs; delete this line")


def test_preview_orders_the_same_way(tmp_path):
    run = run_prod(tmp_path, "canary-25", "canary-5", preview=True)
    tracks = deployments_of(run, "backend")
    assert tracks["on"] in run.by_urn()[tracks["off"]].dependencies
    assert list(run.components) == ["agent", "backend", "frontend"]
    back = run_prod(tmp_path / "back", "canary-5", "canary-25", preview=True, **SLOW_WORKLOADS)
    assert applied_order(back, ["agent", "backend", "frontend"]) == ["frontend", "backend", "agent"]


@pytest.mark.parametrize("stack_file,stage", stack_cases(), ids=lambda v: getattr(v, "name", v))
def test_dependencies_have_no_cycle_from_any_deployed_stage(stack_file, stage):
    settings = load_stack(stack_file)
    manifests = build_manifests(settings, stage)  # Google Cloud documents too
    plan = layout(settings, manifests)
    for deployed in [None, *settings.stage_names]:
        deps = {key: set(waits) for key, waits in plan.waits_for.items()}
        for shrinking, growing in scale_up_first(settings, plan, deployed, stage).items():
            deps[shrinking].add(growing)
        for service, before in service_waits(settings, plan, deployed, stage).items():
            for key in plan.services[service]:  # through its component, every key waits for the service before
                deps[key].update(plan.services[before])
        order = list(graphlib.TopologicalSorter(deps).static_order())  # raises CycleError on a cycle
        assert set(order) == {manifest_key(m) for m in manifests}


def test_topological_order_reports_a_cycle():
    a, b = ("Deployment", "ns", "a"), ("Deployment", "ns", "b")
    with pytest.raises(ValueError, match="cycle"):
        topological_order({a: [b], b: [a]})


def test_scale_order_follows_the_direction_of_the_move():
    settings = load_stack(GKE)
    assert scale_order(settings, "canary-5", "canary-25") == {"backend": ("on", "off"), "frontend": ("on", "off")}
    assert scale_order(settings, "canary-25", "canary-5") == {"backend": ("off", "on"), "frontend": ("off", "on")}
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
    run = run_stack_file(
        tmp_path, settings.stack, stack_file.read_text(encoding="utf-8"), secret_values(rendered(settings, stage)),
        overrides={"rollout:stage": stage},
    )
    assert run.outputs["stage"] == stage
    assert run.outputs["previousStage"] is None, "never deployed before"
    assert run.outputs["ladder"] == settings.stage_names
    assert run.outputs["namespace"] == settings.namespace
    assert run.outputs["strategy"] == settings.strategy
    assert run.outputs["weights"] == resolve(settings, stage).weights()


def test_missing_secret_config_is_a_clear_error(tmp_path):
    secrets = prod_secrets()
    assert "rollout:sessionSigningKey" in secrets
    del secrets["rollout:sessionSigningKey"]
    with pytest.raises(pulumi.RunError) as raised:
        run_stack_file(tmp_path, "prod", PROD.read_text(encoding="utf-8"), secrets)
    message = str(raised.value)
    assert message.startswith("Pulumi.prod.yaml: missing secret config rollout:sessionSigningKey:")
    assert "pulumi config set --secret rollout:sessionSigningKey <value>" in message
    assert not any(key in message for key in secrets), "only the missing keys are named"


def test_every_missing_secret_is_named_at_once(tmp_path):
    with pytest.raises(pulumi.RunError) as raised:
        run_stack_file(tmp_path, "prod", PROD.read_text(encoding="utf-8"), {})
    assert all(f"pulumi config set --secret {key} <value>" in str(raised.value) for key in prod_secrets())


def test_program_copies_are_byte_identical_to_the_real_program(tmp_path):
    program = project_copy(tmp_path, "prod", PROD.read_text(encoding="utf-8"))
    assert program.read_bytes() == (REPO_ROOT / "infra" / "__main__.py").read_bytes()
    assert (program.parent.parent / "Pulumi.prod.yaml").exists()


def test_generated_stack_runs_under_mocks(tmp_path):
    text = generate.generate_stack(services=5, flags=3, stage="canary-25")
    run = run_stack_file(tmp_path, "bench", text, generate.secret_config(text))
    assert "rollout:svc004Token" in generate.secret_config(text)
    settings = load_stack(tmp_path / "Pulumi.bench.yaml")
    assert len(run.resources) == len(build_manifests(settings))
    assert run.outputs["weights"]["svc-004"] == {"requested": 25, "effective": 25}


# -- the CLI path never loads pulumi ----------------------------------------------------------

@pytest.mark.parametrize("module", ["rollout.cli.main", "rollout.build.resources", "rollout.build.ordering", "rollout.output.render"])
def test_cli_modules_do_not_import_pulumi(module):
    code = (
        f"import sys, {module}\n"
        "loaded = sorted(m for m in sys.modules if m == 'pulumi' or m.startswith(('pulumi.', 'pulumi_')))\n"
        "print(','.join(loaded))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "", f"{module} loads {result.stdout.strip()}"


# -- Google Cloud -------------------------------------------------------------------------------

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


def pulumi_gcp_loaded_by(stack_file: Path, directory: Path) -> list[str]:
    """The pulumi_gcp modules a fresh process has loaded after `pulumi up` of the stack under mocks."""
    code = ("import sys\n"
            f"sys.path.insert(0, {str(REPO_ROOT / 'tests')!r})\n"
            "from pathlib import Path\n"
            "from harness.mock_program import run_stack_file\n"
            "from harness.stacks import rendered, secret_values\n"
            "from rollout.spec.stack import load_stack\n"
            "path, settings = Path(sys.argv[1]), load_stack(Path(sys.argv[1]))\n"
            "run_stack_file(Path(sys.argv[2]), settings.stack, path.read_text(), secret_values(rendered(settings)))\n"
            "print(','.join(sorted(m for m in sys.modules if m.startswith('pulumi_gcp'))))\n")
    result = subprocess.run([sys.executable, "-c", code, str(stack_file), str(directory)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return [m for m in result.stdout.strip().split(",") if m]


def test_the_program_loads_pulumi_gcp_only_for_stacks_with_google_cloud_resources(tmp_path):
    code = ("import sys, rollout.pulumi.program\n"
            "print(sorted(m for m in sys.modules if m.startswith('pulumi_gcp')))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]", "importing the program loads none of it"
    assert pulumi_gcp_loaded_by(GKE, tmp_path / "gke") == [], "a Kubernetes-only stack never loads pulumi_gcp"
    assert "pulumi_gcp.compute" in pulumi_gcp_loaded_by(PROD, tmp_path / "prod"), "a stack with a load balancer does"


def test_the_program_exports_where_each_cloud_run_service_answers(tmp_path):
    """The load balancer's address (to point DNS at) and each track's own URL, as the provider reports them."""
    docs = {d["name"]: d for d in build_manifests(load_stack(REPO_ROOT / "Pulumi.prod.yaml")) if is_cloud_resource(d)}
    run = run_prod(tmp_path, "canary-5", "off", PROD)
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
        run_stack_file(tmp_path, "runshop", text, config)
    assert "missing secret config rollout:paymentApiKey, rollout:shopSlackToken" in str(raised.value)


def test_secret_values_reach_the_engine_only_as_secrets(tmp_path):
    settings = load_stack(REPO_ROOT / "tests" / "apps" / "Pulumi.runshop.yaml")
    config = secret_values(build_manifests(settings))
    run = run_stack_file(tmp_path, "runshop", (REPO_ROOT / "tests" / "apps" / "Pulumi.runshop.yaml").read_text(), config)
    for resource in run.resources.values():
        plain = {k: v for k, v in resource.inputs.items() if not rpc.is_rpc_secret(v)}
        assert not any(value in repr(plain) for value in config.values()), resource.name
    version = run.resources["runshop-checkout-paymentApiKey-value"]
    assert unwrap_secret(version.inputs["secretData"]) == config["rollout:paymentApiKey"]
