"""`rollout:monitoring`: alerts (built-in and the application's own), SLOs, routing, dashboards.

A built-in alert is tuned by name (threshold, for, severity, enabled). Any other name declares the
stack's own alert, over an indicator or a PromQL expression of its roles:

    SseConnectionSuccessLow:
      indicator: sseSuccess        # or  expr: max by (namespace, job, session) ({sessionUsers})
      below: 95                    # or  above: <threshold>, in the indicator's unit
      for: 2m
      severity: critical
      summary: SSE connection success is below {threshold}.
      description: Only {{ $value | humanizePercentage }} of SSE connections succeed.
      test: {healthy: 99.9, breaching: 90}     # expr alerts: {healthy: {role: value}, breaching: {...}}
"""
from __future__ import annotations

import re
from dataclasses import replace
from types import MappingProxyType
from typing import Mapping

from rollout.spec import defaults, gcp, names
from rollout.spec.duration import Duration, duration
from rollout.spec.gates import limit_value
from rollout.spec.model import (
    Alert, AlertKind, AlertTest, Canary, Form, Indicator, MonitoringSettings, Routing, Service, Severity, Slo, Unit,
)
from rollout.spec.reader import Node, by_builtins_then_name, did_you_mean, optional, required

MONITORING_KEYS = (
    "alertPrefix", "runbookUrl", "evaluationInterval", "scrapeInterval", "rateWindow",
    "resourceLabels", "canary", "alerts", "slos", "routing", "dashboards", "target",
)
CANARY_KEYS = ("minRequestRate", "minErrorRatio")
OVERRIDE_KEYS = ("threshold", "for", "severity", "enabled")
CUSTOM_KEYS = ("indicator", "expr", "above", "below", "for", "severity", "summary", "description", "runbook",
               "services", "test", "enabled")
SLO_KEYS = ("name", "service", "objective", "window", "indicator", "description")
ROUTING_KEYS = ("pagerduty", "slack", "groupBy", "groupWait", "groupInterval", "repeatInterval")
PLACEHOLDER = re.compile(r"\{([A-Za-z][A-Za-z0-9]*)\}")
EXPR_WORDS = ("window",)  # placeholders that are not roles: {window} is the rate window
MAX_TEXT = 2000


def camel(app: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[-_.]", app) if part)


def parse_monitoring(node: Node, app: str, stack: str, services: Mapping[str, Service],
                     indicators: Mapping[str, Indicator], red_margin: float) -> MonitoringSettings:
    """A missing section means every default."""
    root = node if node.present else Node({}, node.file, node.path)
    f = root.mapping(MONITORING_KEYS)
    prefix = optional(f, "alertPrefix", root, camel(app)).text(r"[A-Z][A-Za-z0-9]*", "CamelCase letters and digits, e.g. Chat")
    runbook = optional(f, "runbookUrl", root, defaults.RUNBOOK_URL).text(r"https?://\S+", "an http(s) URL without '#'")
    if "#" in runbook:
        raise f["runbookUrl"].error("must not contain '#': each alert adds its own anchor")
    evaluation = duration(optional(f, "evaluationInterval", root, defaults.EVALUATION_INTERVAL),
                          Duration.parse("1s"), Duration.parse("5m"))
    scrape = duration(optional(f, "scrapeInterval", root, defaults.SCRAPE_INTERVAL), Duration.parse("1s"), Duration.parse("5m"))
    rate_window = duration(optional(f, "rateWindow", root, defaults.RATE_WINDOW), Duration.parse("1s"), Duration.parse("1h"))
    if rate_window.ms < 4 * scrape.ms:
        raise f["rateWindow"].error(
            f"must be at least four scrape intervals ({Duration(4 * scrape.ms)}) so rate() always has samples")
    labels = {}
    for key, value in optional(f, "resourceLabels", root, {}).mapping().items():
        if not re.fullmatch(names.LABEL_KEY, key) or len(key.rpartition("/")[2]) > 63:
            raise value.error("is not a valid Kubernetes label key")
        labels[key] = value.text(names.LABEL_VALUE, names.LABEL_VALUE_HINT, max_length=names.MAX_LABEL_VALUE)
    return MonitoringSettings(
        prefix=prefix,
        runbook_url=runbook,
        evaluation_interval=evaluation,
        scrape_interval=scrape,
        rate_window=rate_window,
        resource_labels=MappingProxyType(labels),
        canary=_parse_canary(optional(f, "canary", root, {}), red_margin),
        alerts=MappingProxyType(parse_alerts(optional(f, "alerts", root, {}), services, indicators)),
        slos=tuple(_parse_slos(optional(f, "slos", root, []), services, indicators)),
        routing=_parse_routing(optional(f, "routing", root, {}), app, stack),
        dashboard_folder=_dashboard_folder(optional(f, "dashboards", root, {}), app),
        target=gcp.parse_monitoring_target(optional(f, "target", root), services),
    )


def _dashboard_folder(node: Node, app: str) -> str:
    f = node.mapping(("folder",))
    return optional(f, "folder", node, f"{app} rollout").text(r"[^/]{1,60}", "a folder title without '/'")


def _parse_canary(node: Node, red_margin: float) -> Canary:
    """Canary alerts page at the gate's RED margin, so an alert and a gate verdict never disagree."""
    if isinstance(node.value, dict) and "redMargin" in node.value:
        raise node.child("redMargin", None).error("moved: the RED margin is rollout:gates.margins.red, shared by alerts and gates")
    f = node.mapping(CANARY_KEYS)
    return Canary(
        red_margin=red_margin,
        min_request_rate=optional(f, "minRequestRate", node, defaults.CANARY_MIN_REQUEST_RATE).number(0),
        min_error_ratio=optional(f, "minErrorRatio", node, defaults.CANARY_MIN_ERROR_RATIO).number(0, 100),
    )


# -- alerts -----------------------------------------------------------------------------------

def builtin_alerts(indicators: Mapping[str, Indicator]) -> dict[str, Alert]:
    out = {}
    for row in defaults.BUILTIN_ALERTS:
        indicator = indicators[row.indicator] if row.indicator else None
        unit = indicator.unit if indicator else (Unit.PERCENT if row.kind == "memory" else Unit.COUNT)
        out[row.name] = Alert(
            name=row.name, kind=AlertKind(row.kind), severity=Severity(row.severity), for_=Duration.parse(row.for_),
            summary=row.summary, description=row.description, threshold=row.threshold, indicator=indicator,
            roles=indicator.roles if indicator and row.kind == "indicator" else (), unit=unit,
            threshold_from=row.threshold_from,
        )
    return out


def parse_alerts(node: Node, services: Mapping[str, Service], indicators: Mapping[str, Indicator]) -> dict[str, Alert]:
    out = builtin_alerts(indicators)
    for name, anode in node.mapping().items():
        if name in out:
            out[name] = _override(out[name], anode)
        else:
            if not re.fullmatch(names.ALERT_NAME, name):
                raise anode.error(f"{name!r} is not an alert name: {names.ALERT_HINT}")
            if isinstance(anode.value, dict) and not {"indicator", "expr"} & set(anode.value):
                raise anode.error(f"is not a built-in alert{did_you_mean(name, out)} and declares no indicator "
                                  f"or expr of its own; built-in alerts: {', '.join(out)}")
            out[name] = _custom(name, anode, services, indicators)
    return by_builtins_then_name(out, (row.name for row in defaults.BUILTIN_ALERTS))


def _override(alert: Alert, node: Node) -> Alert:
    f = node.mapping(OVERRIDE_KEYS)
    if "threshold" in f and f["threshold"].present:
        if alert.threshold_from:
            raise f["threshold"].error(f"is not used: {alert.name} takes its threshold from {alert.threshold_from}")
        maximum = 100 if alert.unit is Unit.PERCENT else None
        alert = replace(alert, threshold=f["threshold"].number(0, maximum))
    if "for" in f and f["for"].present:
        alert = replace(alert, for_=duration(f["for"]))
    if "severity" in f and f["severity"].present:
        alert = replace(alert, severity=Severity(f["severity"].choice([s.value for s in Severity])))
    if "enabled" in f and f["enabled"].present:
        alert = replace(alert, enabled=f["enabled"].boolean())
    return alert


def _custom(name: str, node: Node, services: Mapping[str, Service], indicators: Mapping[str, Indicator]) -> Alert:
    f = node.mapping(CUSTOM_KEYS)
    if "indicator" in f and "expr" in f:
        raise node.error("give either indicator or expr, not both")
    sides = [k for k in ("above", "below") if k in f]
    if len(sides) != 1:
        raise node.error("needs exactly one of above: <threshold> or below: <threshold>")
    side = sides[0]
    indicator = None
    if "indicator" in f:
        iname = f["indicator"].text()
        if iname not in indicators:
            raise f["indicator"].error(f"unknown indicator{did_you_mean(iname, indicators)}; indicators: {', '.join(indicators)}")
        indicator = indicators[iname]
        threshold = limit_value(f[side], indicator)
        roles, unit, kind = indicator.roles, indicator.unit, AlertKind.INDICATOR
        expr = None
    else:
        expr = required(f, "expr", node).text(max_length=MAX_TEXT)
        roles = _expr_roles(f["expr"], expr, services)
        threshold = f[side].number()
        unit, kind = Unit.COUNT, AlertKind.EXPR
    selected = _services(optional(f, "services", node), services, roles, indicator, name)
    alert = Alert(
        name=name, kind=kind, builtin=False,
        severity=Severity(required(f, "severity", node).choice([s.value for s in Severity])),
        for_=duration(required(f, "for", node)),
        summary=required(f, "summary", node).text(max_length=MAX_TEXT),
        description=required(f, "description", node).text(max_length=MAX_TEXT),
        runbook=optional(f, "runbook", node).text(r"https?://\S+", "an http(s) URL") if "runbook" in f else None,
        enabled=optional(f, "enabled", node, True).boolean(),
        threshold=threshold, above=side == "above", indicator=indicator, expr=expr, roles=roles,
        services=selected, unit=unit,
    )
    return replace(alert, test=_alert_test(required(f, "test", node), alert))


def _expr_roles(node: Node, expr: str, services: Mapping[str, Service]) -> tuple[str, ...]:
    from rollout.spec.indicators import declared_roles

    found = [p for p in PLACEHOLDER.findall(expr) if p not in EXPR_WORDS]
    if not found:
        raise node.error("names no role: write each metric as {role}, e.g. max by (namespace, job) ({activeSessions})")
    declared = declared_roles(dict(services))
    for role in found:
        if role not in declared:
            raise node.error(f"{{{role}}} is not a role any service declares{did_you_mean(role, declared)}; "
                             f"declared roles: {', '.join(sorted(declared)) or '(none)'}")
    return tuple(dict.fromkeys(found))


def _services(node: Node, services: Mapping[str, Service], roles: tuple[str, ...], indicator: Indicator | None,
              alert: str) -> tuple[str, ...] | None:
    def fits(service: Service) -> bool:
        if indicator is not None:
            return indicator.applies_to(service)
        return all(service.has(r) for r in roles)

    if not node.present:
        if not any(fits(s) for s in services.values()):
            raise node.error(f"no service can carry {alert}: none declares {', '.join(roles)}")
        return None
    chosen = []
    for item in node.items():
        name = item.choice(list(services))
        if not fits(services[name]):
            raise item.error(f"{name} does not declare {', '.join(roles)}, which {alert} reads")
        chosen.append(name)
    return tuple(chosen)


def _alert_test(node: Node, alert: Alert) -> AlertTest:
    f = node.mapping(("healthy", "breaching"))
    values = {}
    for key in ("healthy", "breaching"):
        part = required(f, key, node)
        if alert.kind is AlertKind.EXPR:
            given = part.mapping()
            missing = [r for r in alert.roles if r not in given]
            if missing:
                raise part.error(f"needs a value for {', '.join(missing)} (what each role reads in the test)")
            extra = [r for r in given if r not in alert.roles]
            if extra:
                raise part.child(extra[0], None).error(f"is not a role of the expression; roles: {', '.join(alert.roles)}")
            values[key] = MappingProxyType({r: given[r].number(0) for r in alert.roles})
        else:
            values[key] = limit_value(part, alert.indicator)  # type: ignore[arg-type]
    if alert.kind is AlertKind.INDICATOR:
        for key, should_fire in (("healthy", False), ("breaching", True)):
            value = values[key]
            fires = value > alert.threshold if alert.above else value < alert.threshold  # type: ignore[operator]
            if fires != should_fire:
                raise f[key].error(f"{value:g} {'would' if fires else 'would not'} fire {alert.name} "
                                   f"({'above' if alert.above else 'below'} {alert.threshold:g}); "
                                   f"a {key} value must {'' if should_fire else 'not '}breach it")
    return AlertTest(values["healthy"], values["breaching"])


# -- SLOs and routing ---------------------------------------------------------------------------

def _parse_slos(node: Node, services: Mapping[str, Service], indicators: Mapping[str, Indicator]) -> list[Slo]:
    slos: list[Slo] = []
    seen: set[str] = set()
    for item in node.items():
        if isinstance(item.value, dict) and {"errors", "total", "errorCodes"} & set(item.value):
            raise item.error("errors/total/errorCodes moved to an indicator: declare it under rollout:indicators "
                             "(or use the built-in errorRate) and give `indicator: <name>`")
        f = item.mapping(SLO_KEYS)
        name = required(f, "name", item).text(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", "lowercase letters, digits and '-'",
                                              max_length=63)
        if name in seen:
            raise f["name"].error(f"SLO {name!r} is declared twice; names must be unique")
        seen.add(name)
        service = required(f, "service", item).choice(list(services))
        if services[service].on_cloud_run:
            raise f["service"].error(f"{service} runs on Cloud Run, whose SLOs would be Cloud Monitoring SLOs; rollout "
                                     "generates SLO rules for Prometheus only (Kubernetes services)")
        inode = required(f, "indicator", item)
        iname = inode.text()
        indicator = indicators.get(iname)
        if indicator is None or indicator.form not in (Form.ERROR_RATIO, Form.SUCCESS):
            ratios = [n for n, i in indicators.items() if i.form in (Form.ERROR_RATIO, Form.SUCCESS)]
            raise inode.error(f"{iname!r} is not an errorRatio or success indicator{did_you_mean(iname, ratios)}; "
                              f"those are: {', '.join(ratios)}")
        if not indicator.applies_to(services[service]):
            raise inode.error(f"service {service} does not declare the roles {iname} reads ({', '.join(indicator.roles)})")
        objective = required(f, "objective", item).number(50, 99.999)
        window = duration(optional(f, "window", item, defaults.SLO_WINDOW), Duration.parse("1d"), Duration.parse("90d"))
        description = optional(f, "description", item, f"{objective:g}% of {name} succeed over {window}").text(max_length=MAX_TEXT)
        slos.append(Slo(name, service, objective, window, indicator, description))
    return slos


def _parse_routing(node: Node, app: str, stack: str) -> Routing:
    f = node.mapping(ROUTING_KEYS)
    pd = optional(f, "pagerduty", node, {})
    pdf = pd.mapping(("routingKeySecret",))
    slack = optional(f, "slack", node, {})
    sf = slack.mapping(("webhookSecret", "channel", "tokenSecret"))
    group_by = tuple(n.text(names.PROM_LABEL, "a Prometheus label name")
                     for n in optional(f, "groupBy", node, ["alertname", "namespace", "job"]).items())
    if not group_by:
        raise f["groupBy"].error("must list at least one label")
    return Routing(
        pagerduty_secret=optional(pdf, "routingKeySecret", pd, "pagerdutyRoutingKey").text(names.CONFIG_KEY, names.CONFIG_KEY_HINT),
        slack_secret=optional(sf, "webhookSecret", slack, "slackWebhookUrl").text(names.CONFIG_KEY, names.CONFIG_KEY_HINT),
        slack_channel=optional(sf, "channel", slack, f"#{app}-{stack}-alerts").text(r"#[a-z0-9_-]+", "a channel like #chat-alerts"),
        group_by=group_by,
        group_wait=duration(optional(f, "groupWait", node, "30s"), Duration(1)),
        group_interval=duration(optional(f, "groupInterval", node, "5m"), Duration(1)),
        repeat_interval=duration(optional(f, "repeatInterval", node, "4h"), Duration(1)),
        slack_token_secret=optional(sf, "tokenSecret", slack, "slackAuthToken").text(names.CONFIG_KEY, names.CONFIG_KEY_HINT),
    )


def roles_in_use(indicators: Mapping[str, Indicator], alerts: Mapping[str, Alert]) -> list[str]:
    """The generic roles and every role an indicator or alert reads, in that order."""
    used = dict.fromkeys(defaults.GENERIC_ROLES)
    for indicator in indicators.values():
        used.update(dict.fromkeys(indicator.roles))
    for alert in alerts.values():
        used.update(dict.fromkeys(alert.roles))
    return list(used)
