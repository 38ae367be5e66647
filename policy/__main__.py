"""The CrossGuard policy pack: `pulumi preview --policy-pack policy --policy-pack-config policy/config/<stack>.json`."""
import sys
from pathlib import Path

from pulumi_policy import PolicyPack

sys.path.insert(0, str(Path(__file__).resolve().parent))  # policies.py, however the policy host starts this file

from policies import DEFAULT_ENFORCEMENT, POLICIES  # noqa: E402

PolicyPack(name="rollout", enforcement_level=DEFAULT_ENFORCEMENT, policies=POLICIES)  # starts the policy server
