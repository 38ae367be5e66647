"""The commands the GitHub workflows run, on the shipped stacks in a real temporary git repository.

review (the pull-request comment, its trimming and the skip check), changed (which stacks to
deploy), commit-rollback (a rollback reaches git as rollout:gitops says) and the operator Stack.
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml

from conftest import REPO
from rollout.errors import ConfigError
from rollout.output.comment import GITHUB_LIMIT, MARKER, comment_body, size
from rollout.spec.gitops import parse_gitops
from rollout.spec.model import GitOpsSettings
from rollout.spec.reader import Node

OPERATOR_SCHEMA = REPO / "tests" / "operator_schema" / "stack-v1.schema.json"
GIT_ENV = {"GIT_AUTHOR_NAME": "ci", "GIT_AUTHOR_EMAIL": "ci@example.com", "GIT_COMMITTER_NAME": "ci",
           "GIT_COMMITTER_EMAIL": "ci@example.com", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True,
                          env={**os.environ, **GIT_ENV}).stdout


def set_stage(path: Path, stage: str) -> None:
    """A hand edit of rollout:stage, as a pull request makes it."""
    path.write_text(re.sub(r"(?m)^  rollout:stage: .*$", f"  rollout:stage: {json.dumps(stage)}", path.read_text(), count=1))
    assert yaml.safe_load(path.read_text())["config"]["rollout:stage"] == stage


@pytest.fixture
def outside(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder outside the repository, for files a workflow keeps in its runner's temp folder."""
    return tmp_path_factory.mktemp("runner")


@pytest.fixture
def repo(project: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The shipped stacks committed on main, with a pull-request branch checked out."""
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)
    git(project, "init", "-q", "-b", "main")
    git(project, "add", ".")
    git(project, "commit", "-q", "-m", "the shipped stacks")
    git(project, "switch", "-q", "-c", "pr")
    return project


def commit(repo: Path, message: str) -> None:
    git(repo, "commit", "-q", "-am", message)


# -- review: the pull-request comment ----------------------------------------------------

def test_the_comment_holds_the_real_plan_of_every_changed_stack_and_the_marker_to_edit_it(repo, rollout, outside):
    set_stage(repo / "Pulumi.prod.yaml", "canary-5")
    set_stage(repo / "Pulumi.staging.yaml", "flags-on")
    commit(repo, "prod to canary-5, staging on")
    out = outside / "comment.md"
    result = rollout("-C", repo, "review", "--base", "main", "--out", out)
    assert result.code == 0, result.err
    body = out.read_text()
    assert body.startswith(MARKER + "\n")
    plan = rollout("-C", repo, "plan", "prod", "--from", "off", "--to", "canary-5").out
    assert plan.strip() in body  # exactly what `rollout plan` prints, untrimmed
    assert "### rollout plan: staging `flags-off` -> `flags-on`" in body
    assert "Refused" not in body and "Trimmed" not in body
    assert rollout("-C", repo, "changed", "--base", "main", "--json").out.strip() == '["prod", "staging"]'


def test_a_prod_change_that_skips_a_stage_fails_the_check_and_says_so_in_the_comment(repo, rollout, outside):
    set_stage(repo / "Pulumi.prod.yaml", "canary-25")
    commit(repo, "prod from off straight to canary-25")
    out = outside / "comment.md"
    result = rollout("-C", repo, "review", "--base", "main", "--out", out)
    assert result.code == 1
    assert "skipping canary-5" in result.err and "allowSkip is false" in result.err
    assert "**Refused: prod**" in out.read_text()


def test_one_stage_forward_a_rollback_that_skips_and_a_staging_jump_all_pass_the_check(repo, rollout):
    set_stage(repo / "Pulumi.prod.yaml", "canary-50")
    git(repo, "switch", "-q", "main")
    git(repo, "commit", "-q", "-am", "prod is at canary-50 on main")
    git(repo, "switch", "-q", "-c", "next")
    set_stage(repo / "Pulumi.prod.yaml", "full")
    commit(repo, "one stage forward")
    assert rollout("-C", repo, "review", "--base", "main").code == 0
    set_stage(repo / "Pulumi.prod.yaml", "off")
    commit(repo, "roll all the way back")
    assert rollout("-C", repo, "review", "--base", "main").code == 0  # rollbacks may skip
    set_stage(repo / "Pulumi.staging.yaml", "flags-on")
    commit(repo, "staging allows skipping")
    assert rollout("-C", repo, "review", "--base", "main").code == 0


def test_allowing_skips_in_the_same_pull_request_does_not_let_it_skip(repo, rollout):
    path = repo / "Pulumi.prod.yaml"
    set_stage(path, "canary-50")
    path.write_text(path.read_text().replace("rollout:allowSkip: false", "rollout:allowSkip: true"))
    commit(repo, "allow skipping and skip")
    result = rollout("-C", repo, "review", "--base", "main")
    assert result.code == 1 and "skipping canary-5, canary-25" in result.err


def test_a_base_that_is_not_a_commit_is_a_usage_error(repo, rollout):
    result = rollout("-C", repo, "review", "--base", "origin/nowhere")
    assert result.code == 2 and "fetch-depth: 0" in result.err


def _huge_stack_text() -> str:
    spec = importlib.util.spec_from_file_location("generate_stack", REPO / "bench" / "generate_stack.py")
    generate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generate)
    return generate.generate_stack(services=40, flags=3)


def test_a_huge_plan_is_trimmed_under_githubs_limit_diffs_first_and_the_summary_survives(repo, rollout, outside):
    (repo / "Pulumi.big.yaml").write_text(_huge_stack_text())  # a new stack: every resource is created
    set_stage(repo / "Pulumi.prod.yaml", "canary-5")
    git(repo, "add", "Pulumi.big.yaml")
    commit(repo, "a big new stack, and prod to canary-5")
    full = rollout("-C", repo, "review", "--base", "main", "--full").out
    assert size(full) > 3 * GITHUB_LIMIT  # GitHub would refuse the untrimmed comment
    out = outside / "comment.md"
    assert rollout("-C", repo, "review", "--base", "main", "--out", out).code == 0
    body = out.read_text()
    assert size(body) <= 65_000 < GITHUB_LIMIT
    assert body.startswith(MARKER)
    prod_summary = rollout("-C", repo, "plan", "prod", "--from", "off", "--to", "canary-5").out.split("\n- `")[0]
    assert prod_summary.strip() in body
    assert "### rollout plan: big `off` -> `off`" in body and "Pulumi.big.yaml is new: every resource is created" in body
    big_changes = next(line for line in full.splitlines() if line.startswith("Changes: ") and "create" in line)
    assert big_changes in body
    assert "_Trimmed to fit GitHub's comment limit:" in body
    assert "Full plan: `rollout review --base main --full`" in body
    assert body.count("```diff") == 2  # both stacks keep a share of their diffs


def test_trimming_drops_diffs_before_change_lists_and_lists_before_summaries():
    from rollout.output.comment import StackReview

    review = StackReview(stack="s", summary=["### rollout plan: s `a` -> `b`", "", "Changes: 2 to update"],
                         changes=["- `~` update Deployment `x`", "- `~` update Deployment `y`"],
                         diffs=[["+" + "x" * 70] * 50, ["-" + "y" * 70] * 50], full_plan="rollout review --full")
    untrimmed = comment_body([review], None)
    seen = set()
    for budget in range(290, size(untrimmed) + 1, 7):
        body = comment_body([review], budget)
        assert size(body) <= budget
        assert "### rollout plan: s `a` -> `b`" in body and "Changes: 2 to update" in body
        lists, diff_lines = "Deployment `y`" in body, body.count("x" * 70) + body.count("y" * 70)
        if not lists:
            assert diff_lines == 0 and "the list of 2 changed resources left out" in body
        seen.add((lists, 0 < diff_lines < 100))
    assert {(False, False), (True, True)} <= seen  # diffs cut with lists kept; lists gone once no diff is left


def test_a_budget_over_githubs_limit_is_refused(repo, rollout):
    result = rollout("-C", repo, "review", "--base", "main", "--budget", "70000")
    assert result.code == 2 and "65536" in result.err


# -- commit-rollback: a rollback reaches git ------------------------------------------------

def _deployed(repo: Path, rollout, stage_move: tuple[str, ...]) -> None:
    """main holds prod one stage forward, as after a merged promote; then the rollback edits the file."""
    git(repo, "switch", "-q", "main")
    assert rollout("-C", repo, "promote", "prod").code == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "promote prod to canary-5")
    assert rollout("-C", repo, "rollback", "prod", *stage_move).code == 0


def test_a_rollback_is_committed_with_its_ledger_on_a_new_branch_for_a_pull_request(repo, rollout, outside):
    _deployed(repo, rollout, ("--kill-switch",))
    outputs = outside / "github-output"
    result = rollout("-C", repo, "commit-rollback", "prod", "--github-output", outputs)
    assert result.code == 0, result.err
    branch = git(repo, "rev-parse", "--abbrev-ref", "HEAD").strip()
    assert branch.startswith("rollout/rollback-prod-")
    assert sorted(git(repo, "show", "--name-only", "--format=", "HEAD").split()) == ["Pulumi.prod.yaml", "ledger/prod.jsonl"]
    assert git(repo, "log", "-1", "--format=%s").strip() == "rollout: roll back prod from canary-5 to off"
    assert git(repo, "status", "--porcelain").strip() == ""
    assert git(repo, "rev-parse", "main") != git(repo, "rev-parse", "HEAD")  # main waits for the pull request
    text = outputs.read_text()
    assert "mode<<" in text and "\npull-request\n" in text and f"\n{branch}\n" in text and "committed<<" in text


def test_push_mode_commits_on_the_deployed_branch(repo, rollout, outside):
    _deployed(repo, rollout, ())
    # The stack file asks for push mode after the moves were made.
    path = repo / "Pulumi.prod.yaml"
    path.write_text(path.read_text() + "  rollout:gitops:\n    onRollback: push\n")
    result = rollout("-C", repo, "commit-rollback", "prod", "--github-output", outside / "out")
    assert result.code == 0, result.err
    assert git(repo, "rev-parse", "--abbrev-ref", "HEAD").strip() == "main"
    assert git(repo, "log", "-1", "--format=%s").strip() == "rollout: roll back prod from canary-5 to off"
    assert "\npush\n" in (outside / "out").read_text()


def test_nothing_is_committed_when_the_soak_passed(repo, rollout, outside):
    head = git(repo, "rev-parse", "HEAD")
    result = rollout("-C", repo, "commit-rollback", "prod", "--github-output", outside / "out")
    assert result.code == 0 and "nothing to commit" in result.out
    assert git(repo, "rev-parse", "HEAD") == head
    assert "\nfalse\n" in (outside / "out").read_text()


def test_the_gitops_section_is_parsed_with_errors_that_name_the_key():
    assert parse_gitops(Node(None, "Pulumi.prod.yaml", "rollout:gitops")) == GitOpsSettings("pull-request")
    assert parse_gitops(Node({"onRollback": "push"}, "f", "rollout:gitops")).on_rollback == "push"
    with pytest.raises(ConfigError, match=r"rollout:gitops.onRollback: 'merge' is not one of pull-request, push"):
        parse_gitops(Node({"onRollback": "merge"}, "f", "rollout:gitops"))
    with pytest.raises(ConfigError, match=r"rollout:gitops.onRollbak: unknown key \(did you mean 'onRollback'\?\)"):
        parse_gitops(Node({"onRollbak": "push"}, "f", "rollout:gitops"))


# -- the Pulumi Kubernetes Operator Stack --------------------------------------------------------

def test_render_writes_an_operator_stack_that_matches_the_operators_api(repo, rollout, outside):
    schema = json.loads(OPERATOR_SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    git(repo, "remote", "add", "origin", "https://git.example.com/acme/chat-rollout.git")
    for stack, extra in (("prod", ["--backend", "s3://acme-pulumi-state"]),
                         ("staging", ["--backend", "gs://acme-state", "--secrets-provider", "gcpkms://projects/p/k"]),
                         ("prod", [])):
        target = outside / stack / "stack.yaml"
        result = rollout("-C", repo, "render", stack, "--out", outside / "out", "--operator-stack", target, *extra)
        assert result.code == 0, result.err
        stack_cr = yaml.safe_load(target.read_text())
        jsonschema.validate(stack_cr, schema)
        assert stack_cr["spec"]["projectRepo"] == "https://git.example.com/acme/chat-rollout.git"
        assert stack_cr["spec"]["destroyOnFinalize"] is False
        assert "config" not in stack_cr["spec"]  # the stack file in the repository is the config
        assert stack_cr["metadata"]["annotations"]["rollout.dev/stack-file"] == f"Pulumi.{stack}.yaml"
        assert not (outside / "out" / target.name).exists()
    cloud = yaml.safe_load((outside / "prod" / "stack.yaml").read_text())["spec"]
    assert "backend" not in cloud and cloud["envRefs"]["PULUMI_ACCESS_TOKEN"]["secret"]["key"] == "accessToken"
    kms = yaml.safe_load((outside / "staging" / "stack.yaml").read_text())["spec"]
    assert kms["backend"] == "gs://acme-state" and kms["envRefs"] == {}


def test_the_operator_schema_refuses_what_the_operator_would(repo, rollout, outside):
    schema = json.loads(OPERATOR_SCHEMA.read_text())
    target = outside / "stack.yaml"
    assert rollout("-C", repo, "render", "prod", "--out", outside / "out", "--operator-stack", target,
                   "--repo", "https://git.example.com/a/b.git").code == 0
    good = yaml.safe_load(target.read_text())
    for broken in ({**good, "spec": {k: v for k, v in good["spec"].items() if k != "stack"}},
                   {**good, "spec": {**good["spec"], "destroyOnFinalise": False}},
                   {**good, "spec": {**good["spec"], "envRefs": {"X": {"type": "Vault"}}}},
                   {**good, "spec": {**good["spec"], "resyncFrequencySeconds": "5m"}}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(broken, schema)


def test_an_operator_stack_without_a_repository_is_a_usage_error(repo, rollout, outside):
    result = rollout("-C", repo, "render", "prod", "--out", outside / "out", "--operator-stack", outside / "s.yaml")
    assert result.code == 2 and "--repo" in result.err

