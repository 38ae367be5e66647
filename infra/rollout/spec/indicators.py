"""`rollout:indicators`: what the application measures, beyond the built-in error rate and latency.

    rollout:indicators:
      sseSuccess: {success: {errors: sseConnectionErrors, total: sseConnections}, title: SSE connection success}
      firstTokenP95: {quantile: firstTokenLatency}
      activeSessions: {gauge: activeSessions, aggregate: sum}
"""
from __future__ import annotations

import re

from rollout.spec import defaults, names
from rollout.spec.model import Form, Indicator, Service
from rollout.spec.reader import Node, by_builtins_then_name, did_you_mean, optional, required

INDICATOR_KEYS = ("title", *(f.value for f in Form), "aggregate")
RATIO_KEYS = ("errors", "total")
QUANTILE_KEYS = ("histogram", "q")

BUILTIN = {
    defaults.ERROR_RATE: Indicator(defaults.ERROR_RATE, "5xx error rate", Form.ERROR_RATIO, total="requests",
                                   errors="errors", errors_by_code=True),
    defaults.LATENCY_P95: Indicator(defaults.LATENCY_P95, "p95 latency", Form.QUANTILE, role="latency",
                                    quantile=defaults.QUANTILE),
    defaults.SATURATION: Indicator(defaults.SATURATION, "saturation", Form.GAUGE, role="saturation", aggregate="max"),
}


def parse_indicators(node: Node, services: dict[str, Service]) -> dict[str, Indicator]:
    """Built-ins plus the stack's own; every role named must be declared by some service."""
    out = dict(BUILTIN)
    if not node.present:
        return out
    for name, inode in node.mapping().items():
        if name in BUILTIN:
            raise inode.error(f"{name!r} is built in; give yours another name")
        if not re.fullmatch(names.ROLE_NAME, name):
            raise inode.error(f"{name!r} is not an indicator name: camelCase letters and digits, e.g. sseSuccess")
        out[name] = _parse_one(name, inode, services)
    return by_builtins_then_name(out, BUILTIN)


def _parse_one(name: str, node: Node, services: dict[str, Service]) -> Indicator:
    f = node.mapping(INDICATOR_KEYS)
    forms = [k for k in f if k in {form.value for form in Form}]
    if len(forms) != 1:
        raise node.error("must name exactly one form: errorRatio or success {errors, total}, "
                         "quantile {histogram, q} (or quantile: <role>), rate: <role>, gauge: <role>")
    form = Form(forms[0])
    spec = f[form.value]
    title = optional(f, "title", node, name).text(max_length=80)
    aggregate_node = optional(f, "aggregate", node, "sum")
    if form is not Form.GAUGE and aggregate_node.present and "aggregate" in f:
        raise f["aggregate"].error("only applies to gauge indicators")
    if form in (Form.ERROR_RATIO, Form.SUCCESS):
        parts = spec.mapping(RATIO_KEYS)
        total = _role(required(parts, "total", spec), services, "counter")
        errors = _role(parts["errors"], services, "counter") if "errors" in parts and parts["errors"].present else None
        return Indicator(name, title, form, total=total, errors=errors, errors_by_code=errors is None)
    if form is Form.QUANTILE:
        if isinstance(spec.value, dict):
            parts = spec.mapping(QUANTILE_KEYS)
            role = _role(required(parts, "histogram", spec), services, "histogram")
            q = optional(parts, "q", spec, defaults.QUANTILE).number(0.01, 0.999)
        else:
            role, q = _role(spec, services, "histogram"), defaults.QUANTILE
        return Indicator(name, title, form, role=role, quantile=q)
    kind = "counter" if form is Form.RATE else "gauge"
    return Indicator(name, title, form, role=_role(spec, services, kind),
                     aggregate=aggregate_node.choice(("sum", "max")))


def _role(node: Node, services: dict[str, Service], kind: str) -> str:
    """A role some service declares with this kind; otherwise name the roles that exist."""
    role = node.text(names.ROLE_NAME, names.ROLE_HINT)
    declared = declared_roles(services)
    if role not in declared:
        known = sorted(declared) or ["(no service declares metrics)"]
        raise node.error(f"no service declares the role {role!r}{did_you_mean(role, known)}; "
                         f"declared roles: {', '.join(known)}")
    if kind not in declared[role]:
        raise node.error(f"{role!r} is declared as a {', '.join(sorted(declared[role]))}, but this needs a {kind}")
    return role


def declared_roles(services: dict[str, Service]) -> dict[str, set[str]]:
    """role -> the signal kinds services declare it with."""
    roles: dict[str, set[str]] = {}
    for service in services.values():
        if service.metrics is not None:
            for signal in service.metrics.signals.values():
                roles.setdefault(signal.role, set()).add(signal.kind)
    return roles
