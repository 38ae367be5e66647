"""Rendered pods meet the Pod Security Standard "restricted", as checkov's Kubernetes checks judge it.

checkov runs from its own virtualenv (.venv-checkov, pinned in tests/checkov/requirements.txt and
installed by scripts/test.sh) on the files `rollout render` writes; one run covers every stack and stage.
"""
from __future__ import annotations

import io

import json
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from conftest import REPO, SHIPPED_STACKS
from rollout.build import kubernetes as workloads
from rollout.build.resources import build_manifests
from rollout.output.render import render_documents, to_yaml, write_documents
from rollout.spec.stack import load_stack

CHECKOV = REPO / ".venv-checkov" / "bin" / "checkov"
# checkov's checks for what "restricted" (and the "baseline" it includes) asks of a pod, plus the token mount.
RESTRICTED_CHECKS = {
    "CKV_K8S_16": "not privileged",
    "CKV_K8S_17": "no host PID",
    "CKV_K8S_18": "no host IPC",
    "CKV_K8S_19": "no host network",
    "CKV_K8S_20": "allowPrivilegeEscalation false",
    "CKV_K8S_23": "runAsNonRoot",
    "CKV_K8S_25": "no added capabilities",
    "CKV_K8S_28": "no NET_RAW",
    "CKV_K8S_29": "a pod securityContext",
    "CKV_K8S_30": "a container securityContext",
    "CKV_K8S_31": "seccompProfile RuntimeDefault",
    "CKV_K8S_37": "capabilities dropped",
    "CKV_K8S_38": "no automounted service-account token",
    "CKV_K8S_39": "no SYS_ADMIN",
}
# What a stack file may relax for one service (rollout:services.<svc>.podSecurity).
WEAKENED = {"runAsNonRoot": False, "allowPrivilegeEscalation": True, "addCapabilities": ["NET_RAW", "SYS_ADMIN"],
            "seccompProfile": "Unconfined", "automountServiceAccountToken": True}


def weakened_stack(folder: Path) -> Path:
    doc = YAML(typ="safe", pure=True).load((REPO / "Pulumi.prod.yaml").read_text())
    doc["config"]["rollout:services"]["backend"]["podSecurity"] = WEAKENED
    path = folder / "Pulumi.prod.yaml"
    buffer = io.StringIO()
    YAML(typ="safe", pure=True).dump(doc, buffer)
    path.write_text(buffer.getvalue())
    return path


def pinned_version() -> str:
    lines = (REPO / "tests" / "checkov" / "requirements.txt").read_text().splitlines()
    return next(line.split("==")[1] for line in lines if line.startswith("checkov=="))


def checkov(folder: Path) -> dict[str, dict[str, set[str]]]:
    """File name -> {"passed": check ids, "failed": check ids}, for the Deployments under `folder`."""
    assert CHECKOV.exists(), "checkov is missing: scripts/test.sh installs it into .venv-checkov"
    result = subprocess.run(
        [str(CHECKOV), "-d", str(folder), "--framework", "kubernetes", "--check", ",".join(RESTRICTED_CHECKS),
         "--output", "json", "--skip-download"],
        capture_output=True, text=True, timeout=300,
    )
    assert result.stdout, result.stderr[-2000:]
    report = json.loads(result.stdout)
    assert report["summary"]["checkov_version"] == pinned_version()
    outcome: dict[str, dict[str, set[str]]] = {}
    for verdict in ("passed", "failed"):
        for check in report["results"][f"{verdict}_checks"]:
            if check["resource"].startswith("Deployment."):
                entry = outcome.setdefault(check["file_path"].lstrip("/"), {"passed": set(), "failed": set()})
                entry[verdict].add(check["check_id"])
    return outcome


@pytest.fixture(scope="module")
def verdicts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, set[str]]]:
    root = tmp_path_factory.mktemp("rendered")
    for stack in SHIPPED_STACKS:
        settings = load_stack(REPO / f"Pulumi.{stack}.yaml")
        for stage in settings.stage_names:
            write_documents(render_documents(build_manifests(settings, stage)), root / stack / stage)
    weak = next(m for m in build_manifests(load_stack(weakened_stack(tmp_path_factory.mktemp("weak"))), "canary-25")
                if m["kind"] == "Deployment" and m["metadata"]["name"] == "backend-on")
    (root / "weakened").mkdir()
    (root / "weakened" / "deployment--backend-on.yaml").write_text(to_yaml(weak))
    return checkov(root)


def test_every_deployment_of_every_shipped_stack_at_every_stage_passes_the_restricted_checks(verdicts):
    rendered = {f"{stack}/{stage}/{name}"
                for stack in SHIPPED_STACKS
                for stage in load_stack(REPO / f"Pulumi.{stack}.yaml").stage_names
                for name in render_documents(build_manifests(load_stack(REPO / f"Pulumi.{stack}.yaml"), stage))
                if name.startswith("deployment--")}
    assert len(rendered) >= 20
    assert rendered <= set(verdicts), f"checkov did not judge {sorted(rendered - set(verdicts))[:3]}"
    for name in rendered:
        assert verdicts[name]["failed"] == set(), (name, {c: RESTRICTED_CHECKS[c] for c in verdicts[name]["failed"]})
        assert verdicts[name]["passed"] == set(RESTRICTED_CHECKS), name


def test_a_weakened_pod_fails_the_checks_it_breaks(verdicts):
    failed = verdicts["weakened/deployment--backend-on.yaml"]["failed"]
    assert {"CKV_K8S_20", "CKV_K8S_23", "CKV_K8S_25", "CKV_K8S_31", "CKV_K8S_38", "CKV_K8S_39"} <= failed


def test_the_default_is_restricted_and_an_override_changes_only_what_it_names():
    settings = load_stack(REPO / "Pulumi.prod.yaml")
    service = settings.services["backend"]
    default = workloads.deployment(settings, service, "on", 2, "cm", False)
    pod = default["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"] == {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    assert pod["containers"][0]["securityContext"] == {
        "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
    own_user = workloads.deployment(settings, replace(service, security=replace(service.security, run_as_user=10001)),
                                    "on", 2, "cm", False)
    assert own_user["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == 10001
    own_user["spec"]["template"]["spec"]["securityContext"].pop("runAsUser")
    assert own_user == default
