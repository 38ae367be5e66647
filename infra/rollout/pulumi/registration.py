"""Register a stack's resources: stack-wide ones at the stack, each declared service's under one
`rollout:index:Service` component, chained in roll order whatever runs the service.

rollout.build.ordering decides the groups and what waits for what; each document becomes a
resource of pulumi_kubernetes' provider (rollout.pulumi.kubernetes) or a typed pulumi_gcp one
(rollout.pulumi.gcp). A service's Kubernetes manifests and Google Cloud documents (Cloud Run
services, their load balancer, secrets, alert policies, dashboard) are children of its component.

Each component depends on the resources of the service applied before it: Pulumi registers the
component once they are applied, and the component's children wait for their parent. That is one
edge per resource of a service where a resource-to-resource chain needs one per pair, and the SDK
checks every edge for cycles by walking all it depends on. Which service comes before is known
only once the deployed stage is read (core.ladder.roll_order: reversed toward the kill switch),
so each component's depends_on is an Output that resolves to one link of that chain: on a
rollback of a stack whose frontend runs on Cloud Run, the URL map's weights change before the
backend's Deployments do. `pulumi preview` groups its output by service too.
Resources moved under a component carry `Alias(parent=ROOT_STACK_RESOURCE)`, the URN they had
at the stack, so the move replaces nothing.
"""
from __future__ import annotations

import pulumi

from rollout.build.cloud import is_cloud_resource
from rollout.build.ordering import Key, Layout, layout, scale_up_first, service_waits
from rollout.build.resources import Manifest, manifest_key
from rollout.pulumi import gcp, kubernetes
from rollout.spec.model import StackSettings

SERVICE_TYPE = "rollout:index:Service"
MOVED_FROM_STACK = pulumi.Alias(parent=pulumi.ROOT_STACK_RESOURCE)  # where these resources lived before services had components


class ServiceComponent(pulumi.ComponentResource):
    """One declared service: the parent of its resources, registered once `after` are applied."""

    def __init__(self, service: str, after: pulumi.Input[list[pulumi.CustomResource]]):
        super().__init__(SERVICE_TYPE, service, None, pulumi.ResourceOptions(depends_on=after))
        self.register_outputs({})


def register(
    settings: StackSettings, manifests: list[Manifest], deployed_stage: pulumi.Output | None = None,
) -> dict[Key, pulumi.CustomResource]:
    """Register every document, stack-wide ones at the stack, the others under their service.

    deployed_stage: the stage the stack runs now (an Output, or None when unknown); services are
    applied in roll order from it to settings.stage, and within a service the Kubernetes track
    that grows scales up before the other shrinks.
    """
    plan = layout(settings, manifests)
    by_key = {manifest_key(m): m for m in manifests}
    moves = _scale_up_first(settings, plan, deployed_stage)
    waits = _service_waits(settings, plan, deployed_stage)
    either_way = _possibly_shrinking(plan)
    resources: dict[Key, pulumi.CustomResource] = {}
    cloud: dict[str, pulumi.CustomResource] = {}  # Google Cloud resources by name: what `${name.output}` refers to

    def add(key: Key, parent: ServiceComponent | None) -> pulumi.CustomResource:
        depends_on: list[pulumi.Input] = [resources[d] for d in plan.waits_for[key]]
        if moves is not None and key in either_way:  # the growing track's Deployment, or None (no wait), once known
            depends_on.append(moves.apply(lambda edges: resources[edges[key]] if key in edges else None))
        aliases = [MOVED_FROM_STACK] if parent else None
        opts = pulumi.ResourceOptions(depends_on=depends_on, parent=parent, aliases=aliases)
        document = by_key[key]
        if is_cloud_resource(document):
            resources[key] = cloud[document["name"]] = gcp.resource_for(document, cloud, opts)
        else:
            resources[key] = kubernetes.resource_for(document, opts)
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
