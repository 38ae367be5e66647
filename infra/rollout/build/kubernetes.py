"""Namespace, Deployments, flag ConfigMaps, Secrets, Services and PDBs per service and track.

Pod templates never depend on the stage: moving between stages of the tracks strategy
changes replica counts only, so promote and rollback restart no pod.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any

from rollout.errors import UsageError
from rollout.spec.model import PodSecurity, Service, StackSettings
from rollout.core.ladder import ON, STABLE, StageState

Manifest = dict[str, Any]
MANAGED_BY = "rollout"
APP_LABEL = "app"  # the Service selects on this, so both tracks serve traffic
TRACK_LABEL = "track"  # kept on every scraped series to compare canary and baseline
SECRET_KEYS_ANNOTATION = "rollout.dev/secret-config-keys"
# Under the percentage strategy pods restart on every stage anyway, so they carry the stage for dashboards.
STAGE_LABEL, WEIGHT_LABEL = "rollout.dev/stage", "rollout.dev/weight"


def workload_name(service: str, track: str) -> str:
    return service if track == STABLE else f"{service}-{track}"


def common_labels(settings: StackSettings) -> dict[str, str]:
    return {
        "app.kubernetes.io/part-of": settings.app,
        "app.kubernetes.io/managed-by": MANAGED_BY,
        "rollout.dev/stack": settings.stack,
    }


def pod_labels(settings: StackSettings, service: str, track: str) -> dict[str, str]:
    return {APP_LABEL: service, TRACK_LABEL: track, **common_labels(settings)}


def build(settings: StackSettings, state: StageState) -> list[Manifest]:
    out: list[Manifest] = [namespace(settings)]
    for service in settings.kubernetes_services:
        out.extend(service_manifests(settings, service, state))
    return out


def namespace(settings: StackSettings) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": settings.namespace, "labels": common_labels(settings)},
    }


def service_manifests(settings: StackSettings, service: Service, state: StageState) -> list[Manifest]:
    split = state.splits[service.name]
    out: list[Manifest] = []
    secret = secret_manifest(settings, service)
    if secret:
        out.append(secret)
    for track, replicas in split.replicas.items():
        config_map = flag_config_map(settings, service, track, split.requested)
        out.append(config_map)
        stage_labels = ({STAGE_LABEL: state.stage, WEIGHT_LABEL: _percent_text(split.requested)}
                        if track == STABLE and service.has_flags else {})
        out.append(deployment(settings, service, track, replicas, config_map["metadata"]["name"], bool(secret),
                              stage_labels))
        out.append(disruption_budget(settings, service, track))
    out.append(cluster_service(settings, service))
    return out


def track_env(settings: StackSettings, service: Service, track: str, percentage: float) -> dict[str, str]:
    """The env a track's pods get: shared settings plus the track's flag values."""
    env = dict(service.env)
    if track == STABLE:
        if service.has_flags:  # percentage strategy: the app buckets users itself
            for flag in service.flags.values():
                env[flag.name] = flag.on if percentage > 0 else flag.off
            env[settings.percentage_env] = _percent_text(percentage)
    else:
        for flag in service.flags.values():
            env[flag.name] = flag.on if track == ON else flag.off
    return dict(sorted(env.items()))


def content_hash(data: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:10]


def flag_config_map(settings: StackSettings, service: Service, track: str, percentage: float) -> Manifest:
    data = track_env(settings, service, track, percentage)
    name = f"{workload_name(service.name, track)}-env-{content_hash(data)}"
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": settings.namespace,
            "labels": pod_labels(settings, service.name, track),
        },
        "immutable": True,  # a new content hash means a new ConfigMap, never an edit in place
        "data": data,
    }


def config_secret(settings: StackSettings, name: str, labels: dict[str, str], keys: dict[str, str]) -> Manifest:
    """A Secret with no values: each data key names the secret config key the Pulumi program fills it from."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": name,
            "namespace": settings.namespace,
            "labels": labels,
            "annotations": {
                SECRET_KEYS_ANNOTATION: ",".join(f"{data_key}=rollout:{key}" for data_key, key in sorted(keys.items())),
            },
        },
        "type": "Opaque",
    }


def secret_config_keys(manifest: Manifest) -> dict[str, tuple[str, str]]:
    """Data key -> (config namespace, config key), read back from a config_secret's annotation."""
    annotations = manifest["metadata"].get("annotations") or {}
    spec = annotations.get(SECRET_KEYS_ANNOTATION, "")
    sources: dict[str, tuple[str, str]] = {}
    for entry in filter(None, (part.strip() for part in spec.split(","))):
        data_key, _, config_ref = entry.partition("=")
        namespace, _, key = config_ref.partition(":")
        if not (data_key and namespace and key):
            raise UsageError(
                f"{manifest['metadata']['name']}: annotation {SECRET_KEYS_ANNOTATION} entry {entry!r} "
                "must look like ENV_KEY=namespace:configKey"
            )
        sources[data_key] = (namespace, key)
    return sources


def secret_manifest(settings: StackSettings, service: Service) -> Manifest | None:
    if not service.secret_env:
        return None
    labels = {APP_LABEL: service.name, **common_labels(settings)}
    return config_secret(settings, f"{service.name}-secrets", labels, dict(service.secret_env))


def pod_security_context(security: PodSecurity) -> dict[str, Any]:
    context: dict[str, Any] = {"runAsNonRoot": security.run_as_non_root}
    for key, value in (("runAsUser", security.run_as_user), ("runAsGroup", security.run_as_group),
                       ("fsGroup", security.fs_group)):
        if value is not None:
            context[key] = value
    context["seccompProfile"] = {"type": security.seccomp_profile}
    return context


def container_security_context(security: PodSecurity) -> dict[str, Any]:
    capabilities: dict[str, list[str]] = {"drop": ["ALL"]}  # the restricted profile drops everything
    if security.add_capabilities:
        capabilities["add"] = list(security.add_capabilities)
    context: dict[str, Any] = {"allowPrivilegeEscalation": security.allow_privilege_escalation, "capabilities": capabilities}
    if security.read_only_root_filesystem:
        context["readOnlyRootFilesystem"] = True
    return context


def deployment(
    settings: StackSettings, service: Service, track: str, replicas: int, config_map: str, has_secret: bool,
    stage_labels: dict[str, str] | None = None,
) -> Manifest:
    labels = pod_labels(settings, service.name, track)
    image = service.on_image if track == ON and service.on_image else service.image
    env_from: list[dict[str, Any]] = [{"configMapRef": {"name": config_map}}]
    if has_secret:
        env_from.append({"secretRef": {"name": f"{service.name}-secrets"}})
    probe = {"httpGet": {"path": service.health_path, "port": "http"}}
    security = service.security
    container: dict[str, Any] = {
        "name": service.name,
        "image": image,
        "ports": [{"name": "http", "containerPort": service.port, "protocol": "TCP"}],
        "envFrom": env_from,
        "readinessProbe": {**probe, "periodSeconds": 5, "timeoutSeconds": 2, "failureThreshold": 3},
        "livenessProbe": {
            **probe, "initialDelaySeconds": 15, "periodSeconds": 10, "timeoutSeconds": 2, "failureThreshold": 3,
        },
        "securityContext": container_security_context(security),
    }
    if service.resources:
        container["resources"] = {section: dict(values) for section, values in service.resources.items()}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": workload_name(service.name, track),
            "namespace": settings.namespace,
            "labels": labels,
        },
        "spec": {
            "replicas": replicas,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": {APP_LABEL: service.name, TRACK_LABEL: track}},
            # Surge first so a flag change never drops serving capacity.
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}},
            "template": {
                "metadata": {"labels": {**labels, **(stage_labels or {})}},
                "spec": {
                    "automountServiceAccountToken": security.automount_service_account_token,
                    "securityContext": pod_security_context(security),
                    "containers": [container],
                    "terminationGracePeriodSeconds": 30,
                },
            },
        },
    }


def disruption_budget(settings: StackSettings, service: Service, track: str) -> Manifest:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {
            "name": workload_name(service.name, track),
            "namespace": settings.namespace,
            "labels": pod_labels(settings, service.name, track),
        },
        "spec": {
            "maxUnavailable": service.max_unavailable,
            "selector": {"matchLabels": {APP_LABEL: service.name, TRACK_LABEL: track}},
        },
    }


def cluster_service(settings: StackSettings, service: Service) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": service.name,
            "namespace": settings.namespace,
            "labels": {APP_LABEL: service.name, **common_labels(settings)},
        },
        "spec": {
            "selector": {APP_LABEL: service.name},  # the app, not the track: both tracks share traffic
            "ports": [{"name": "http", "port": service.port, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def _percent_text(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:g}"
