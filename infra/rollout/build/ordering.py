"""In which order a stack's resources are applied: pure data, no Pulumi import.

The Pulumi program turns these edges into `depends_on`; `rollout plan` reads `scale_order`.
Nothing here goes into the manifests, so rendered files never depend on previousStage.
"""
from __future__ import annotations

from typing import Any, Iterable

from rollout.build.cloud import is_cloud_resource
from rollout.build.cloudrun import RUN_SERVICE
from rollout.build.resources import manifest_key
from rollout.spec.model import StackSettings
from rollout.core.ladder import resolve
from rollout.build.kubernetes import APP_LABEL, TRACK_LABEL

Key = tuple[str, str, str]  # (kind, namespace, name), as manifest_key
Manifest = dict[str, Any]


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


def dependencies(settings: StackSettings, manifests: list[Manifest], stage: str | None = None) -> dict[Key, list[Key]]:
    """Every manifest's key -> the keys it must wait for (each list sorted, no duplicates)."""
    keys = {manifest_key(m): m for m in manifests}
    deps: dict[Key, set[Key]] = {k: set() for k in keys}
    namespaces = [k for k in keys if k[0] == "Namespace"]
    by_service = _group_by_service(settings, manifests)

    names = {m["name"]: k for k, m in keys.items() if is_cloud_resource(m)}
    for key, manifest in keys.items():
        if is_cloud_resource(manifest):  # Google Cloud resources name what they refer to
            deps[key].update(names[n] for n in manifest.get("dependsOn", []))
        elif key[0] != "Namespace":
            deps[key].update(namespaces)  # nothing in a namespace can be created before it
    for key, manifest in keys.items():
        if key[0] == "Deployment":
            deps[key].update(k for k in _referenced_config(manifest) if k in keys)  # env sources first

    # Services roll in declared order: a later service waits for the earlier one's workloads
    # (its Deployments, or its Cloud Run services).
    earlier_deployments: list[Key] = []
    for service in settings.services:
        members = by_service.get(service, [])
        for key in members:
            deps[key].update(earlier_deployments)
        deployments = [k for k in members if k[0] in ("Deployment", RUN_SERVICE)]
        if deployments:
            earlier_deployments = deployments

    # Within a service the receiving track scales up before the other scales down.
    to_stage = stage or settings.stage
    if settings.previous_stage and settings.previous_stage != to_stage:
        for service, (growing, shrinking) in scale_order(settings, settings.previous_stage, to_stage).items():
            grow_key = _track_deployment(by_service.get(service, []), keys, growing)
            shrink_key = _track_deployment(by_service.get(service, []), keys, shrinking)
            if grow_key and shrink_key:
                deps[shrink_key].add(grow_key)

    return {k: sorted(v) for k, v in deps.items()}


def topological_order(deps: dict[Key, list[Key]]) -> list[Key]:
    """Keys with every dependency before its dependents; raises ValueError on a cycle."""
    done: set[Key] = set()
    visiting: set[Key] = set()
    out: list[Key] = []

    def visit(key: Key, path: tuple[Key, ...]) -> None:
        if key in done:
            return
        if key in visiting:
            raise ValueError("dependency cycle: " + " -> ".join("/".join(k) for k in (*path, key)))
        visiting.add(key)
        for dep in deps.get(key, []):
            visit(dep, (*path, key))
        visiting.discard(key)
        done.add(key)
        out.append(key)

    for key in deps:
        visit(key, ())
    return out


def _group_by_service(settings: StackSettings, manifests: Iterable[Manifest]) -> dict[str, list[Key]]:
    """Manifests labelled app=<declared service>; stack-wide ones (namespace, rules) belong to none."""
    groups: dict[str, list[Key]] = {}
    for manifest in manifests:
        if is_cloud_resource(manifest):
            app = manifest.get("service")
        else:
            app = (manifest["metadata"].get("labels") or {}).get(APP_LABEL)
        if app in settings.services:
            groups.setdefault(app, []).append(manifest_key(manifest))
    return groups


def _track_deployment(members: list[Key], keys: dict[Key, Manifest], track: str) -> Key | None:
    for key in members:
        if key[0] == "Deployment" and keys[key]["metadata"].get("labels", {}).get(TRACK_LABEL) == track:
            return key
    return None


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
