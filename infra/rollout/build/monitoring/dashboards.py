"""Grafana dashboards per stack, built with grafana-foundation-sdk (Grafana 10.1 schema).

Every panel plots what the stack file declares: its indicators (built-in and its own) by track,
its own alert expressions, and the workloads' replicas. The dashboards read the stage from the
cluster (replica counts, or pod labels under the percentage strategy), so a promote changes none.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import prometheus, stat, table, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import BigValueTextMode
from grafana_foundation_sdk.models.dashboard import (
    DashboardRangeMapOptions, DataSourceRef, RangeMap, ValueMappingResult,
)

from rollout.build.kubernetes import STAGE_LABEL, WEIGHT_LABEL, common_labels, workload_name
from rollout.build.monitoring.alerts import applies
from rollout.build.promql import (
    fill_roles, histogram_quantile, indicator_expr, rate_by, selector, service_scope, sum_rate,
)
from rollout.core.ladder import OFF, ON, tracks_of
from rollout.spec.defaults import ERROR_RATE, LATENCY_P95
from rollout.spec.model import AlertKind, Indicator, Service, StackSettings, Strategy, Unit
from rollout.spec.quantity import whole_bytes
from rollout.build.json_text import indented_json

GRAFANA_VERSION = "10.1"  # the schema grafana-foundation-sdk==...!10.1.0 writes
DATASOURCE_VAR = "datasource"
RATE = "$__rate_interval"  # Grafana widens it to at least four scrape intervals
DATASOURCE = DataSourceRef(type_val="prometheus", uid="${%s}" % DATASOURCE_VAR)
SIDECAR_LABEL = "grafana_dashboard"
FOLDER_ANNOTATION = "grafana_folder"
MAX_UID = 40  # Grafana's limit
SERVICES_PER_DASHBOARD = 25  # keeps each dashboard ConfigMap far below Kubernetes' 1 MiB
GRAFANA_UNITS = {Unit.PERCENT: "percentunit", Unit.SECONDS: "s", Unit.PER_SECOND: "cps", Unit.COUNT: "short"}


@dataclass
class Layout:
    """Hands out panel ids so they stay unique and stable."""

    next_id: int = 1

    def take(self) -> int:
        self.next_id += 1
        return self.next_id - 1


def dashboard_uid(settings: StackSettings, name: str) -> str:
    uid = f"{settings.app}-{settings.stack}-{name}"
    if len(uid) <= MAX_UID:
        return uid
    return f"{uid[:MAX_UID - 9]}-{hashlib.sha256(uid.encode()).hexdigest()[:8]}"  # unique even when truncated


def _query(expr: str, legend: str, ref: str = "A") -> prometheus.Dataquery:
    return prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(ref)


@dataclass(frozen=True)
class Chart:
    """A time series chart as data: Grafana draws it, and so does Cloud Monitoring (cloudmonitoring.py)."""

    title: str
    unit: str  # Grafana's unit id
    queries: tuple[tuple[str, str], ...]  # (PromQL, legend with {{label}} placeholders)
    span: int = 8  # of 24 columns


def _timeseries(layout: Layout, chart: Chart):
    panel = (timeseries.Panel().id(layout.take()).title(chart.title).unit(chart.unit).datasource(DATASOURCE)
             .height(8).span(chart.span))
    for i, (expr, legend) in enumerate(chart.queries):
        panel = panel.with_target(_query(expr, legend, chr(ord("A") + i)))
    return panel


def indicator_chart(settings: StackSettings, service: Service, indicator: Indicator, rate: str, span: int) -> Chart:
    expr = indicator_expr(indicator, service, service_scope(service, settings.namespace), rate, ("track",))
    return Chart(f"{service.name}: {indicator.title} by track", GRAFANA_UNITS[indicator.unit], ((expr, "{{track}}"),), span)


def _on_share_of_replicas(settings: StackSettings, service: Service) -> str:
    on, off = workload_name(service.name, ON), workload_name(service.name, OFF)
    ns = settings.namespace
    replicas = "kube_deployment_spec_replicas"
    return (f"100 * sum({selector(replicas, namespace=ns, deployment=on)}) / "
            f"sum({selector(replicas, namespace=ns, deployment='=~' + on + '|' + off)})")


def _stage_mappings(settings: StackSettings, service: Service) -> list[RangeMap]:
    """Effective weight -> stage name: resolve() keeps it within the tolerance of the ladder's weight."""
    tolerance = settings.weight_tolerance
    return [
        RangeMap(DashboardRangeMapOptions(
            from_val=stage.weight_of(service.name) - tolerance,
            to=stage.weight_of(service.name) + tolerance,
            result=ValueMappingResult(text=f"{stage.name} (requested {stage.weight_of(service.name):g}%)", index=i),
        ))
        for i, stage in enumerate(settings.stages)
    ]


def _stage_panels(layout: Layout, settings: StackSettings, service: Service) -> list[Any]:
    if settings.strategy is Strategy.PERCENTAGE:
        # One Deployment: the stage and weight are labels of its pods (kube-state-metrics must allow them).
        pods = selector("kube_pod_labels", namespace=settings.namespace, label_app=service.name)
        stage_label, weight_label = (f"label_{k.replace('.', '_').replace('/', '_')}" for k in (STAGE_LABEL, WEIGHT_LABEL))
        query = _query(f"count by ({stage_label}, {weight_label}) ({pods})",
                       "{{%s}} (weight {{%s}}%%)" % (stage_label, weight_label)).instant()
        return [stat.Panel().id(layout.take()).title(f"Current stage and weight of {service.name} (from pod labels)")
                .unit("short").datasource(DATASOURCE).with_target(query).text_mode(BigValueTextMode.NAME)
                .height(4).span(16)]
    replicas = _on_share_of_replicas(settings, service)
    return [
        stat.Panel().id(layout.take()).title(f"Current stage ({service.name}, from replicas)").unit("percent")
        .datasource(DATASOURCE).with_target(_query(replicas, "stage")).mappings(_stage_mappings(settings, service))
        .height(4).span(8),
        stat.Panel().id(layout.take()).title(f"Effective weight of {service.name} (% of replicas on the on track)")
        .unit("percent").datasource(DATASOURCE).with_target(_query(replicas, "effective")).height(4).span(8),
    ]


def rollout_overview(settings: StackSettings):
    layout = Layout()
    dash = _dashboard(settings, "rollout", f"{settings.app} {settings.stack}: rollout overview")
    flagged = [s for s in settings.kubernetes_services if s.has_flags]
    dash = dash.with_row(db.Row("Stage and weights").id(layout.take()))
    for service in flagged:
        for panel in _stage_panels(layout, settings, service):
            dash = dash.with_panel(panel)
        if tracks_of(settings, service) == (OFF, ON) and service.has("requests", "counter"):
            requests = service.metrics.signals["requests"].metric  # type: ignore[union-attr]
            scope = service_scope(service, settings.namespace)
            share = f"{sum_rate(scope.on_track(ON).selector(requests), RATE, ())} / {sum_rate(scope.selector(requests), RATE, ())}"
            dash = dash.with_panel(
                stat.Panel().id(layout.take()).title(f"Flag adoption of {service.name} (% of traffic on the on track)")
                .unit("percentunit").datasource(DATASOURCE).with_target(_query(share, "on track")).height(4).span(8)
            )
    dash = dash.with_row(db.Row("Canary versus baseline: the gate's checks by track").id(layout.take()))
    for service in flagged:
        for threshold in settings.gates.checks.values():
            if threshold.indicator.applies_to(service):
                dash = dash.with_panel(_timeseries(layout, indicator_chart(settings, service, threshold.indicator, RATE, 12)))
    dash = dash.with_row(db.Row("Alerts").id(layout.take()))
    firing = f'sum by (alertname, severity, job) ({selector("ALERTS", alertstate="firing", namespace=settings.namespace)})'
    dash = dash.with_panel(
        table.Panel().id(layout.take()).title("Firing alerts (count)").unit("short").datasource(DATASOURCE)
        .with_target(_query(firing, "{{alertname}}").instant().format("table")).height(8).span(24)
    )
    return dash


def service_health(settings: StackSettings, services: list[Service], page: int):
    layout = Layout()
    name = "services" if page == 1 else f"services-{page}"
    title = f"{settings.app} {settings.stack}: service health" + (f" ({page})" if page > 1 else "")
    dash = _dashboard(settings, name, title)
    for service in services:
        dash = dash.with_row(db.Row(service.name).id(layout.take()))
        for chart in service_charts(settings, service, RATE):
            dash = dash.with_panel(_timeseries(layout, chart))
    return dash


def service_charts(settings: StackSettings, service: Service, rate: str) -> list[Chart]:
    """What a service's health looks like: traffic, errors, latency, its indicators and its own alerts."""
    scope = service_scope(service, settings.namespace)
    name = service.name
    charts = []
    if service.has("requests", "counter"):
        requests = service.metrics.signals["requests"].metric  # type: ignore[union-attr]
        code = scope.grouping(("code",))[0]  # `response_code` on Cloud Run
        charts.append(Chart(f"{name}: requests per second by track", "reqps",
                            ((rate_by(scope, requests, rate, ("track",)), "{{track}}"),)))
        charts.append(Chart(f"{name}: errors per second by status code", "reqps",
                            ((rate_by(scope, requests, rate, ("code",), code="!~2..|3.."), "{{%s}}" % code),)))
    if service.has("latency", "histogram"):
        latency = service.metrics.signals["latency"].metric  # type: ignore[union-attr]
        charts.append(Chart(f"{name}: request latency P50/P95/P99", "s", tuple(
            (histogram_quantile(q, latency, scope, rate, ("job",)), f"p{int(q * 100)}") for q in (0.5, 0.95, 0.99))))
    for indicator in settings.indicators.values():
        if indicator.name not in (ERROR_RATE, LATENCY_P95) and indicator.applies_to(service):
            charts.append(indicator_chart(settings, service, indicator, rate, 8))
    for alert in settings.monitoring.alerts.values():
        if alert.kind is AlertKind.EXPR and applies(alert, settings, service):
            expr = fill_roles(alert.expr, service, scope, rate)  # type: ignore[arg-type]
            charts.append(Chart(f"{name}: {alert.name} (fires {'above' if alert.above else 'below'} "
                                f"{alert.threshold:g})", "short", ((expr, alert.name),)))
    limit = service.resources.get("limits", {}).get("memory")
    if limit:
        usage = selector("container_memory_working_set_bytes", namespace=settings.namespace, container=service.name, image="!=")
        charts.append(Chart(f"{name}: memory used of the {limit} limit", "percentunit",
                            ((f"max by (pod) ({usage}) / {whole_bytes(limit)}", "{{pod}}"),)))
    return charts


def _dashboard(settings: StackSettings, name: str, title: str):
    return (
        db.Dashboard(title).uid(dashboard_uid(settings, name)).tags(["rollout", settings.app, settings.stack])
        .refresh("30s").time("now-6h", "now").timezone("utc").editable()
        .with_variable(db.DatasourceVariable(DATASOURCE_VAR).label("Data source").type("prometheus"))
    )


def builders(settings: StackSettings) -> list[Any]:
    measured = [s for s in settings.kubernetes_services if s.metrics is not None]
    pages = [measured[i:i + SERVICES_PER_DASHBOARD] for i in range(0, len(measured), SERVICES_PER_DASHBOARD)]
    return [rollout_overview(settings), *(service_health(settings, page, i) for i, page in enumerate(pages, 1))]


def dashboards(settings: StackSettings) -> dict[str, dict[str, Any]]:
    """uid -> dashboard JSON model."""
    out = {}
    for builder in builders(settings):
        model = json.loads(json.dumps(builder.build(), cls=JSONEncoder))
        out[model["uid"]] = model
    return out


def dashboard_json(model: dict[str, Any]) -> str:
    return indented_json(model) + "\n"  # json.dumps(model, indent=2, sort_keys=True), without its pure-Python path


def dashboard_config_maps(settings: StackSettings) -> list[dict[str, Any]]:
    """One ConfigMap per dashboard for Grafana's sidecar to pick up."""
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": f"dashboard-{uid}",
                "namespace": settings.namespace,
                "labels": {**common_labels(settings), SIDECAR_LABEL: "1"},
                "annotations": {FOLDER_ANNOTATION: settings.monitoring.dashboard_folder},
            },
            "data": {f"{uid}.json": dashboard_json(model)},
        }
        for uid, model in dashboards(settings).items()
    ]
