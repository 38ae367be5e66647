"""The Pulumi program: register the stack's resources and export where the rollout stands.

Settings come from Pulumi's config (rollout.pulumi.config), checked by the same parser the CLI
runs on the stack file; the stage deployed before this update comes from the stack's own
outputs (rollout.pulumi.deployed), never from the stack file.
"""
from __future__ import annotations

import gc
from pathlib import Path

import pulumi

from rollout.build.resources import kubernetes_manifests, manifests_with_state
from rollout.errors import RolloutError
from rollout.pulumi import gcp  # Google Cloud: pulumi_gcp loads only for stacks with Google Cloud resources
from rollout.pulumi.config import settings_from_pulumi_config
from rollout.pulumi.deployed import STAGE_OUTPUT, deployed_stage
from rollout.pulumi.kubernetes import missing_secret_config
from rollout.pulumi.registration import register


def main(project_dir: Path) -> None:
    without_full_collections()
    stack = pulumi.get_stack()
    try:
        settings = settings_from_pulumi_config(stack, project_dir / f"Pulumi.{stack}.yaml")
        state, manifests = manifests_with_state(settings)
        cluster = kubernetes_manifests(manifests)
        missing = missing_secret_config(cluster) + gcp.missing_secret_config(manifests)
        if missing:
            commands = "; ".join(f"pulumi config set --secret {key} <value>" for key in missing)
            raise pulumi.RunError(f"{settings.file}: missing secret config {', '.join(missing)}: run {commands}")
        before = deployed_stage()
        resources = register(settings, manifests, before)
        gcp.export_endpoints(settings, resources)
    except RolloutError as exc:  # a readable config message, not a traceback
        raise pulumi.RunError(str(exc)) from None
    # Known only once every resource is applied: the next update orders its moves from this.
    applied = pulumi.Output.all(*(r.urn for r in resources.values())).apply(lambda _: state.stage)
    pulumi.export(STAGE_OUTPUT, applied)
    pulumi.export("previousStage", before)  # what this update moved from (None on a first deploy)
    pulumi.export("ladder", settings.stage_names)
    pulumi.export("namespace", settings.namespace)
    pulumi.export("strategy", settings.strategy)
    pulumi.export("weights", state.weights())


def without_full_collections() -> None:
    """Collect young garbage only: a program process lives seconds, and full collections re-walk
    its whole growing heap (at 1,806 resources they took half the run, the cost per resource
    growing with the stack; memory stays the same)."""
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, 1_000_000_000)
