"""A Pulumi Kubernetes Operator `Stack` (pulumi.com/v1): pull-based GitOps for a stack.

The operator clones the repository, runs `pulumi up` for the stack on every new commit of the
branch, and reads the configuration from `Pulumi.<stack>.yaml` in the repository, so the stack
file stays the one source of truth (no `config` is copied into the Stack).
Field names follow operator/api/pulumi/shared/stack_types.go (StackSpec, GitSource, ResourceRef).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rollout.build.kubernetes import common_labels
from rollout.spec.model import StackSettings

API_VERSION = "pulumi.com/v1"
STACK_FILE_ANNOTATION = "rollout.dev/stack-file"


@dataclass(frozen=True)
class OperatorSource:
    """Where the operator finds the project and how it logs in to the Pulumi backend."""

    repo: str  # projectRepo: a URL git can clone
    branch: str = "main"
    repo_dir: str = ""  # the project folder inside the repository; "" is its top
    namespace: str = "default"  # where the Stack and its workspace pod live
    service_account: str = "pulumi"  # the workspace's identity; it needs rights on the stack's namespace
    backend: str | None = None  # s3:// or gs:// for a self-managed backend; None is Pulumi Cloud
    secrets_provider: str | None = None  # e.g. awskms://... ; None is the backend's default
    credentials_secret: str = "pulumi-credentials"  # Secret with accessToken (Cloud) or passphrase
    stack_name: str | None = None  # e.g. acme/rollout/prod on Pulumi Cloud; default the stack


def operator_stack(settings: StackSettings, source: OperatorSource) -> dict[str, Any]:
    stack_file = f"{source.repo_dir.strip('/') + '/' if source.repo_dir.strip('/') else ''}Pulumi.{settings.stack}.yaml"
    spec: dict[str, Any] = {
        "stack": source.stack_name or settings.stack,
        "projectRepo": source.repo,
        "branch": source.branch,
    }
    if source.repo_dir.strip("/"):
        spec["repoDir"] = source.repo_dir.strip("/")
    if source.backend:
        spec["backend"] = source.backend
    if source.secrets_provider:
        spec["secretsProvider"] = source.secrets_provider
    spec["envRefs"] = {name: _secret_ref(source.credentials_secret, key) for name, key in _credentials(source).items()}
    spec.update({
        "serviceAccountName": source.service_account,
        "refresh": True,  # see drift before changing anything
        "destroyOnFinalize": False,  # deleting the Stack object must never delete the application
        "resyncFrequencySeconds": 300,
    })
    return {
        "apiVersion": API_VERSION,
        "kind": "Stack",
        "metadata": {
            "name": f"{settings.app}-{settings.stack}".replace("/", "-").replace("_", "-").lower(),
            "namespace": source.namespace,
            "labels": common_labels(settings),
            "annotations": {STACK_FILE_ANNOTATION: stack_file},
        },
        "spec": spec,
    }


def _credentials(source: OperatorSource) -> dict[str, str]:
    """Env var -> key in the credentials Secret: a Cloud token, or the passphrase a self-managed backend uses."""
    if not source.backend:
        return {"PULUMI_ACCESS_TOKEN": "accessToken"}
    if source.secrets_provider and not source.secrets_provider.startswith("passphrase"):
        return {}  # a KMS provider: the workspace's cloud identity decrypts, no passphrase
    return {"PULUMI_CONFIG_PASSPHRASE": "passphrase"}


def _secret_ref(name: str, key: str) -> dict[str, Any]:
    return {"type": "Secret", "secret": {"name": name, "key": key}}
