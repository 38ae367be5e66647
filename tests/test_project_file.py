"""Pulumi.yaml documents exactly the keys the stack-file validator accepts."""
from __future__ import annotations

from conftest import REPO
from rollout.spec.stack import TOP_LEVEL_KEYS
from rollout.spec.yaml12 import load_yaml


def test_pulumi_yaml_runs_the_infra_program_with_python():
    project = load_yaml((REPO / "Pulumi.yaml").read_text())
    assert project["name"] == "rollout" and project["main"] == "infra/"
    assert project["runtime"]["name"] == "python"
    assert (REPO / project["main"] / "__main__.py").is_file()


def test_every_key_the_validator_accepts_is_documented_and_nothing_else():
    project = load_yaml((REPO / "Pulumi.yaml").read_text())
    keys = project["template"]["config"]
    documented = {k.split(":", 1)[1] for k, v in keys.items() if not v.get("secret") and k.startswith("rollout:")}
    assert documented == set(TOP_LEVEL_KEYS)
    assert {k for k in keys if not k.startswith("rollout:")} == {"gcp:project", "gcp:region"}  # the provider's, read too
    assert "config" not in project, "a typed config block would make Pulumi reject the structured stack keys"
