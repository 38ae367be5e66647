"""What the Google Cloud provider answers when rollout's resources are created, for the Pulumi mocks.

The inputs come back as state (as the engine keeps them) together with the outputs only the API
knows: a Cloud Run service's `uri` and `latestReadyRevision`, a notification channel's `name`, an
address's IP, and each resource's id in the form `pulumi import` takes (pulumi-gcp 10.2 output names).
"""
from __future__ import annotations

import hashlib
from typing import Any

PROJECT_NUMBER = "123456789012"


def _digits(name: str, length: int = 12) -> str:
    return str(int(hashlib.sha256(name.encode()).hexdigest(), 16))[:length]


def outputs(type_token: str, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(id, state) for one created resource."""
    state = dict(inputs)
    project = inputs.get("project", "mock-project")
    kind = type_token.rsplit(":", 1)[1]
    real_name = inputs.get("name", name)
    global_path = {
        "BackendService": "backendServices", "URLMap": "urlMaps", "GlobalAddress": "addresses",
        "ManagedSslCertificate": "sslCertificates", "TargetHttpsProxy": "targetHttpsProxies",
        "GlobalForwardingRule": "forwardingRules",
    }
    if kind == "Service" and type_token.startswith("gcp:cloudrunv2/"):
        revision = f"{real_name}-00001-{_digits(real_name, 3)}"
        state.update(
            uri=f"https://{real_name}-{_digits(project, 10)}.{inputs['location']}.run.app",
            urls=[f"https://{real_name}-{_digits(project, 10)}.{inputs['location']}.run.app"],
            latestReadyRevision=revision, latestCreatedRevision=revision,
            trafficStatuses=[{"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST", "percent": 100, "revision": "",
                              "tag": "", "uri": ""}],
            observedGeneration="1", generation="1", reconciling=False, uid=_digits(real_name, 16),
            terminalConditions=[{"type": "Ready", "state": "CONDITION_SUCCEEDED"}],
        )
        return f"projects/{project}/locations/{inputs['location']}/services/{real_name}", state
    if kind == "RegionNetworkEndpointGroup":
        path = f"projects/{project}/regions/{inputs['region']}/networkEndpointGroups/{real_name}"
        state["selfLink"] = f"https://www.googleapis.com/compute/v1/{path}"
        return path, state
    if kind in global_path:
        path = f"projects/{project}/global/{global_path[kind]}/{real_name}"
        state["selfLink"] = f"https://www.googleapis.com/compute/v1/{path}"
        if kind == "GlobalAddress":
            state["address"] = "203.0.113.10"
        if kind == "ManagedSslCertificate":
            state["subjectAlternativeNames"] = list(inputs.get("managed", {}).get("domains", []))
        return path, state
    if kind == "NotificationChannel":
        state.update(name=f"projects/{project}/notificationChannels/{_digits(name)}", verificationStatus="")
        return state["name"], state
    if kind == "AlertPolicy":
        state.update(name=f"projects/{project}/alertPolicies/{_digits(name)}")
        return state["name"], state
    if kind == "Dashboard":
        return f"projects/{PROJECT_NUMBER}/dashboards/{_digits(name, 8)}", state
    if kind == "Secret":
        state.update(name=f"projects/{PROJECT_NUMBER}/secrets/{inputs['secretId']}")
        return f"projects/{project}/secrets/{inputs['secretId']}", state
    if kind == "SecretVersion":
        secret = inputs["secret"].rsplit("/", 1)[1]
        state.update(name=f"projects/{PROJECT_NUMBER}/secrets/{secret}/versions/1", version="1")
        return state["name"], state
    if kind.endswith("IamMember"):
        state["etag"] = f"BwY{_digits(name, 8)}="
        target = inputs.get("secretId") or inputs.get("name")
        return f"{target}/{inputs['role']}/{inputs['member']}", state
    raise AssertionError(f"the mocks do not know what the provider answers for {type_token}")
