"""Monitoring manifests: scraping keeps `track`, routing reaches the right receiver, no stage leaks in."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import STACK_FILES, settings_of, stack_id
from rollout.build import kubernetes as workloads
from rollout.build.monitoring import build_monitoring
from rollout.build.monitoring.routing import equivalent_alertmanager_config, operator_receiver
from rollout.build.resources import build_manifests

MONITORING_KINDS = ("PodMonitor", "PrometheusRule", "AlertmanagerConfig", "PodMonitoring", "Rules")


@pytest.mark.parametrize("path", STACK_FILES, ids=stack_id)
def test_monitoring_manifests_are_identical_at_every_stage(path):
    settings = settings_of(path)

    def monitoring(stage):
        return [m for m in build_manifests(settings, stage)
                if m.get("type", "").startswith("gcp:monitoring/") or m.get("kind") in MONITORING_KINDS
                or m.get("metadata", {}).get("name", "").startswith(("dashboard-", f"{settings.app}-alertmanager"))]

    rendered = [monitoring(name) for name in settings.stage_names]
    assert rendered[0] and all(r == rendered[0] for r in rendered[1:]), "a promote must not change any monitoring resource"


@pytest.mark.parametrize("path", [p for p in STACK_FILES if settings_of(p).monitoring.target != "gmp"], ids=stack_id)
def test_each_service_has_a_pod_monitor_selecting_its_pods_and_keeping_track(path):
    settings = settings_of(path)
    monitors = {m["metadata"]["name"]: m for m in build_monitoring(settings) if m["kind"] == "PodMonitor"}
    assert set(monitors) == {s.name for s in settings.services.values() if s.metrics}
    for name, monitor in monitors.items():
        service = settings.services[name]
        pod_labels = workloads.pod_labels(settings, name, "on")
        selector = monitor["spec"]["selector"]["matchLabels"]
        assert all(pod_labels.get(k) == v for k, v in selector.items()), "the selector must match the pods"
        endpoint = monitor["spec"]["podMetricsEndpoints"][0]
        assert endpoint["port"] == "http" and endpoint["path"] == service.metrics.path
        targets = {r["targetLabel"]: r for r in endpoint["relabelings"]}
        assert targets["track"]["sourceLabels"] == ["__meta_kubernetes_pod_label_track"]
        assert targets["job"]["replacement"] == service.metrics.job
        assert {"namespace", "pod"} <= set(targets)


@pytest.mark.parametrize("path", STACK_FILES, ids=stack_id)
def test_routing_secret_has_no_values_only_the_config_keys_to_fill(path):
    settings = settings_of(path)
    secret = next(m for m in build_monitoring(settings)
                  if m["kind"] == "Secret" and m["metadata"]["name"].endswith("alertmanager"))
    assert "data" not in secret and "stringData" not in secret
    keys = dict(pair.split("=") for pair in secret["metadata"]["annotations"][workloads.SECRET_KEYS_ANNOTATION].split(","))
    routing = settings.monitoring.routing
    assert keys == {"PAGERDUTY_ROUTING_KEY": f"rollout:{routing.pagerduty_secret}", "SLACK_WEBHOOK_URL": f"rollout:{routing.slack_secret}"}
    amc = next(m for m in build_monitoring(settings) if m["kind"] == "AlertmanagerConfig")
    refs = [cfg["routingKey"] for r in amc["spec"]["receivers"] for cfg in r.get("pagerdutyConfigs", [])]
    refs += [cfg["apiURL"] for r in amc["spec"]["receivers"] for cfg in r.get("slackConfigs", [])]
    assert {(ref["name"], ref["key"]) for ref in refs} == {(secret["metadata"]["name"], k) for k in keys}


def _amtool() -> str:
    path = shutil.which("amtool")
    if path is None:
        pytest.fail("amtool is not on PATH: install Debian's `prometheus-alertmanager` package")
    return path


def _route(config_file: Path, *labels: str) -> str:
    proc = subprocess.run([_amtool(), "config", "routes", "test", f"--config.file={config_file}", *labels],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout.strip()


@pytest.mark.parametrize("path", STACK_FILES, ids=stack_id)
def test_amtool_routes_critical_to_pagerduty_and_warning_to_slack(path, tmp_path):
    settings = settings_of(path)
    config_file = tmp_path / "alertmanager.yml"
    config_file.write_text(yaml.safe_dump(equivalent_alertmanager_config(settings)))
    check = subprocess.run([_amtool(), "check-config", str(config_file)], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stdout + check.stderr
    ns = f"namespace={settings.namespace}"
    prefix = settings.monitoring.prefix
    assert _route(config_file, "severity=critical", ns, f"alertname={prefix}ServerErrorRate") == operator_receiver(settings, "pagerduty")
    assert _route(config_file, "severity=warning", ns, f"alertname={prefix}LatencyHigh") == operator_receiver(settings, "slack")
    assert _route(config_file, "severity=critical", "namespace=someone-else") == "null", "other namespaces are not ours"
