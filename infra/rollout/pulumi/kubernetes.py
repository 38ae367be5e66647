"""The thin Pulumi layer: each manifest becomes one Kubernetes resource of pulumi_kubernetes' provider.

Each is registered with its type token (kubernetes:apps/v1:Deployment...) and the manifest's own
fields as inputs, so what Pulumi registers is exactly what `rollout render` writes. The engine
sees what pulumi_kubernetes' typed classes would send (type, name, inputs, provider version,
secret outputs) without the SDK translating every field through their Python types, which cost
a quarter of the program's time. Only rollout.pulumi and infra/__main__.py import pulumi.
Where each resource goes and what it waits for is rollout.pulumi.registration's.
"""
from __future__ import annotations

from importlib import metadata

import pulumi

from rollout.build.resources import Manifest
from rollout.build.kubernetes import secret_config_keys

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
