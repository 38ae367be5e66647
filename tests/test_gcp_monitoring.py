"""Monitoring on Google Cloud: Managed Prometheus's PodMonitoring and Rules (checked against a schema
written from GMP's Go types), and Cloud Monitoring's alert policies, notification channels and
dashboards for Cloud Run services, whose PromQL is evaluated by a real Prometheus."""
from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import jsonschema
import promql_parser
import pytest

from conftest import REPO, STACK_FILES, settings_of, stack_id
from prometheus_fixture import scenario_project, shared_gate_prometheus
from rollout.build import kubernetes as workloads
from rollout.build.monitoring import build_monitoring, rule_groups
from rollout.build.monitoring.alerts import applies, promql_threshold
from rollout.build.monitoring.cloudmonitoring import ALERT_POLICY, CHANNEL, COLUMNS, DASHBOARD, cloud_monitoring
from rollout.build.monitoring.dashboards import service_charts
from rollout.build.resources import build_manifests
from rollout.gates.prometheus import Prometheus
from rollout.spec.duration import Duration
from rollout.spec.stack import load_stack

SCHEMAS = REPO / "tests" / "gmp_schema"
GMP_FILES = [p for p in STACK_FILES if settings_of(p).monitoring.target == "gmp"]
CLOUD_RUN_FILES = [p for p in STACK_FILES if settings_of(p).cloud_run_services]


def validator(kind: str) -> jsonschema.Draft202012Validator:
    name = {"PodMonitoring": "podmonitoring", "Rules": "rules"}[kind]
    schema = json.loads((SCHEMAS / f"{name}.v1.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def gmp_resources(path: Path) -> list[dict]:
    return [m for m in build_monitoring(settings_of(path)) if m.get("apiVersion") == "monitoring.googleapis.com/v1"]


def errors(resource: dict) -> list[str]:
    return [e.message for e in validator(resource["kind"]).iter_errors(resource)]


# -- Managed Prometheus -----------------------------------------------------------------------

def test_the_shipped_stacks_and_a_test_app_target_managed_prometheus():
    assert {p.name for p in GMP_FILES} >= {"Pulumi.prod.yaml", "Pulumi.staging.yaml", "Pulumi.runshop.yaml"}


@pytest.mark.parametrize("path", GMP_FILES, ids=stack_id)
def test_every_pod_monitoring_and_rules_matches_the_gmp_schema(path):
    resources = gmp_resources(path)
    kinds = [r["kind"] for r in resources]
    assert kinds.count("Rules") == 1
    assert kinds.count("PodMonitoring") == sum(1 for s in settings_of(path).kubernetes_services if s.metrics)
    for resource in resources:
        assert errors(resource) == [], resource["metadata"]["name"]
        for endpoint in resource["spec"].get("endpoints", []):  # the CRD's CEL rule
            if "timeout" in endpoint:
                assert Duration.parse(endpoint["timeout"]) <= Duration.parse(endpoint["interval"])


@pytest.mark.parametrize("what,break_it,words", [
    ("a prometheus-operator endpoint list", lambda m: m["spec"].update(podMetricsEndpoints=m["spec"].pop("endpoints")),
     ["podMetricsEndpoints", "endpoints"]),
    ("relabeling onto the job label", lambda m: m["spec"]["endpoints"][0].update(
        metricRelabeling=[{"action": "replace", "targetLabel": "job", "replacement": "x"}]), ["should not be valid"]),
    ("a pod label copied onto namespace", lambda m: m["spec"]["targetLabels"].update(fromPod=[{"from": "namespace"}]),
     ["should not be valid"]),
    ("no endpoint at all", lambda m: m["spec"].update(endpoints=[]), ["should be non-empty"]),
    ("an interval that is not a duration", lambda m: m["spec"]["endpoints"][0].update(interval="30 seconds"),
     ["does not match"]),
], ids=lambda v: v if isinstance(v, str) else None)
def test_a_pod_monitoring_gmp_would_refuse_fails_the_schema(what, break_it, words):
    monitoring = copy.deepcopy(next(r for r in gmp_resources(REPO / "Pulumi.prod.yaml") if r["kind"] == "PodMonitoring"))
    break_it(monitoring)
    found = " ".join(errors(monitoring))
    assert found, what
    for word in words:
        assert word in found, (word, found)


def test_rules_without_an_expression_or_with_both_record_and_alert_fail_the_schema():
    rules = copy.deepcopy(next(r for r in gmp_resources(REPO / "Pulumi.prod.yaml") if r["kind"] == "Rules"))
    first = rules["spec"]["groups"][0]["rules"][0]
    del first["expr"]
    second = rules["spec"]["groups"][0]["rules"][1]
    second["record"] = "a:b"
    found = errors(rules)
    assert any("'expr' is a required property" in e for e in found)
    assert any("is valid under each of" in e or "is not valid under any" in e for e in found)


@pytest.mark.parametrize("path", GMP_FILES, ids=stack_id)
def test_each_pod_monitoring_is_named_after_its_job_selects_both_tracks_and_keeps_track(path):
    """GMP sets `job` to the PodMonitoring's name; the queries match on job and track."""
    settings = settings_of(path)
    monitors = {m["metadata"]["name"]: m for m in gmp_resources(path) if m["kind"] == "PodMonitoring"}
    assert set(monitors) == {s.metrics.job for s in settings.kubernetes_services if s.metrics}
    for service in (s for s in settings.kubernetes_services if s.metrics):
        monitor = monitors[service.metrics.job]
        for track in ("off", "on", "stable"):
            pod = workloads.pod_labels(settings, service.name, track)
            assert all(pod.get(k) == v for k, v in monitor["spec"]["selector"]["matchLabels"].items())
        assert monitor["spec"]["targetLabels"]["fromPod"] == [{"from": "track"}]
        assert monitor["spec"]["endpoints"] == [{"port": "http", "path": service.metrics.path,
                                                 "interval": str(settings.monitoring.scrape_interval)}]


@pytest.mark.parametrize("path", GMP_FILES, ids=stack_id)
def test_rules_carry_the_same_rule_groups_as_the_prometheus_rule_would(path):
    settings = settings_of(path)
    rules = next(r for r in gmp_resources(path) if r["kind"] == "Rules")
    assert rules["spec"]["groups"] == rule_groups(settings)
    assert not [m for m in build_monitoring(settings) if m.get("kind") in ("PodMonitor", "PrometheusRule")]


# -- Cloud Monitoring for Cloud Run --------------------------------------------------------------

def cloud_docs(path: Path, type_token: str) -> list[dict]:
    return [d for d in cloud_monitoring(settings_of(path)) if d["type"] == type_token]


@pytest.mark.parametrize("path", CLOUD_RUN_FILES, ids=stack_id)
def test_every_alert_that_guards_a_cloud_run_service_is_a_policy_with_the_same_threshold(path):
    settings = settings_of(path)
    policies = {d["name"]: d for d in cloud_docs(path, ALERT_POLICY)}
    expected = {f"{s.cloud_run.name}-{a.name.lower()}": (s, a) for s in settings.cloud_run_services
                for a in settings.monitoring.alerts.values() if applies(a, settings, s)}
    assert set(policies) == set(expected) and policies
    for name, (service, alert) in expected.items():
        inputs = policies[name]["inputs"]
        [condition] = inputs["conditions"]
        promql = condition["conditionPrometheusQueryLanguage"]
        promql_parser.parse(promql["query"])
        assert 'monitored_resource="cloud_run_revision"' in promql["query"] and "namespace=" not in promql["query"]
        if alert.threshold is not None and alert.kind.value == "indicator":
            assert promql["query"].endswith(f"{'>' if alert.above else '<'} {promql_threshold(alert)}")
        assert promql["duration"] == f"{int(alert.for_.seconds)}s"
        assert int(promql["evaluationInterval"][:-1]) % 30 == 0
        assert inputs["severity"] == alert.severity.value.upper()
        receiver = "pagerduty" if alert.severity.value == "critical" else "slack"
        assert inputs["notificationChannels"] == [f"${{{settings.namespace}-{receiver}-{service.cloud_run.project}.name}}"]
        assert inputs["documentation"]["content"].endswith(settings.monitoring.runbook(alert))


@pytest.mark.parametrize("path", CLOUD_RUN_FILES, ids=stack_id)
def test_channel_keys_come_only_from_pulumi_secrets_as_sensitive_labels(path):
    settings = settings_of(path)
    routing = settings.monitoring.routing
    channels = {d["inputs"]["type"]: d for d in cloud_docs(path, CHANNEL)}
    assert set(channels) == {"pagerduty", "slack"}
    assert channels["pagerduty"]["secretInputs"] == {"sensitiveLabels.serviceKey": f"rollout:{routing.pagerduty_secret}"}
    assert channels["slack"]["secretInputs"] == {"sensitiveLabels.authToken": f"rollout:{routing.slack_token_secret}"}
    for channel in channels.values():
        assert "sensitiveLabels" not in channel["inputs"]
        assert not {"service_key", "auth_token", "password"} & set(channel["inputs"].get("labels", {}))
    assert channels["slack"]["inputs"]["labels"] == {"channel_name": routing.slack_channel}


@pytest.mark.parametrize("path", CLOUD_RUN_FILES, ids=stack_id)
def test_each_cloud_run_service_has_a_dashboard_the_api_accepts_with_the_grafana_charts(path):
    from google.cloud.monitoring_dashboard_v1.types import Dashboard

    settings = settings_of(path)
    dashboards = {d["service"]: json.loads(d["inputs"]["dashboardJson"]) for d in cloud_docs(path, DASHBOARD)}
    assert set(dashboards) == {s.name for s in settings.cloud_run_services}
    for service in settings.cloud_run_services:
        model = dashboards[service.name]
        Dashboard.from_json(json.dumps(model))  # the API's own message types: an unknown field raises
        tiles = model["mosaicLayout"]["tiles"]
        titles = [t["widget"]["title"] for t in tiles]
        grafana = [c.title for c in service_charts(settings, service, str(settings.monitoring.rate_window))]
        assert titles[-len(grafana):] == grafana
        cells = set()
        for tile in tiles:
            assert tile.get("xPos", 0) + tile["width"] <= COLUMNS
            area = {(x, y) for x in range(tile.get("xPos", 0), tile.get("xPos", 0) + tile["width"])
                    for y in range(tile.get("yPos", 0), tile.get("yPos", 0) + tile["height"])}
            assert not area & cells, "tiles overlap"
            cells |= area
            for data_set in tile["widget"]["xyChart"]["dataSets"]:
                promql_parser.parse(data_set["timeSeriesQuery"]["prometheusQuery"])
                assert "{{" not in data_set["legendTemplate"]


def test_a_dashboard_with_a_field_the_api_does_not_know_is_refused():
    from google.cloud.monitoring_dashboard_v1.types import Dashboard

    model = json.loads(cloud_docs(REPO / "Pulumi.prod.yaml", DASHBOARD)[0]["inputs"]["dashboardJson"])
    model["mosaicLayout"]["tiles"][0]["widget"]["xyChart"]["dataSets"][0]["timeSeriesQuery"]["promQuery"] = "up"
    with pytest.raises(Exception, match="promQuery"):
        Dashboard.from_json(json.dumps(model))


# -- the policies' PromQL, evaluated on Cloud Run series by a real Prometheus -------------------------

@pytest.fixture(scope="module")
def prom(request, tmp_path_factory):
    return shared_gate_prometheus(request.config, tmp_path_factory.mktemp("prometheus"))


def firing(prom, tmp_path: Path, namespace: str) -> dict[str, set[str]]:
    """Alert name -> the tracks (or "" for the service) its condition selects at `now` in a scenario."""
    settings = load_stack(scenario_project(tmp_path / namespace, namespace))
    client = Prometheus(prom.url)
    out = {}
    for doc in (d for d in build_manifests(settings) if d.get("type") == ALERT_POLICY):
        condition = doc["inputs"]["conditions"][0]["conditionPrometheusQueryLanguage"]
        answer = client.query(condition["query"], prom.now)
        if answer:
            out[condition["alertRule"]] = set(answer)
    return out


def test_cloud_run_conditions_stay_quiet_on_healthy_tracks(prom, tmp_path):
    assert firing(prom, tmp_path, "healthy") == {}


def test_cloud_run_conditions_fire_per_track_on_the_failing_canary(prom, tmp_path):
    """3% 5xx on the on track only: the per-track error rate alerts name `on`, and the canary is worse."""
    fired = firing(prom, tmp_path, "run-red")
    assert fired["ChatServerErrorRate"] == {"on"} and fired["ChatErrorRateWarning"] == {"on"}
    assert "ChatCanaryErrorRatioWorse" in fired and "ChatErrorRateCritical" not in fired  # 3% is under 5%
    assert not any("Latency" in name for name in fired)


def test_cloud_run_latency_conditions_read_milliseconds_as_seconds(prom, tmp_path):
    fired = firing(prom, tmp_path, "run-slow")  # p95 2.35 s on the on track, 0.235 s off
    assert fired["ChatLatencyHigh"] == {"on"} and "ChatLatencyCritical" not in fired  # 1 s < 2.35 s < 5 s
    assert "ChatCanaryLatencyWorse" in fired
    assert not any("Error" in name for name in fired)


def test_no_condition_reads_a_label_cloud_run_series_lack():
    for doc in (d for d in cloud_monitoring(settings_of(REPO / "Pulumi.prod.yaml")) if d["type"] == ALERT_POLICY):
        query = doc["inputs"]["conditions"][0]["conditionPrometheusQueryLanguage"]["query"]
        for selector in re.findall(r"\{[^}]*\}", query):
            assert not re.search(r"\b(namespace|job|track|code)=", selector), selector
