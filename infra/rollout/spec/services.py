"""`rollout:services`: workloads, flags, secrets, pod security and metric contracts."""
from __future__ import annotations

import functools
import re
from types import MappingProxyType
from typing import Mapping

from rollout.spec import gcp, names, quantity
from rollout.spec.defaults import ERROR_CODES, GENERIC_ROLES
from rollout.spec.model import Flag, MetricContract, PodSecurity, Service, Signal, Strategy
from rollout.spec.reader import Node, optional, required

SERVICE_KEYS = (
    "image", "onImage", "port", "healthPath", "replicas", "resources", "env", "flags",
    "secretEnv", "metrics", "maxUnavailable", "podSecurity", "allowPlainValues", "platform", "cloudRun",
)
FLAG_KEYS = ("off", "on", "buildTime")
METRICS_KEYS = ("job", "path", "signals", "errorCodes")
SIGNAL_KINDS = ("counter", "gauge", "histogram")
POD_SECURITY_KEYS = (
    "runAsNonRoot", "runAsUser", "runAsGroup", "fsGroup", "readOnlyRootFilesystem", "allowPrivilegeEscalation",
    "addCapabilities", "seccompProfile", "automountServiceAccountToken",
)
CONFIG_MAP_LIMIT = 1024 * 1024  # Kubernetes refuses a ConfigMap whose data exceeds 1 MiB
CAPABILITY = r"[A-Z_]+"


def parse_services(node: Node, strategy: Strategy, percentage_env: str,
                   google: gcp.GcpConfig = gcp.GcpConfig()) -> dict[str, Service]:
    entries = node.mapping()
    if not entries:
        raise node.error("must declare at least one service")
    services: dict[str, Service] = {}
    for name, snode in entries.items():
        if not re.fullmatch(names.DNS_LABEL, name) or len(name) > names.MAX_SERVICE:
            raise snode.error(f"service names must be {names.DNS_LABEL_HINT}, at most {names.MAX_SERVICE} characters")
        services[name] = parse_service(name, snode, strategy, percentage_env, google)
    return services


def parse_service(name: str, node: Node, strategy: Strategy, percentage_env: str,
                  google: gcp.GcpConfig = gcp.GcpConfig()) -> Service:
    f = node.mapping(SERVICE_KEYS)
    platform = gcp.platform_of(f, node)
    gcp.check_platform_keys(f, node, platform)
    image = required(f, "image", node).text(names.IMAGE, "an image reference without spaces")
    port = required(f, "port", node).integer(1, 65535)
    health = required(f, "healthPath", node).text(r"/\S*", "a path starting with '/'")
    replicas = required(f, "replicas", node).integer(1, 10_000) if platform == gcp.KUBERNETES else 0
    env = _parse_env(optional(f, "env", node, {}))
    flags = _parse_flags(optional(f, "flags", node, {}))
    for flag in flags:
        if flag in env:
            raise f["flags"].child(flag, None).error(f"{flag} is set both in env and in flags; keep it in one place")
    if strategy is Strategy.PERCENTAGE and flags:
        for key_node, names_in in ((f.get("env"), env), (f.get("flags"), flags)):
            if percentage_env in names_in:
                raise key_node.child(percentage_env, None).error(
                    f"{percentage_env} carries the stage's percentage under the percentage strategy "
                    "(rollout:percentageEnv); rename this variable or set rollout:percentageEnv")
    on_image_node = optional(f, "onImage", node)
    on_image = on_image_node.text(names.IMAGE, "an image reference") if on_image_node.present else None
    build_time = [fl.name for fl in flags.values() if fl.build_time]
    if build_time and strategy is Strategy.PERCENTAGE:
        raise f["flags"].error(
            f"{', '.join(build_time)} is a build-time flag: the percentage strategy cannot switch it at run "
            "time; use strategy tracks with an onImage")
    if build_time and on_image is None:
        raise node.error(f"{', '.join(build_time)} is a build-time flag, so the on track needs its own image: set onImage")
    if on_image is not None and on_image == image:
        raise on_image_node.error("must differ from image: the build-time flags are compiled into the on image")
    if on_image is not None and not flags:
        raise on_image_node.error("is only used by the on track of a service with flags")
    secret_env = _parse_secret_env(optional(f, "secretEnv", node, {}), env, flags)
    cloud_run = None
    if platform == gcp.CLOUD_RUN:
        cloud_run = gcp.parse_cloud_run(name, f, node, google, strategy is Strategy.PERCENTAGE, bool(flags),
                                        {*env, *flags, *secret_env}, secret_env)
    resources = _parse_resources(optional(f, "resources", node, {}))
    _check_config_map_size(node, env, flags, percentage_env)
    max_unavailable_node = optional(f, "maxUnavailable", node, 1)
    if isinstance(max_unavailable_node.value, str):
        max_unavailable: int | str = max_unavailable_node.text(r"[0-9]{1,2}%|100%", "a count or a percentage like 25%")
    else:
        max_unavailable = max_unavailable_node.integer(0)
    return Service(
        name=name, image=image, on_image=on_image, port=port, health_path=health, replicas=replicas,
        resources=resources, env=MappingProxyType(env), flags=MappingProxyType(flags),
        secret_env=MappingProxyType(secret_env),
        metrics=_parse_metrics(optional(f, "metrics", node), name) if cloud_run is None else _cloud_run_metrics(cloud_run),
        max_unavailable=max_unavailable, security=_parse_pod_security(optional(f, "podSecurity", node, {})),
        allow_plain=_allowed_plain(optional(f, "allowPlainValues", node, []), env, flags), cloud_run=cloud_run,
    )


def _cloud_run_metrics(cloud_run: gcp.CloudRun) -> MetricContract:
    """Cloud Run measures every service the same way: Cloud Monitoring's request count and latencies."""
    signals = {"requests": Signal("requests", "counter", gcp.REQUEST_COUNT),
               "latency": Signal("latency", "histogram", gcp.REQUEST_LATENCIES)}
    return MetricContract(job=cloud_run.name, path="", signals=MappingProxyType(signals), error_codes=ERROR_CODES)


def _allowed_plain(node: Node, env: Mapping[str, str], flags: Mapping[str, Flag]) -> frozenset[str]:
    """Env and flag names whose values may look like credentials (a public key, a test fixture ...)."""
    allowed = set()
    for item in node.items():
        name = item.text(names.ENV_NAME, names.ENV_HINT)
        if name not in env and name not in flags:
            raise item.error(f"{name} is not in this service's env or flags")
        allowed.add(name)
    return frozenset(allowed)


def _env_value(node: Node) -> str:
    if isinstance(node.value, bool) or node.value is None:
        raise node.error("must be text; quote numbers and booleans, e.g. \"30\" or \"true\"")
    value = node.text()
    if "\x00" in value:
        raise node.error("must not contain a NUL character")
    return value


def _parse_env(node: Node) -> dict[str, str]:
    env: dict[str, str] = {}
    for key, val in node.mapping().items():
        if not re.fullmatch(names.ENV_NAME, key):
            raise val.error(f"is not a valid environment variable name: {names.ENV_HINT}")
        env[key] = _env_value(val)
    return env


def _parse_flags(node: Node) -> dict[str, Flag]:
    flags: dict[str, Flag] = {}
    for key, fnode in node.mapping().items():
        if not re.fullmatch(names.ENV_NAME, key):
            raise fnode.error(f"is not a valid environment variable name: {names.ENV_HINT}")
        fields = fnode.mapping(FLAG_KEYS)
        values = {}
        for track in ("off", "on"):
            vnode = required(fields, track, fnode)
            if isinstance(vnode.value, bool) or not isinstance(vnode.value, (str, int, float)):
                raise vnode.error("must be text, the env var value for this track; quote it, e.g. \"true\"")
            values[track] = _env_value(vnode)
        if values["off"] == values["on"]:
            raise fnode.error(f"off and on are both {values['on']!r}; a flag must change something")
        build_time = optional(fields, "buildTime", fnode, False).boolean()
        flags[key] = Flag(name=key, off=values["off"], on=values["on"], build_time=build_time)
    return flags


def _parse_secret_env(node: Node, env: Mapping[str, str], flags: Mapping[str, Flag]) -> dict[str, str]:
    secret_env = {}
    for env_name, key_node in node.mapping().items():
        if not re.fullmatch(names.ENV_NAME, env_name):
            raise key_node.error(f"is not a valid environment variable name: {names.ENV_HINT}")
        if env_name in env or env_name in flags:
            raise key_node.error(f"{env_name} is also set in env or flags; a secret must only come from secret config")
        secret_env[env_name] = key_node.text(names.CONFIG_KEY, names.CONFIG_KEY_HINT, max_length=200)
    return secret_env


def _parse_resources(node: Node) -> Mapping[str, Mapping[str, str]]:
    out: dict[str, dict[str, str]] = {}
    sections = node.mapping(("requests", "limits"))
    for section, snode in sections.items():
        out[section] = {
            res: qnode.text(quantity.PATTERN, quantity.HINT)
            for res, qnode in snode.mapping(("cpu", "memory", "ephemeral-storage")).items()
        }
    for res, request in out.get("requests", {}).items():
        limit = out.get("limits", {}).get(res)
        if limit is not None and quantity.amount(request) > quantity.amount(limit):
            raise sections["requests"].child(res, None).error(
                f"{request} is above the limit {limit} (resources.limits.{res}); Kubernetes refuses a request above its limit")
    return MappingProxyType({k: MappingProxyType(v) for k, v in out.items()})


def _check_config_map_size(node: Node, env: Mapping[str, str], flags: Mapping[str, Flag], percentage_env: str) -> None:
    """Each track's env becomes one ConfigMap; measure the larger track."""
    base = sum(len(k.encode()) + len(v.encode()) for k, v in env.items()) + len(percentage_env) + 8
    flag_bytes = sum(len(f.name.encode()) + max(len(f.on.encode()), len(f.off.encode())) for f in flags.values())
    if base + flag_bytes > CONFIG_MAP_LIMIT:
        raise node.child("env", None).error(
            f"env and flags add up to {base + flag_bytes:,} bytes, over the 1 MiB Kubernetes allows in a ConfigMap; "
            "move large values to a mounted file or secret")


def _parse_pod_security(node: Node) -> PodSecurity:
    f = node.mapping(POD_SECURITY_KEYS)

    def flag(key: str, default: bool) -> bool:
        return optional(f, key, node, default).boolean()

    def uid(key: str) -> int | None:
        return f[key].integer(0, 2**31 - 1) if key in f and f[key].present else None

    run_as_user = uid("runAsUser")
    run_as_non_root = flag("runAsNonRoot", True)
    if run_as_non_root and run_as_user == 0:
        raise f["runAsUser"].error("is 0 (root) while runAsNonRoot is true; the kubelet would refuse to start the pod")
    capabilities = tuple(n.text(CAPABILITY, "a Linux capability like NET_BIND_SERVICE")
                         for n in optional(f, "addCapabilities", node, []).items())
    return PodSecurity(
        run_as_non_root=run_as_non_root, run_as_user=run_as_user, run_as_group=uid("runAsGroup"),
        fs_group=uid("fsGroup"), read_only_root_filesystem=flag("readOnlyRootFilesystem", False),
        allow_privilege_escalation=flag("allowPrivilegeEscalation", False), add_capabilities=capabilities,
        seccomp_profile=optional(f, "seccompProfile", node, "RuntimeDefault").choice(("RuntimeDefault", "Unconfined")),
        automount_service_account_token=flag("automountServiceAccountToken", False),
    )


def _parse_metrics(node: Node, service: str) -> MetricContract | None:
    if not node.present:
        return None
    f = node.mapping(METRICS_KEYS)
    job = optional(f, "job", node, service).text(r"[a-zA-Z_][a-zA-Z0-9_-]*", "a Prometheus job label value",
                                                 max_length=names.MAX_LABEL_VALUE)
    path = optional(f, "path", node, "/metrics").text(r"/\S*", "a path starting with '/'")
    codes_node = optional(f, "errorCodes", node, ERROR_CODES)
    error_codes = codes_node.text(r"[-0-9x.|()\[\]\\d{},]+", "a regex on the status code, e.g. 5.. or 5..|429")
    if not _matches_a_status_code(error_codes):
        raise codes_node.error(f"{error_codes!r} matches no HTTP status code 100-599; use a regex like 5.. or 5..|429")
    signals: dict[str, Signal] = {}
    for role, snode in optional(f, "signals", node, {}).mapping().items():
        if not re.fullmatch(names.ROLE_NAME, role):
            raise snode.error(f"{role!r} is not a role name: {names.ROLE_HINT}")
        kinds = snode.mapping(SIGNAL_KINDS)
        if len(kinds) != 1:
            raise snode.error(f"must name exactly one of {', '.join(SIGNAL_KINDS)}, e.g. {{counter: http_requests_total}}")
        kind, metric_node = next(iter(kinds.items()))
        generic = GENERIC_ROLES.get(role)
        if generic and kind != generic:
            raise snode.error(f"the generic role {role!r} is a {generic}, not a {kind}")
        signals[role] = Signal(role=role, kind=kind, metric=metric_node.text(names.METRIC_NAME, "a Prometheus metric name"))
    return MetricContract(job=job, path=path, signals=MappingProxyType(signals), error_codes=error_codes)


@functools.lru_cache(maxsize=64)  # every service usually says 5..: scanning 500 codes each was a tenth of a large render
def _matches_a_status_code(pattern: str) -> bool:
    return any(_full_match(pattern, str(code)) for code in range(100, 600))


def _full_match(pattern: str, text: str) -> bool:
    try:
        return re.fullmatch(pattern, text) is not None
    except re.error:
        return False
