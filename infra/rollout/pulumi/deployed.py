"""The stage this stack runs now, read from its own last outputs: what orders the services and
which track scales up first.

A key in the stack file (the retired rollout:previousStage) goes stale after a hand edit or a
`git revert`. The `stage` output is written by the stack's own last `pulumi up`, and only once
every resource of that update was applied (program.py). A StackReference to the stack's own
name reads it, in `pulumi up` and in `pulumi preview` alike. A stack never deployed has no
outputs: services roll in declared order and no tracks are ordered, as on any first deploy.

Proved under mocks only, which return what a StackReference returns. What needs an engine and
a backend, and is therefore not verified here:
- that every backend (Pulumi Cloud, s3://, gs://, file://) lets a stack reference itself, and
  that during an update the reference still returns the previous update's outputs: the engine
  replaces the stack's outputs only when the program registers them, at its end (Pulumi staff
  describe reading a stack's own outputs back this way in pulumi/pulumi#3722). A backend that
  refused the reference would fail the update with its error, not drop the order silently;
- that a failed `pulumi up` keeps the previous `stage` output: the export then never resolves,
  so it is never registered, but what the engine keeps for the stack's outputs is its choice;
- the reference's name: organization/project/stack with the organization the engine passes
  (`organization` on DIY backends); a CLI that passes none gets the bare stack name, which
  Pulumi Cloud resolves in the user's default organization;
- `pulumi refresh`, `--target` and imports, which run the program under other assumptions.
"""
from __future__ import annotations

import pulumi

STAGE_OUTPUT = "stage"


def own_stack_name() -> str:
    """The fully qualified name of the stack being updated: organization/project/stack."""
    organization = pulumi.get_organization()
    stack = pulumi.get_stack()
    return f"{organization}/{pulumi.get_project()}/{stack}" if organization else stack


def deployed_stage() -> pulumi.Output:
    """Output of the stage the last update exported, or None for a stack never deployed."""
    own = pulumi.StackReference("rollout-deployed", stack_name=own_stack_name())
    return own.get_output(STAGE_OUTPUT)
