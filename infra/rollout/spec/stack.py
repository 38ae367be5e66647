"""The stack file as typed, validated settings; every error names the key path and file."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping


from rollout.spec.reader import ConfigError, Node, optional, required
from rollout.spec.yaml12 import YAMLError, load_yaml

NAMESPACE = "rollout"
STRATEGIES = ("tracks", "percentage")
DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
STAGE_NAME = r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?"
ENV_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
CONFIG_KEY = r"[A-Za-z][A-Za-z0-9_]*"
METRIC_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
QUANTITY = r"[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi|Ti|k|M|G|T)?"
SIGNAL_KINDS = ("counter", "gauge", "histogram")

TOP_LEVEL_KEYS = (
    "app", "namespace", "strategy", "stage", "previousStage", "allowSkip", "weightTolerance",
    "killSwitch", "stages", "services", "percentageEnv", "monitoring", "gates",
)
SERVICE_KEYS = (
    "image", "onImage", "port", "healthPath", "replicas", "resources", "env", "flags",
    "secretEnv", "metrics", "maxUnavailable",
)
STAGE_KEYS = ("name", "weight", "weights")
FLAG_KEYS = ("off", "on", "buildTime")


@dataclass(frozen=True)
class Flag:
    name: str
    off: str
    on: str
    build_time: bool = False


@dataclass(frozen=True)
class Signal:
    """One metric in a service's contract, named by the role alerts and gates use."""

    name: str
    kind: str
    metric: str


@dataclass(frozen=True)
class MetricContract:
    job: str
    path: str
    signals: Mapping[str, Signal]


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

    @property
    def has_flags(self) -> bool:
        return bool(self.flags)

    @property
    def needs_own_image_on(self) -> bool:
        return any(f.build_time for f in self.flags.values())


@dataclass(frozen=True)
class Stage:
    name: str
    weights: Mapping[str, float]  # service -> requested percentage on the `on` track

    def weight_of(self, service: str) -> float:
        return self.weights.get(service, 0.0)


@dataclass(frozen=True)
class StackSettings:
    stack: str
    file: str
    app: str
    namespace: str
    strategy: str
    stage: str
    previous_stage: str | None
    stages: tuple[Stage, ...]
    allow_skip: bool
    weight_tolerance: float
    kill_switch: str
    percentage_env: str
    services: Mapping[str, Service]
    raw: Mapping[str, Any] = field(repr=False)  # every rollout:* key, for sections parsed elsewhere

    def node(self, key: str) -> Node:
        """A raw top-level key as a Node, for modules that parse their own section."""
        return Node(self.raw.get(key), self.file, f"{NAMESPACE}:{key}")

    def stage_named(self, name: str) -> Stage:
        for stage in self.stages:
            if stage.name == name:
                return stage
        from rollout.errors import UsageError

        raise UsageError(
            f"{self.file}: unknown stage {name!r}; the ladder is {' -> '.join(self.stage_names)}"
        )

    @property
    def stage_names(self) -> list[str]:
        return [s.name for s in self.stages]

    def index_of(self, name: str) -> int:
        return self.stage_names.index(self.stage_named(name).name)

    @property
    def flagged_services(self) -> list[str]:
        return [s.name for s in self.services.values() if s.has_flags]


# -- loading ---------------------------------------------------------------

def read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(str(path), "(file)", "does not exist") from None
    try:
        return load_yaml(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(file)"
        raise ConfigError(str(path), where, f"is not valid YAML: {getattr(exc, 'problem', exc)}") from None


def load_stack(path: Path | str, stack: str | None = None, display_name: str | None = None) -> StackSettings:
    """Read and validate `Pulumi.<stack>.yaml`."""
    path = Path(path)
    stack = stack or stack_name_from_path(path)
    return parse_stack(read_yaml(path), stack, display_name or path.name)


def stack_name_from_path(path: Path) -> str:
    match = re.fullmatch(r"Pulumi\.(.+)\.ya?ml", path.name)
    return match.group(1) if match else path.stem


def parse_stack(document: Any, stack: str, file: str) -> StackSettings:
    top = Node(document, file, "")
    if document is None:
        raise ConfigError(file, "config", "is missing: the file is empty")
    config_node = required(top.mapping(), "config", top)
    config_node = Node(config_node.value, file, "config")
    raw: dict[str, Any] = {}
    for key, node in config_node.mapping().items():
        namespace, _, name = key.partition(":")
        if namespace != NAMESPACE:
            continue  # kubernetes:*, pulumi:* and friends belong to other packages
        if _is_secure(node.value):
            raw[name] = node.value
            continue
        if name not in TOP_LEVEL_KEYS:
            raise ConfigError(
                file, key,
                f"unknown key{_suggest(name, TOP_LEVEL_KEYS)}; allowed: "
                + ", ".join(f"{NAMESPACE}:{k}" for k in TOP_LEVEL_KEYS)
                + " (or a secret set with `pulumi config set --secret`)",
            )
        raw[name] = node.value

    def key(name: str) -> Node:
        return Node(raw.get(name), file, f"{NAMESPACE}:{name}")

    def need(name: str) -> Node:
        node = key(name)
        if node.value is None:
            raise node.error("is required but missing")
        return node

    app = need("app").text(DNS_LABEL, "use lowercase letters, digits and '-'")
    namespace = need("namespace").text(DNS_LABEL, "a Kubernetes namespace name: lowercase letters, digits and '-'")
    strategy = key("strategy").choice(STRATEGIES) if key("strategy").value is not None else "tracks"
    percentage_env = (
        key("percentageEnv").text(ENV_NAME, "an environment variable name")
        if key("percentageEnv").value is not None else "ROLLOUT_PERCENTAGE"
    )
    services = _parse_services(need("services"), strategy)
    stages = _parse_stages(need("stages"), services)
    names = [s.name for s in stages]
    stage = _stage_ref(need("stage"), names)
    # Empty means "unknown", e.g. CI passing `pulumi stack output stage` of a stack never deployed.
    previous = _stage_ref(key("previousStage"), names) if key("previousStage").value not in (None, "") else None
    allow_skip = key("allowSkip").boolean() if key("allowSkip").value is not None else False
    tolerance = key("weightTolerance").number(0, 100) if key("weightTolerance").value is not None else 1.0
    if key("killSwitch").value is not None:
        kill_switch = _stage_ref(key("killSwitch"), names)
        if any(w != 0 for w in stages[names.index(kill_switch)].weights.values()):
            raise key("killSwitch").error(f"stage {kill_switch!r} must have every weight at 0 to be the kill switch")
    else:
        zero = [s.name for s in stages if all(w == 0 for w in s.weights.values())]
        kill_switch = zero[0] if zero else None
        if kill_switch is None:
            raise key("stages").error("needs a stage with every weight 0 to serve as the kill switch (or set rollout:killSwitch)")

    return StackSettings(
        stack=stack, file=file, app=app, namespace=namespace, strategy=strategy, stage=stage,
        previous_stage=previous, stages=tuple(stages), allow_skip=allow_skip,
        weight_tolerance=tolerance, kill_switch=kill_switch, percentage_env=percentage_env,
        services=MappingProxyType(services), raw=MappingProxyType(raw),
    )


def _is_secure(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"secure"}


def _suggest(word: str, allowed: tuple[str, ...]) -> str:
    from rollout.spec.reader import did_you_mean

    return did_you_mean(word, allowed)


def _stage_ref(node: Node, names: list[str]) -> str:
    if isinstance(node.value, bool):
        raise node.error(f"must be a stage name, got the boolean {str(node.value).lower()}; quote it")
    name = node.text()
    if name not in names:
        from rollout.spec.reader import did_you_mean

        raise node.error(f"unknown stage {name!r}{did_you_mean(name, names)}; the ladder is {' -> '.join(names)}")
    return name


def _parse_stages(node: Node, services: dict[str, Service]) -> list[Stage]:
    flagged = [name for name, svc in services.items() if svc.has_flags]
    items = node.items()
    if not items:
        raise node.error("must list at least one stage")
    stages: list[Stage] = []
    seen: set[str] = set()
    for item in items:
        fields = item.mapping(STAGE_KEYS)
        name = required(fields, "name", item).text(STAGE_NAME, "lowercase letters, digits, '-' and '.'")
        if name in seen:
            raise fields["name"].error(f"stage {name!r} is listed twice; stage names must be unique")
        seen.add(name)
        weights: dict[str, float] = {}
        if "weight" in fields and fields["weight"].value is not None:
            default = fields["weight"].number(0, 100)
            weights = {svc: default for svc in flagged}
        elif "weights" not in fields:
            raise item.error("needs `weight` (one percentage for every flagged service) or `weights` (per service)")
        if "weights" in fields and fields["weights"].value is not None:
            for svc, wnode in fields["weights"].mapping().items():
                if svc not in services:
                    raise wnode.error(f"unknown service; services are {', '.join(services)}")
                if svc not in flagged:
                    raise wnode.error(f"service {svc!r} has no flags, so it has no weight to set")
                weights[svc] = wnode.number(0, 100)
            missing = [svc for svc in flagged if svc not in weights]
            if missing:
                raise fields["weights"].error(f"has no weight for {', '.join(missing)} (or add a `weight` default)")
        stages.append(Stage(name=name, weights=MappingProxyType(weights)))
    return stages


def _parse_services(node: Node, strategy: str) -> dict[str, Service]:
    entries = node.mapping()
    if not entries:
        raise node.error("must declare at least one service")
    services: dict[str, Service] = {}
    for name, snode in entries.items():
        if not re.fullmatch(DNS_LABEL, name) or len(name) > 40:
            raise snode.error("service names must be lowercase letters, digits and '-', at most 40 characters")
        services[name] = _parse_service(name, snode, strategy)
    return services


def _parse_service(name: str, node: Node, strategy: str) -> Service:
    f = node.mapping(SERVICE_KEYS)
    image = required(f, "image", node).text(r"\S+", "an image reference without spaces")
    port = required(f, "port", node).integer(1, 65535)
    health = required(f, "healthPath", node).text(r"/\S*", "a path starting with '/'")
    replicas = required(f, "replicas", node).integer(1, 10_000)
    env = _parse_env(optional(f, "env", node, {}))
    flags = _parse_flags(optional(f, "flags", node, {}))
    for flag in flags:
        if flag in env:
            raise f["flags"].error(f"{flag} is set both in env and in flags; keep it in one place")
    on_image_node = optional(f, "onImage", node)
    on_image = on_image_node.text(r"\S+", "an image reference") if on_image_node.value is not None else None
    build_time = [fl.name for fl in flags.values() if fl.build_time]
    if build_time and strategy == "percentage":
        raise f["flags"].error(
            f"{', '.join(build_time)} is a build-time flag: the percentage strategy cannot switch it at run "
            "time; use strategy tracks with an onImage"
        )
    if build_time and on_image is None:
        raise node.error(
            f"{', '.join(build_time)} is a build-time flag, so the on track needs its own image: set onImage"
        )
    if on_image is not None and on_image == image:
        raise on_image_node.error("must differ from image: the build-time flags are compiled into the on image")
    if on_image is not None and not flags:
        raise on_image_node.error("is only used by the on track of a service with flags")
    secret_env = {}
    for env_name, key_node in optional(f, "secretEnv", node, {}).mapping().items():
        if not re.fullmatch(ENV_NAME, env_name):
            raise key_node.error("is not a valid environment variable name")
        if env_name in env or env_name in flags:
            raise key_node.error(f"{env_name} is also set in env or flags; a secret must only come from secret config")
        secret_env[env_name] = key_node.text(CONFIG_KEY, "a Pulumi config key name (without the 'rollout:' prefix)")
    max_unavailable_node = optional(f, "maxUnavailable", node, 1)
    if isinstance(max_unavailable_node.value, str):
        max_unavailable: int | str = max_unavailable_node.text(r"[0-9]{1,2}%|100%", "a count or a percentage like 25%")
    else:
        max_unavailable = max_unavailable_node.integer(0)
    return Service(
        name=name, image=image, on_image=on_image, port=port, health_path=health, replicas=replicas,
        resources=_parse_resources(optional(f, "resources", node, {})), env=MappingProxyType(env),
        flags=MappingProxyType(flags), secret_env=MappingProxyType(secret_env),
        metrics=_parse_metrics(optional(f, "metrics", node), name), max_unavailable=max_unavailable,
    )


def _parse_env(node: Node) -> dict[str, str]:
    env: dict[str, str] = {}
    for key, val in node.mapping().items():
        if not re.fullmatch(ENV_NAME, key):
            raise val.error("is not a valid environment variable name")
        if isinstance(val.value, bool) or val.value is None or not isinstance(val.value, (str, int, float)):
            raise val.error("must be text; quote numbers and booleans, e.g. \"30\" or \"true\"")
        env[key] = str(val.value)
    return env


def _parse_flags(node: Node) -> dict[str, Flag]:
    flags: dict[str, Flag] = {}
    for key, fnode in node.mapping().items():
        if not re.fullmatch(ENV_NAME, key):
            raise fnode.error("is not a valid environment variable name")
        fields = fnode.mapping(FLAG_KEYS)
        values = {}
        for track in ("off", "on"):
            vnode = required(fields, track, fnode)
            if isinstance(vnode.value, bool) or not isinstance(vnode.value, (str, int, float)):
                raise vnode.error("must be text, the env var value for this track; quote it, e.g. \"true\"")
            values[track] = str(vnode.value)
        if values["off"] == values["on"]:
            raise fnode.error(f"off and on are both {values['on']!r}; a flag must change something")
        build_time = optional(fields, "buildTime", fnode, False).boolean()
        flags[key] = Flag(name=key, off=values["off"], on=values["on"], build_time=build_time)
    return flags


def _parse_resources(node: Node) -> Mapping[str, Mapping[str, str]]:
    out: dict[str, Mapping[str, str]] = {}
    for section, snode in node.mapping(("requests", "limits")).items():
        values = {}
        for res, qnode in snode.mapping(("cpu", "memory", "ephemeral-storage")).items():
            values[res] = qnode.text(QUANTITY, "a Kubernetes quantity like 250m, 1, 512Mi or 2Gi")
        out[section] = MappingProxyType(values)
    return MappingProxyType(out)


def _parse_metrics(node: Node, service: str) -> MetricContract | None:
    if node.value is None:
        return None
    f = node.mapping(("job", "path", "signals"))
    job = optional(f, "job", node, service).text(r"[a-zA-Z_][a-zA-Z0-9_-]*", "a Prometheus job label value")
    path = optional(f, "path", node, "/metrics").text(r"/\S*", "a path starting with '/'")
    signals: dict[str, Signal] = {}
    for role, snode in optional(f, "signals", node, {}).mapping().items():
        kinds = snode.mapping(SIGNAL_KINDS)
        if len(kinds) != 1:
            raise snode.error(f"must name exactly one of {', '.join(SIGNAL_KINDS)}, e.g. {{counter: http_requests_total}}")
        kind, metric_node = next(iter(kinds.items()))
        signals[role] = Signal(name=role, kind=kind, metric=metric_node.text(METRIC_NAME, "a Prometheus metric name"))
    return MetricContract(job=job, path=path, signals=MappingProxyType(signals))
