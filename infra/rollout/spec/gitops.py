"""`rollout:gitops`: how a rollback made by CI (watch, or the manual rollback workflow) reaches git.

    rollout:gitops:
      onRollback: pull-request   # or push: commit straight to the deployed branch
"""
from __future__ import annotations

from dataclasses import dataclass

from rollout.spec.reader import Node, optional

PULL_REQUEST, PUSH = "pull-request", "push"
ON_ROLLBACK = (PULL_REQUEST, PUSH)
KEYS = ("onRollback",)


@dataclass(frozen=True)
class GitOpsConfig:
    # pull-request suits a protected branch; push keeps git and the cluster equal at once.
    on_rollback: str = PULL_REQUEST


def parse_gitops(node: Node) -> GitOpsConfig:
    """The `rollout:gitops` mapping; missing means the defaults."""
    if node.value is None:
        return GitOpsConfig()
    fields = node.mapping(KEYS)
    return GitOpsConfig(on_rollback=optional(fields, "onRollback", node, PULL_REQUEST).choice(ON_ROLLBACK))
