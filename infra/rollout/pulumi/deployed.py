"""The stage this stack runs now, read from its own last outputs: what orders scale-up first.

`rollout:previousStage` in the stack file goes stale after a hand edit or a `git revert`; the
`stage` output is written by the stack's last `pulumi up` itself (exported only once every
resource is applied, see program.py). A StackReference to the stack's own name reads the outputs
as they were before this update, in `pulumi up` and in `pulumi preview` alike; a brand-new stack
has none, so nothing is ordered.

Verified under mocks only (they return what a StackReference returns). Not verifiable without
an engine and a backend, so not verified here:
- that every backend (Pulumi Cloud, s3://, gs://, file://) lets a stack reference itself and,
  during an update, still returns the outputs of the previous update (reads happen before any
  resource of this update is registered, and stack outputs are only replaced at the end; Pulumi
  staff describe this self-reference pattern in pulumi/pulumi#3722);
- that a failed `pulumi up` keeps the previous `stage` output: the export waits for every
  resource, so a failed update should never register it, but what the engine then keeps for
  the stack's outputs is its business;
- the organization in the reference name: `pulumi.get_organization()` as the engine passes it
  (`organization` on DIY backends); older CLIs that pass none fall back to the bare stack name;
- `pulumi refresh`, `--target` and imports, which run the program with other assumptions.
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
