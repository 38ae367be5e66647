"""Mutation testing: change one small thing in a module and check that some test notices.

A mutant is the module with one change a slip of the keyboard could make: a comparison relaxed
or negated (`<` made `<=` or `>=`, `==` made `!=`, `in` made `not in`), `+` made `-` and `*`
made `/`, `and` made `or`, a `not` dropped, a number off by one (0 and 1 swapped), `True` made
`False`, a string emptied, a return value made None, `max` made `min`, and a call, `raise`,
`continue` or `+=` deleted. The module's tests run against each mutant: it is KILLED when they
fail (or hang: TIMEOUT) and SURVIVES when they still pass, a line no test would notice going
wrong. INCOMPETENT mutants do not compile or could not be tested. The score of a module is
(killed + timeout) / (mutants - incompetent - judged equivalent); the survivors judged
equivalent (no test could tell them apart) are listed with the reason in bench/mutation_targets.py.

Not mutated: docstrings, annotations and decorators (declarations, not logic), and text meant for
people: f-string text, the messages of `raise` and `node.error(...)`, the hint of
`node.text(pattern, hint)`, the separator of `", ".join(...)`; lines marked `# pragma: no mutate`.

Usage (from the repository root; not part of CI: a full run takes about an hour on two cores):
    .venv/bin/python bench/mutation.py                  # every target in bench/mutation_targets.py
    .venv/bin/python bench/mutation.py stages verdicts  # some of them
    .venv/bin/python bench/mutation.py --module infra/rollout/core/ladder.py --tests tests/test_stages.py
Options:
    --jobs N         pytest runs at once (default: the CPU count)
    --sample N       test only N mutants per module, drawn with --seed S (default 0)
    --min P          exit 1 when any module scores below P percent
    --list           print the mutants and run nothing

Nothing is written into the source tree. The parent process compiles each mutant and stores
the code object in a temporary folder; bench/mutation_site/sitecustomize.py, put first on
PYTHONPATH (so subprocesses the tests start get it too), serves that code object when the
module is imported, under the module's real path. Each mutant runs `pytest -x -q -p
no:cacheprovider` on its tests in a fresh process, with its own --basetemp, a fixed
Hypothesis seed and its own Hypothesis database, so a run is repeatable and leaves nothing behind.
"""
from __future__ import annotations

import argparse
import ast
import copy
import marshal
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SOURCE_ROOT = REPO / "infra"  # module names are relative to it: infra/rollout/x.py is rollout.x
SITE = Path(__file__).resolve().parent / "mutation_site"
sys.path.insert(0, str(REPO))

KILLED, SURVIVED, TIMEOUT, INCOMPETENT = "killed", "survived", "timeout", "incompetent"
_RUNNING: set[subprocess.Popen] = set()  # pytest runs in progress, stopped if the runner is stopped

# -- which changes are made -----------------------------------------------------------------------

# Each comparison is relaxed or tightened at its boundary, and negated.
COMPARISONS: dict[type, tuple[type, ...]] = {
    ast.Lt: (ast.LtE, ast.GtE), ast.LtE: (ast.Lt, ast.Gt), ast.Gt: (ast.GtE, ast.LtE), ast.GtE: (ast.Gt, ast.Lt),
    ast.Eq: (ast.NotEq,), ast.NotEq: (ast.Eq,), ast.In: (ast.NotIn,), ast.NotIn: (ast.In,),
    ast.Is: (ast.IsNot,), ast.IsNot: (ast.Is,),
}
ARITHMETIC: dict[type, type] = {
    ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult,
    ast.FloorDiv: ast.Mult, ast.Mod: ast.FloorDiv, ast.Pow: ast.Mult,
}
SWAPPED_CALLS = {"max": "min", "min": "max"}
# Arguments that are messages for people, like the text of a raise: not emptied. Method name ->
# position of its first message argument: `node.error("...")`, the hint of `node.text(pattern, hint)`.
MESSAGE_ARGUMENTS = {"error": 0, "text": 1}
MESSAGE_KEYWORDS = {"hint"}


@dataclass(frozen=True)
class Mutant:
    module: Path  # relative to the repository
    index: int  # position in the module's deterministic enumeration
    line: int
    function: str  # enclosing function or class, "<module>" at the top level
    original: str
    mutated: str

    @property
    def key(self) -> str:
        """How bench/mutation_targets.py names an equivalent mutant: stable when lines move."""
        return f"{self.module.as_posix()}:{self.function}: {self.original} -> {self.mutated}"

    def __str__(self) -> str:
        return f"{self.module.as_posix()}:{self.line} ({self.function}): {self.original} -> {self.mutated}"


def _shown(node: ast.AST, limit: int = 90) -> str:
    text = " ".join(ast.unparse(node).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _Mutator(ast.NodeTransformer):
    """Walks a module in a fixed order and offers every mutation it knows, numbering them.

    With `apply=None` it only records the offers; with `apply=k` it returns the tree with the
    k-th offer made. One walk serves both, so numbering and applying can never disagree.
    """

    def __init__(self, apply: int | None = None, skip_lines: frozenset[int] = frozenset()):
        self.apply, self.skip_lines = apply, skip_lines
        self.offers: list[tuple[int, str, str, str]] = []  # line, function, original, mutated
        self.scope: list[str] = []
        self.parents: list[ast.AST] = []  # the nodes being visited, outermost first
        self.message_depth = 0  # inside a raise or a node.error(...) call: strings there are messages

    def _offer(self, node: ast.AST, replacement: ast.AST, shown_from: ast.AST | None = None,
               texts: tuple[str, str] | None = None) -> ast.AST:
        line = getattr(node, "lineno", 0)
        if line in self.skip_lines:
            return node
        index = len(self.offers)
        original, mutated = texts or (_shown(shown_from or node),
                                      _shown(replacement) if not isinstance(replacement, ast.Pass) else "pass")
        self.offers.append((line, ".".join(self.scope) or "<module>", original, mutated))
        if index == self.apply:
            return ast.copy_location(replacement, node)
        return node

    def _offer_many(self, node: ast.AST, replacements: list[ast.AST],
                    texts: list[tuple[str, str]] | None = None) -> ast.AST:
        result = node
        for i, replacement in enumerate(replacements):
            offered = self._offer(node, replacement, texts=texts[i] if texts else None)
            if offered is not node:
                result = offered
        return result

    # -- traversal: annotations, decorators (declarations, not logic) and docstrings are never mutated
    def generic_visit(self, node: ast.AST) -> ast.AST:
        self.parents.append(node)
        for field, value in ast.iter_fields(node):
            if field in ("annotation", "returns", "decorator_list"):
                continue
            if isinstance(value, list):
                new = []
                for item in value:
                    if isinstance(item, ast.AST):
                        item = self.visit(item)
                        if item is None:
                            continue
                    new.append(item)
                value[:] = new
            elif isinstance(value, ast.AST):
                setattr(node, field, self.visit(value))
        self.parents.pop()
        return node

    def _visit_scope(self, node: ast.AST) -> ast.AST:
        self.scope.append(node.name)  # type: ignore[attr-defined]
        body = node.body  # type: ignore[attr-defined]
        docstring = body[0] if body and _is_docstring(body[0]) else None
        if docstring is not None:
            body.remove(docstring)
        self.generic_visit(node)
        if docstring is not None:
            body.insert(0, docstring)
        self.scope.pop()
        return node

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _visit_scope

    def visit_Module(self, node: ast.Module) -> ast.AST:
        docstring = node.body[0] if node.body and _is_docstring(node.body[0]) else None
        if docstring is not None:
            node.body.remove(docstring)
        self.generic_visit(node)
        if docstring is not None:
            node.body.insert(0, docstring)
        return node

    def visit_JoinedStr(self, node: ast.JoinedStr) -> ast.AST:
        # The text of an f-string is a message; the expressions in it are still code.
        for value in node.values:
            if isinstance(value, ast.FormattedValue):
                value.value = self.visit(value.value)
        return node

    def visit_Raise(self, node: ast.Raise) -> ast.AST:
        self.message_depth += 1
        self.generic_visit(node)
        self.message_depth -= 1
        return self._offer(node, ast.Pass())

    # -- mutations ---------------------------------------------------------------------------
    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        self.generic_visit(node)
        replacements = []
        for i, op in enumerate(node.ops):
            for other in COMPARISONS.get(type(op), ()):
                mutated = copy.copy(node)
                mutated.ops = [*node.ops[:i], other(), *node.ops[i + 1:]]
                replacements.append(mutated)
        return self._offer_many(node, replacements)

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        if type(node.op) not in ARITHMETIC or _is_text(node.left) or _is_text(node.right):
            return node  # string concatenation and %-formatting are messages, not arithmetic
        return self._offer(node, ast.BinOp(node.left, ARITHMETIC[type(node.op)](), node.right))

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.AST:
        self.generic_visit(node)
        replacements: list[ast.AST] = [ast.Pass()]
        if type(node.op) in ARITHMETIC and not _is_text(node.value):
            replacements.insert(0, ast.AugAssign(node.target, ARITHMETIC[type(node.op)](), node.value))
        return self._offer_many(node, replacements)

    def visit_BoolOp(self, node: ast.BoolOp) -> ast.AST:
        self.generic_visit(node)
        return self._offer(node, ast.BoolOp(ast.Or() if isinstance(node.op, ast.And) else ast.And(), node.values))

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.op, ast.Not):
            return self._offer(node, node.operand, shown_from=node)
        return node

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        value = node.value
        if isinstance(value, bool):
            others: list = [not value]
        elif isinstance(value, (int, float)):
            others = [type(value)(v) for v in {0: [1], 1: [0, 2]}.get(value, [value + 1, value - 1])]
        elif isinstance(value, str) and value and not self.message_depth:
            others = [""]
        else:
            return node
        return self._offer_many(node, [ast.Constant(o) for o in others], [self._in_context(node, o) for o in others])

    def _in_context(self, node: ast.Constant, other) -> tuple[str, str]:
        """A constant shown with the expression around it (`x < 0 -> x < 1`), when that is short."""
        context = self.parents[-1] if self.parents else node
        original = _shown(context, limit=1000)
        if len(original) > 70:
            return _shown(node), _shown(ast.Constant(other))
        node.value, value = other, node.value
        mutated = _shown(context, limit=1000)
        node.value = value
        return original, mutated

    def visit_Return(self, node: ast.Return) -> ast.AST:
        self.generic_visit(node)
        if node.value is None or (isinstance(node.value, ast.Constant) and node.value.value is None):
            return node
        return self._offer(node, ast.Return(ast.Constant(None)))

    def visit_Call(self, node: ast.Call) -> ast.AST:
        method = node.func.attr if isinstance(node.func, ast.Attribute) else None
        first_message = MESSAGE_ARGUMENTS.get(method or "", len(node.args))
        self.parents.append(node)
        if not (isinstance(node.func, ast.Attribute) and _is_text(node.func.value)):
            node.func = self.visit(node.func)  # but in `", ".join(...)` the separator is a message
        for i, argument in enumerate(node.args):
            node.args[i] = self._visit_maybe_message(argument, i >= first_message)
        for i, keyword in enumerate(node.keywords):
            node.keywords[i] = self._visit_maybe_message(keyword, keyword.arg in MESSAGE_KEYWORDS or first_message == 0)
        self.parents.pop()
        if isinstance(node.func, ast.Name) and node.func.id in SWAPPED_CALLS:
            swapped = ast.Call(ast.Name(SWAPPED_CALLS[node.func.id], ast.Load()), node.args, node.keywords)
            return self._offer(node, swapped)
        return node

    def _visit_maybe_message(self, node: ast.AST, is_message: bool) -> ast.AST:
        self.message_depth += is_message
        node = self.visit(node)
        self.message_depth -= is_message
        return node

    def visit_Expr(self, node: ast.Expr) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.value, ast.Constant):
            return node  # a bare string or Ellipsis does nothing
        return self._offer(node, ast.Pass())

    def visit_Continue(self, node: ast.Continue) -> ast.AST:
        return self._offer(node, ast.Pass())

    visit_Break = visit_Continue


def _is_docstring(statement: ast.stmt) -> bool:
    return isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant) \
        and isinstance(statement.value.value, str)


def _is_text(node: ast.AST) -> bool:
    return isinstance(node, ast.JoinedStr) or (isinstance(node, ast.Constant) and isinstance(node.value, str))


def _skipped_lines(source: str) -> frozenset[int]:
    """Lines marked `# pragma: no mutate` (code that only exists for speed, e.g.)."""
    return frozenset(i for i, text in enumerate(source.splitlines(), 1) if "pragma: no mutate" in text)


def mutants_of(module: Path) -> list[Mutant]:
    source = (REPO / module).read_text()
    mutator = _Mutator(skip_lines=_skipped_lines(source))
    mutator.visit(ast.parse(source))
    mutants = [Mutant(module, i, line, function, original, mutated)
               for i, (line, function, original, mutated) in enumerate(mutator.offers)]
    return sorted(mutants, key=lambda m: (m.line, m.index))  # in reading order


def mutated_code(mutant: Mutant):
    """The code object of the module with this one mutation, compiled under the module's real path."""
    path = REPO / mutant.module
    source = path.read_text()
    mutator = _Mutator(apply=mutant.index, skip_lines=_skipped_lines(source))
    tree = ast.fix_missing_locations(mutator.visit(ast.parse(source)))
    return compile(tree, str(path), "exec", dont_inherit=True)


def module_name(module: Path) -> str:
    return ".".join((REPO / module).relative_to(SOURCE_ROOT).with_suffix("").parts)


# -- running the tests against a mutant -----------------------------------------------------------

@dataclass(frozen=True)
class Outcome:
    mutant: Mutant | None  # None for the unmutated baseline
    status: str
    seconds: float
    detail: str = ""


def run_tests(tests: list[str], workdir: Path, name: str, module: str | None = None, code=None,
              timeout: float | None = None) -> tuple[str, float, str]:
    """Run pytest on `tests` with `code` served as `module`; (status, seconds, tail of output)."""
    run_dir = workdir / name
    run_dir.mkdir()
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", HYPOTHESIS_STORAGE_DIRECTORY=str(run_dir / "hypothesis"),
               PYTHONPATH=os.pathsep.join(filter(None, [str(SITE), os.environ.get("PYTHONPATH")])))
    if module is not None:
        code_file = run_dir / "mutant.code"
        code_file.write_bytes(marshal.dumps(code))
        env.update(MUTATION_MODULE=module, MUTATION_CODE=str(code_file))
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "--hypothesis-seed=0",
               "--basetemp", str(run_dir / "tmp"), *tests]
    start = time.monotonic()
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, start_new_session=True)  # its own group: a timeout stops its children too
    _RUNNING.add(process)
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        process.communicate()
        return TIMEOUT, time.monotonic() - start, ""
    finally:
        _RUNNING.discard(process)
    seconds = time.monotonic() - start
    tail = "\n".join(output.strip().splitlines()[-15:])
    loaded = module is None or (run_dir / "mutant.code.loaded").exists()
    if process.returncode == 0:
        return (SURVIVED if loaded else INCOMPETENT), seconds, "" if loaded else "the tests never imported the module"
    # 1: tests failed; 2: collecting them failed; 3, 4: pytest or a conftest.py failed on the mutant.
    # The baseline passed with the same command, so the mutant is what the tests caught.
    if process.returncode in (1, 2, 3, 4):
        return KILLED, seconds, tail
    return INCOMPETENT, seconds, f"pytest exit {process.returncode}\n{tail}"


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def try_mutant(mutant: Mutant, tests: list[str], workdir: Path, timeout: float) -> Outcome:
    try:
        code = mutated_code(mutant)
    except (SyntaxError, ValueError, TypeError) as exc:
        return Outcome(mutant, INCOMPETENT, 0.0, f"does not compile: {exc}")
    status, seconds, detail = run_tests(tests, workdir, f"m{mutant.index}", module_name(mutant.module), code, timeout)
    return Outcome(mutant, status, seconds, detail)


# -- reporting ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Score:
    module: Path
    outcomes: list[Outcome]
    equivalent: dict[str, str]  # key -> why

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status and not self.is_equivalent(o))

    def is_equivalent(self, outcome: Outcome) -> bool:
        return outcome.status == SURVIVED and outcome.mutant.key in self.equivalent  # type: ignore[union-attr]

    @property
    def judged_equivalent(self) -> list[Outcome]:
        return [o for o in self.outcomes if self.is_equivalent(o)]

    @property
    def detected(self) -> int:
        return self.count(KILLED) + self.count(TIMEOUT)

    @property
    def scored(self) -> int:
        return self.detected + self.count(SURVIVED)

    @property
    def percent(self) -> float:
        return 100.0 * self.detected / self.scored if self.scored else 100.0

    def report(self) -> str:
        lines = [f"{self.module.as_posix()}: {self.percent:.1f}% killed ({self.detected}/{self.scored}); "
                 f"survived {self.count(SURVIVED)}, timeout {self.count(TIMEOUT)}, "
                 f"incompetent {self.count(INCOMPETENT)}, judged equivalent {len(self.judged_equivalent)}"]
        lines += [f"  survived   {o.mutant}" for o in self.outcomes if o.status == SURVIVED and not self.is_equivalent(o)]
        lines += [f"  equivalent {o.mutant}\n             ({self.equivalent[o.mutant.key]})"  # type: ignore[union-attr]
                  for o in self.judged_equivalent]
        lines += [f"  incompetent {o.mutant}: {o.detail.splitlines()[0] if o.detail else ''}"
                  for o in self.outcomes if o.status == INCOMPETENT]
        return "\n".join(lines)


def measure(module: Path, tests: list[str], jobs: int, sample: int | None, seed: int,
            equivalent: dict[str, str], timeout_factor: float) -> Score:
    mutants = mutants_of(module)
    if sample is not None and sample < len(mutants):
        chosen = set(random.Random(f"{seed}:{module.as_posix()}").sample(range(len(mutants)), sample))
        mutants = [m for i, m in enumerate(mutants) if i in chosen]
    with tempfile.TemporaryDirectory(prefix="mutation-", ignore_cleanup_errors=True) as tmp:
        workdir = Path(tmp)
        # The unmutated module, served through the same hook: the tests must pass and import it.
        code = compile((REPO / module).read_text(), str(REPO / module), "exec", dont_inherit=True)
        status, seconds, detail = run_tests(tests, workdir, "baseline", module_name(module), code)
        if status != SURVIVED:
            raise SystemExit(f"{module}: the tests do not pass on the unmutated module ({status}):\n{detail}")
        timeout = seconds * timeout_factor + 30
        print(f"{module.as_posix()}: {len(mutants)} mutants, tests take {seconds:.1f}s, "
              f"timeout {timeout:.0f}s, {jobs} at once", file=sys.stderr, flush=True)
        outcomes: list[Outcome] = []
        pool = ThreadPoolExecutor(max_workers=jobs)
        try:
            for done, outcome in enumerate(pool.map(lambda m: try_mutant(m, tests, workdir, timeout), mutants), 1):
                outcomes.append(outcome)
                if done % 25 == 0 or done == len(mutants):
                    print(f"  {done}/{len(mutants)}", file=sys.stderr, flush=True)
        finally:  # stopped (Ctrl-C, SIGTERM) or done: start nothing more, stop what runs
            pool.shutdown(wait=False, cancel_futures=True)
            for process in list(_RUNNING):
                _kill_group(process)
            pool.shutdown(wait=True)
    return Score(module, outcomes, equivalent)


def main(argv: list[str] | None = None) -> int:
    from bench.mutation_targets import EQUIVALENT, TARGETS

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("targets", nargs="*", help=f"named targets (default all): {', '.join(TARGETS)}")
    parser.add_argument("--module", type=Path, help="a module path instead of named targets")
    parser.add_argument("--tests", nargs="+", default=[], help="with --module: the test files or node ids")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--sample", type=int)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min", type=float, default=0.0, dest="minimum")
    parser.add_argument("--timeout-factor", type=float, default=5.0, help="per-mutant timeout: baseline x F + 30s")
    parser.add_argument("--list", action="store_true")
    args = parser.parse_args(argv)

    if args.module:
        if not args.tests:
            parser.error("--module needs --tests")
        plan = [(args.module, args.tests)]
    else:
        unknown = [t for t in args.targets if t not in TARGETS]
        if unknown:
            parser.error(f"unknown target {', '.join(unknown)}; targets: {', '.join(TARGETS)}")
        plan = [(Path(m), tests) for name in (args.targets or TARGETS) for m, tests in TARGETS[name]]
    if args.list:
        for module, _ in plan:
            for mutant in mutants_of(module):
                print(mutant)
        return 0

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind: temporary folders are removed
    start = time.monotonic()
    scores = []
    for module, tests in plan:
        scores.append(measure(module, tests, args.jobs, args.sample, args.seed, EQUIVALENT, args.timeout_factor))
        print(scores[-1].report(), flush=True)
    total = sum(s.detected for s in scores), sum(s.scored for s in scores)
    print(f"\nall: {100.0 * total[0] / max(total[1], 1):.1f}% killed ({total[0]}/{total[1]}) "
          f"in {time.monotonic() - start:.0f}s with {args.jobs} jobs")
    below = [s for s in scores if s.percent < args.minimum]
    if below:
        print(f"below {args.minimum:g}%: {', '.join(s.module.as_posix() for s in below)}")
    return 1 if below else 0


if __name__ == "__main__":
    sys.exit(main())
