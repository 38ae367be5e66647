"""The pack's policies: rollout.policy.rules wrapped as pulumi_policy objects.

Importing this builds no PolicyPack (that starts the policy server): __main__.py does, and the
tests import this module to call each policy's validate directly.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from pulumi_policy import (
    EnforcementLevel, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy, StackValidationArgs,
    StackValidationPolicy,
)

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "infra"))  # the rules live with the rest of rollout

from rollout.policy.rules import RESOURCE_RULES, STACK_RULES, kind_of  # noqa: E402

# Without a config file every policy stops the update; config/staging.json makes them advisory.
DEFAULT_ENFORCEMENT = EnforcementLevel.MANDATORY
KUBERNETES = "kubernetes:"


def as_manifest(resource_type: str, props: Any) -> dict[str, Any]:
    """A Pulumi Kubernetes resource's inputs as the manifest the rules read (the kind from the type token)."""
    return {**dict(props or {}), "kind": kind_of(resource_type)}


def _resource_policy(name: str, rule) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if args.resource_type.startswith(KUBERNETES):
            for problem in rule(as_manifest(args.resource_type, args.props)):
                report_violation(problem, args.urn)

    return ResourceValidationPolicy(name=name, description=(rule.__doc__ or name).strip(), validate=validate,
                                    enforcement_level=DEFAULT_ENFORCEMENT)


def _stack_policy(name: str, rule) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        manifests = [as_manifest(r.resource_type, r.props) for r in args.resources
                     if r.resource_type.startswith(KUBERNETES)]
        for problem in rule(manifests):
            report_violation(problem, None)

    return StackValidationPolicy(name=name, description=(rule.__doc__ or name).strip(), validate=validate,
                                 enforcement_level=DEFAULT_ENFORCEMENT)


POLICIES = [_resource_policy(n, r) for n, r in RESOURCE_RULES.items()] + [_stack_policy(n, r) for n, r in STACK_RULES.items()]
