"""The `rollout` command: see, plan, move and undo the stages of a stack.

Exit status: 0 success, 2 bad input (usage or stack file), 1 anything else.
It never imports pulumi, and each command imports only what it uses, so it stays fast:
`status` builds no resource, `plan` no monitoring, and only `render` loads the Grafana SDK.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

from rollout.cli import gates as gates_cli  # gates: gate/watch/history, promote --gate, ledger records
from rollout.cli import review as review_cli  # gitops: review, changed, commit-rollback
from rollout.errors import RolloutError, UsageError
from rollout.cli.project import open_stack, project_dir_option
from rollout.core.ladder import LB_WEIGHT_TOTAL, next_stage, previous_stage, resolve


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors go through the same one-line, exit-2 path as the rest."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def _print_json(value: object) -> None:
    print(json.dumps(value, indent=2))


# -- status ------------------------------------------------------------------

def status_data(stack: str, project_dir: Path | None) -> dict:
    _, settings = open_stack(stack, project_dir)
    state = resolve(settings)
    return {
        "stack": settings.stack,
        "stage": settings.stage,
        "ladder": settings.stage_names,
        "previous": previous_stage(settings, settings.stage),
        "next": next_stage(settings, settings.stage),
        "weights": state.weights(),
        "strategy": settings.strategy,
        "killSwitch": settings.kill_switch,
        "replicas": {name: dict(split.replicas) for name, split in state.splits.items()},
        "traffic": {name: dict(split.traffic) for name, split in state.splits.items() if split.traffic},
    }


def cmd_status(args: argparse.Namespace) -> int:
    data = status_data(args.stack, project_dir_option(args))
    if args.json:
        _print_json({k: data[k] for k in ("stack", "stage", "ladder", "previous", "next", "weights")})
        return 0
    ladder = " -> ".join(f"[{s}]" if s == data["stage"] else s for s in data["ladder"])
    print(f"stack     {data['stack']} (strategy {data['strategy']})")
    print(f"stage     {data['stage']}")
    print(f"ladder    {ladder}")
    print(f"previous  {data['previous'] or '(none: first stage)'}")
    print(f"next      {data['next'] or '(none: last stage)'}")
    print(f"kill      {data['killSwitch']}")
    percentage = data["strategy"] == "percentage"
    print("weights   service      " + ("given to app  replicas" if percentage else "requested  effective  replicas"))
    for service, replicas in data["replicas"].items():
        weight = data["weights"].get(service)
        shown = " ".join(f"{t}={n}" for t, n in replicas.items())
        if service in data["traffic"]:  # Cloud Run: the load balancer's weights, exact
            shown = " ".join(f"{t}={n * 100 / LB_WEIGHT_TOTAL:g}%" for t, n in data["traffic"][service].items()) + " (Cloud Run)"
        if percentage:
            print(f"          {service:<12} {('-' if weight is None else str(weight['requested']) + '%'):>12}  {shown}")
        elif weight is None:
            print(f"          {service:<12} {'-':>9}  {'-':>9}  {shown}")
        else:
            print(f"          {service:<12} {weight['requested']:>8}%  {weight['effective']:>8}%  {shown}")
    return 0


# -- render ------------------------------------------------------------------

def cmd_render(args: argparse.Namespace) -> int:
    from rollout.build.resources import build_manifests
    from rollout.output.render import render_documents, write_documents

    path, settings = open_stack(args.stack, project_dir_option(args))
    stage = settings.stage_named(args.stage).name if args.stage else settings.stage
    documents = render_documents(build_manifests(settings, stage))
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file; give a folder")
    write_documents(documents, out)
    print(f"rendered {len(documents)} resources of {settings.stack} at stage {stage} to {out}")
    if args.operator_stack:
        _write_operator_stack(args, path.parent, settings)
    return 0


def _write_operator_stack(args: argparse.Namespace, project: Path, settings) -> None:
    """The Pulumi Kubernetes Operator Stack that deploys this stack from git (pull-based GitOps)."""
    from rollout.build.operator import OperatorSource, operator_stack
    from rollout.cli.gitrepo import git
    from rollout.output.render import to_yaml

    repo = args.repo or git(project, "remote", "get-url", "origin", check=False).strip()
    if not repo:
        raise UsageError("--operator-stack needs --repo URL (the project has no git remote named origin)")
    source = OperatorSource(
        repo=repo, branch=args.branch, repo_dir=git(project, "rev-parse", "--show-prefix", check=False).strip(),
        namespace=args.operator_namespace, backend=args.backend or os.environ.get("PULUMI_BACKEND_URL") or None,
        secrets_provider=args.secrets_provider, stack_name=args.pulumi_stack,
    )
    target = Path(args.operator_stack)
    if target.is_dir():
        raise UsageError(f"--operator-stack {target} is a folder; give a file name, e.g. {target}/stack.yaml")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(to_yaml(operator_stack(settings, source)), encoding="utf-8")
    print(f"wrote the Pulumi Kubernetes Operator Stack for {settings.stack} ({repo}, branch {args.branch}) to {target}")


# -- plan --------------------------------------------------------------------

def cmd_plan(args: argparse.Namespace) -> int:
    from rollout.output.plan import build_plan, plan_json, plan_text

    _, settings = open_stack(args.stack, project_dir_option(args))
    source = settings.stage_named(args.from_stage).name if args.from_stage else settings.stage
    if args.to:
        target = settings.stage_named(args.to).name
    else:
        target = next_stage(settings, source)
        if target is None:
            raise UsageError(f"{settings.stack} is at {source!r}, the last stage; give --to to plan a rollback")
    plan = build_plan(settings, target, source)
    if args.json:
        _print_json(plan_json(plan))
    else:
        sys.stdout.write(plan_text(plan))
    return 0


# -- promote / rollback ----------------------------------------------------------

def _change_stage(args: argparse.Namespace, action: str) -> int:
    from rollout.core import moves, transitions  # the lock and the ledger: only commands that move a stage need them
    from rollout.output.plan import build_plan, plan_text

    path, settings = open_stack(args.stack, project_dir_option(args))  # bad input stops here, before the lock
    choose = moves.choose_target(action, args.to, getattr(args, "force", False), getattr(args, "kill_switch", False))
    command = " ".join(["rollout", action, settings.stack] + (["--to", args.to] if args.to else [])
                       + (["--kill-switch"] if getattr(args, "kill_switch", False) else []))
    evidence = None
    if args.dry_run or getattr(args, "gate", None):
        # Judged on this read; the move itself re-reads under the lock and refuses a file that moved since.
        # Without --gate nothing is decided before the lock: a stale read must never refuse a kill switch.
        transition = transitions.prepare(settings, action, choose(settings))
        evidence = gates_cli.guard_stage_change(args, path, settings, transition)  # --gate must be GREEN
        if args.dry_run:
            sys.stdout.write(plan_text(build_plan(settings, transition.to_stage)))
            print(f"(dry run: {path.name} not changed)")
            return 0
    transition = moves.move(path, settings.stack, action, choose, command=command, evidence=evidence,
                            judged=settings if evidence else None)
    assert transition is not None, "promote and rollback refuse rather than find nothing to do"
    plan = build_plan(transition.settings, transition.to_stage)
    verb = "promoted" if action == transitions.PROMOTE else "rolled back"
    print(f"{verb} {settings.stack}: {transition.from_stage} -> {transition.to_stage} ({path.name} updated)")
    for service, weight in plan.target.weights().items():
        print(f"  {service}: {weight['requested']}% requested, {weight['effective']}% effective")
    print(f"  {len(plan.changes)} resource changes, {plan.pods_restarted} pods restarted")
    gates_cli.note_unchecked_backup(args, transition)
    print(f"next: commit {path.name}, open a pull request with `rollout plan {settings.stack} "
          f"--from {transition.from_stage} --to {transition.to_stage}`, then `pulumi up --stack {settings.stack}`")
    if os.environ.get("ROLLOUT_SLACK_WEBHOOK_URL"):  # after the move landed: a failing post never undoes it
        from rollout.notify import slack

        slack.post(slack.move_message(slack.describe_move(settings.stack, transition, path.parent, evidence)))
    return 0


def cmd_promote(args: argparse.Namespace) -> int:
    from rollout.core.transitions import PROMOTE

    return _change_stage(args, PROMOTE)


def cmd_rollback(args: argparse.Namespace) -> int:
    from rollout.core.transitions import ROLLBACK

    return _change_stage(args, ROLLBACK)


# -- generate ------------------------------------------------------------------------

def cmd_generate(args: argparse.Namespace) -> int:
    from rollout.cli.project import find_project_dir
    from rollout.output.generate import differences, write

    root = project_dir_option(args) or find_project_dir()
    if args.check:
        problems = differences(root)
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            print("run `rollout generate` and commit the result", file=sys.stderr)
        return 1 if problems else 0
    written = write(root)
    for rel in written:
        print(f"wrote {rel}")
    print(f"alerts/ and dashboards/ match every stack file in {root} ({len(written)} files changed)")
    return 0


# -- wiring --------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="rollout", description="Progressive rollouts as reviewed config changes.")
    parser.add_argument("-C", "--project-dir", help="the Pulumi project folder (default: found from the current folder)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    status = sub.add_parser("status", help="current stage, ladder and weights")
    status.add_argument("stack")
    status.add_argument("--json", action="store_true", help="print one JSON object")
    status.set_defaults(handler=cmd_status, one_shot=True)

    render = sub.add_parser("render", help="write one YAML file per resource")
    render.add_argument("stack")
    render.add_argument("--stage", help="render this stage instead of the current one")
    render.add_argument("--out", required=True, help="folder to write to (stale files from earlier renders are removed)")
    operator = render.add_argument_group("pull-based GitOps", "also write a Pulumi Kubernetes Operator Stack (pulumi.com/v1)")
    operator.add_argument("--operator-stack", metavar="FILE", help="write the Stack here (kept out of --out: it deploys the rest)")
    operator.add_argument("--repo", metavar="URL", help="the repository the operator clones (default: git remote origin)")
    operator.add_argument("--branch", default="main", help="the branch it deploys (default main)")
    operator.add_argument("--operator-namespace", default="default", metavar="NS", help="where the Stack lives (default default)")
    operator.add_argument("--backend", metavar="URL", help="s3:// or gs:// state backend (default $PULUMI_BACKEND_URL, else Pulumi Cloud)")
    operator.add_argument("--secrets-provider", metavar="PROVIDER", help="e.g. awskms://alias/pulumi (default: the backend's)")
    operator.add_argument("--pulumi-stack", metavar="NAME", help="the stack's full name, e.g. acme/rollout/prod (default STACK)")
    render.set_defaults(handler=cmd_render, one_shot=True)

    plan = sub.add_parser("plan", help="what moving to a stage changes")
    plan.add_argument("stack")
    plan.add_argument("--to", help="target stage (default: the next one)")
    plan.add_argument("--from", dest="from_stage", help="starting stage (default: the current one)")
    plan.add_argument("--json", action="store_true", help="print one JSON object")
    plan.set_defaults(handler=cmd_plan, one_shot=True)

    promote = sub.add_parser("promote", help="move rollout:stage forward in the stack file")
    promote.add_argument("stack")
    promote.add_argument("--to", help="target stage (default: the next one)")
    promote.add_argument("--force", action="store_true", help="allow skipping stages")
    promote.add_argument("--dry-run", action="store_true", help="show the plan, change nothing")
    promote.add_argument("--gate", metavar="URL", help="promote only if the gate against this Prometheus is GREEN")  # gates
    promote.set_defaults(handler=cmd_promote, one_shot=True)

    rollback = sub.add_parser("rollback", help="move rollout:stage back in the stack file")
    rollback.add_argument("stack")
    rollback.add_argument("--to", help="target stage (default: the previous one)")
    rollback.add_argument("--kill-switch", action="store_true", help="go to the stage with every flag off")
    rollback.add_argument("--dry-run", action="store_true", help="show the plan, change nothing")
    rollback.set_defaults(handler=cmd_rollback, one_shot=True)
    generate = sub.add_parser("generate", help="write alerts/ (rules and their promtool tests) and dashboards/ "
                                               "for every stack file (needs promtool)")
    generate.add_argument("--check", action="store_true", help="change nothing; exit 1 if a committed file differs")
    generate.set_defaults(handler=cmd_generate)
    gates_cli.register(sub)  # gates: gate, watch, history
    review_cli.register(sub)  # gitops: review, changed, commit-rollback
    return parser


@contextmanager
def _collector_paused(paused: bool) -> Iterator[None]:
    """A one-shot command builds many objects and frees them at exit: collection passes over them
    are a third of reading a large stack file. `watch` runs for hours and keeps collecting."""
    was_enabled = gc.isenabled()
    if paused:
        gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        with _collector_paused(getattr(args, "one_shot", False)):
            return args.handler(args)
    except RolloutError as exc:
        print(f"rollout: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("rollout: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug: say so plainly, show the traceback only on request
        if os.environ.get("ROLLOUT_DEBUG"):
            raise
        print(f"rollout: internal error: {type(exc).__name__}: {exc} (set ROLLOUT_DEBUG=1 for details)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
