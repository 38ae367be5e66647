"""Read and validate a whole stack file into StackSettings: every section, once, at load.

The CLI reads `Pulumi.<stack>.yaml`; the Pulumi program hands the same document, rebuilt from
Pulumi's config, to `parse_stack`. Either way a mistake is one ConfigError naming file and key.
"""
from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from rollout.errors import ConfigError
from rollout.spec import gcp, names
from rollout.spec.gates import parse_gates
from rollout.spec.gitops import parse_gitops
from rollout.spec.indicators import parse_indicators
from rollout.spec.credentials import credential_problem, credential_problems
from rollout.spec.model import MonitoringSettings, RollbackOrder, Service, Stage, StackSettings, Strategy
from rollout.spec.monitoring import parse_monitoring, roles_in_use
from rollout.spec.reader import Node, did_you_mean, required
from rollout.spec.services import parse_services
from rollout.spec.yaml12 import StackFileRefused, YAMLError, decode, load_yaml

NAMESPACE = "rollout"
TOP_LEVEL_KEYS = (
    "app", "namespace", "strategy", "stage", "allowSkip", "weightTolerance",
    "killSwitch", "stages", "services", "percentageEnv", "rollbackOrder", "indicators", "monitoring", "gates",
    "gitops",
)
# What each key is when Pulumi hands it over as text (config values are strings; objects are JSON).
TOP_LEVEL_TYPES: dict[str, type] = {
    "app": str, "namespace": str, "strategy": str, "stage": str, "killSwitch": str,
    "percentageEnv": str, "rollbackOrder": str, "allowSkip": bool, "weightTolerance": float,
    "stages": list, "services": dict, "indicators": dict, "monitoring": dict, "gates": dict, "gitops": dict,
}
# Keys older versions wrote: refused by name, so the user deletes the line rather than guess.
RETIRED_KEYS = {
    "previousStage": "no longer used: `pulumi up` reads the deployed stage from the stack's own outputs; "
                     "delete this line",
}
STAGE_KEYS = ("name", "weight", "weights")
MAX_APP = 40
CONFIG_KEY_REF = "CONFIG_KEY_NAME"  # how a secretEnv or routing value is shown to the credential detector


def read_document(path: Path) -> Any:
    """The parsed YAML of a stack file; any problem is a ConfigError naming the file."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(str(path), "(file)", "does not exist") from None
    except IsADirectoryError:
        raise ConfigError(str(path), "(file)", "is a folder, not a stack file") from None
    except OSError as exc:
        raise ConfigError(str(path), "(file)", f"cannot be read: {exc.strerror or exc}") from None
    try:
        return load_yaml(decode(data))
    except StackFileRefused as exc:
        raise ConfigError(path.name, exc.where, exc.problem) from None
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(file)"
        raise ConfigError(path.name, where, f"is not valid YAML: {getattr(exc, 'problem', None) or exc}") from None
    except RecursionError:
        raise ConfigError(path.name, "(file)", "nests too deeply to read") from None


def load_stack(path: Path | str, stack: str | None = None, display_name: str | None = None) -> StackSettings:
    """Read and validate `Pulumi.<stack>.yaml`."""
    path = Path(path)
    stack = stack or stack_name_from_path(path)
    return parse_stack(read_document(path), stack, display_name or path.name)


def stack_name_from_path(path: Path) -> str:
    match = re.fullmatch(r"Pulumi\.(.+)\.ya?ml", path.name)
    return match.group(1) if match else path.stem


def is_secure(value: Any) -> bool:
    """`{secure: ...}`: a value `pulumi config set --secret` wrote, never read here."""
    return isinstance(value, dict) and set(value) == {"secure"}


def rollout_keys(document: Any, file: str) -> dict[str, Node]:
    """The `rollout:*` keys of a stack document (secure values left out), each as a Node."""
    top = Node(document, file, "")
    if document is None:
        raise ConfigError(file, "config", "is missing: the file is empty")
    config = Node(required(top.mapping(), "config", top).value, file, "config")
    keys: dict[str, Node] = {}
    for key, node in config.mapping().items():
        namespace, colon, name = key.partition(":")
        if not colon or not namespace or not name:
            raise ConfigError(file, key, "has no namespace: Pulumi config keys look like rollout:<name> "
                                         "(or <provider>:<name>)")
        if namespace != NAMESPACE or is_secure(node.value):
            continue  # kubernetes:*, gcp:* belong to providers; secrets are read by the Pulumi program
        if name in RETIRED_KEYS:
            raise ConfigError(file, key, RETIRED_KEYS[name])
        if name not in TOP_LEVEL_KEYS:
            raise ConfigError(file, key, f"unknown key{did_you_mean(name, TOP_LEVEL_KEYS)}; allowed: "
                                         + ", ".join(f"{NAMESPACE}:{k}" for k in TOP_LEVEL_KEYS)
                                         + " (or a secret set with `pulumi config set --secret`)")
        keys[name] = Node(node.value, file, key)
    return keys


def parse_stack(document: Any, stack: str, file: str) -> StackSettings:
    if not names.is_label_value(stack):
        raise ConfigError(file, "(stack name)", f"{stack!r} cannot label resources: {names.LABEL_VALUE_HINT}")
    raw = rollout_keys(document, file)

    def key(name: str) -> Node:
        return raw.get(name) or Node(None, file, f"{NAMESPACE}:{name}")

    def need(name: str) -> Node:
        node = key(name)
        if not node.present:
            raise node.error("is required but missing")
        return node

    app = need("app").text(names.DNS_LABEL, names.DNS_LABEL_HINT, max_length=MAX_APP)
    namespace = need("namespace").text(names.NAMESPACE, "a Kubernetes namespace name: lowercase letters, digits and '-'",
                                       max_length=names.MAX_NAMESPACE)
    strategy = Strategy(key("strategy").choice([s.value for s in Strategy]) if key("strategy").present else "tracks")
    percentage_env = (key("percentageEnv").text(names.ENV_NAME, names.ENV_HINT)
                      if key("percentageEnv").present else "ROLLOUT_PERCENTAGE")
    google = gcp.read_gcp_config(document, file, namespace)
    services = parse_services(need("services"), strategy, percentage_env, google)
    stages = _parse_stages(need("stages"), services)
    ladder = [s.name for s in stages]
    stage = _stage_ref(need("stage"), ladder)
    allow_skip = key("allowSkip").boolean() if key("allowSkip").present else False
    tolerance = key("weightTolerance").number(0, 100) if key("weightTolerance").present else 1.0
    kill_switch = _kill_switch(key("killSwitch"), key("stages"), stages)
    order = RollbackOrder(key("rollbackOrder").choice([o.value for o in RollbackOrder])
                          if key("rollbackOrder").present else RollbackOrder.REVERSE.value)
    indicators = parse_indicators(key("indicators"), services)
    gates = parse_gates(key("gates"), stack, indicators)
    gates = replace(gates, backup=gcp.parse_backup_check(_gates_child(key("gates"), "cloudSqlBackup"), ladder, google))
    monitoring = parse_monitoring(key("monitoring"), app, stack, services, indicators, gates.red_margin)
    _check_roles(raw.get("services"), services, roles_in_use(indicators, monitoring.alerts))
    _check_credentials(file, services, monitoring)
    return StackSettings(
        stack=stack, file=file, app=app, namespace=namespace, strategy=strategy, stage=stage,
        stages=tuple(stages), allow_skip=allow_skip, weight_tolerance=tolerance,
        kill_switch=kill_switch, percentage_env=percentage_env, rollback_order=order,
        services=MappingProxyType(services), indicators=MappingProxyType(indicators), gates=gates, monitoring=monitoring,
        gitops=parse_gitops(key("gitops")), gcp=google,
    )


def _gates_child(node: Node, name: str) -> Node:
    value = node.value.get(name) if isinstance(node.value, dict) else None
    return node.child(name, value)


def _stage_ref(node: Node, ladder: list[str]) -> str:
    if isinstance(node.value, bool):
        raise node.error(f"must be a stage name, got the boolean {str(node.value).lower()}; quote it")
    name = node.text()
    if name not in ladder:
        raise node.error(f"unknown stage {name!r}{did_you_mean(name, ladder)}; the ladder is {' -> '.join(ladder)}")
    return name


def _kill_switch(node: Node, stages_node: Node, stages: list[Stage]) -> str:
    ladder = [s.name for s in stages]
    if node.present:
        name = _stage_ref(node, ladder)
        if any(w != 0 for w in stages[ladder.index(name)].weights.values()):
            raise node.error(f"stage {name!r} must have every weight at 0 to be the kill switch")
        return name
    zero = [s.name for s in stages if all(w == 0 for w in s.weights.values())]
    if not zero:
        raise stages_node.error("needs a stage with every weight 0 to serve as the kill switch (or set rollout:killSwitch)")
    return zero[0]


def _parse_stages(node: Node, services: dict[str, Service]) -> list[Stage]:
    flagged = [name for name, svc in services.items() if svc.has_flags]
    items = node.items()
    if not items:
        raise node.error("must list at least one stage")
    stages: list[Stage] = []
    seen: set[str] = set()
    for item in items:
        fields = item.mapping(STAGE_KEYS)
        name = required(fields, "name", item).text(names.STAGE_NAME, names.STAGE_HINT, max_length=63)
        if name in seen:
            raise fields["name"].error(f"stage {name!r} is listed twice; stage names must be unique")
        seen.add(name)
        if "weight" in fields and "weights" in fields:
            raise item.error("gives both weight and weights; use weight (every flagged service) or weights (per service)")
        if "weight" in fields:
            default = required(fields, "weight", item).number(0, 100)
            weights = {svc: default for svc in flagged}
        elif "weights" in fields:
            wnode = required(fields, "weights", item)
            weights = {}
            for svc, snode in wnode.mapping().items():
                if svc not in services:
                    raise snode.error(f"unknown service; services are {', '.join(services)}")
                if svc not in flagged:
                    raise snode.error(f"service {svc!r} has no flags, so it has no weight to set")
                weights[svc] = snode.number(0, 100)
            missing = [svc for svc in flagged if svc not in weights]
            if missing:
                raise wnode.error(f"has no weight for {', '.join(missing)}")
        else:
            raise item.error("needs `weight` (one percentage for every flagged service) or `weights` (per service)")
        stages.append(Stage(name=name, weights=MappingProxyType(weights)))
    return stages


def _check_credentials(file: str, services: dict[str, Service], monitoring: MonitoringSettings) -> None:
    """Plain values that look like credentials are refused: they would land in a ConfigMap, a rendered
    file and a plan. Config key names (secretEnv, routing) that look like the secret itself are refused too."""
    places: dict[tuple[str, str], str] = {}  # (key, value) -> the key path it came from
    for service in services.values():
        base = f"{NAMESPACE}:services.{service.name}"
        for name, value in service.env.items():
            if name not in service.allow_plain:
                places.setdefault((name, value), f"{base}.env.{name}")
        for flag in service.flags.values():
            if flag.name not in service.allow_plain:
                for track in ("off", "on"):
                    places.setdefault((flag.name, getattr(flag, track)), f"{base}.flags.{flag.name}.{track}")
        for name, key in service.secret_env.items():  # a neutral name: only the value itself is judged
            places.setdefault((CONFIG_KEY_REF, key), f"{base}.secretEnv.{name}")
    routing = monitoring.routing
    places.setdefault((CONFIG_KEY_REF, routing.pagerduty_secret), f"{NAMESPACE}:monitoring.routing.pagerduty.routingKeySecret")
    places.setdefault((CONFIG_KEY_REF, routing.slack_secret), f"{NAMESPACE}:monitoring.routing.slack.webhookSecret")
    places.setdefault((CONFIG_KEY_REF, routing.slack_token_secret), f"{NAMESPACE}:monitoring.routing.slack.tokenSecret")
    pairs = list(places)
    if not credential_problems(pairs):  # remembered when clean: an unchanged stack never loads the detector
        return
    for pair in pairs:
        why = credential_problem(*pair)
        if why is None:
            continue
        key, path = pair[0], places[pair]
        if ".secretEnv." in path or ".routing." in path:
            advice = "give the NAME of a Pulumi secret config key here, never the secret itself"
        else:
            service = path.split(".")[1]
            advice = (f"set it with `pulumi config set --secret rollout:<key>` and reference the key under "
                      f"rollout:services.{service}.secretEnv, or list {key} in rollout:services.{service}.allowPlainValues")
        raise ConfigError(file, path, f"{why}: {advice}")


def _check_roles(node: Node | None, services: dict[str, Service], in_use: list[str]) -> None:
    """A signal no indicator or alert reads is almost always a misspelled role: refuse it."""
    for service in services.values():
        if service.metrics is None:
            continue
        for role in service.metrics.signals:
            if role not in in_use:
                path = f"{NAMESPACE}:services.{service.name}.metrics.signals.{role}"
                raise ConfigError(node.file if node else "", path,
                                  f"unknown role{did_you_mean(role, in_use)}: no indicator or alert reads it; "
                                  f"roles: {', '.join(in_use)} (declare indicators under rollout:indicators)")
