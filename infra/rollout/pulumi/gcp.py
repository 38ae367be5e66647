"""Google Cloud for the Pulumi program: each rendered Google Cloud document becomes one typed
pulumi_gcp resource, so the program registers exactly what `rollout render` writes.

A document's top-level inputs become the class's keyword arguments; nested camelCase dicts pass
through the SDK unchanged (map keys such as labels stay as written). `${name.output}` resolves to
the named resource's output, `secretInputs` are filled from Pulumi secret config and stay secret end
to end. A document with a `service` is a child of that service's component and rolls in its order,
`dependsOn` becomes depends_on (rollout.pulumi.registration). pulumi_gcp loads only when a stack
has Google Cloud resources, one module at a time.
"""
from __future__ import annotations

import functools
import importlib
import re
import warnings
from typing import Any

import pulumi

from rollout.build import cloudrun
from rollout.build.cloud import REFERENCE, Document, is_cloud_resource
from rollout.build.monitoring import cloudmonitoring
from rollout.build.ordering import Key
from rollout.build.promql import cloud_run_service_name
from rollout.build.resources import Manifest
from rollout.core.ladder import tracks_of
from rollout.errors import UsageError
from rollout.spec.model import StackSettings

def snake(field: str) -> str:
    """A camelCase input name as the pulumi_gcp classes take it: templateRevision -> template_revision."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", field).lower()


# Pulumi type token -> (pulumi_gcp module, class).
CLASSES = {
    cloudrun.RUN_SERVICE: ("cloudrunv2", "Service"),
    cloudrun.RUN_INVOKER: ("cloudrunv2", "ServiceIamMember"),
    cloudrun.SECRET: ("secretmanager", "Secret"),
    cloudrun.SECRET_VERSION: ("secretmanager", "SecretVersion"),
    cloudrun.SECRET_ACCESS: ("secretmanager", "SecretIamMember"),
    cloudrun.NEG: ("compute", "RegionNetworkEndpointGroup"),
    cloudrun.BACKEND: ("compute", "BackendService"),
    cloudrun.URL_MAP: ("compute", "URLMap"),
    cloudrun.ADDRESS: ("compute", "GlobalAddress"),
    cloudrun.CERTIFICATE: ("compute", "ManagedSslCertificate"),
    cloudrun.HTTPS_PROXY: ("compute", "TargetHttpsProxy"),
    cloudrun.FORWARDING_RULE: ("compute", "GlobalForwardingRule"),
    cloudmonitoring.CHANNEL: ("monitoring", "NotificationChannel"),
    cloudmonitoring.ALERT_POLICY: ("monitoring", "AlertPolicy"),
    cloudmonitoring.DASHBOARD: ("monitoring", "Dashboard"),
}


@functools.cache
def resource_class(type_token: str) -> Any:
    if type_token not in CLASSES:
        raise UsageError(f"no pulumi_gcp class is known for {type_token}; known: {', '.join(sorted(CLASSES))}")
    module, name = CLASSES[type_token]
    with warnings.catch_warnings():
        # pulumi-gcp 10.2 warns when some modules first load (compute, monitoring) about aliases it
        # deprecated; nothing here uses them. The class lookup is what loads the lazy module.
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"pulumi_gcp\.")
        return getattr(importlib.import_module(f"pulumi_gcp.{module}"), name)


def secret_config(doc: Document) -> dict[str, tuple[str, str]]:
    """Input path (dotted) -> (config namespace, key) for every input filled from a Pulumi secret."""
    return {path: tuple(ref.split(":", 1)) for path, ref in (doc.get("secretInputs") or {}).items()}  # type: ignore[misc]


def missing_secret_config(manifests: list[Manifest]) -> list[str]:
    """Every `namespace:key` a Google Cloud resource fills an input from but the stack's config lacks."""
    missing: list[str] = []
    for doc in filter(is_cloud_resource, manifests):
        for namespace, key in secret_config(doc).values():
            if pulumi.Config(namespace).get(key) is None and f"{namespace}:{key}" not in missing:
                missing.append(f"{namespace}:{key}")
    return missing


def _resolve(value: Any, resources: dict[str, pulumi.CustomResource]) -> Any:
    """`${name.output}` -> that resource's output; everything else as it is."""
    if isinstance(value, str):
        match = REFERENCE.fullmatch(value)
        if match:
            return getattr(resources[match.group(1)], snake(match.group(2)))
        if REFERENCE.search(value):
            raise UsageError(f"{value!r}: a reference must be the whole value")
        return value
    if isinstance(value, dict):
        return {k: _resolve(v, resources) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, resources) for v in value]
    return value


def inputs_of(doc: Document, resources: dict[str, pulumi.CustomResource]) -> dict[str, Any]:
    """The document's inputs with references resolved and secret inputs filled, as keyword arguments."""
    inputs = _resolve(doc["inputs"], resources)
    for path, (namespace, key) in secret_config(doc).items():
        *parents, leaf = path.split(".")
        target = inputs
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = pulumi.Output.secret(pulumi.Config(namespace).require_secret(key))
    return {snake(k): v for k, v in inputs.items()}


def resource_for(doc: Document, registered: dict[str, pulumi.CustomResource],
                 opts: pulumi.ResourceOptions) -> pulumi.CustomResource:
    """The document as its typed pulumi_gcp resource; `registered` holds the Google Cloud resources
    already registered, by name, which its `${name.output}` references resolve to."""
    return resource_class(doc["type"])(doc["name"], opts=opts, **inputs_of(doc, registered))


def export_endpoints(settings: StackSettings, registered: dict[Key, pulumi.CustomResource]) -> None:
    """Where each Cloud Run service answers: the load balancer's address (point the domain's DNS at it)
    and every track's own URL."""
    resources = {name: resource for (kind, _, name), resource in registered.items() if kind in CLASSES}
    endpoints = {}
    for service in settings.cloud_run_services:
        run = service.cloud_run
        tracks = tracks_of(settings, service)
        address = resources.get(cloudrun.address_name(run.name))  # type: ignore[union-attr]
        endpoints[service.name] = {
            "domain": run.domain,  # type: ignore[union-attr]
            "address": address.address if address is not None else None,  # type: ignore[attr-defined]
            "tracks": {t: resources[cloud_run_service_name(run.name, tracks, t)].uri for t in tracks},  # type: ignore[union-attr,attr-defined]
        }
    if endpoints:
        pulumi.export("cloudRun", endpoints)
