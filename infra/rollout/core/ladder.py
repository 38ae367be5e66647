"""The ladder: resolve a stage to per-service track replicas and the weight they express."""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
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
    problem = _problem(total, weight, settings.weight_tolerance)
    if problem:
        raise UsageError(
            f"{settings.file}: rollout:stages: stage {stage!r} asks for {_clean(weight)}% of "
            f"{service.name} but {problem}; {_advice(settings, service)}"
        )
    on = on_replicas(total, weight)
    return Split(service.name, weight, on * 100 / total, MappingProxyType({OFF: total - on, ON: on}), True)


def on_replicas(total: int, weight: float) -> int:
    """The `on` track's share of `total` replicas, rounded half up: the one rounding of the ladder."""
    return int((Decimal(total) * _decimal(weight) / 100).to_integral_value(ROUND_HALF_UP))


def _decimal(value: float) -> Decimal:
    return Decimal(str(value))  # the number as the stack file wrote it, not its binary float


def _gap(total: int, weight: float) -> Decimal:
    """Percentage points between the weight asked for and the one `total` replicas express."""
    return abs(Decimal(on_replicas(total, weight) * 100) / total - _decimal(weight))


def _untrackable(total: int, weight: float) -> str | None:
    """A split no tolerance can accept: a track the weight needs would get no replica."""
    on = on_replicas(total, weight)
    if weight > 0 and on == 0:
        return "would put no replica on the on track"
    if weight < 100 and on == total:
        return "would put no replica on the off track"
    return None


def _problem(total: int, weight: float, tolerance: float) -> str | None:
    """Why `total` replicas cannot express `weight`, or None when they can: the ladder's one check."""
    untrackable = _untrackable(total, weight)
    if untrackable:
        return untrackable
    if _gap(total, weight) > _decimal(tolerance):
        on = on_replicas(total, weight)
        return (f"can only be {_clean(on * 100 / total)}% with {total} replicas ({on} on, {total - on} off), "
                f"more than the {_clean(tolerance)} point tolerance")
    return None


REPLICA_SEARCH = 1000  # counts above the current one tried for advice: beyond that, change the weights


def _advice(settings: StackSettings, service: Service) -> str:
    """What would fix the service's whole ladder (replicas serve every stage): only advice that works."""
    weights = sorted({stage.weight_of(service.name) for stage in settings.stages})
    total, tolerance = service.replicas, settings.weight_tolerance
    fixes = []
    count = next((n for n in range(total, total + REPLICA_SEARCH + 1)
                  if not any(_problem(n, w, tolerance) for w in weights)), None)
    if count is not None:
        fixes.append(f"set rollout:services.{service.name}.replicas to a count every stage can express (e.g. {count})")
    if not any(_untrackable(total, w) for w in weights):
        needed = max(_gap(total, w) for w in weights).quantize(Decimal("0.01"), ROUND_CEILING)
        fixes.append(f"raise rollout:weightTolerance to {needed.normalize():f}")
    if not fixes:
        return (f"no replica count from {total} to {total + REPLICA_SEARCH} expresses every stage's weight "
                f"({', '.join(f'{_clean(w)}%' for w in weights)}): change the weights in rollout:stages")
    return " or ".join(fixes)


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




def _clean(value: float) -> float | int:
    """Show 25.0 as 25 and keep two decimals otherwise."""
    rounded = round(value, 2)
    return int(rounded) if rounded == int(rounded) else rounded


def roll_order(settings: StackSettings, from_stage: str | None, to_stage: str) -> list[str]:
    """Services in the order a move applies them: declared order forward (provider before consumer);
    toward the kill switch the consumer stops first (reverse) unless rollout:rollbackOrder says declared.
    A move from nothing known (a first deploy, a stage no longer on the ladder) has no direction: declared."""
    declared = list(settings.services)
    if from_stage not in settings.stage_names:
        return declared
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
