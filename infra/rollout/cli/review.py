"""The GitOps subcommands the GitHub workflows run: `review`, `changed` and `commit-rollback`.

Everything a workflow decides lives here, so the tests run it on the shipped stacks in a real git
repository; the workflow files only call these and talk to GitHub.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace
from pathlib import Path

from rollout.cli.project import find_project_dir, open_stack, project_dir_option
from rollout.errors import ConfigError, RolloutError, UsageError
from rollout.output.comment import DEFAULT_BUDGET, GITHUB_LIMIT, StackReview, comment_body, stack_review
from rollout.spec.model import StackSettings
from rollout.spec.stack import parse_stack, stack_name_from_path

# git (subprocess), transitions and uuid are imported inside the commands: every other command
# registers these parsers, and `rollout status` should not pay for them.

GITHUB_OUTPUT_ENV = "GITHUB_OUTPUT"


def _project(args: argparse.Namespace) -> Path:
    return (project_dir_option(args) or find_project_dir()).resolve()


# -- review ------------------------------------------------------------------------

def skip_problem(before: StackSettings, after: StackSettings) -> str | None:
    """Why moving from the old file's stage to the new one skips stages neither file allows to skip."""
    from rollout.core import transitions

    if before.stage not in after.stage_names:
        return None
    start, end = after.index_of(before.stage), after.index_of(after.stage)
    if end - start <= 1:
        return None  # one stage forward, no move, or a rollback (which may skip)
    moved = replace(after, stage=before.stage, allow_skip=before.allow_skip and after.allow_skip)
    try:
        transitions.promotion_target(moved, after.stage, force=False)  # the promote rule, in one place
    except UsageError:
        skipped = after.stage_names[start + 1:end]
        return (f"{after.file} moves rollout:stage from {before.stage!r} to {after.stage!r}, skipping "
                f"{', '.join(skipped)}; rollout:allowSkip is false, so promote one stage per pull request")
    return None


def review_stack(project: Path, base: str, base_name: str, name: str) -> StackReview:
    from rollout.cli import gitrepo
    from rollout.output.plan import build_plan_between

    stack = stack_name_from_path(Path(name))
    _, after = open_stack(stack, project)
    notes: list[str] = []
    old_text = gitrepo.file_at(project, base, name)
    before: StackSettings | None = after
    problem = None
    if old_text is None:
        before, from_stage = None, after.kill_switch
        notes.append(f"{name} is new: every resource is created (weights \"now\" are its kill switch `{from_stage}`).")
    else:
        try:
            from rollout.spec.yaml12 import YAMLError, load_yaml

            before = parse_stack(load_yaml(old_text), stack, f"{name} at {base_name}")
            from_stage = before.stage
            problem = skip_problem(before, after)
        except (ConfigError, YAMLError, ValueError) as exc:
            from_stage = after.kill_switch
            notes.append(f"{name} at {base_name} could not be read ({exc}); planned from the kill switch "
                         f"`{from_stage}` and the skip check was not made.")
    plan = build_plan_between(before, from_stage, after, after.stage)
    return stack_review(plan, f"rollout review --base {base_name} --full", notes, problem)


def cmd_review(args: argparse.Namespace) -> int:
    from rollout.cli import gitrepo

    project = _project(args)
    base = gitrepo.merge_base(project, args.base)
    changed, deleted = gitrepo.changed_stack_files(project, base)
    reviews = [review_stack(project, base, args.base, name) for name in changed]
    reviews += [StackReview(stack=stack_name_from_path(Path(name)), summary=[f"### {name} deleted", ""],
                            notes=["`pulumi up` does not run for a deleted stack file; destroy the stack by hand."])
                for name in deleted]
    body = comment_body(reviews, None if args.full else args.budget)
    if args.out:
        Path(args.out).write_text(body, encoding="utf-8")
        print(f"wrote the review of {len(reviews)} stack files to {args.out} ({len(body.encode())} bytes)")
    else:
        sys.stdout.write(body)
    refused = [r for r in reviews if r.problem]
    if refused:
        raise RolloutError("; ".join(r.problem for r in refused if r.problem))
    return 0


# -- changed -----------------------------------------------------------------------

def cmd_changed(args: argparse.Namespace) -> int:
    from rollout.cli import gitrepo

    project = _project(args)
    changed, _ = gitrepo.changed_stack_files(project, gitrepo.merge_base(project, args.base))
    stacks = [stack_name_from_path(Path(name)) for name in changed]
    print(json.dumps(stacks) if args.json else "\n".join(stacks))
    return 0


# -- commit-rollback -----------------------------------------------------------------

def _ledger_file(path: Path, settings: StackSettings) -> Path | None:
    from rollout.core.ledger import FileLedger, open_ledger

    ledger = open_ledger(settings.gates.ledger, path)
    return ledger.path if isinstance(ledger, FileLedger) and ledger.path.exists() else None


def _last_rollback_reason(path: Path, settings: StackSettings) -> str:
    from rollout.core import transitions
    from rollout.core.ledger import open_ledger

    records = [r for r in open_ledger(settings.gates.ledger, path).records(settings.stack)
               if r.action == transitions.ROLLBACK and r.to_stage == settings.stage]
    if not records:
        return ""
    last = max(records, key=lambda r: r.time)
    return f"{last.time}, {last.user}: {last.reason or 'no reason recorded'}"


def _github_output(target: str | None, values: dict[str, str]) -> None:
    import uuid

    if not target:
        return
    with open(target, "a", encoding="utf-8") as out:
        for key, value in values.items():
            delimiter = f"ROLLOUT_{uuid.uuid4().hex}"  # a value can never contain it
            out.write(f"{key}<<{delimiter}\n{value}\n{delimiter}\n")


def cmd_commit_rollback(args: argparse.Namespace) -> int:
    import time

    from rollout.cli import gitrepo
    from rollout.spec.gitops import PULL_REQUEST
    from rollout.spec.yaml12 import load_yaml

    project = _project(args)
    path, settings = open_stack(args.stack, project)
    gitops = settings.gitops
    output = args.github_output or os.environ.get(GITHUB_OUTPUT_ENV)
    if not gitrepo.is_modified(project, path):
        print(f"nothing to commit: {path.name} is as committed")
        _github_output(output, {"committed": "false"})
        return 0
    committed = gitrepo.file_at(project, "HEAD", path.name)
    was = parse_stack(load_yaml(committed), settings.stack, path.name).stage if committed else None
    title = f"rollout: roll back {settings.stack} from {was} to {settings.stage}"
    reason = _last_rollback_reason(path, settings)
    body = "\n".join([
        f"`{path.name}` was rolled back from `{was}` to `{settings.stage}`; the workflow applies it with `pulumi up`.",
        "", f"Trigger: {reason}" if reason else "Trigger: not in the ledger (a rollback by hand?)",
        "", "Merge this so git says what the cluster runs: a later `pulumi up` from the branch without it "
            "would move the stack forward again." if gitops.on_rollback == PULL_REQUEST else "Pushed to the branch.",
    ])
    branch = gitrepo.git(project, "rev-parse", "--abbrev-ref", "HEAD").strip()
    if gitops.on_rollback == PULL_REQUEST:
        branch = f"rollout/rollback-{settings.stack}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}"
        gitrepo.git(project, "switch", "--quiet", "-c", branch)
    files = [path] + [p for p in [_ledger_file(path, settings)] if p is not None]
    gitrepo.git(project, "add", "--", *map(str, files))
    gitrepo.git(project, "commit", "--quiet", "-m", title, "-m", body, "--", *map(str, files))
    sha = gitrepo.git(project, "rev-parse", "HEAD").strip()
    print(f"committed {sha[:12]} on {branch} ({gitops.on_rollback}): {title}")
    _github_output(output, {"committed": "true", "mode": gitops.on_rollback, "branch": branch, "sha": sha,
                            "title": title, "body": body})
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    review = sub.add_parser("review", help="the pull-request comment: the plan of every stack file changed since --base")
    review.add_argument("--base", required=True, metavar="REF", help="the branch the pull request merges into, e.g. origin/main")
    review.add_argument("--out", metavar="FILE", help="write the comment body here (default: standard output)")
    review.add_argument("--budget", type=int, default=DEFAULT_BUDGET, metavar="BYTES",
                        help=f"largest body, trimmed to fit (default {DEFAULT_BUDGET}; GitHub allows {GITHUB_LIMIT} characters)")
    review.add_argument("--full", action="store_true", help="never trim (to read locally)")
    review.set_defaults(handler=cmd_review)

    changed = sub.add_parser("changed", help="the stacks whose files changed since --base, one per line")
    changed.add_argument("--base", required=True, metavar="REF")
    changed.add_argument("--json", action="store_true", help="print a JSON list")
    changed.set_defaults(handler=cmd_changed)

    commit = sub.add_parser("commit-rollback", help="commit a rolled-back stack file and its ledger, "
                                                    "on a new branch or the current one as rollout:gitops.onRollback says")
    commit.add_argument("stack")
    commit.add_argument("--github-output", metavar="FILE", help=f"append step outputs here (default ${GITHUB_OUTPUT_ENV})")
    commit.set_defaults(handler=cmd_commit_rollback)
