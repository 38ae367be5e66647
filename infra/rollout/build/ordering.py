"""In which order a stack's resources are applied: pure data, no Pulumi import.

The Pulumi program turns a `Layout` into one ComponentResource per service and `depends_on`;
`rollout plan` reads `scale_order`. Nothing here goes into the manifests.

- Stack-wide resources (namespace, alert rules, routing, dashboards, notification channels)
  belong to no service.
- Each declared service's resources form one group, whatever runs it: a Kubernetes manifest
  labelled app=<service>, a Google Cloud document whose `service` names it (rollout.build.cloud).
  Groups roll in core.ladder.roll_order from the deployed stage (declared order forward, reversed
  toward the kill switch unless rollout:rollbackOrder says declared), each group waiting for the
  whole group before it in that order: edges grow linearly with services, and nothing waits, even
  indirectly, on more than the service before it. Either order is a chain, so no cycle.
- Inside a group, a Kubernetes manifest waits for the namespace and a Deployment for the
  ConfigMaps and Secrets its pods read; a Google Cloud document for what its `dependsOn` names.
  The track that grows scales up before the one that shrinks (Kubernetes only: a Cloud Run stage
  move is one URL map change).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from rollout.build.cloud import is_cloud_resource
from rollout.build.resources import manifest_key
from rollout.spec.model import RollbackOrder, StackSettings
from rollout.core.ladder import resolve, roll_order
from rollout.build.kubernetes import APP_LABEL, TRACK_LABEL

Key = tuple[str, str, str]  # (kind, namespace, name), as manifest_key
Manifest = dict[str, Any]


@dataclass(frozen=True)
class Layout:
    """Where each manifest goes and what it waits for besides the roll order of services.

    Registering the stack-wide keys, then each service's keys, in the order given, creates
    every resource after what it waits for.
    """

    stack_wide: tuple[Key, ...]  # belongs to no service
    services: Mapping[str, tuple[Key, ...]]  # service, in declared order -> its keys, Kubernetes and Google Cloud
    waits_for: Mapping[Key, tuple[Key, ...]]  # namespace, env sources, `dependsOn`; each tuple sorted
    deployments: Mapping[str, Mapping[str, Key]]  # service -> track label -> its Deployment (Kubernetes only)


def scale_order(settings: StackSettings, from_stage: str, to_stage: str) -> dict[str, tuple[str, str]]:
    """service -> (growing track, shrinking track) for services whose split changes."""
    before, after = resolve(settings, from_stage).splits, resolve(settings, to_stage).splits
    order: dict[str, tuple[str, str]] = {}
    for service, split in after.items():
        old = before[service].replicas
        if set(split.replicas) != set(old) or len(split.replicas) != 2:
            continue  # one track (percentage strategy, no flags): nothing to order
        grown = [t for t, n in split.replicas.items() if n > old[t]]
        shrunk = [t for t, n in split.replicas.items() if n < old[t]]
        if grown and shrunk:
            order[service] = (grown[0], shrunk[0])
    return order


def layout(settings: StackSettings, manifests: list[Manifest]) -> Layout:
    """Group every document (Kubernetes manifests and Google Cloud resources) by service and list
    what each waits for inside the stack."""
    keys = {manifest_key(m): m for m in manifests}
    namespaces = [k for k in keys if k[0] == "Namespace"]  # a Google Cloud key's kind is its type token
    cloud_names = {m["name"]: key for key, m in keys.items() if is_cloud_resource(m)}
    waits: dict[Key, tuple[Key, ...]] = {}
    for key, manifest in keys.items():
        if is_cloud_resource(manifest):
            deps = set(_named_dependencies(manifest, cloud_names))
        else:
            deps = set() if key[0] == "Namespace" else set(namespaces)  # nothing exists before its namespace
            if key[0] == "Deployment":
                deps.update(k for k in _referenced_config(manifest) if k in keys)  # env sources first
        waits[key] = tuple(sorted(deps))

    groups = _group_by_service(settings, manifests)
    grouped = {key: service for service, members in groups.items() for key in members}
    ranks = {None: 0, **{service: i for i, service in enumerate(settings.services, 1)}}
    _refuse_waits_against_the_roll_order(settings, {key: ranks[grouped.get(key)] for key in keys}, waits)
    # Ranked, every key waits only for keys of its own group or of groups registered before it.
    order = topological_order(dict(sorted(waits.items(), key=lambda item: ranks[grouped.get(item[0])])))
    members_in_order: dict[str | None, list[Key]] = {None: [], **{service: [] for service in groups}}
    for key in order:
        members_in_order[grouped.get(key)].append(key)
    services = {service: tuple(members_in_order[service]) for service in settings.services if service in groups}
    deployments = {
        service: {keys[k]["metadata"]["labels"][TRACK_LABEL]: k for k in members if k[0] == "Deployment"}
        for service, members in services.items()
    }
    return Layout(
        stack_wide=tuple(members_in_order[None]), services=services, waits_for=waits, deployments=deployments,
    )


def scale_up_first(settings: StackSettings, plan: Layout, deployed_stage: str | None, stage: str) -> dict[Key, Key]:
    """Shrinking track's Deployment -> the growing track's Deployment it waits for.

    Empty when nothing is deployed yet, when the deployed stage is the target, or when it is no
    longer on the ladder (a renamed stage): there is no known move to order.
    """
    if not deployed_stage or deployed_stage == stage or deployed_stage not in settings.stage_names:
        return {}
    edges: dict[Key, Key] = {}
    for service, (growing, shrinking) in scale_order(settings, deployed_stage, stage).items():
        tracks = plan.deployments.get(service, {})
        if growing in tracks and shrinking in tracks:
            edges[tracks[shrinking]] = tracks[growing]
    return edges


def service_waits(settings: StackSettings, plan: Layout, deployed_stage: str | None, stage: str) -> dict[str, str]:
    """Service -> the service applied just before it, which it waits for: a chain in roll_order
    from the deployed stage (declared order when nothing known is deployed). Every service with
    resources is a link, on Kubernetes or on Cloud Run."""
    applied = [service for service in roll_order(settings, deployed_stage, stage) if service in plan.services]
    return dict(zip(applied[1:], applied))


def topological_order(deps: Mapping[Key, Iterable[Key]]) -> list[Key]:
    """Keys with every dependency before its dependents, else in the order given; raises ValueError on a cycle."""
    done: set[Key] = set()
    visiting: set[Key] = set()
    out: list[Key] = []

    def visit(key: Key, path: tuple[Key, ...]) -> None:
        if key in done:
            return
        if key in visiting:
            raise ValueError("dependency cycle: " + " -> ".join(_shown(k) for k in (*path, key)))
        visiting.add(key)
        for dep in deps.get(key, ()):
            visit(dep, (*path, key))
        visiting.discard(key)
        done.add(key)
        out.append(key)

    for key in deps:
        visit(key, ())
    return out


def _shown(key: Key) -> str:
    """Deployment/chat-prod/agent; a Google Cloud resource as its type token and name."""
    return "/".join(part for part in key if part)


def _refuse_waits_against_the_roll_order(settings: StackSettings, rank: Mapping[Key, int],
                                         waits: Mapping[Key, tuple[Key, ...]]) -> None:
    """Waiting for a service applied after one's own would wait in a circle with the roll order:
    a later service always, an earlier one on a move toward the kill switch that reverses the order."""
    reversible = settings.rollback_order is RollbackOrder.REVERSE and len(settings.services) > 1
    for key, deps in waits.items():
        for dep in deps:
            if rank[dep] > rank[key]:
                raise ValueError(f"{_shown(key)} reads {_shown(dep)}, which is registered later (a later service)")
            if reversible and 0 < rank[dep] < rank[key]:
                raise ValueError(
                    f"{_shown(key)} reads {_shown(dep)} of an earlier service, which a move toward the kill "
                    "switch applies later (services roll back in reverse order); a service may read only its "
                    "own and stack-wide resources unless rollout:rollbackOrder is declared"
                )


def _group_by_service(settings: StackSettings, manifests: Iterable[Manifest]) -> dict[str, list[Key]]:
    """Manifests labelled app=<declared service> and Google Cloud documents whose `service` names one;
    stack-wide ones (namespace, rules, notification channels) belong to none."""
    groups: dict[str, list[Key]] = {}
    for manifest in manifests:
        if is_cloud_resource(manifest):
            service = manifest.get("service")
            if service is not None and service not in settings.services:
                raise ValueError(f"{manifest['name']} belongs to service {service!r}, which the stack does not declare")
        else:
            service = (manifest["metadata"].get("labels") or {}).get(APP_LABEL)
        if service in settings.services:
            groups.setdefault(service, []).append(manifest_key(manifest))
    return groups


def _named_dependencies(doc: Manifest, cloud_names: Mapping[str, Key]) -> list[Key]:
    """The Google Cloud documents a document's `dependsOn` names (references to their outputs included)."""
    missing = [name for name in doc.get("dependsOn", []) if name not in cloud_names]
    if missing:
        raise ValueError(f"{doc['name']} depends on {', '.join(missing)}, which no document of the stack names")
    return [cloud_names[name] for name in doc.get("dependsOn", [])]


def _referenced_config(deployment: Manifest) -> list[Key]:
    """ConfigMaps and Secrets a Deployment's pods read (envFrom, env valueFrom, volumes)."""
    namespace = deployment["metadata"].get("namespace", "")
    pod = deployment.get("spec", {}).get("template", {}).get("spec", {})
    refs: list[Key] = []
    for container in [*pod.get("initContainers", []), *pod.get("containers", [])]:
        for source in container.get("envFrom", []):
            if "configMapRef" in source:
                refs.append(("ConfigMap", namespace, source["configMapRef"]["name"]))
            if "secretRef" in source:
                refs.append(("Secret", namespace, source["secretRef"]["name"]))
        for var in container.get("env", []):
            value_from = var.get("valueFrom", {})
            if "configMapKeyRef" in value_from:
                refs.append(("ConfigMap", namespace, value_from["configMapKeyRef"]["name"]))
            if "secretKeyRef" in value_from:
                refs.append(("Secret", namespace, value_from["secretKeyRef"]["name"]))
    for volume in pod.get("volumes", []):
        if "configMap" in volume:
            refs.append(("ConfigMap", namespace, volume["configMap"]["name"]))
        if "secret" in volume:
            refs.append(("Secret", namespace, volume["secret"]["secretName"]))
    return refs
