"""The thin Pulumi layer: each manifest becomes one typed pulumi_kubernetes resource.

Inputs are the manifest's own fields (camelCase keys pass through the SDK unchanged),
so what Pulumi registers is exactly what `rollout render` writes. Only rollout.pulumi and
infra/__main__.py import pulumi; the CLI never does.

Each declared service's resources are children of one `rollout:index:Service` component, and
each component depends on the previous service's resources: Pulumi registers the component
once they are applied, and the component's children wait for their parent. That is one edge per
resource of a service where a resource-to-resource chain needs one per pair, and the SDK checks
every edge for cycles by walking all it depends on. `pulumi preview` groups its output by
service too. Stack-wide resources stay at the stack. Resources moved under a component carry
`Alias(parent=ROOT_STACK_RESOURCE)`, the URN they had at the stack, so the move replaces nothing.
"""
from __future__ import annotations

import re
from typing import Callable

import pulumi
import pulumi_kubernetes as k8s

from rollout.errors import UsageError
from rollout.build.resources import Manifest, manifest_key
from rollout.build.ordering import Key, Layout, layout, scale_up_first
from rollout.spec.stack import StackSettings
from rollout.build.kubernetes import secret_config_keys

SERVICE_TYPE = "rollout:index:Service"
MOVED_FROM_STACK = pulumi.Alias(parent=pulumi.ROOT_STACK_RESOURCE)  # where these resources lived before services had components

# (apiVersion, kind) -> typed class; anything else (CRDs) is a CustomResource.
RESOURCE_CLASSES: dict[tuple[str, str], Callable[..., pulumi.CustomResource]] = {
    ("v1", "Namespace"): k8s.core.v1.Namespace,
    ("v1", "ConfigMap"): k8s.core.v1.ConfigMap,
    ("v1", "Secret"): k8s.core.v1.Secret,
    ("v1", "Service"): k8s.core.v1.Service,
    ("apps/v1", "Deployment"): k8s.apps.v1.Deployment,
    ("policy/v1", "PodDisruptionBudget"): k8s.policy.v1.PodDisruptionBudget,
}
TYPE_FIELDS = ("apiVersion", "kind")  # typed classes set these themselves


def logical_name(manifest: Manifest) -> str:
    """Stable and unique per stack: kind and name (a new hashed ConfigMap is a new resource)."""
    return f"{manifest['kind']}/{manifest['metadata']['name']}".lower()


def snake(field: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", field).lower()


def missing_secret_config(manifests: list[Manifest]) -> list[str]:
    """Every `namespace:key` some Secret needs but the stack's config does not have."""
    missing: list[str] = []
    for manifest in manifests:
        if manifest["kind"] != "Secret":
            continue
        for namespace, key in secret_config_keys(manifest).values():
            if pulumi.Config(namespace).get(key) is None and f"{namespace}:{key}" not in missing:
                missing.append(f"{namespace}:{key}")
    return missing


def secret_string_data(manifest: Manifest) -> dict[str, pulumi.Output[str]] | None:
    """stringData from Pulumi secret config; values stay secret end to end."""
    sources = secret_config_keys(manifest)
    if not sources:
        return None
    return {
        data_key: pulumi.Output.secret(pulumi.Config(namespace).require_secret(key))
        for data_key, (namespace, key) in sorted(sources.items())
    }


def resource_for(manifest: Manifest, opts: pulumi.ResourceOptions) -> pulumi.CustomResource:
    api_version, kind = manifest["apiVersion"], manifest["kind"]
    fields = {snake(k): v for k, v in manifest.items() if k not in TYPE_FIELDS}
    if kind == "Secret":
        string_data = secret_string_data(manifest)
        if string_data is not None:
            fields["string_data"] = string_data  # core/v1 Secret already adds data/stringData to additional_secret_outputs
    cls = RESOURCE_CLASSES.get((api_version, kind))
    if cls is not None:
        return cls(logical_name(manifest), opts=opts, **fields)
    unsupported = sorted(set(fields) - {"metadata", "spec"})
    if unsupported:  # CustomResource only carries metadata and spec
        raise UsageError(f"{kind} {manifest['metadata']['name']}: fields {', '.join(unsupported)} cannot be sent to a custom resource")
    return k8s.apiextensions.CustomResource(
        logical_name(manifest), api_version=api_version, kind=kind, opts=opts, **fields
    )


class ServiceComponent(pulumi.ComponentResource):
    """One declared service: the parent of its resources, registered once `after` are applied."""

    def __init__(self, service: str, after: list[pulumi.CustomResource]):
        super().__init__(SERVICE_TYPE, service, None, pulumi.ResourceOptions(depends_on=after))
        self.register_outputs({})


def register(
    settings: StackSettings, manifests: list[Manifest], deployed_stage: pulumi.Output | None = None,
) -> dict[Key, pulumi.CustomResource]:
    """Register every manifest, stack-wide ones at the stack, the others under their service.

    deployed_stage: the stage the stack runs now (an Output, or None when unknown); within a
    service the track that grows from it to settings.stage scales up before the other shrinks.
    """
    plan = layout(settings, manifests)
    by_key = {manifest_key(m): m for m in manifests}
    moves = _scale_up_first(settings, plan, deployed_stage)
    either_way = _possibly_shrinking(plan)
    resources: dict[Key, pulumi.CustomResource] = {}

    def add(key: Key, parent: ServiceComponent | None) -> pulumi.CustomResource:
        depends_on: list[pulumi.Input] = [resources[d] for d in plan.waits_for[key]]
        if moves is not None and key in either_way:  # the growing track's Deployment, or None (no wait), once known
            depends_on.append(moves.apply(lambda edges: resources[edges[key]] if key in edges else None))
        aliases = [MOVED_FROM_STACK] if parent else None
        resources[key] = resource_for(by_key[key], pulumi.ResourceOptions(depends_on=depends_on, parent=parent, aliases=aliases))
        return resources[key]

    for key in plan.stack_wide:
        add(key, None)
    previous: list[pulumi.CustomResource] = []
    for service, keys in plan.services.items():  # declared roll order
        # On the previous service's resources, not its component: the SDK's cycle check walks
        # everything a dependency depends on, so a chain of components costs quadratic time.
        component = ServiceComponent(service, after=previous)
        previous = [add(key, component) for key in keys]
    return resources


def _scale_up_first(settings: StackSettings, plan: Layout, deployed_stage: pulumi.Output | None) -> pulumi.Output | None:
    if deployed_stage is None:
        return None
    return deployed_stage.apply(lambda deployed: scale_up_first(settings, plan, deployed, settings.stage))


def _possibly_shrinking(plan: Layout) -> set[Key]:
    """Deployments of services with two tracks: which one shrinks depends on the deployed stage."""
    return {key for tracks in plan.deployments.values() if len(tracks) == 2 for key in tracks.values()}
