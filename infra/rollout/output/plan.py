"""What moving a stack from one stage to another changes: resources, restarts, weights."""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from rollout.build.cloudrun import revisions_created
from rollout.build.resources import Manifest, manifest_key, manifests_with_state, stage_manifests
from rollout.build.ordering import scale_order
from rollout.output.yaml_out import to_yaml
from rollout.spec.model import StackSettings, Strategy
from rollout.core.ladder import LB_WEIGHT_TOTAL, StageState, resolve, roll_order

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
    roll_order: tuple[str, ...]  # services in the order `pulumi up` applies them
    revisions_created: int = 0  # Cloud Run revisions the move creates (a template change, or a new service)
    cloud_run: tuple[str, ...] = ()  # services on Cloud Run

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


def created_revisions(changes: list[Change]) -> int:
    return sum(revisions_created(c.before, c.after) for c in changes if c.after is not None)


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
    """A move within one stack file: only what a stage can change is built and compared (monitoring
    is the same at every stage, and the whole file was checked when it was read)."""
    source, target = resolve(settings, from_stage or settings.stage), resolve(settings, to_stage)
    changes = diff_manifests(stage_manifests(settings, source), stage_manifests(settings, target))
    return _plan(settings, source, target, changes)


def build_plan_between(before: StackSettings | None, from_stage: str, after: StackSettings, to_stage: str) -> Plan:
    """The old stack file at its stage against the new one at its stage (a pull request may change
    anything, monitoring included). No old file (a new stack) means nothing is deployed: every
    resource is created."""
    source, old = manifests_with_state(before or after, from_stage)
    if before is None:
        old = []
    target, new = manifests_with_state(after, to_stage)
    return _plan(after, source, target, diff_manifests(old, new))


def _plan(after: StackSettings, source: StageState, target: StageState, changes: list[Change]) -> Plan:
    from_stage, to_stage = source.stage, target.stage
    ordered = scale_order(after, from_stage, to_stage) if from_stage in after.stage_names else {}
    return Plan(
        stack=after.stack, file=after.file, strategy=after.strategy, source=source, target=target,
        changes=tuple(changes), pods_restarted=restarted_pods(changes), revisions_created=created_revisions(changes),
        cloud_run=tuple(s.name for s in after.cloud_run_services),
        # Only services on both sides have replicas to move (a pull request may add or remove one).
        scale_order={s: o for s, o in ordered.items() if s in source.splits and s in target.splits},
        roll_order=tuple(roll_order(after, from_stage, to_stage)),
    )


def plan_json(plan: Plan) -> dict[str, Any]:
    return {
        "stack": plan.stack,
        "from": plan.from_stage,
        "to": plan.to_stage,
        "changes": [{"kind": c.kind, "name": c.name, "action": c.action} for c in plan.changes],
        "pods_restarted": plan.pods_restarted,
        "revisions_created": plan.revisions_created,
        "weights": plan.target.weights(),
        "traffic": {s: dict(plan.target.splits[s].traffic) for s in plan.cloud_run if s in plan.target.splits},
        "order": list(plan.roll_order),
    }


def scale_steps(plan: Plan) -> list[str]:
    """The order `pulumi up` follows: the receiving track is scaled up before the other shrinks."""
    lines = []
    for service in plan.roll_order:
        if service not in plan.scale_order:
            continue
        growing, shrinking = plan.scale_order[service]
        before, after = plan.source.splits[service].replicas, plan.target.splits[service].replicas
        lines.append(
            f"scale up {service}-{growing} {before[growing]} -> {after[growing]}, "
            f"then scale down {service}-{shrinking} {before[shrinking]} -> {after[shrinking]}"
        )
    return lines


def traffic_steps(plan: Plan) -> list[str]:
    """Cloud Run services: the load balancer's weights before and after (of 1000 per service)."""
    lines = []
    for service in plan.cloud_run:
        before = plan.source.splits[service].traffic if service in plan.source.splits else {}
        after = plan.target.splits[service].traffic if service in plan.target.splits else {}
        if len(after) < 2:
            continue  # one track: no load balancer, nothing to split
        moves = ", ".join(f"{t} {before.get(t, 0)} -> {n}" for t, n in after.items())
        verb = "changes" if dict(before) != dict(after) else "keeps"
        lines.append(f"{service} (Cloud Run): the URL map {verb} its weights, of {LB_WEIGHT_TOTAL}: {moves}")
    return lines


def plan_text(plan: Plan) -> str:
    """A Markdown summary and diff a reviewer can paste into a pull request."""
    lines = plan_summary(plan)
    if plan.changes:
        lines += change_list(plan) + ["", "```diff"] + [line for c in plan.changes for line in change_diff(c)] + ["```"]
    return "\n".join(lines) + "\n"


def plan_summary(plan: Plan) -> list[str]:
    """Title, weights, restarts, scale order and the count of changes: what a reviewer must always see."""
    out = [f"### rollout plan: {plan.stack} `{plan.from_stage}` -> `{plan.to_stage}`", ""]
    weights_before, weights_after = plan.source.weights(), plan.target.weights()
    if weights_after and plan.strategy is Strategy.PERCENTAGE:
        out += ["| service | percentage passed to the app now | after |", "|---|---|---|"]
        for service, after in weights_after.items():
            before = weights_before.get(service, {}).get("requested", 0)
            out.append(f"| {service} | {before}% | {after['requested']}% |")
        out.append("")
    elif weights_after:
        out += ["| service | on-track weight now | after | after, as replicas (or weights) express it |",
                "|---|---|---|---|"]
        for service, after in weights_after.items():
            before = weights_before.get(service, {}).get("requested", 0)
            out.append(f"| {service} | {before}% | {after['requested']}% | {after['effective']}% |")
        out.append("")
    on_kubernetes = set(plan.target.splits) - set(plan.cloud_run)
    if plan.pods_restarted:
        reason = " (the percentage strategy passes the weight to the app, so every stage restarts pods)" \
            if plan.strategy == "percentage" else ""
        out.append(f"**Pods restarted: {plan.pods_restarted}**{reason}")
    elif on_kubernetes:
        out.append("Pods restarted: 0 (replica counts change only)")
    if plan.cloud_run:
        if plan.revisions_created:
            out.append(f"**Cloud Run: {plan.revisions_created} revisions created** (a new service, or a template change)")
        else:
            out.append("Cloud Run: 0 revisions created (the load balancer's weights change only)")
        out += [f"- {line}" for line in traffic_steps(plan)]
    out += ["", f"Order during `pulumi up`: {' -> '.join(plan.roll_order)}, each service once the one before is ready"]
    out += [f"- {s}" for s in scale_steps(plan)]
    out.append("")
    if not plan.changes:
        out.append("No resource changes.")
        return out
    counts: dict[str, int] = {}
    for change in plan.changes:
        counts[change.action] = counts.get(change.action, 0) + 1
    out.append("Changes: " + ", ".join(f"{n} to {a}" for a, n in counts.items()))
    return out


def change_list(plan: Plan) -> list[str]:
    return [f"- `{_SYMBOL[c.action]}` {c.action} {c.kind} `{c.name}`" for c in plan.changes]


def change_diff(change: Change) -> list[str]:
    before = to_yaml(change.before).splitlines() if change.before else []
    after = to_yaml(change.after).splitlines() if change.after else []
    label = f"{change.kind}/{change.name}"
    if change.action == DELETE:
        return [f"--- {label} (deleted)"]
    return list(difflib.unified_diff(before, after, f"{label} ({change.action})", label, n=2, lineterm=""))
