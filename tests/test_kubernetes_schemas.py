"""Every rendered workload manifest is valid against the Kubernetes OpenAPI schemas."""
from __future__ import annotations

import kubernetes_validate
import pytest

from conftest import REPO, SHIPPED_STACKS
from rollout.build.resources import build_manifests, kubernetes_manifests
from rollout.spec.stack import load_stack

KUBERNETES_VERSION = "1.31.0"
CORE_KINDS = {"Namespace", "ConfigMap", "Secret", "Service", "Deployment", "PodDisruptionBudget"}


def _manifests():
    for stack in SHIPPED_STACKS:
        settings = load_stack(REPO / f"Pulumi.{stack}.yaml")
        for stage in settings.stage_names:
            for manifest in kubernetes_manifests(build_manifests(settings, stage)):  # Google Cloud: test_gcp_*
                yield pytest.param(manifest, id=f"{stack}-{stage}-{manifest['kind']}-{manifest['metadata']['name']}")


@pytest.mark.parametrize("manifest", list(_manifests()))
def test_manifest_validates_strictly(manifest):
    if manifest["kind"] not in CORE_KINDS:
        # Only custom resources may skip this: the monitoring tests check them against their CRDs.
        assert "." in manifest["apiVersion"].split("/")[0], f"no schema check for {manifest['kind']}"
        return
    kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)


def test_an_invalid_manifest_is_caught():
    manifest = next(m for m in build_manifests(load_stack(REPO / "Pulumi.prod.yaml")) if m["kind"] == "Deployment")
    manifest["spec"]["replicas"] = "twenty"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
