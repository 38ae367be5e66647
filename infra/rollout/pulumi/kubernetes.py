"""The thin Pulumi layer: each manifest becomes one typed pulumi_kubernetes resource.

Inputs are the manifest's own fields (camelCase keys pass through the SDK unchanged),
so what Pulumi registers is exactly what `rollout render` writes. Only this module and
infra/__main__.py import pulumi; the CLI never does.
"""
from __future__ import annotations

import re
from typing import Callable

import pulumi
import pulumi_kubernetes as k8s

from rollout.errors import UsageError
from rollout.build.resources import Manifest, manifest_key
from rollout.build.ordering import Key, dependencies, topological_order
from rollout.spec.model import StackSettings
from rollout.build.kubernetes import secret_config_keys

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


def register(settings: StackSettings, manifests: list[Manifest]) -> dict[Key, pulumi.CustomResource]:
    """Register every manifest, dependencies first, with depends_on from rollout.build.ordering."""
    deps = dependencies(settings, manifests)
    by_key = {manifest_key(m): m for m in manifests}
    resources: dict[Key, pulumi.CustomResource] = {}
    for key in topological_order(deps):  # a resource's dependencies exist before it is created
        opts = pulumi.ResourceOptions(depends_on=[resources[d] for d in deps[key]])
        resources[key] = resource_for(by_key[key], opts)
    return resources
