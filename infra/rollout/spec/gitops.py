"""`rollout:gitops`: how a rollback made by CI (watch, or the manual rollback workflow) reaches git.

    rollout:gitops:
      onRollback: pull-request   # or push: commit straight to the deployed branch
"""
from __future__ import annotations

from rollout.spec.model import GitOpsSettings
from rollout.spec.reader import Node, optional

PULL_REQUEST, PUSH = "pull-request", "push"
ON_ROLLBACK = (PULL_REQUEST, PUSH)
KEYS = ("onRollback",)


def parse_gitops(node: Node) -> GitOpsSettings:
    """The `rollout:gitops` mapping; missing means the defaults."""
    if node.value is None:
        return GitOpsSettings()
    fields = node.mapping(KEYS)
    return GitOpsSettings(on_rollback=optional(fields, "onRollback", node, PULL_REQUEST).choice(ON_ROLLBACK))
