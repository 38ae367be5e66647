"""What every stack must meet before `pulumi preview`/`up` lets it through, as plain functions.

Each rule takes Kubernetes manifests (the shape `rollout render` writes and Pulumi's resource
inputs share) and returns the violations, one sentence each; an empty list passes. No pulumi
import: policy/policies.py wraps these for the policy pack, and the tests call them directly.
"""
from __future__ import annotations

from typing import Any, Iterable

from rollout.build.kubernetes import APP_LABEL, TRACK_LABEL
from rollout.core.ladder import ON
from rollout.spec.credentials import credential_problem

Manifest = dict[str, Any]
WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet")
CANARY_ALERTS = ("CanaryErrorRatioWorse", "CanaryLatencyWorse")
RULE_KINDS = ("PrometheusRule", "Rules")  # prometheus-operator's, Managed Prometheus's
SECCOMP_ALLOWED = ("RuntimeDefault", "Localhost")


def kind_of(resource_type: str) -> str:
    """`kubernetes:apps/v1:Deployment` -> `Deployment` (Pulumi's type token for a Kubernetes kind)."""
    return resource_type.rsplit(":", 1)[-1]


def _name(manifest: Manifest) -> str:
    meta = manifest.get("metadata") or {}
    return f"{manifest.get('kind', '?')} {meta.get('namespace', '')}/{meta.get('name', '?')}".replace(" /", " ")


def _pod(manifest: Manifest) -> dict[str, Any] | None:
    if manifest.get("kind") == "Pod":
        return manifest.get("spec") or {}
    if manifest.get("kind") in WORKLOADS:
        return ((manifest.get("spec") or {}).get("template") or {}).get("spec") or {}
    return None


def _containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return list(pod.get("initContainers") or []) + list(pod.get("containers") or [])


# -- resource rules ------------------------------------------------------------------------------

def plain_credentials(manifest: Manifest) -> list[str]:
    """No ConfigMap value or plain container env value looks like a credential (they belong in Secrets)."""
    values: list[tuple[str, str, str]] = []  # (where, key, value)
    if manifest.get("kind") == "ConfigMap":
        values += [(f"data.{key}", key, value) for key, value in (manifest.get("data") or {}).items()]
    for container in _containers(_pod(manifest) or {}):
        values += [(f"container {container.get('name')} env {entry.get('name')}", entry.get("name", ""), entry["value"])
                   for entry in container.get("env") or [] if "value" in entry]
    return [f"{_name(manifest)}: {where} {why}; deliver it from a Secret (rollout:services.<svc>.secretEnv)"
            for where, key, value in values if isinstance(value, str) and (why := credential_problem(key, value))]


def restricted_pod_security(manifest: Manifest) -> list[str]:
    """The Pod Security Standard "restricted" (which includes "baseline"), for every container."""
    pod = _pod(manifest)
    if pod is None:
        return []
    name, problems = _name(manifest), []
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(field):
            problems.append(f"{name}: {field} is true")
    if any("hostPath" in volume for volume in pod.get("volumes") or []):
        problems.append(f"{name}: mounts a hostPath volume")
    pod_context = pod.get("securityContext") or {}
    for container in _containers(pod):
        where = f"{name}: container {container.get('name')}"
        context = container.get("securityContext") or {}
        if context.get("privileged"):
            problems.append(f"{where}: privileged")
        if context.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{where}: allowPrivilegeEscalation must be false")
        capabilities = context.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            problems.append(f"{where}: capabilities.drop must include ALL")
        added = [c for c in capabilities.get("add") or [] if c != "NET_BIND_SERVICE"]
        if added:
            problems.append(f"{where}: adds capabilities {', '.join(added)} (only NET_BIND_SERVICE is allowed)")
        if context.get("runAsNonRoot", pod_context.get("runAsNonRoot")) is not True:
            problems.append(f"{where}: runAsNonRoot must be true (on the pod or the container)")
        if context.get("runAsUser", pod_context.get("runAsUser")) == 0:
            problems.append(f"{where}: runAsUser 0 is root")
        seccomp = (context.get("seccompProfile") or pod_context.get("seccompProfile") or {}).get("type")
        if seccomp not in SECCOMP_ALLOWED:
            problems.append(f"{where}: seccompProfile.type must be RuntimeDefault or Localhost, got {seccomp or 'nothing'}")
    return problems


def probes_and_limits(manifest: Manifest) -> list[str]:
    """Every container of a workload has readiness and liveness probes and CPU and memory limits."""
    if manifest.get("kind") not in WORKLOADS:
        return []
    problems = []
    for container in (_pod(manifest) or {}).get("containers") or []:
        where = f"{_name(manifest)}: container {container.get('name')}"
        for probe in ("readinessProbe", "livenessProbe"):
            if not container.get(probe):
                problems.append(f"{where}: no {probe}")
        limits = (container.get("resources") or {}).get("limits") or {}
        missing = [r for r in ("cpu", "memory") if r not in limits]
        if missing:
            problems.append(f"{where}: no {' or '.join(missing)} limit")
    return problems


# -- stack rules ---------------------------------------------------------------------------------

def disruption_budgets(manifests: Iterable[Manifest]) -> list[str]:
    """Every Deployment's pods are selected by a PodDisruptionBudget in its namespace."""
    manifests = list(manifests)
    budgets = [m for m in manifests if m.get("kind") == "PodDisruptionBudget"]
    problems = []
    for deployment in (m for m in manifests if m.get("kind") == "Deployment"):
        namespace = (deployment.get("metadata") or {}).get("namespace")
        labels = ((deployment.get("spec") or {}).get("template") or {}).get("metadata", {}).get("labels") or {}
        if not any((b.get("metadata") or {}).get("namespace") == namespace and _selects(b, labels) for b in budgets):
            problems.append(f"{_name(deployment)}: no PodDisruptionBudget selects its pods")
    return problems


def _selects(budget: Manifest, labels: dict[str, str]) -> bool:
    wanted = ((budget.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    return bool(wanted) and all(labels.get(k) == v for k, v in wanted.items())


def canary_alerts(manifests: Iterable[Manifest]) -> list[str]:
    """Every service with a canary track (its flags' `on` track) ships both canary alerts in a PrometheusRule
    (or Managed Prometheus's Rules)."""
    manifests = list(manifests)
    alerts: dict[tuple[str | None, str], set[str]] = {}
    for rule_set in (m for m in manifests if m.get("kind") in RULE_KINDS):
        namespace = (rule_set.get("metadata") or {}).get("namespace")
        for group in (rule_set.get("spec") or {}).get("groups") or []:
            for rule in group.get("rules") or []:
                service = (rule.get("labels") or {}).get("service")
                if "alert" in rule and service:
                    alerts.setdefault((namespace, service), set()).add(rule["alert"])
    problems = []
    for deployment in (m for m in manifests if m.get("kind") == "Deployment"):
        meta = deployment.get("metadata") or {}
        labels = meta.get("labels") or {}
        if labels.get(TRACK_LABEL) != ON:
            continue
        service = labels.get(APP_LABEL, meta.get("name"))
        shipped = alerts.get((meta.get("namespace"), service), set())
        missing = [suffix for suffix in CANARY_ALERTS if not any(a.endswith(suffix) for a in shipped)]
        if missing:
            problems.append(f"service {service} in {meta.get('namespace')} has a canary track but no "
                            f"{' or '.join(missing)} alert labelled service={service} in a PrometheusRule or Rules")
    return problems


RESOURCE_RULES = {
    "no-plain-credentials": plain_credentials,
    "restricted-pod-security": restricted_pod_security,
    "probes-and-limits": probes_and_limits,
}
STACK_RULES = {
    "disruption-budgets": disruption_budgets,
    "canary-alerts": canary_alerts,
}
