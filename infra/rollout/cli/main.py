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
from rollout.errors import RolloutError, UsageError
from rollout.cli.project import open_stack, project_dir_option
from rollout.core.ladder import next_stage, previous_stage, resolve

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
    print("weights   service      requested  effective  replicas")
    for service, replicas in data["replicas"].items():
        weight = data["weights"].get(service)
        shown = " ".join(f"{t}={n}" for t, n in replicas.items())
        if weight is None:
            print(f"          {service:<12} {'-':>9}  {'-':>9}  {shown}")
        else:
            print(f"          {service:<12} {weight['requested']:>8}%  {weight['effective']:>8}%  {shown}")
    return 0


# -- render ------------------------------------------------------------------

def cmd_render(args: argparse.Namespace) -> int:
    from rollout.build.resources import build_manifests
    from rollout.output.render import render_documents, write_documents

    _, settings = open_stack(args.stack, project_dir_option(args))
    stage = settings.stage_named(args.stage).name if args.stage else settings.stage
    documents = render_documents(build_manifests(settings, stage))
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file; give a folder")
    write_documents(documents, out)
    print(f"rendered {len(documents)} resources of {settings.stack} at stage {stage} to {out}")
    return 0


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
    from rollout.core import transitions
    from rollout.output.plan import plan_text

    path, settings = open_stack(args.stack, project_dir_option(args))
    if action == transitions.PROMOTE:
        target = transitions.promotion_target(settings, args.to, args.force)
    else:
        target = transitions.rollback_target(settings, args.to, args.kill_switch)
    transition = transitions.prepare(settings, action, target)
    gates_cli.guard_stage_change(args, path, settings, transition)  # gates: --gate must be GREEN; ledger record before any edit
    plan = transition.plan
    if args.dry_run:
        sys.stdout.write(plan_text(plan))
        print(f"(dry run: {path.name} not changed)")
        return 0
    transitions.apply(path, transition)
    verb = "promoted" if action == transitions.PROMOTE else "rolled back"
    print(f"{verb} {settings.stack}: {transition.from_stage} -> {transition.to_stage} ({path.name} updated)")
    for service, weight in plan.target.weights().items():
        print(f"  {service}: {weight['requested']}% requested, {weight['effective']}% effective")
    print(f"  {len(plan.changes)} resource changes, {plan.pods_restarted} pods restarted")
    print(f"next: commit {path.name}, open a pull request with `rollout plan {settings.stack} "
          f"--from {transition.from_stage} --to {transition.to_stage}`, then `pulumi up --stack {settings.stack}`")
    return 0


def cmd_promote(args: argparse.Namespace) -> int:
    from rollout.core.transitions import PROMOTE

    return _change_stage(args, PROMOTE)


def cmd_rollback(args: argparse.Namespace) -> int:
    from rollout.core.transitions import ROLLBACK

    return _change_stage(args, ROLLBACK)


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
    gates_cli.register(sub)  # gates: gate, watch, history
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
