"""The CrossGuard policy pack, without the Pulumi CLI: each policy's validate on good and bad resources.

policy/policies.py holds the pulumi_policy objects; the PolicyPack itself (which starts a server)
is built only in policy/__main__.py and never here.
"""
from __future__ import annotations

from dataclasses import replace

import copy
import json
import sys

import pytest

from conftest import REPO, SHIPPED_STACKS
from rollout.build import kubernetes as workloads
from rollout.build.resources import build_manifests, kubernetes_manifests
from rollout.spec.stack import load_stack

sys.path.insert(0, str(REPO / "policy"))
import policies  # noqa: E402  (policy/policies.py)

from pulumi_policy import (  # noqa: E402
    PolicyResource, PolicyResourceOptions, ResourceValidationArgs, ResourceValidationPolicy, StackValidationArgs,
    StackValidationPolicy,
)

BY_NAME = {p.name: p for p in policies.POLICIES}


def pulumi_type(manifest: dict) -> str:
    group_version = manifest["apiVersion"] if "/" in manifest["apiVersion"] else f"core/{manifest['apiVersion']}"
    return f"kubernetes:{group_version}:{manifest['kind']}"


def _options() -> PolicyResourceOptions:
    return PolicyResourceOptions(protect=False, ignore_changes=[], delete_before_replace=None, aliases=[],
                                 custom_timeouts=None, additional_secret_outputs=[])


def validate_resource(name: str, manifest: dict) -> list[str]:
    policy = BY_NAME[name]
    assert isinstance(policy, ResourceValidationPolicy)
    props = {k: v for k, v in manifest.items() if k != "kind"}  # the kind comes from the type token
    args = ResourceValidationArgs(pulumi_type(manifest), props, f"urn:{manifest['metadata']['name']}",
                                  manifest["metadata"]["name"], _options(), None)
    found: list[str] = []
    policy.validate(args, lambda message, urn=None: found.append(message))
    return found


def validate_stack(name: str, manifests: list[dict]) -> list[str]:
    policy = BY_NAME[name]
    assert isinstance(policy, StackValidationPolicy)
    resources = [PolicyResource(pulumi_type(m), {k: v for k, v in m.items() if k != "kind"}, f"urn:{i}",
                                m["metadata"]["name"], _options(), None, None, [], {}) for i, m in enumerate(manifests)]
    found: list[str] = []
    policy.validate(StackValidationArgs(resources), lambda message, urn=None: found.append(message))
    return found


def prod(stage: str = "canary-5") -> list[dict]:
    """The prod stack's Kubernetes manifests: the pack judges `kubernetes:` resources only."""
    return kubernetes_manifests(build_manifests(load_stack(REPO / "Pulumi.prod.yaml"), stage))


def first(manifests: list[dict], kind: str, name: str | None = None) -> dict:
    return copy.deepcopy(next(m for m in manifests if m["kind"] == kind and (name is None or m["metadata"]["name"] == name)))


def test_the_pack_has_the_five_policies_mandatory_unless_configured():
    assert sorted(BY_NAME) == ["canary-alerts", "disruption-budgets", "no-plain-credentials", "probes-and-limits",
                               "restricted-pod-security"]
    assert {p.enforcement_level.value for p in policies.POLICIES} == {"mandatory"}
    assert "PolicyPack(" in (REPO / "policy" / "__main__.py").read_text()
    assert "PolicyPack(" not in (REPO / "policy" / "policies.py").read_text().split('"""', 2)[2]


def test_prod_is_mandatory_and_staging_advisory():
    assert json.loads((REPO / "policy" / "config" / "prod.json").read_text()) == {"all": "mandatory"}
    assert json.loads((REPO / "policy" / "config" / "staging.json").read_text()) == {"all": "advisory"}


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_every_resource_of_every_shipped_stack_at_every_stage_passes_every_policy(stack):
    settings = load_stack(REPO / f"Pulumi.{stack}.yaml")
    for stage in settings.stage_names:
        manifests = kubernetes_manifests(build_manifests(settings, stage))
        for name, policy in BY_NAME.items():
            if isinstance(policy, StackValidationPolicy):
                assert validate_stack(name, manifests) == [], (stage, name)
            else:
                for manifest in manifests:
                    assert validate_resource(name, manifest) == [], (stage, name, manifest["metadata"]["name"])


def test_a_credential_in_a_configmap_or_plain_env_is_a_violation_naming_the_key():
    config_map = first(prod(), "ConfigMap")
    config_map["data"]["GITHUB_TOKEN"] = "ghp_16C7e42F292c6912E7710c838347Ae178B4a"
    [problem] = validate_resource("no-plain-credentials", config_map)
    assert "data.GITHUB_TOKEN looks like a credential (GitHub Token)" in problem and "ghp_" not in problem
    deployment = first(prod(), "Deployment", "backend-on")
    deployment["spec"]["template"]["spec"]["containers"][0]["env"] = [
        {"name": "DB_PASSWORD", "value": "hunter2"}, {"name": "LOG_LEVEL", "value": "info"},
        {"name": "FROM_SECRET", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]
    [problem] = validate_resource("no-plain-credentials", deployment)
    assert "env DB_PASSWORD" in problem and "secretEnv" in problem


@pytest.mark.parametrize("weaken, expected", [
    (lambda pod, c: c["securityContext"].update(allowPrivilegeEscalation=True), "allowPrivilegeEscalation"),
    (lambda pod, c: c["securityContext"].pop("capabilities"), "capabilities.drop must include ALL"),
    (lambda pod, c: c["securityContext"]["capabilities"].update(add=["SYS_ADMIN"]), "adds capabilities SYS_ADMIN"),
    (lambda pod, c: pod["securityContext"].update(runAsNonRoot=False), "runAsNonRoot"),
    (lambda pod, c: c["securityContext"].update(runAsUser=0), "runAsUser 0"),
    (lambda pod, c: pod["securityContext"].update(seccompProfile={"type": "Unconfined"}), "seccompProfile"),
    (lambda pod, c: c["securityContext"].update(privileged=True), "privileged"),
    (lambda pod, c: pod.update(hostNetwork=True), "hostNetwork"),
    (lambda pod, c: pod.update(volumes=[{"name": "h", "hostPath": {"path": "/"}}]), "hostPath"),
], ids=["escalation", "no-drop", "sys-admin", "root", "uid-0", "unconfined", "privileged", "host-network", "host-path"])
def test_a_pod_that_breaks_the_restricted_standard_is_a_violation(weaken, expected):
    deployment = first(prod(), "Deployment", "backend-on")
    pod = deployment["spec"]["template"]["spec"]
    weaken(pod, pod["containers"][0])
    problems = validate_resource("restricted-pod-security", deployment)
    assert len(problems) == 1 and expected in problems[0], problems


def test_net_bind_service_is_the_one_capability_restricted_allows():
    settings = load_stack(REPO / "Pulumi.prod.yaml")
    backend = settings.services["backend"]
    allowed = replace(backend, security=replace(backend.security, add_capabilities=("NET_BIND_SERVICE",)))
    deployment = workloads.deployment(settings, allowed, "on", 2, "cm", False)
    assert validate_resource("restricted-pod-security", deployment) == []


def test_a_container_without_probes_or_limits_is_a_violation():
    deployment = first(prod(), "Deployment", "backend-off")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    del container["livenessProbe"], container["resources"]["limits"]["memory"]
    assert validate_resource("probes-and-limits", deployment) == [
        "Deployment chat-prod/backend-off: container backend: no livenessProbe",
        "Deployment chat-prod/backend-off: container backend: no memory limit"]


def test_a_deployment_without_a_disruption_budget_is_a_violation():
    manifests = [m for m in prod() if not (m["kind"] == "PodDisruptionBudget" and m["metadata"]["name"] == "agent")]
    assert validate_stack("disruption-budgets", manifests) == [
        "Deployment chat-prod/agent: no PodDisruptionBudget selects its pods"]


def test_a_flagged_service_without_its_canary_alerts_is_a_violation():
    manifests = copy.deepcopy(prod())
    rules = next(m for m in manifests if m["kind"] == "Rules")  # prod targets Managed Prometheus
    for group in rules["spec"]["groups"]:
        group["rules"] = [r for r in group["rules"]
                          if not (r.get("labels", {}).get("service") == "backend" and r.get("alert", "").endswith("LatencyWorse"))]
    assert validate_stack("canary-alerts", manifests) == [
        "service backend in chat-prod has a canary track but no CanaryLatencyWorse alert labelled service=backend "
        "in a PrometheusRule or Rules"]
    without_rules = [m for m in manifests if m["kind"] != "Rules"]
    assert len(validate_stack("canary-alerts", without_rules)) == 1  # backend (the frontend runs on Cloud Run)


def test_resources_of_other_providers_are_not_judged():
    policy = BY_NAME["restricted-pod-security"]
    args = ResourceValidationArgs("aws:s3/bucket:Bucket", {"spec": {"template": {"spec": {"hostNetwork": True}}}},
                                  "urn:b", "b", _options(), None)
    found: list[str] = []
    policy.validate(args, lambda message, urn=None: found.append(message))
    assert found == []
