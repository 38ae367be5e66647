"""Pulumi's entry point (Pulumi.yaml `main: infra/`): everything lives in rollout.pulumi.program."""
from pathlib import Path

from rollout.pulumi.program import main

main(Path(__file__).resolve().parent.parent)  # infra/ sits next to Pulumi.yaml
