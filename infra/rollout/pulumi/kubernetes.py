"""The thin Pulumi layer: each manifest becomes one Kubernetes resource of pulumi_kubernetes' provider.

Each is registered with its type token (kubernetes:apps/v1:Deployment...) and the manifest's own
fields as inputs, so what Pulumi registers is exactly what `rollout render` writes. The engine
sees what pulumi_kubernetes' typed classes would send (type, name, inputs, provider version,
secret outputs) without the SDK translating every field through their Python types, which cost
a quarter of the program's time. Only rollout.pulumi and infra/__main__.py import pulumi.

Each declared service's resources are children of one `rollout:index:Service` component, and
each component depends on the resources of the service applied before it: Pulumi registers the
component once they are applied, and the component's children wait for their parent. That is one
edge per resource of a service where a resource-to-resource chain needs one per pair, and the SDK
checks every edge for cycles by walking all it depends on. Which service comes before is known
only once the deployed stage is read (core.ladder.roll_order: reversed toward the kill switch),
so each component's depends_on is an Output that resolves to one link of that chain.
`pulumi preview` groups its output by service too. Stack-wide resources stay at the stack.
Resources moved under a component carry `Alias(parent=ROOT_STACK_RESOURCE)`, the URN they had
at the stack, so the move replaces nothing.
"""
from __future__ import annotations

from importlib import metadata

import pulumi

from rollout.build.resources import Manifest, manifest_key
from rollout.build.ordering import Key, Layout, layout, scale_up_first, service_waits
from rollout.spec.model import StackSettings
from rollout.build.kubernetes import secret_config_keys

SERVICE_TYPE = "rollout:index:Service"
MOVED_FROM_STACK = pulumi.Alias(parent=pulumi.ROOT_STACK_RESOURCE)  # where these resources lived before services had components

PROVIDER = pulumi.ResourceOptions(version=metadata.version("pulumi_kubernetes"))  # the plugin its own classes ask for
SECRET_FIELDS = ["data", "stringData"]  # what pulumi_kubernetes' Secret keeps secret


def type_token(manifest: Manifest) -> str:
    api_version = manifest["apiVersion"]
    return f"kubernetes:{'core/v1' if api_version == 'v1' else api_version}:{manifest['kind']}"


def logical_name(manifest: Manifest) -> str:
    """Stable and unique per stack: kind and name (a new hashed ConfigMap is a new resource)."""
    return f"{manifest['kind']}/{manifest['metadata']['name']}".lower()


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
    inputs = dict(manifest)
    if type_token(manifest) == "kubernetes:core/v1:Secret":
        inputs.update({field: pulumi.Output.secret(inputs[field]) for field in SECRET_FIELDS if field in inputs})
        string_data = secret_string_data(manifest)
        if string_data is not None:
            inputs["stringData"] = string_data
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=SECRET_FIELDS))
    return pulumi.CustomResource(type_token(manifest), logical_name(manifest), inputs, pulumi.ResourceOptions.merge(PROVIDER, opts))


class ServiceComponent(pulumi.ComponentResource):
    """One declared service: the parent of its resources, registered once `after` are applied."""

    def __init__(self, service: str, after: pulumi.Input[list[pulumi.CustomResource]]):
        super().__init__(SERVICE_TYPE, service, None, pulumi.ResourceOptions(depends_on=after))
        self.register_outputs({})


def register(
    settings: StackSettings, manifests: list[Manifest], deployed_stage: pulumi.Output | None = None,
) -> dict[Key, pulumi.CustomResource]:
    """Register every manifest, stack-wide ones at the stack, the others under their service.

    deployed_stage: the stage the stack runs now (an Output, or None when unknown); services are
    applied in roll order from it to settings.stage, and within a service the track that grows
    scales up before the other shrinks.
    """
    plan = layout(settings, manifests)
    by_key = {manifest_key(m): m for m in manifests}
    moves = _scale_up_first(settings, plan, deployed_stage)
    waits = _service_waits(settings, plan, deployed_stage)
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
    members: dict[str, list[pulumi.CustomResource]] = {}
    for service, keys in plan.services.items():  # declared order; applied in roll order
        # On the previous service's resources, not its component: the SDK's cycle check walks
        # everything a dependency depends on, so a chain of components costs quadratic time.
        # Resolved once every service is registered, so a later-declared one can come first.
        after = waits.apply(lambda before, service=service: members.get(before.get(service), []))
        component = ServiceComponent(service, after=after)
        members[service] = [add(key, component) for key in keys]
    return resources


def _scale_up_first(settings: StackSettings, plan: Layout, deployed_stage: pulumi.Output | None) -> pulumi.Output | None:
    if deployed_stage is None:
        return None
    return deployed_stage.apply(lambda deployed: scale_up_first(settings, plan, deployed, settings.stage))


def _service_waits(settings: StackSettings, plan: Layout, deployed_stage: pulumi.Output | None) -> pulumi.Output:
    """Output of service -> the service applied before it; declared order without a deployed stage."""
    deployed = pulumi.Output.from_input(None) if deployed_stage is None else deployed_stage
    return deployed.apply(lambda stage: service_waits(settings, plan, stage, settings.stage))


def _possibly_shrinking(plan: Layout) -> set[Key]:
    """Deployments of services with two tracks: which one shrinks depends on the deployed stage."""
    return {key for tracks in plan.deployments.values() if len(tracks) == 2 for key in tracks.values()}
