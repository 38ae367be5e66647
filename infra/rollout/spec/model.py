"""The stack file as typed settings: what every other layer reads, never the raw YAML."""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Mapping

from rollout.errors import UsageError
from rollout.spec.duration import Duration
from rollout.spec.gcp import BackupCheck, CloudRun, GcpConfig


class Strategy(StrEnum):
    TRACKS = "tracks"  # an off and an on Deployment per flagged service; a stage moves replicas
    PERCENTAGE = "percentage"  # one Deployment; the app buckets users by the percentage it is given


class Bound(StrEnum):
    MAX = "max"  # the value must stay at or below the limit
    MIN = "min"  # the value must stay at or above the limit


class Form(StrEnum):
    ERROR_RATIO = "errorRatio"  # errors / total, in percent
    SUCCESS = "success"  # 100 - errorRatio, in percent
    QUANTILE = "quantile"  # a histogram quantile, in seconds
    RATE = "rate"  # a counter's increase per second
    GAUGE = "gauge"  # a gauge's value, summed or maxed over pods


class Unit(StrEnum):
    PERCENT = "%"
    SECONDS = "s"
    PER_SECOND = "/s"
    COUNT = ""


FORM_UNITS = {Form.ERROR_RATIO: Unit.PERCENT, Form.SUCCESS: Unit.PERCENT, Form.QUANTILE: Unit.SECONDS,
              Form.RATE: Unit.PER_SECOND, Form.GAUGE: Unit.COUNT}


class Severity(StrEnum):
    CRITICAL = "critical"  # pages
    WARNING = "warning"  # goes to chat


class OnRed(StrEnum):
    PREVIOUS = "previous"
    KILL_SWITCH = "kill-switch"


class RollbackOrder(StrEnum):
    REVERSE = "reverse"  # a move toward the kill switch stops the consumer first (frontend, then backend)
    DECLARED = "declared"


# -- services -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Flag:
    name: str
    off: str
    on: str
    build_time: bool = False


@dataclass(frozen=True)
class Signal:
    """One metric in a service's contract, named by the role alerts, gates and dashboards use."""

    role: str
    kind: str  # counter, gauge or histogram
    metric: str


@dataclass(frozen=True)
class MetricContract:
    job: str
    path: str
    signals: Mapping[str, Signal]
    error_codes: str  # regex on the `code` label: which requests count as errors

    def has(self, role: str, kind: str | None = None) -> bool:
        signal = self.signals.get(role)
        return signal is not None and (kind is None or signal.kind == kind)


@dataclass(frozen=True)
class PodSecurity:
    """The restricted Pod Security Standard unless the stack file relaxes it for a service."""

    run_as_non_root: bool = True
    run_as_user: int | None = None
    run_as_group: int | None = None
    fs_group: int | None = None
    read_only_root_filesystem: bool = False
    allow_privilege_escalation: bool = False
    add_capabilities: tuple[str, ...] = ()
    seccomp_profile: str = "RuntimeDefault"
    automount_service_account_token: bool = False


@dataclass(frozen=True)
class Service:
    name: str
    image: str
    on_image: str | None
    port: int
    health_path: str
    replicas: int
    resources: Mapping[str, Mapping[str, str]]
    env: Mapping[str, str]
    flags: Mapping[str, Flag]
    secret_env: Mapping[str, str]
    metrics: MetricContract | None
    max_unavailable: int | str
    security: PodSecurity = field(default_factory=PodSecurity)
    allow_plain: frozenset[str] = frozenset()  # env/flag names allowed to hold credential-looking values
    cloud_run: CloudRun | None = None  # set for `platform: cloudrun`; None runs on Kubernetes

    @property
    def on_cloud_run(self) -> bool:
        return self.cloud_run is not None

    @property
    def has_flags(self) -> bool:
        return bool(self.flags)

    @property
    def needs_own_image_on(self) -> bool:
        return any(f.build_time for f in self.flags.values())

    def has(self, role: str, kind: str | None = None) -> bool:
        return self.metrics is not None and self.metrics.has(role, kind)


@dataclass(frozen=True)
class Stage:
    name: str
    weights: Mapping[str, float]  # service -> requested percentage on the `on` track

    def weight_of(self, service: str) -> float:
        return self.weights.get(service, 0.0)


# -- what is measured -----------------------------------------------------------------------

@dataclass(frozen=True)
class Indicator:
    """A named value per service and track: what gates judge, alerts watch and dashboards plot."""

    name: str
    title: str
    form: Form
    total: str | None = None  # ratio forms: the counter role of every event
    errors: str | None = None  # ratio forms: the counter role of failed events
    errors_by_code: bool = False  # no `errors` counter on the service: count `total` with an error code
    role: str | None = None  # quantile, rate and gauge forms: the role they read
    quantile: float = 0.95
    aggregate: str = "sum"  # gauges: sum or max over pods

    @property
    def unit(self) -> Unit:
        return FORM_UNITS[self.form]

    def errors_role(self, service: Service) -> str | None:
        """The error counter this service uses, or None when errors are `total` with an error code."""
        if self.errors and service.has(self.errors, "counter"):
            return self.errors
        return None

    def applies_to(self, service: Service) -> bool:
        """A service is measured only when its contract names every role the indicator reads."""
        if service.metrics is None:
            return False
        if self.form in (Form.ERROR_RATIO, Form.SUCCESS):
            if not service.has(self.total or "", "counter"):
                return False
            return self.errors is None or self.errors_by_code or service.has(self.errors, "counter")
        kind = {Form.QUANTILE: "histogram", Form.RATE: "counter", Form.GAUGE: "gauge"}[self.form]
        return service.has(self.role or "", kind)

    @property
    def roles(self) -> tuple[str, ...]:
        """Every role it can read (an `errors` counter is optional when errors can be counted by code)."""
        return tuple(r for r in (self.errors, self.total, self.role) if r)

    @property
    def required_roles(self) -> tuple[str, ...]:
        return tuple(r for r in self.roles if not (r == self.errors and self.errors_by_code))


@dataclass(frozen=True)
class Threshold:
    indicator: Indicator
    bound: Bound
    limit: float  # in the indicator's unit: percent, seconds, per second or a count
    hold: Duration = Duration(0)  # how long a rollback trigger must hold before it fires

    def breached(self, value: float) -> bool:
        return value > self.limit if self.bound is Bound.MAX else value < self.limit


@dataclass(frozen=True)
class GateSettings:
    window: Duration
    trigger_window: Duration
    min_requests: float
    min_soak: Duration
    yellow_margin: float  # percent worse than baseline
    red_margin: float
    checks: Mapping[str, Threshold]
    triggers: Mapping[str, Threshold]
    on_red: OnRed
    ledger: str  # a path relative to the stack file's folder, or s3://bucket/prefix
    backup: BackupCheck | None = None  # stages that need a fresh Cloud SQL backup before a promote into them


# -- alerts, SLOs, routing ------------------------------------------------------------------

class AlertKind(StrEnum):
    INDICATOR = "indicator"  # an indicator above or below a threshold
    EXPR = "expr"  # the stack's own PromQL over its roles
    SERVICE_DOWN = "service-down"
    MEMORY = "memory"
    CANARY_ERRORS = "canary-errors"
    CANARY_LATENCY = "canary-latency"
    SLO_FAST = "slo-fast"
    SLO_SLOW = "slo-slow"


@dataclass(frozen=True)
class AlertTest:
    """Inputs the generated promtool cases use: indicator values, or per-role values for expr alerts.

    Per role, a counter's value is its increase per second, a gauge's its value and a histogram's
    the duration of every observation.
    """

    healthy: float | Mapping[str, float]
    breaching: float | Mapping[str, float]


@dataclass(frozen=True)
class Alert:
    name: str  # without the stack's prefix
    kind: AlertKind
    severity: Severity
    for_: Duration
    summary: str
    description: str
    enabled: bool = True
    builtin: bool = True
    threshold: float | None = None
    above: bool = True  # fires above the threshold (False: below)
    indicator: Indicator | None = None
    expr: str | None = None  # kind EXPR: PromQL with {role} placeholders
    roles: tuple[str, ...] = ()  # roles a service must declare for the alert to apply
    services: tuple[str, ...] | None = None  # only these services (None: every service it applies to)
    unit: Unit = Unit.COUNT
    test: AlertTest | None = None
    runbook: str | None = None  # a full URL; default: the stack's runbook with the alert's anchor
    threshold_from: str = ""


@dataclass(frozen=True)
class Slo:
    name: str
    service: str
    objective: float  # percent, e.g. 99.9
    window: Duration
    indicator: Indicator  # an errorRatio or success indicator
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
    group_wait: Duration
    group_interval: Duration
    repeat_interval: Duration
    slack_token_secret: str = "slackAuthToken"  # Cloud Monitoring's Slack channel takes an OAuth token, not a webhook


@dataclass(frozen=True)
class Canary:
    red_margin: float  # percent worse than baseline that counts as RED (rollout:gates.margins.red)
    min_request_rate: float  # requests/s each track needs before tracks are compared
    min_error_ratio: float  # percent: below this the canary is never "worse"


@dataclass(frozen=True)
class MonitoringSettings:
    prefix: str
    runbook_url: str
    evaluation_interval: Duration
    scrape_interval: Duration
    rate_window: Duration
    resource_labels: Mapping[str, str]
    canary: Canary
    alerts: Mapping[str, Alert]  # every alert, built-in and the stack's own, enabled or not
    slos: tuple[Slo, ...]
    routing: Routing
    dashboard_folder: str
    target: str = "prometheus-operator"  # or "gmp": Google Cloud Managed Service for Prometheus

    def alert_name(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def runbook(self, alert: Alert) -> str:
        return alert.runbook or f"{self.runbook_url}#{alert.name.lower()}"

    @property
    def enabled_alerts(self) -> list[Alert]:
        return [a for a in self.alerts.values() if a.enabled]


@dataclass(frozen=True)
class GitOpsSettings:
    # pull-request suits a protected branch; push keeps git and the cluster equal at once.
    on_rollback: str = "pull-request"


# -- the whole stack ------------------------------------------------------------------------

@dataclass(frozen=True)
class StackSettings:
    stack: str
    file: str
    app: str
    namespace: str
    strategy: Strategy
    stage: str
    stages: tuple[Stage, ...]
    allow_skip: bool
    weight_tolerance: float
    kill_switch: str
    percentage_env: str
    rollback_order: RollbackOrder
    services: Mapping[str, Service]
    indicators: Mapping[str, Indicator]
    gates: GateSettings
    monitoring: MonitoringSettings
    gitops: GitOpsSettings = field(default_factory=GitOpsSettings)
    gcp: GcpConfig = field(default_factory=GcpConfig)

    def stage_named(self, name: str) -> Stage:
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise UsageError(f"{self.file}: unknown stage {name!r}; the ladder is {' -> '.join(self.stage_names)}")

    @property
    def stage_names(self) -> list[str]:
        return [s.name for s in self.stages]

    def index_of(self, name: str) -> int:
        return self.stage_names.index(self.stage_named(name).name)

    @property
    def flagged_services(self) -> list[str]:
        return [s.name for s in self.services.values() if s.has_flags]

    @property
    def cloud_run_services(self) -> list[Service]:
        return [s for s in self.services.values() if s.on_cloud_run]

    @property
    def kubernetes_services(self) -> list[Service]:
        """The services Prometheus scrapes and the cluster runs (Cloud Run's are watched by Cloud Monitoring)."""
        return [s for s in self.services.values() if not s.on_cloud_run]
