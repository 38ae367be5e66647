"""Grafana dashboards per stack, built with grafana-foundation-sdk (Grafana 10.1 schema).

The dashboards read the stage from live replica counts, so they are the same at every stage
and a promote changes no dashboard.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import prometheus, stat, table, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import (
    DashboardRangeMapOptions, DataSourceRef, RangeMap, ValueMappingResult,
)

from rollout.spec.stack import Service, StackSettings
from rollout.core.ladder import OFF, ON, tracks_of
from rollout.build.kubernetes import common_labels, workload_name
from rollout.build.monitoring.alerts import SERVER_ERROR_CODES, memory_bytes
from rollout.spec.monitoring import MonitoringConfig
from rollout.build.json_text import indented_json
from rollout.build.promql import selector

GRAFANA_VERSION = "10.1"  # the schema grafana-foundation-sdk==...!10.1.0 writes
DATASOURCE_VAR = "datasource"
RATE = "$__rate_interval"  # Grafana widens it to at least four scrape intervals
DATASOURCE = DataSourceRef(type_val="prometheus", uid="${%s}" % DATASOURCE_VAR)
SIDECAR_LABEL = "grafana_dashboard"
FOLDER_ANNOTATION = "grafana_folder"


@dataclass
class Layout:
    """Hands out panel ids so they stay unique and stable."""

    next_id: int = 1

    def take(self) -> int:
        self.next_id += 1
        return self.next_id - 1


def dashboard_uid(settings: StackSettings, name: str) -> str:
    return f"{settings.app}-{settings.stack}-{name}"[:40]


def _query(expr: str, legend: str, ref: str = "A") -> prometheus.Dataquery:
    return prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(ref)


def _timeseries(layout: Layout, title: str, unit: str, queries: list[tuple[str, str]], span: int = 12):
    panel = timeseries.Panel().id(layout.take()).title(title).unit(unit).datasource(DATASOURCE).height(8).span(span)
    for i, (expr, legend) in enumerate(queries):
        panel = panel.with_target(_query(expr, legend, chr(ord("A") + i)))
    return panel


def _svc(settings: StackSettings, service: Service, role: str, **matchers: str) -> str:
    contract = service.metrics
    return selector(contract.signals[role].metric, settings.namespace, contract.job, **matchers)


def _rate(series: str, by: str = "") -> str:
    grouping = f" by ({by})" if by else ""
    return f"sum{grouping} (rate({series}[{RATE}]))"


def _ratio(errors: str, total: str, by: str = "track") -> str:
    return f"({_rate(errors, by)} or 0 * {_rate(total, by)}) / {_rate(total, by)}"


def _quantile(settings: StackSettings, service: Service, role: str, q: float, by: str = "track", **matchers: str) -> str:
    contract = service.metrics
    buckets = selector(f"{contract.signals[role].metric}_bucket", settings.namespace, contract.job, **matchers)
    return f"histogram_quantile({q}, sum by ({by}, le) (rate({buckets}[{RATE}])))"


def _has(service: Service, *roles: str) -> bool:
    return service.metrics is not None and all(r in service.metrics.signals for r in roles)


def _on_share_of_replicas(settings: StackSettings, service: Service) -> str:
    on, off = workload_name(service.name, ON), workload_name(service.name, OFF)
    ns = settings.namespace
    return (f'100 * sum(kube_deployment_spec_replicas{{namespace="{ns}", deployment="{on}"}}) / '
            f'sum(kube_deployment_spec_replicas{{namespace="{ns}", deployment=~"{on}|{off}"}})')


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


def rollout_overview(settings: StackSettings, config: MonitoringConfig):
    layout = Layout()
    dash = _dashboard(settings, "rollout", f"{settings.app} {settings.stack}: rollout overview")
    flagged = [s for s in settings.services.values() if tracks_of(settings, s) == (OFF, ON)]
    dash = dash.with_row(db.Row("Stage and weights").id(layout.take()))
    for service in flagged:
        replicas = _on_share_of_replicas(settings, service)
        dash = dash.with_panel(
            stat.Panel().id(layout.take()).title(f"Current stage ({service.name}, from replicas)").unit("percent")
            .datasource(DATASOURCE).with_target(_query(replicas, "stage")).mappings(_stage_mappings(settings, service))
            .height(4).span(8)
        ).with_panel(
            stat.Panel().id(layout.take()).title(f"Effective weight of {service.name} (% of replicas on the on track)")
            .unit("percent").datasource(DATASOURCE).with_target(_query(replicas, "effective")).height(4).span(8)
        )
        if _has(service, "requests"):
            share = f"{_rate(_svc(settings, service, 'requests', track=ON))} / {_rate(_svc(settings, service, 'requests'))}"
            dash = dash.with_panel(
                stat.Panel().id(layout.take()).title(f"Flag adoption of {service.name} (% of traffic on the on track)")
                .unit("percentunit").datasource(DATASOURCE).with_target(_query(share, "on track")).height(4).span(8)
            )
    dash = dash.with_row(db.Row("Canary versus baseline").id(layout.take()))
    for service in flagged:
        if _has(service, "requests"):
            errors = _ratio(_svc(settings, service, "requests", code="=~" + SERVER_ERROR_CODES), _svc(settings, service, "requests"))
            dash = dash.with_panel(_timeseries(layout, f"{service.name}: 5xx ratio by track", "percentunit", [(errors, "{{track}}")]))
        if _has(service, "latency"):
            p95 = _quantile(settings, service, "latency", 0.95)
            dash = dash.with_panel(_timeseries(layout, f"{service.name}: p95 latency by track", "s", [(p95, "{{track}}")]))
    dash = dash.with_row(db.Row("Alerts").id(layout.take()))
    firing = f'sum by (alertname, severity, job) (ALERTS{{alertstate="firing", namespace="{settings.namespace}"}})'
    dash = dash.with_panel(
        table.Panel().id(layout.take()).title("Firing alerts (count)").unit("short").datasource(DATASOURCE)
        .with_target(_query(firing, "{{alertname}}").instant().format("table")).height(8).span(24)
    )
    return dash


def service_health(settings: StackSettings, config: MonitoringConfig):
    layout = Layout()
    dash = _dashboard(settings, "services", f"{settings.app} {settings.stack}: service health")
    for service in settings.services.values():
        if service.metrics is None:
            continue
        dash = dash.with_row(db.Row(service.name).id(layout.take()))
        for panel in _service_panels(settings, service, layout):
            dash = dash.with_panel(panel)
    return dash


def _service_panels(settings: StackSettings, service: Service, layout: Layout) -> list[Any]:
    s = lambda role, **m: _svc(settings, service, role, **m)  # noqa: E731
    name = service.name
    panels = []
    if _has(service, "requests"):
        panels.append(_timeseries(layout, f"{name}: requests per second by track", "reqps",
                                  [(_rate(s("requests"), "track"), "{{track}}")], span=8))
        panels.append(_timeseries(layout, f"{name}: errors per second by status code", "reqps",
                                  [(_rate(s("requests", code="!~" + "2..|3.."), "code"), "{{code}}")], span=8))
    if _has(service, "latency"):
        panels.append(_timeseries(layout, f"{name}: request latency P50/P95/P99", "s", [
            (_quantile(settings, service, "latency", q, by="job"), f"p{int(q * 100)}") for q in (0.5, 0.95, 0.99)
        ], span=8))
    if _has(service, "sessionCreations", "sessionCreationErrors"):
        success = f"1 - ({_ratio(s('sessionCreationErrors'), s('sessionCreations'))})"
        panels.append(_timeseries(layout, f"{name}: session creation success rate", "percentunit", [(success, "{{track}}")], span=8))
    if _has(service, "sseConnections", "sseConnectionErrors"):
        success = f"1 - ({_ratio(s('sseConnectionErrors'), s('sseConnections'))})"
        panels.append(_timeseries(layout, f"{name}: SSE connection success rate", "percentunit", [(success, "{{track}}")], span=8))
    error_roles = [r for r in ("sessionCreationErrors", "sseConnectionErrors", "csrfValidationErrors",
                               "tokenValidationFailures", "responseTimeouts") if _has(service, r)]
    if error_roles:
        panels.append(_timeseries(layout, f"{name}: errors by type (per second)", "cps",
                                  [(_rate(s(role)), role) for role in error_roles], span=8))
    for role, title in (("sessionCreationDuration", "session creation time p95"), ("sseStreamDuration", "SSE stream duration p95"),
                        ("firstTokenLatency", "first-token latency p95"), ("interTokenLatency", "inter-token latency p95")):
        if _has(service, role):
            panels.append(_timeseries(layout, f"{name}: {title}", "s",
                                      [(_quantile(settings, service, role, 0.95), "{{track}}")], span=8))
    if _has(service, "activeSessions"):
        panels.append(_timeseries(layout, f"{name}: active sessions", "short",
                                  [(f"sum by (track) ({s('activeSessions')})", "{{track}}")], span=8))
    if _has(service, "rateLimitViolations"):
        panels.append(_timeseries(layout, f"{name}: rate-limit violations (per hour)", "short",
                                  [(f"3600 * {_rate(s('rateLimitViolations'), 'track')}", "{{track}}")], span=8))
    token_queries = [(_rate(s(role)), label) for role, label in
                     (("tokensIssued", "issued"), ("tokenValidationFailures", "validation failures")) if _has(service, role)]
    if token_queries:
        panels.append(_timeseries(layout, f"{name}: token issuance and validation (per second)", "cps", token_queries, span=8))
    if _has(service, "activeTokenCache"):
        panels.append(_timeseries(layout, f"{name}: active token cache size", "short",
                                  [(f"max by (pod) ({s('activeTokenCache')})", "{{pod}}")], span=8))
    limit = service.resources.get("limits", {}).get("memory")
    if limit:
        usage = (f'max by (pod) (container_memory_working_set_bytes{{namespace="{settings.namespace}", '
                 f'container="{service.name}", image!=""}}) / {memory_bytes(limit)}')
        panels.append(_timeseries(layout, f"{name}: memory used of the {limit} limit", "percentunit", [(usage, "{{pod}}")], span=8))
    return panels


def _dashboard(settings: StackSettings, name: str, title: str):
    return (
        db.Dashboard(title).uid(dashboard_uid(settings, name)).tags(["rollout", settings.app, settings.stack])
        .refresh("30s").time("now-6h", "now").timezone("utc").editable()
        .with_variable(db.DatasourceVariable(DATASOURCE_VAR).label("Data source").type("prometheus"))
    )


BUILDERS = {"rollout": rollout_overview, "services": service_health}


def dashboards(settings: StackSettings, config: MonitoringConfig) -> dict[str, dict[str, Any]]:
    """uid -> dashboard JSON model."""
    out = {}
    for builder in BUILDERS.values():
        model = json.loads(json.dumps(builder(settings, config).build(), cls=JSONEncoder))
        out[model["uid"]] = model
    return out


def dashboard_json(model: dict[str, Any]) -> str:
    return indented_json(model) + "\n"  # json.dumps(model, indent=2, sort_keys=True), without its pure-Python path


def dashboard_config_maps(settings: StackSettings, config: MonitoringConfig) -> list[dict[str, Any]]:
    """One ConfigMap per dashboard for Grafana's sidecar to pick up."""
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": f"dashboard-{uid}",
                "namespace": settings.namespace,
                "labels": {**common_labels(settings), SIDECAR_LABEL: "1"},
                "annotations": {FOLDER_ANNOTATION: config.dashboard_folder},
            },
            "data": {f"{uid}.json": dashboard_json(model)},
        }
        for uid, model in dashboards(settings, config).items()
    ]
