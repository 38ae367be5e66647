"""The ladder: resolve a stage to per-service track replicas and the weight they express."""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from types import MappingProxyType
from typing import Mapping

from rollout.errors import UsageError
from rollout.spec.model import RollbackOrder, Service, StackSettings

OFF, ON, STABLE = "off", "on", "stable"
LB_WEIGHT_TOTAL = 1000  # a URL map's weights are whole numbers from 0 to 1000: Cloud Run splits in 0.1% steps


@dataclass(frozen=True)
class Split:
    """How one service's traffic is divided between its tracks at a stage: by replicas on Kubernetes,
    by load balancer weights on Cloud Run."""

    service: str
    requested: float  # percentage asked for on the `on` track (or passed to the app)
    effective: float  # percentage the replicas (or weights) actually express
    replicas: Mapping[str, int]  # track -> replicas (Kubernetes); empty on Cloud Run
    flagged: bool  # a service without flags has no weight to report
    traffic: Mapping[str, int] = field(default_factory=dict)  # track -> weight out of LB_WEIGHT_TOTAL (Cloud Run)

    @property
    def tracks(self) -> tuple[str, ...]:
        return tuple(self.replicas or self.traffic)

    @property
    def active(self) -> tuple[str, ...]:
        """The tracks that serve traffic at this stage."""
        return tuple(t for t, n in (self.replicas or self.traffic).items() if n > 0)


@dataclass(frozen=True)
class StageState:
    stage: str
    strategy: str
    splits: Mapping[str, Split]  # every service, in roll order

    def weights(self) -> dict[str, dict[str, float]]:
        """Requested and effective weights of the services that have flags."""
        return {
            name: {"requested": _clean(s.requested), "effective": _clean(s.effective)}
            for name, s in self.splits.items()
            if s.flagged
        }


def tracks_of(settings: StackSettings, service: Service) -> tuple[str, ...]:
    if settings.strategy == "tracks" and service.has_flags:
        return (OFF, ON)
    return (STABLE,)


def resolve(settings: StackSettings, stage_name: str | None = None) -> StageState:
    """Weights and replicas of every service at a stage; refuses weights replicas cannot express."""
    stage = settings.stage_named(stage_name or settings.stage)
    splits: dict[str, Split] = {}
    for service in settings.services.values():
        splits[service.name] = _split(settings, service, stage.name, stage.weight_of(service.name))
    return StageState(stage=stage.name, strategy=settings.strategy, splits=MappingProxyType(splits))


def check_ladder(settings: StackSettings) -> None:
    """Refuse the whole stack file if any stage cannot be expressed, not only when it is reached."""
    for stage in settings.stage_names:
        resolve(settings, stage)


def _split(settings: StackSettings, service: Service, stage: str, weight: float) -> Split:
    if service.on_cloud_run:
        return _traffic_split(settings, service, stage, weight)
    tracks = tracks_of(settings, service)
    total = service.replicas
    if tracks == (STABLE,):
        requested = weight if service.has_flags else 0.0
        return Split(service.name, requested, requested, MappingProxyType({STABLE: total}), service.has_flags)
    on = int((Decimal(total) * Decimal(str(weight)) / 100).to_integral_value(ROUND_HALF_UP))
    off = total - on
    effective = on * 100 / total
    problem = None
    if weight > 0 and on == 0:
        problem = "would put no replica on the on track"
    elif weight < 100 and off == 0:
        problem = "would put no replica on the off track"
    elif abs(effective - weight) > settings.weight_tolerance:
        problem = (
            f"can only be {_clean(effective)}% with {total} replicas "
            f"({on} on, {off} off), more than the {_clean(settings.weight_tolerance)} point tolerance"
        )
    if problem:
        exact = _smallest_replicas_for(weight, settings.weight_tolerance, total)
        raise UsageError(
            f"{settings.file}: rollout:stages: stage {stage!r} asks for {_clean(weight)}% of "
            f"{service.name} but {problem}; set rollout:services.{service.name}.replicas to a "
            f"multiple that expresses it (e.g. {exact}) or raise rollout:weightTolerance"
        )
    return Split(service.name, weight, effective, MappingProxyType({OFF: off, ON: on}), True)


def _traffic_split(settings: StackSettings, service: Service, stage: str, weight: float) -> Split:
    """Cloud Run: the weights are the URL map's, exact to 0.1%; nothing is rounded."""
    if tracks_of(settings, service) == (STABLE,):
        return Split(service.name, 0.0, 0.0, MappingProxyType({}), False, MappingProxyType({STABLE: LB_WEIGHT_TOTAL}))
    on = Decimal(str(weight)) * LB_WEIGHT_TOTAL / 100
    if on != on.to_integral_value():
        raise UsageError(
            f"{settings.file}: rollout:stages: stage {stage!r} asks for {_clean(weight)}% of {service.name}, which runs "
            f"on Cloud Run behind a load balancer that splits traffic in steps of {100 / LB_WEIGHT_TOTAL:g}%; "
            f"use e.g. {_clean(float(on.to_integral_value(ROUND_HALF_UP)) * 100 / LB_WEIGHT_TOTAL)}%")
    traffic = {OFF: LB_WEIGHT_TOTAL - int(on), ON: int(on)}
    return Split(service.name, weight, weight, MappingProxyType({}), True, MappingProxyType(traffic))


def _smallest_replicas_for(weight: float, tolerance: float, at_least: int) -> int:
    for total in range(at_least, at_least + 1001):
        on = round(total * weight / 100)
        if (weight == 0 or on > 0) and (weight == 100 or on < total) and abs(on * 100 / total - weight) <= tolerance:
            return total
    return at_least


def _clean(value: float) -> float | int:
    """Show 25.0 as 25 and keep two decimals otherwise."""
    rounded = round(value, 2)
    return int(rounded) if rounded == int(rounded) else rounded


def roll_order(settings: StackSettings, from_stage: str, to_stage: str) -> list[str]:
    """Services in the order a move applies them: declared order forward (provider before consumer);
    toward the kill switch the consumer stops first (reverse) unless rollout:rollbackOrder says declared."""
    declared = list(settings.services)
    backward = settings.index_of(to_stage) < settings.index_of(from_stage)
    if backward and settings.rollback_order is RollbackOrder.REVERSE:
        return declared[::-1]
    return declared


def next_stage(settings: StackSettings, current: str) -> str | None:
    names = settings.stage_names
    i = names.index(current)
    return names[i + 1] if i + 1 < len(names) else None


def previous_stage(settings: StackSettings, current: str) -> str | None:
    names = settings.stage_names
    i = names.index(current)
    return names[i - 1] if i > 0 else None
