"""The Pulumi program: register the stack's manifests and export where the rollout stands.

The stack file next to Pulumi.yaml is the source of truth, read by the same parser as the CLI.
"""
from pathlib import Path

import pulumi

from rollout.errors import RolloutError
from rollout.manifests import manifests_with_state
from rollout.pulumi_resources import missing_secret_config, register
from rollout.settings import load_stack

PROJECT_DIR = Path(__file__).resolve().parent.parent  # infra/ sits next to Pulumi.yaml


def main() -> None:
    stack = pulumi.get_stack()
    try:
        settings = load_stack(PROJECT_DIR / f"Pulumi.{stack}.yaml", stack)
        state, manifests = manifests_with_state(settings)
        missing = missing_secret_config(manifests)
        if missing:
            commands = "; ".join(f"pulumi config set --secret {key} <value>" for key in missing)
            raise pulumi.RunError(f"{settings.file}: missing secret config {', '.join(missing)}: run {commands}")
        register(settings, manifests)
    except RolloutError as exc:  # a readable config message, not a traceback
        raise pulumi.RunError(str(exc)) from None
    pulumi.export("stage", state.stage)
    pulumi.export("previousStage", settings.previous_stage)
    pulumi.export("ladder", settings.stage_names)
    pulumi.export("namespace", settings.namespace)
    pulumi.export("strategy", settings.strategy)
    pulumi.export("weights", state.weights())


main()
