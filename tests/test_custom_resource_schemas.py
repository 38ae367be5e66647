"""PodMonitor, PrometheusRule and AlertmanagerConfig validate against prometheus-operator's CRD schemas.

The schemas come from the npm package @kubernetes-models/prometheus-operator (pinned in
tests/crd_schemas/package-lock.json, installed by scripts/test.sh); one node process checks them all.
Managed Prometheus's PodMonitoring and Rules have no published schema package: test_gcp_monitoring.py
checks them against tests/gmp_schema.
"""
from __future__ import annotations

import copy
import json
import shutil
import subprocess


from conftest import REPO, STACK_FILES, settings_of
from rollout.build.resources import build_manifests, kubernetes_manifests, manifest_key

VALIDATOR = REPO / "tests" / "crd_schemas" / "validate.mjs"


def custom_resources() -> list[dict]:
    seen: dict[tuple, dict] = {}
    for path in STACK_FILES:
        settings = settings_of(path)
        for stage in settings.stage_names:
            for manifest in kubernetes_manifests(build_manifests(settings, stage)):
                if manifest["apiVersion"].startswith("monitoring.coreos.com/"):
                    seen[(path.name, *manifest_key(manifest))] = manifest
    return list(seen.values())


def validate(manifests: list[dict]) -> list[dict]:
    node = shutil.which("node")
    assert node, "node is missing: scripts/test.sh installs it (Debian's nodejs)"
    assert (VALIDATOR.parent / "node_modules").is_dir(), "run scripts/test.sh (npm ci in tests/crd_schemas)"
    result = subprocess.run([node, str(VALIDATOR)], input=json.dumps(manifests), capture_output=True,
                            text=True, timeout=120, cwd=VALIDATOR.parent)
    assert result.stdout, result.stderr
    return json.loads(result.stdout)["results"]


def test_every_prometheus_operator_resource_of_every_stack_matches_its_crd_schema():
    manifests = custom_resources()
    assert {m["kind"] for m in manifests} == {"PodMonitor", "PrometheusRule", "AlertmanagerConfig"}
    results = validate(manifests)
    assert len(results) == len(manifests)
    assert [r for r in results if not r["valid"]] == []


def test_a_custom_resource_with_a_wrong_shape_is_rejected():
    pod_monitor = copy.deepcopy(next(m for m in custom_resources() if m["kind"] == "PodMonitor"))
    pod_monitor["spec"]["podMetricsEndpoints"] = "http"  # must be a list of endpoints
    rule = copy.deepcopy(next(m for m in custom_resources() if m["kind"] == "PrometheusRule" and m["spec"]["groups"]))
    rule["spec"]["groups"][0]["rules"][0]["for"] = 300  # must be a duration string
    unknown = {"apiVersion": "monitoring.coreos.com/v1", "kind": "PodMonitr", "metadata": {"name": "x"}}
    results = validate([pod_monitor, rule, unknown])
    assert [r["valid"] for r in results] == [False, False, False], results
    assert "podMetricsEndpoints" in results[0]["error"]
    assert "no schema" in results[2]["error"]
