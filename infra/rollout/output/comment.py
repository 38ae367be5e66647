"""The pull-request comment: every changed stack's plan, trimmed to fit GitHub so the summaries survive.

GitHub refuses a comment body over 65,536 characters. The body is kept under a budget counted in
UTF-8 bytes (never fewer than characters, however GitHub counts them). When the whole comment does
not fit, diffs are cut first (each stack keeps the same number of diff lines), then the lists of
changed resources; the summaries (weights, restarts, scale order, refusals) are the last to go.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rollout.errors import UsageError

if TYPE_CHECKING:  # the CLI registers `review` on every command: the plan machinery loads only for it
    from rollout.output.plan import Plan

MARKER = "<!-- rollout-review -->"  # how the workflow finds its own comment to edit it
GITHUB_LIMIT = 65_536
DEFAULT_BUDGET = 65_000  # bytes; leaves room under GitHub's limit


@dataclass(frozen=True)
class StackReview:
    """One changed stack file, in the parts the trimming keeps or drops."""

    stack: str
    summary: list[str]
    changes: list[str] = field(default_factory=list)
    diffs: list[list[str]] = field(default_factory=list)  # one per changed resource
    notes: list[str] = field(default_factory=list)
    problem: str | None = None  # a move the stack does not allow; fails the check
    full_plan: str = ""  # the command that prints the untrimmed plan


def stack_review(plan: Plan, full_plan: str, notes: list[str] | None = None, problem: str | None = None) -> StackReview:
    from rollout.output.plan import change_diff, change_list, plan_summary

    return StackReview(
        stack=plan.stack, summary=plan_summary(plan), changes=change_list(plan),
        diffs=[change_diff(c) for c in plan.changes], notes=list(notes or []), problem=problem, full_plan=full_plan,
    )


def size(text: str) -> int:
    return len(text.encode("utf-8"))


def comment_body(reviews: list[StackReview], budget: int | None = DEFAULT_BUDGET) -> str:
    """The whole comment, at most `budget` bytes (None: never trimmed); what was trimmed is said in it."""
    if budget is not None and not 0 < budget <= GITHUB_LIMIT:
        raise UsageError(f"a comment budget of {budget} bytes must be between 1 and GitHub's limit of {GITHUB_LIMIT}")
    longest = max((sum(len(d) for d in r.diffs) for r in reviews), default=0)
    full = _render(reviews, diff_lines=longest, with_lists=True)
    if budget is None or size(full) <= budget:
        return full
    # The largest equal share of diff lines per stack that fits.
    low, high, best = 0, longest - 1, None
    while low <= high:
        middle = (low + high) // 2
        if size(_render(reviews, diff_lines=middle, with_lists=True)) <= budget:
            best, low = middle, middle + 1
        else:
            high = middle - 1
    if best is not None:
        return _render(reviews, diff_lines=best, with_lists=True)
    bare = _render(reviews, diff_lines=0, with_lists=False)
    if size(bare) <= budget:
        return bare
    return _cut(bare, budget)


def _render(reviews: list[StackReview], diff_lines: int, with_lists: bool) -> str:
    out = [MARKER, "## rollout review", ""]
    refused = [r for r in reviews if r.problem]
    for review in refused:
        out.append(f"**Refused: {review.stack}**: {review.problem}")
    if refused:
        out.append("")
    if not reviews:
        out.append("No stack file changed.")
    else:
        out.append("Stacks changed: " + ", ".join(r.stack for r in reviews))
    for review in reviews:
        out += [""] + review.summary
        out += [f"> {note}" for note in review.notes]
        out += _details(review, diff_lines, with_lists)
    return "\n".join(out) + "\n"


def _details(review: StackReview, diff_lines: int, with_lists: bool) -> list[str]:
    if not review.diffs:
        return []
    out: list[str] = []
    if with_lists:
        out += review.changes
    shown: list[str] = []
    whole, cut = 0, 0
    left = diff_lines
    for diff in review.diffs:
        if left <= 0:
            break
        shown += diff[:left]
        whole, cut = (whole + 1, cut) if len(diff) <= left else (whole, cut + 1)
        left -= len(diff)
    if shown:
        out += ["", "```diff"] + shown + ["```"]
    total_lines = sum(len(d) for d in review.diffs)
    if len(shown) < total_lines:
        trimmed = [f"{len(review.diffs) - whole - cut} of {len(review.diffs)} diffs left out"]
        if cut:
            trimmed.append(f"{cut} cut short")
        if not with_lists:
            trimmed.append(f"the list of {len(review.changes)} changed resources left out")
        out += ["", f"_Trimmed to fit GitHub's comment limit: {', '.join(trimmed)} "
                    f"({len(shown)} of {total_lines} diff lines shown). Full plan: `{review.full_plan}`._"]
    return out


def _cut(text: str, budget: int) -> str:
    """Last resort, for more stacks than a comment can summarize: the head of the summaries."""
    note = "\n\n_Cut to fit GitHub's comment limit: run `rollout review` locally for every stack._\n"
    room = budget - size(note)
    head = text.encode("utf-8")[:room].decode("utf-8", errors="ignore")
    return head[: head.rfind("\n") + 1] + note
