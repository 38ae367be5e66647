"""The Pulumi program: register the stack's resources and export where the rollout stands.

The stack file next to Pulumi.yaml is the source of truth, read by the same parser as the CLI.
"""
from __future__ import annotations

from pathlib import Path

import pulumi

from rollout.build.resources import kubernetes_manifests, manifests_with_state
from rollout.errors import RolloutError
from rollout.pulumi import gcp  # Google Cloud: pulumi_gcp loads only for stacks with Google Cloud resources
from rollout.pulumi.kubernetes import missing_secret_config, register
from rollout.spec.stack import load_stack


def main(project_dir: Path) -> None:
    stack = pulumi.get_stack()
    try:
        settings = load_stack(project_dir / f"Pulumi.{stack}.yaml", stack)
        state, manifests = manifests_with_state(settings)
        cluster = kubernetes_manifests(manifests)
        missing = missing_secret_config(cluster) + gcp.missing_secret_config(manifests)
        if missing:
            commands = "; ".join(f"pulumi config set --secret {key} <value>" for key in missing)
            raise pulumi.RunError(f"{settings.file}: missing secret config {', '.join(missing)}: run {commands}")
        gcp.register(settings, manifests, register(settings, cluster))
    except RolloutError as exc:  # a readable config message, not a traceback
        raise pulumi.RunError(str(exc)) from None
    pulumi.export("stage", state.stage)
    pulumi.export("previousStage", settings.previous_stage)
    pulumi.export("ladder", settings.stage_names)
    pulumi.export("namespace", settings.namespace)
    pulumi.export("strategy", settings.strategy)
    pulumi.export("weights", state.weights())
