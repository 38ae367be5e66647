"""Google Cloud in the stack file: the project and region, Cloud Run services, Managed Prometheus
and the Cloud SQL backup a stage can require.

    gcp:project: acme-chat-prod            # the provider's own keys, read here for defaults
    gcp:region: us-central1
    rollout:services:
      frontend:
        platform: cloudrun                 # default kubernetes
        cloudRun: {minInstances: 2, maxInstances: 20, cpu: "1", memory: 512Mi, concurrency: 80,
                   serviceAccount: fe@acme-chat-prod.iam.gserviceaccount.com, domain: chat.example.com,
                   secrets: {API_KEY: {secret: api-key, version: "3"}}}
    rollout:monitoring: {target: gmp}      # PodMonitoring and Rules instead of PodMonitor and PrometheusRule
    rollout:gates:
      cloudSqlBackup: {instance: chat-db, maxAge: 24h, stages: [canary-5]}

Only the parsing lives here; the settings types are plain frozen dataclasses the model refers to.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

from rollout.errors import ConfigError
from rollout.spec import names, quantity
from rollout.spec.duration import Duration, duration
from rollout.spec.reader import Node, did_you_mean, optional, required

PROJECT = r"[a-z][-a-z0-9]{4,28}[a-z0-9]"
PROJECT_HINT = "a Google Cloud project id: 6 to 30 lowercase letters, digits and '-', starting with a letter"
REGION = r"[a-z]+-[a-z]+[0-9]+"
REGION_HINT = "a Google Cloud region like us-central1"
KUBERNETES, CLOUD_RUN = "kubernetes", "cloudrun"
PLATFORMS = (KUBERNETES, CLOUD_RUN)
CLOUD_RUN_KEYS = ("project", "region", "name", "minInstances", "maxInstances", "cpu", "memory", "concurrency",
                  "timeout", "ingress", "serviceAccount", "secrets", "domain")
# What each Kubernetes-only service key becomes on Cloud Run, for the error that refuses it.
KUBERNETES_ONLY = {
    "replicas": "cloudRun.minInstances and cloudRun.maxInstances",
    "resources": "cloudRun.cpu and cloudRun.memory",
    "maxUnavailable": "nothing: Cloud Run replaces instances itself",
    "podSecurity": "nothing: Cloud Run runs every container in its own sandbox",
    "metrics": "nothing: Cloud Run's own request_count and request_latencies are what gates and alerts read",
}
CPUS = ("1", "2", "4", "6", "8")  # what pulumi-gcp 10.2 documents for template.containers.resources.limits.cpu
# Cloud Run's floor of memory per CPU and of CPU per memory (https://cloud.google.com/run/docs/configuring/memory-limits).
MIN_MEMORY_FOR_CPU = {"4": "2Gi", "6": "4Gi", "8": "4Gi"}
MIN_CPU_FOR_MEMORY = (("16Gi", "6"), ("8Gi", "4"), ("4Gi", "2"))
MEMORY_RANGE = ("128Mi", "32Gi")
INGRESS = {
    "load-balancer": "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER",  # only the load balancer (and the VPC) reach it
    "all": "INGRESS_TRAFFIC_ALL",
}
RESERVED_ENV = ("PORT", "K_SERVICE", "K_REVISION", "K_CONFIGURATION")  # Cloud Run sets these itself
MAX_BASE_NAME = 45  # `<name>-off-neg` and friends stay within the 63 characters Cloud Run and Compute allow
SERVICE_ACCOUNT = r"[a-z][-a-z0-9]{4,28}[a-z0-9]@[a-z][-a-z0-9.]*\.gserviceaccount\.com"
SECRET = r"[A-Za-z0-9_-]{1,255}|projects/[a-z0-9-]+/secrets/[A-Za-z0-9_-]{1,255}"
SECRET_VERSION = r"latest|[1-9][0-9]*"
DOMAIN = r"([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z]{2,63}"
# Cloud Run's metrics as PromQL names them (https://cloud.google.com/monitoring/promql/promql-mapping);
# latencies are in milliseconds.
REQUEST_COUNT = "run_googleapis_com:request_count"
REQUEST_LATENCIES = "run_googleapis_com:request_latencies"
MONITORING_TARGETS = ("prometheus-operator", "gmp")
BACKUP_KEYS = ("instance", "project", "maxAge", "stages")
SQL_INSTANCE = r"[a-z]([-a-z0-9]{0,96}[a-z0-9])?"

PROVIDER_KEYS = ("gcp:project", "gcp:region")  # the Google provider's own keys the spec reads as defaults


@dataclass(frozen=True)
class GcpConfig:
    """The stack's `gcp:project` and `gcp:region`, and the prefix that keeps its Cloud Run names apart."""

    project: str | None = None
    region: str | None = None
    prefix: str = ""  # the stack's namespace: staging and prod may share a project


@dataclass(frozen=True)
class SecretRef:
    """A Secret Manager secret a Cloud Run env var reads (the service account needs accessor on it)."""

    secret: str
    version: str = "latest"


@dataclass(frozen=True)
class CloudRun:
    project: str
    region: str
    name: str  # each track runs as its own Cloud Run service, `<name>-off` and `<name>-on`
    min_instances: int
    max_instances: int
    cpu: str
    memory: str
    concurrency: int
    timeout: Duration
    ingress: str  # INGRESS_TRAFFIC_*
    service_account: str | None
    secrets: Mapping[str, SecretRef] = field(default_factory=dict)
    domain: str | None = None  # the load balancer's host name; needed when the service has two tracks


@dataclass(frozen=True)
class BackupCheck:
    """Promoting into `stages` needs a successful Cloud SQL backup of `instance` younger than `max_age`."""

    instance: str
    project: str
    max_age: Duration
    stages: tuple[str, ...]


def read_gcp_config(document: Any, file: str, prefix: str) -> GcpConfig:
    """`gcp:project` and `gcp:region` from the stack file's config (the provider reads them too)."""
    config = document.get("config") if isinstance(document, dict) else None
    if not isinstance(config, dict):
        return GcpConfig(prefix=prefix)
    project = Node(config.get("gcp:project"), file, "gcp:project")  # PROVIDER_KEYS
    region = Node(config.get("gcp:region"), file, "gcp:region")
    return GcpConfig(
        project=project.text(PROJECT, PROJECT_HINT) if project.present else None,
        region=region.text(REGION, REGION_HINT) if region.present else None,
        prefix=prefix,
    )


def platform_of(fields: dict[str, Node], node: Node) -> str:
    return optional(fields, "platform", node, KUBERNETES).choice(PLATFORMS)


def check_platform_keys(fields: dict[str, Node], node: Node, platform: str) -> None:
    """Keys that mean nothing on the service's platform are refused, naming what to use instead."""
    if platform == CLOUD_RUN:
        for key, instead in KUBERNETES_ONLY.items():
            if key in fields and fields[key].present:
                raise fields[key].error(f"does not apply to a Cloud Run service (platform: cloudrun); use {instead}")
    elif "cloudRun" in fields:
        raise fields["cloudRun"].error("applies only to a service with platform: cloudrun")


def parse_cloud_run(service: str, fields: dict[str, Node], node: Node, gcp: GcpConfig, percentage: bool,
                    has_flags: bool, taken_env: set[str], secret_env: Mapping[str, str]) -> CloudRun:
    """The `cloudRun:` block of a service with `platform: cloudrun`."""
    if percentage:
        raise node.child("platform", None).error(
            "cloudrun cannot use rollout:strategy percentage: the percentage is passed in the env, which is part of "
            "a Cloud Run revision's template, so every stage would create a revision; use strategy tracks")
    for section in ("env", "flags", "secretEnv"):
        given = fields[section].value if section in fields and isinstance(fields[section].value, dict) else {}
        reserved = [name for name in given if name in RESERVED_ENV]
        if reserved:
            raise fields[section].child(reserved[0], None).error(
                f"Cloud Run sets {reserved[0]} itself (PORT from the service's port) and refuses a service that sets it")
    block = optional(fields, "cloudRun", node, {})
    f = block.mapping(CLOUD_RUN_KEYS)
    project = _located(f, block, "project", gcp.project, PROJECT, PROJECT_HINT, "gcp:project")
    region = _located(f, block, "region", gcp.region, REGION, REGION_HINT, "gcp:region")
    name = _base_name(f, block, service, gcp.prefix)
    min_instances = optional(f, "minInstances", block, 1).integer(0, 1000)
    if has_flags and min_instances < 1:
        raise f["minInstances"].error(
            "must be at least 1 for a service with flags: a track at weight 0 keeps a warm instance, so a stage "
            "move never waits for a cold start")
    max_instances = optional(f, "maxInstances", block, 100).integer(1, 1000)
    if max_instances < min_instances:
        raise f["maxInstances"].error(f"must be at least minInstances ({min_instances})")
    cpu = optional(f, "cpu", block, "1").choice(CPUS)
    memory = _memory(optional(f, "memory", block, "512Mi"), cpu)
    secrets = _secret_refs(optional(f, "secrets", block, {}), taken_env)
    account_node = optional(f, "serviceAccount", block)
    account = account_node.text(SERVICE_ACCOUNT, "a service account email like fe@PROJECT.iam.gserviceaccount.com") \
        if account_node.present else None
    if secret_env and account is None:
        raise block.child("serviceAccount", None).error(
            f"is required: secretEnv ({', '.join(secret_env)}) becomes Secret Manager secrets that only this "
            "service account may read")
    domain_node = optional(f, "domain", block)
    domain = domain_node.text(DOMAIN, "a host name like chat.example.com", max_length=253) if domain_node.present else None
    if has_flags and domain is None:
        raise block.child("domain", None).error(
            "is required for a service with flags: its tracks run as two Cloud Run services behind a global "
            "load balancer whose URL map holds the stage's weights, and the load balancer's certificate is for "
            "this host name")
    return CloudRun(
        project=project, region=region, name=name, min_instances=min_instances, max_instances=max_instances,
        cpu=cpu, memory=memory, concurrency=optional(f, "concurrency", block, 80).integer(1, 1000),
        timeout=duration(optional(f, "timeout", block, "300s"), Duration.parse("1s"), Duration.parse("60m")),
        ingress=INGRESS[optional(f, "ingress", block, "load-balancer" if has_flags else "all").choice(INGRESS)],
        service_account=account, secrets=MappingProxyType(secrets), domain=domain,
    )


def _located(f: dict[str, Node], block: Node, key: str, default: str | None, pattern: str, hint: str,
             config_key: str) -> str:
    node = optional(f, key, block, default)
    if not node.present:
        raise node.error(f"is missing: set {config_key} for the stack (`pulumi config set {config_key} ...`) "
                         f"or cloudRun.{key} for this service")
    return node.text(pattern, hint)


def _base_name(f: dict[str, Node], block: Node, service: str, prefix: str) -> str:
    given = "name" in f and f["name"].present
    node = f["name"] if given else Node(f"{prefix}-{service}" if prefix else service, block.file, block.child_path("name"))
    name = node.text(names.DNS_LABEL, names.DNS_LABEL_HINT)
    if len(name) > MAX_BASE_NAME:
        where = "" if given else f" (the default, <namespace>-{service})"
        raise node.error(f"{name!r}{where} is {len(name)} characters; Cloud Run and load balancer names built from it "
                         f"allow at most {MAX_BASE_NAME}: set cloudRun.name")
    return name


def _memory(node: Node, cpu: str) -> str:
    memory = node.text(quantity.PATTERN, "a quantity like 512Mi or 2Gi")
    amount = quantity.amount(memory)
    low, high = (quantity.amount(q) for q in MEMORY_RANGE)
    if not low <= amount <= high:
        raise node.error(f"{memory} is outside what Cloud Run allows ({MEMORY_RANGE[0]} to {MEMORY_RANGE[1]})")
    floor = MIN_MEMORY_FOR_CPU.get(cpu)
    if floor and amount < quantity.amount(floor):
        raise node.error(f"{memory} is too little for cpu {cpu}: Cloud Run needs at least {floor}")
    for above, least in MIN_CPU_FOR_MEMORY:
        if amount > quantity.amount(above) and int(cpu) < int(least):
            raise node.error(f"{memory} needs at least cpu {least} on Cloud Run (more than {above})")
    return memory


def _secret_refs(node: Node, taken_env: set[str]) -> dict[str, SecretRef]:
    refs = {}
    for env_name, ref in node.mapping().items():
        if not re.fullmatch(names.ENV_NAME, env_name):
            raise ref.error(f"is not a valid environment variable name: {names.ENV_HINT}")
        if env_name in taken_env:
            raise ref.error(f"{env_name} is also set in env, flags or secretEnv; keep it in one place")
        f = ref.mapping(("secret", "version"))
        refs[env_name] = SecretRef(
            secret=required(f, "secret", ref).text(SECRET, "a Secret Manager secret id or projects/P/secrets/ID"),
            version=optional(f, "version", ref, "latest").text(SECRET_VERSION, "latest or a version number; quote it"),
        )
    return refs


def parse_monitoring_target(node: Node, services: Mapping[str, Any]) -> str:
    """`rollout:monitoring.target`: the gate reads Cloud Run's metrics through Managed Prometheus's API,
    which only sees what Managed Prometheus collects, so a stack with a Cloud Run service targets it."""
    target = (node if node.present else Node(MONITORING_TARGETS[0], node.file, node.path)).choice(MONITORING_TARGETS)
    cloud_run = [name for name, s in services.items() if s.on_cloud_run]
    if cloud_run and target != "gmp":
        raise node.error(f"must be gmp: {', '.join(cloud_run)} runs on Cloud Run, whose metrics gates read from Cloud "
                         "Monitoring through Managed Prometheus's API, where the Kubernetes services' metrics must be "
                         "too (rollout:monitoring.target: gmp)")
    if target == "gmp":
        jobs: dict[str, str] = {}
        for name, service in services.items():
            if service.on_cloud_run or service.metrics is None:
                continue
            job = service.metrics.job
            where = f"rollout:services.{name}.metrics.job"
            if not re.fullmatch(names.DNS_LABEL, job):
                raise ConfigError(node.file, where, f"job {job!r} must be a DNS label under target gmp: Managed Prometheus "
                                  "names the job after the PodMonitoring resource")
            if job in jobs:
                raise ConfigError(node.file, where, f"job {job!r} is also {jobs[job]}'s; under target gmp each job is "
                                  "one PodMonitoring, so jobs must be unique")
            jobs[job] = name
    return target


def parse_backup_check(node: Node, ladder: list[str], gcp: GcpConfig) -> BackupCheck | None:
    """`rollout:gates.cloudSqlBackup`; absent means no stage needs a backup."""
    if not node.present:
        return None
    f = node.mapping(BACKUP_KEYS)
    project = optional(f, "project", node, gcp.project)
    if not project.present:
        raise project.error("is missing: set gcp:project for the stack or cloudSqlBackup.project")
    stages = []
    for item in required(f, "stages", node).items():
        stage = item.text()
        if stage not in ladder:
            raise item.error(f"unknown stage {stage!r}{did_you_mean(stage, ladder)}; the ladder is {' -> '.join(ladder)}")
        stages.append(stage)
    if not stages:
        raise f["stages"].error("must name at least one stage that needs a fresh backup before it is promoted to")
    return BackupCheck(
        instance=required(f, "instance", node).text(SQL_INSTANCE, "a Cloud SQL instance name (not the connection name)"),
        project=project.text(PROJECT, PROJECT_HINT),
        max_age=duration(required(f, "maxAge", node), Duration.parse("1m"), Duration.parse("30d")),
        stages=tuple(stages),
    )
