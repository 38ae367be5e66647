"""The `rollout:monitoring` section: every threshold, window and route in one typed place."""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Mapping

from rollout.spec.reader import Node, optional, required
from rollout.spec.stack import CONFIG_KEY, StackSettings
from rollout.spec.gates import parse_gates
from rollout.spec.catalog import CATALOG, SEVERITIES, THRESHOLD_ELSEWHERE, AlertDefault

DURATION = r"[0-9]+(s|m|h|d)"
DURATION_HINT = "a duration like 30s, 5m, 1h or 30d"
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
LABEL_NAME = r"[a-zA-Z_][a-zA-Z0-9_]*"
K8S_LABEL_KEY = r"([a-z0-9.-]+/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?"

MONITORING_KEYS = (
    "alertPrefix", "runbookUrl", "evaluationInterval", "scrapeInterval", "rateWindow",
    "resourceLabels", "canary", "alerts", "slos", "routing", "dashboards",
)
CANARY_KEYS = ("minRequestRate", "minErrorRatio")
ALERT_KEYS = ("threshold", "for", "severity", "enabled")
SLO_KEYS = ("name", "service", "objective", "window", "errors", "errorCodes", "total", "description")
ROUTING_KEYS = ("pagerduty", "slack", "groupBy", "groupWait", "groupInterval", "repeatInterval")
PAGERDUTY_KEYS = ("routingKeySecret",)
SLACK_KEYS = ("webhookSecret", "channel")
DASHBOARD_KEYS = ("folder",)
DEFAULT_RUNBOOK = "https://github.com/acme/rollout/blob/main/docs/runbook.md"


def seconds(duration: str) -> int:
    """'5m' -> 300."""
    match = re.fullmatch(r"([0-9]+)(s|m|h|d)", duration)
    if not match:
        raise ValueError(f"not a duration: {duration!r}")
    return int(match.group(1)) * _SECONDS[match.group(2)]


def duration_text(total: int) -> str:
    """300 -> '5m', 90 -> '1m30s': the form Prometheus and promtool print."""
    if total == 0:
        return "0s"
    out = ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if unit == "d" and total % 86400:
            continue  # Prometheus prints 36h, not 1d12h
        if total >= size:
            out += f"{total // size}{unit}"
            total %= size
    return out


@dataclass(frozen=True)
class AlertSetting:
    """One alert of the catalog after the stack's overrides."""

    name: str
    threshold: float
    for_: str
    severity: str
    enabled: bool

    @property
    def for_seconds(self) -> int:
        return seconds(self.for_)


@dataclass(frozen=True)
class Slo:
    name: str
    service: str
    objective: float  # percent, e.g. 99.9
    window: str
    errors: str  # a counter role of the service's contract
    error_codes: str | None  # regex on `code` when errors and total are the same counter
    total: str
    description: str

    @property
    def budget(self) -> float:
        """The error ratio the objective allows, e.g. 0.001 for 99.9%."""
        return round(1 - self.objective / 100, 12)


@dataclass(frozen=True)
class Routing:
    pagerduty_secret: str  # Pulumi secret config key holding the PagerDuty routing key
    slack_secret: str  # Pulumi secret config key holding the Slack webhook URL
    slack_channel: str
    group_by: tuple[str, ...]
    group_wait: str
    group_interval: str
    repeat_interval: str


@dataclass(frozen=True)
class Canary:
    red_margin: float  # percent worse than baseline that counts as RED
    min_request_rate: float  # requests/s each track needs before tracks are compared
    min_error_ratio: float  # percent: below this the canary is never "worse"


@dataclass(frozen=True)
class MonitoringConfig:
    prefix: str
    runbook_url: str
    evaluation_interval: str
    scrape_interval: str
    rate_window: str
    resource_labels: Mapping[str, str]
    canary: Canary
    alerts: Mapping[str, AlertSetting]
    slos: tuple[Slo, ...]
    routing: Routing
    dashboard_folder: str

    def alert(self, name: str) -> AlertSetting:
        return self.alerts[name]

    def alert_name(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def runbook(self, name: str) -> str:
        return f"{self.runbook_url}#{name.lower()}"

    @property
    def evaluation_seconds(self) -> int:
        return seconds(self.evaluation_interval)


def camel(app: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[-_.]", app) if part)


def parse_monitoring(settings: StackSettings) -> MonitoringConfig:
    """Read `rollout:monitoring`; a missing section means every default."""
    node = settings.node("monitoring")
    if node.value is None:
        node = Node({}, node.file, node.path)
    f = node.mapping(MONITORING_KEYS)
    prefix = optional(f, "alertPrefix", node, camel(settings.app)).text(
        r"[A-Z][A-Za-z0-9]*", "CamelCase letters and digits, e.g. Chat"
    )
    runbook = optional(f, "runbookUrl", node, DEFAULT_RUNBOOK).text(r"https?://\S+", "an http(s) URL without '#'")
    if "#" in runbook:
        raise f["runbookUrl"].error("must not contain '#': each alert adds its own anchor")
    evaluation = _duration(optional(f, "evaluationInterval", node, "30s"), max_seconds=300)
    scrape = _duration(optional(f, "scrapeInterval", node, "30s"), max_seconds=300)
    rate_window = _duration(optional(f, "rateWindow", node, "5m"), max_seconds=3600)
    if seconds(rate_window) < 4 * seconds(scrape):
        raise f["rateWindow"].error(
            f"must be at least four scrape intervals ({4 * seconds(scrape)}s) so rate() always has samples"
        )
    labels = {}
    for key, value in optional(f, "resourceLabels", node, {}).mapping().items():
        if not re.fullmatch(K8S_LABEL_KEY, key):
            raise value.error("is not a valid Kubernetes label key")
        labels[key] = value.text(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?", "a Kubernetes label value")
    return MonitoringConfig(
        prefix=prefix,
        runbook_url=runbook,
        evaluation_interval=evaluation,
        scrape_interval=scrape,
        rate_window=rate_window,
        resource_labels=MappingProxyType(labels),
        canary=_parse_canary(optional(f, "canary", node, {}), parse_gates(settings).red_margin),
        alerts=MappingProxyType(_parse_alerts(optional(f, "alerts", node, {}))),
        slos=tuple(_parse_slos(optional(f, "slos", node, []), settings)),
        routing=_parse_routing(optional(f, "routing", node, {}), settings),
        dashboard_folder=_parse_dashboards(optional(f, "dashboards", node, {}), settings),
    )


def _duration(node: Node, max_seconds: int | None = None) -> str:
    text = node.text(DURATION, DURATION_HINT)
    if seconds(text) == 0:
        raise node.error("must be longer than 0")
    if max_seconds is not None and seconds(text) > max_seconds:
        raise node.error(f"must be at most {duration_text(max_seconds)}, got {text}")
    return text


def _parse_canary(node: Node, red_margin: float) -> Canary:
    """Canary alerts page at the gate's RED margin, so an alert and a gate verdict never disagree."""
    if isinstance(node.value, dict) and "redMargin" in node.value:
        raise node.mapping()["redMargin"].error("moved: the RED margin is rollout:gates.margins.red, shared by alerts and gates")
    f = node.mapping(CANARY_KEYS)
    return Canary(
        red_margin=red_margin,
        min_request_rate=optional(f, "minRequestRate", node, 0.1).number(0),
        min_error_ratio=optional(f, "minErrorRatio", node, 0.1).number(0, 100),
    )


def _parse_alerts(node: Node) -> dict[str, AlertSetting]:
    out = {name: _default_setting(d) for name, d in CATALOG.items()}
    for name, anode in node.mapping(CATALOG).items():
        d = CATALOG[name]
        f = anode.mapping(ALERT_KEYS)
        setting = out[name]
        if "threshold" in f and f["threshold"].value is not None:
            if name in THRESHOLD_ELSEWHERE:
                raise f["threshold"].error(f"is not used: {name} takes its threshold from {THRESHOLD_ELSEWHERE[name]}")
            setting = replace(setting, threshold=f["threshold"].number(d.minimum, d.maximum))
        if "for" in f and f["for"].value is not None:
            text = f["for"].text(DURATION, DURATION_HINT)
            setting = replace(setting, for_=text)
        if "severity" in f and f["severity"].value is not None:
            setting = replace(setting, severity=f["severity"].choice(SEVERITIES))
        if "enabled" in f and f["enabled"].value is not None:
            setting = replace(setting, enabled=f["enabled"].boolean())
        out[name] = setting
    return out


def _default_setting(d: AlertDefault) -> AlertSetting:
    return AlertSetting(name=d.name, threshold=d.threshold, for_=d.for_, severity=d.severity, enabled=True)


def _parse_slos(node: Node, settings: StackSettings) -> list[Slo]:
    slos: list[Slo] = []
    seen: set[str] = set()
    for item in node.items():
        f = item.mapping(SLO_KEYS)
        name = required(f, "name", item).text(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", "lowercase letters, digits and '-'")
        if name in seen:
            raise f["name"].error(f"SLO {name!r} is declared twice; names must be unique")
        seen.add(name)
        service_node = required(f, "service", item)
        service = service_node.choice(list(settings.services))
        contract = settings.services[service].metrics
        if contract is None:
            raise service_node.error(f"service {service!r} has no metrics contract (rollout:services.{service}.metrics)")
        counters = [role for role, sig in contract.signals.items() if sig.kind == "counter"]
        roles = {}
        for key in ("errors", "total"):
            rnode = required(f, key, item)
            role = rnode.text()
            if role not in counters:
                raise rnode.error(
                    f"{role!r} is not a counter in {service}'s metrics contract; counters: {', '.join(counters)}"
                )
            roles[key] = role
        codes_node = optional(f, "errorCodes", item)
        codes = codes_node.text(r"[0-9x.|()\[\]-]+", "a regex on the status code, e.g. 5..") if codes_node.value is not None else None
        if codes is not None and not _matches_a_status(codes):
            raise codes_node.error(f"{codes!r} matches no HTTP status code 100-599; use a regex like 5.. or 5..|429")
        if roles["errors"] == roles["total"] and codes is None:
            raise item.error("errors and total are the same counter: set errorCodes (e.g. \"5..\") to pick the errors")
        objective = required(f, "objective", item).number(50, 99.999)
        window = _duration(optional(f, "window", item, "30d"))
        if not 86400 <= seconds(window) <= 90 * 86400:
            raise f["window"].error("must be between 1d and 90d")
        description = optional(f, "description", item, f"{objective:g}% of {name} succeed over {window}").text()
        slos.append(Slo(name, service, objective, window, roles["errors"], codes, roles["total"], description))
    return slos


def _matches_a_status(pattern: str) -> bool:
    try:
        return any(re.fullmatch(pattern, str(code)) for code in range(100, 600))
    except re.error:
        return False


def _parse_routing(node: Node, settings: StackSettings) -> Routing:
    f = node.mapping(ROUTING_KEYS)
    pd = optional(f, "pagerduty", node, {})
    pdf = pd.mapping(PAGERDUTY_KEYS)
    slack = optional(f, "slack", node, {})
    sf = slack.mapping(SLACK_KEYS)
    group_by = tuple(
        n.text(LABEL_NAME, "a Prometheus label name") for n in optional(f, "groupBy", node, ["alertname", "namespace", "job"]).items()
    )
    if not group_by:
        raise f["groupBy"].error("must list at least one label")
    return Routing(
        pagerduty_secret=optional(pdf, "routingKeySecret", pd, "pagerdutyRoutingKey").text(CONFIG_KEY, "a Pulumi config key name without 'rollout:'"),
        slack_secret=optional(sf, "webhookSecret", slack, "slackWebhookUrl").text(CONFIG_KEY, "a Pulumi config key name without 'rollout:'"),
        slack_channel=optional(sf, "channel", slack, f"#{settings.app}-{settings.stack}-alerts").text(r"#[a-z0-9_-]+", "a channel like #chat-alerts"),
        group_by=group_by,
        group_wait=_duration(optional(f, "groupWait", node, "30s")),
        group_interval=_duration(optional(f, "groupInterval", node, "5m")),
        repeat_interval=_duration(optional(f, "repeatInterval", node, "4h")),
    )


def _parse_dashboards(node: Node, settings: StackSettings) -> str:
    f = node.mapping(DASHBOARD_KEYS)
    return optional(f, "folder", node, f"{settings.app} rollout").text(r"[^/]{1,60}", "a folder title without '/'")
