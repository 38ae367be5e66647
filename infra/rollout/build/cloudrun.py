"""Cloud Run services as Google Cloud resources: one Cloud Run service per track behind a global
external Application Load Balancer whose URL map holds the stage's weights.

A stage is the URL map's weights and nothing else: each track's service (its template, hence its
revision) depends on the track only, always sends all of its own traffic to its latest revision
and keeps `minInstances` warm, so a stage move creates no revision, changes no template and
waits for no cold start, and rolling back to a stage renders the bytes it rendered before.
One `pulumi up` creates everything at any stage: nothing is assumed to exist beforehand.
"""
from __future__ import annotations

from typing import Any

from rollout.build.cloud import Document, cloud_resource, labels
from rollout.build.kubernetes import MANAGED_BY, content_hash, track_env
from rollout.build.promql import cloud_run_service_name
from rollout.core.ladder import ON, StageState, tracks_of
from rollout.spec.gcp import CloudRun
from rollout.spec.model import Service, StackSettings

RUN_SERVICE = "gcp:cloudrunv2/service:Service"
RUN_INVOKER = "gcp:cloudrunv2/serviceIamMember:ServiceIamMember"
SECRET = "gcp:secretmanager/secret:Secret"
SECRET_VERSION = "gcp:secretmanager/secretVersion:SecretVersion"
SECRET_ACCESS = "gcp:secretmanager/secretIamMember:SecretIamMember"
NEG = "gcp:compute/regionNetworkEndpointGroup:RegionNetworkEndpointGroup"
BACKEND = "gcp:compute/backendService:BackendService"
URL_MAP = "gcp:compute/uRLMap:URLMap"
ADDRESS = "gcp:compute/globalAddress:GlobalAddress"
CERTIFICATE = "gcp:compute/managedSslCertificate:ManagedSslCertificate"
HTTPS_PROXY = "gcp:compute/targetHttpsProxy:TargetHttpsProxy"
FORWARDING_RULE = "gcp:compute/globalForwardingRule:GlobalForwardingRule"
LOAD_BALANCING = "EXTERNAL_MANAGED"  # the global external ALB: weighted backends need it (the classic one refuses)
CONTAINER_PORT_NAME = "http1"  # Cloud Run's name for HTTP/1 (h2c would be "h2c")


def resource_labels(settings: StackSettings, service: Service, track: str | None = None) -> dict[str, str]:
    parts = [("app", settings.app), ("service", service.name)] + ([("track", track)] if track else [])
    return labels(*parts, ("rollout-stack", settings.stack), ("managed-by", MANAGED_BY))


def build(settings: StackSettings, state: StageState) -> list[Document]:
    out: list[Document] = []
    for service in settings.cloud_run_services:
        out += service_resources(settings, service, state)
    return out


def service_resources(settings: StackSettings, service: Service, state: StageState) -> list[Document]:
    run: CloudRun = service.cloud_run  # type: ignore[assignment]
    secrets = secret_resources(settings, service)
    tracks = tracks_of(settings, service)
    out = list(secrets)
    for track in tracks:
        name = cloud_run_service_name(run.name, tracks, track)
        out.append(run_service(settings, service, track, name, [d["name"] for d in secrets if d["type"] != SECRET]))
        out.append(cloud_resource(RUN_INVOKER, f"{name}-invoker", {
            # The load balancer does not authenticate callers; ingress keeps everyone else out.
            "project": run.project, "location": run.region, "name": name,
            "role": "roles/run.invoker", "member": "allUsers",
        }, service.name, [name]))
    if len(tracks) > 1:
        out += load_balancer(service, state.splits[service.name].traffic)
    return out


def run_service(settings: StackSettings, service: Service, track: str, name: str, secret_deps: list[str]) -> Document:
    """One track's Cloud Run service: a function of the service and the track, never of the stage."""
    run: CloudRun = service.cloud_run  # type: ignore[assignment]
    probe = {"httpGet": {"path": service.health_path, "port": service.port}, "timeoutSeconds": 2}
    container: dict[str, Any] = {
        "name": service.name,
        "image": service.on_image if track == ON and service.on_image else service.image,
        "ports": {"name": CONTAINER_PORT_NAME, "containerPort": service.port},
        "envs": env_vars(settings, service, track),
        # cpuIdle must be explicit once resources are set (pulumi-gcp); idle CPU is not billed.
        "resources": {"limits": {"cpu": run.cpu, "memory": run.memory}, "cpuIdle": True, "startupCpuBoost": True},
        "startupProbe": {**probe, "periodSeconds": 5, "failureThreshold": 24},
        "livenessProbe": {**probe, "periodSeconds": 10, "failureThreshold": 3},
    }
    template: dict[str, Any] = {
        "labels": resource_labels(settings, service, track),
        "scaling": {"minInstanceCount": run.min_instances, "maxInstanceCount": run.max_instances},
        "maxInstanceRequestConcurrency": run.concurrency,
        "timeout": f"{int(run.timeout.seconds)}s",
        "containers": [container],
    }
    if run.service_account:
        template["serviceAccount"] = run.service_account
    return cloud_resource(RUN_SERVICE, name, {
        "name": name,
        "project": run.project,
        "location": run.region,
        "ingress": run.ingress,
        # Removing a service's flags deletes its on track; Pulumi's review is the guard, not this flag.
        "deletionProtection": False,
        "labels": resource_labels(settings, service, track),
        "template": template,
        # Each track serves all of its own traffic from its latest revision: the split lives in the URL map.
        "traffics": [{"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST", "percent": 100}],
    }, service.name, secret_deps)


def env_vars(settings: StackSettings, service: Service, track: str) -> list[dict[str, Any]]:
    """Plain values, then secrets by reference: Secret Manager's, and the ones filled from Pulumi secrets."""
    run: CloudRun = service.cloud_run  # type: ignore[assignment]
    plain = [{"name": k, "value": v} for k, v in track_env(settings, service, track, 0.0).items()]
    refs = {env: (ref.secret, ref.version) for env, ref in run.secrets.items()}
    refs.update({env: (secret_id(service, key), "latest") for env, key in service.secret_env.items()})
    return plain + [{"name": env, "valueSource": {"secretKeyRef": {"secret": secret, "version": version}}}
                    for env, (secret, version) in sorted(refs.items())]


def secret_id(service: Service, config_key: str) -> str:
    return f"{service.cloud_run.name}-{config_key}"  # type: ignore[union-attr]


def secret_resources(settings: StackSettings, service: Service) -> list[Document]:
    """A Secret Manager secret per Pulumi secret config key, readable by the service's account only.

    Env vars read version `latest`: a rotated secret reaches new instances without a new revision
    (pinning the number would need the version's output, which render cannot know)."""
    run: CloudRun = service.cloud_run  # type: ignore[assignment]
    out = []
    for key in sorted(set(service.secret_env.values())):
        sid = secret_id(service, key)
        path = f"projects/{run.project}/secrets/{sid}"
        out.append(cloud_resource(SECRET, sid, {
            "project": run.project, "secretId": sid, "replication": {"auto": {}},
            "labels": resource_labels(settings, service),
        }, service.name))
        out.append(cloud_resource(SECRET_VERSION, f"{sid}-value", {"secret": path}, service.name, [sid],
                                  secret_inputs={"secretData": f"rollout:{key}"}))
        out.append(cloud_resource(SECRET_ACCESS, f"{sid}-access", {
            "project": run.project, "secretId": path, "role": "roles/secretmanager.secretAccessor",
            "member": f"serviceAccount:{run.service_account}",
        }, service.name, [sid]))
    return out


def address_name(base: str) -> str:
    return f"{base}-ip"


def load_balancer(service: Service, traffic: dict[str, int]) -> list[Document]:
    """Serverless NEG and backend service per track, the URL map with the stage's weights, and the
    address, certificate, proxy and forwarding rule in front of it."""
    run: CloudRun = service.cloud_run  # type: ignore[assignment]
    project, base = run.project, run.name
    out, backends = [], []
    for track in traffic:
        name = cloud_run_service_name(base, tuple(traffic), track)
        neg, backend = f"{name}-neg", f"{name}-be"
        out.append(cloud_resource(NEG, neg, {
            "name": neg, "project": project, "region": run.region,
            "networkEndpointType": "SERVERLESS", "cloudRun": {"service": name},
        }, service.name, [name]))
        out.append(cloud_resource(BACKEND, backend, {
            "name": backend, "project": project, "loadBalancingScheme": LOAD_BALANCING, "protocol": "HTTPS",
            "backends": [{"group": f"projects/{project}/regions/{run.region}/networkEndpointGroups/{neg}"}],
        }, service.name, [neg]))
        backends.append(backend)
    # Every track keeps its entry (the kill switch is off 1000, on 0): every stage has the same shape.
    weighted = [{"backendService": f"projects/{project}/global/backendServices/{be}", "weight": traffic[track]}
                for track, be in zip(traffic, backends)]
    certificate = f"{base}-cert-{content_hash({'domain': run.domain or ''})[:8]}"  # a new host name is a new certificate
    out += [
        cloud_resource(URL_MAP, base, {
            "name": base, "project": project, "defaultRouteAction": {"weightedBackendServices": weighted},
        }, service.name, backends),
        cloud_resource(ADDRESS, address_name(base), {"name": address_name(base), "project": project}, service.name),
        cloud_resource(CERTIFICATE, certificate, {
            "name": certificate, "project": project, "managed": {"domains": [run.domain]},
        }, service.name),
        cloud_resource(HTTPS_PROXY, f"{base}-https", {
            "name": f"{base}-https", "project": project, "urlMap": f"projects/{project}/global/urlMaps/{base}",
            "sslCertificates": [f"projects/{project}/global/sslCertificates/{certificate}"],
        }, service.name, [base, certificate]),
        cloud_resource(FORWARDING_RULE, f"{base}-fr", {
            "name": f"{base}-fr", "project": project, "loadBalancingScheme": LOAD_BALANCING, "ipProtocol": "TCP",
            "portRange": "443", "ipAddress": f"projects/{project}/global/addresses/{address_name(base)}",
            "target": f"projects/{project}/global/targetHttpsProxies/{base}-https",
        }, service.name, [address_name(base), f"{base}-https"]),
    ]
    return out


def revisions_created(before: Document | None, after: Document) -> int:
    """A Cloud Run service creates a revision when it is created or its template changes."""
    if after.get("type") != RUN_SERVICE:
        return 0
    return int(before is None or before["inputs"].get("template") != after["inputs"].get("template"))
