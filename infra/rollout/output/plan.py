"""What moving a stack from one stage to another changes: resources, restarts, weights."""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from rollout.build.resources import Manifest, manifest_key, stage_manifests
from rollout.build.ordering import scale_order
from rollout.output.yaml_out import to_yaml
from rollout.spec.monitoring import parse_monitoring
from rollout.spec.stack import StackSettings
from rollout.core.ladder import StageState, resolve

CREATE, UPDATE, REPLACE, DELETE = "create", "update", "replace", "delete"
_SYMBOL = {CREATE: "+", UPDATE: "~", REPLACE: "+-", DELETE: "-"}


@dataclass(frozen=True)
class Change:
    kind: str
    name: str
    action: str
    before: Manifest | None = field(default=None, repr=False)
    after: Manifest | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Plan:
    stack: str
    file: str
    strategy: str
    source: StageState
    target: StageState
    changes: tuple[Change, ...]
    pods_restarted: int
    scale_order: dict[str, tuple[str, str]]  # service -> (growing track, shrinking track)

    @property
    def from_stage(self) -> str:
        return self.source.stage

    @property
    def to_stage(self) -> str:
        return self.target.stage


def _replaces(kind: str, before: Manifest, after: Manifest) -> bool:
    """Changes Kubernetes refuses to apply in place, so the resource is deleted and recreated."""
    if kind == "Deployment":
        return before["spec"].get("selector") != after["spec"].get("selector")
    if kind in ("ConfigMap", "Secret") and before.get("immutable"):
        return before.get("data") != after.get("data") or before.get("type") != after.get("type")
    if kind == "Service":
        return before["spec"].get("clusterIP") != after["spec"].get("clusterIP")
    return False


def diff_manifests(before: list[Manifest], after: list[Manifest]) -> list[Change]:
    old = {manifest_key(m): m for m in before}
    new = {manifest_key(m): m for m in after}
    changes: list[Change] = []
    for key, manifest in new.items():
        kind, _, name = key
        previous = old.get(key)
        if previous is None:
            changes.append(Change(kind, name, CREATE, None, manifest))
        elif previous != manifest:
            action = REPLACE if _replaces(kind, previous, manifest) else UPDATE
            changes.append(Change(kind, name, action, previous, manifest))
    for key, manifest in old.items():
        if key not in new:
            changes.append(Change(key[0], key[2], DELETE, manifest, None))
    return changes


def restarted_pods(changes: list[Change]) -> int:
    """Replicas of Deployments whose pod template changes: each of those pods is replaced."""
    total = 0
    for change in changes:
        if change.kind != "Deployment" or change.action not in (UPDATE, REPLACE):
            continue
        if change.before["spec"]["template"] != change.after["spec"]["template"]:
            total += int(change.after["spec"].get("replicas", 1))
    return total


def build_plan(settings: StackSettings, to_stage: str, from_stage: str | None = None) -> Plan:
    """Only what a stage can change is built and compared: monitoring is the same at every stage,
    so it never appears in a plan. Its section is still checked, so a broken one fails here too."""
    parse_monitoring(settings)
    source, target = resolve(settings, from_stage or settings.stage), resolve(settings, to_stage)
    changes = diff_manifests(stage_manifests(settings, source), stage_manifests(settings, target))
    return Plan(
        stack=settings.stack, file=settings.file, strategy=settings.strategy, source=source, target=target,
        changes=tuple(changes), pods_restarted=restarted_pods(changes),
        scale_order=scale_order(settings, source.stage, target.stage),
    )


def plan_json(plan: Plan) -> dict[str, Any]:
    return {
        "stack": plan.stack,
        "from": plan.from_stage,
        "to": plan.to_stage,
        "changes": [{"kind": c.kind, "name": c.name, "action": c.action} for c in plan.changes],
        "pods_restarted": plan.pods_restarted,
        "weights": plan.target.weights(),
    }


def scale_steps(plan: Plan) -> list[str]:
    """The order `pulumi up` follows: the receiving track is scaled up before the other shrinks."""
    lines = []
    for service, (growing, shrinking) in plan.scale_order.items():
        before, after = plan.source.splits[service].replicas, plan.target.splits[service].replicas
        lines.append(
            f"scale up {service}-{growing} {before[growing]} -> {after[growing]}, "
            f"then scale down {service}-{shrinking} {before[shrinking]} -> {after[shrinking]}"
        )
    return lines


def plan_text(plan: Plan) -> str:
    """A Markdown summary and diff a reviewer can paste into a pull request."""
    out = [f"### rollout plan: {plan.stack} `{plan.from_stage}` -> `{plan.to_stage}`", ""]
    weights_before, weights_after = plan.source.weights(), plan.target.weights()
    if weights_after:
        out += ["| service | on-track weight now | after | effective after |", "|---|---|---|---|"]
        for service, after in weights_after.items():
            before = weights_before.get(service, {}).get("requested", 0)
            out.append(f"| {service} | {before}% | {after['requested']}% | {after['effective']}% |")
        out.append("")
    if plan.pods_restarted:
        reason = " (the percentage strategy passes the weight to the app, so every stage restarts pods)" \
            if plan.strategy == "percentage" else ""
        out.append(f"**Pods restarted: {plan.pods_restarted}**{reason}")
    else:
        out.append("Pods restarted: 0 (replica counts change only)")
    steps = scale_steps(plan)
    if steps:
        out += ["", "Order during `pulumi up`:"] + [f"- {s}" for s in steps]
    out.append("")
    if not plan.changes:
        out.append("No resource changes.")
        return "\n".join(out) + "\n"
    counts: dict[str, int] = {}
    for change in plan.changes:
        counts[change.action] = counts.get(change.action, 0) + 1
    out.append("Changes: " + ", ".join(f"{n} to {a}" for a, n in counts.items()))
    out += [f"- `{_SYMBOL[c.action]}` {c.action} {c.kind} `{c.name}`" for c in plan.changes]
    out += ["", "```diff"]
    for change in plan.changes:
        out += _change_diff(change)
    out.append("```")
    return "\n".join(out) + "\n"


def _change_diff(change: Change) -> list[str]:
    before = to_yaml(change.before).splitlines() if change.before else []
    after = to_yaml(change.after).splitlines() if change.after else []
    label = f"{change.kind}/{change.name}"
    if change.action == DELETE:
        return [f"--- {label} (deleted)"]
    return list(difflib.unified_diff(before, after, f"{label} ({change.action})", label, n=2, lineterm=""))
