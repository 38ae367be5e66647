"""Monitoring manifests: scraping keeps `track`, routing reaches the right receiver, no stage leaks in."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import REPO, SHIPPED_STACKS
from rollout.build import kubernetes as workloads
from rollout.build.monitoring import build_monitoring
from rollout.spec.monitoring import parse_monitoring
from rollout.build.monitoring.routing import equivalent_alertmanager_config, operator_receiver
from rollout.spec.stack import load_stack
from rollout.core.ladder import resolve


def _settings(stack: str):
    return load_stack(REPO / f"Pulumi.{stack}.yaml")


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_monitoring_manifests_are_identical_at_every_stage(stack):
    settings = _settings(stack)
    rendered = [build_monitoring(settings, resolve(settings, name)) for name in settings.stage_names]
    assert all(r == rendered[0] for r in rendered[1:]), "a promote must not change any monitoring resource"


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_each_service_has_a_pod_monitor_selecting_its_pods_and_keeping_track(stack):
    settings = _settings(stack)
    monitors = {m["metadata"]["name"]: m for m in build_monitoring(settings, resolve(settings)) if m["kind"] == "PodMonitor"}
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


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_routing_secret_has_no_values_only_the_config_keys_to_fill(stack):
    settings = _settings(stack)
    secret = next(m for m in build_monitoring(settings, resolve(settings))
                  if m["kind"] == "Secret" and m["metadata"]["name"].endswith("alertmanager"))
    assert "data" not in secret and "stringData" not in secret
    keys = dict(pair.split("=") for pair in secret["metadata"]["annotations"][workloads.SECRET_KEYS_ANNOTATION].split(","))
    assert keys == {"PAGERDUTY_ROUTING_KEY": "rollout:pagerdutyRoutingKey", "SLACK_WEBHOOK_URL": "rollout:slackWebhookUrl"}
    amc = next(m for m in build_monitoring(settings, resolve(settings)) if m["kind"] == "AlertmanagerConfig")
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


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_amtool_routes_critical_to_pagerduty_and_warning_to_slack(stack, tmp_path):
    settings = _settings(stack)
    config_file = tmp_path / "alertmanager.yml"
    config_file.write_text(yaml.safe_dump(equivalent_alertmanager_config(settings, parse_monitoring(settings))))
    check = subprocess.run([_amtool(), "check-config", str(config_file)], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stdout + check.stderr
    ns = f"namespace={settings.namespace}"
    assert _route(config_file, "severity=critical", ns, "alertname=ChatServerErrorRate") == operator_receiver(settings, "pagerduty")
    assert _route(config_file, "severity=warning", ns, "alertname=ChatLatencyHigh") == operator_receiver(settings, "slack")
    assert _route(config_file, "severity=critical", "namespace=someone-else") == "null", "other namespaces are not ours"
