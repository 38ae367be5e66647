"""Fast commands: a plan compares only what a stage can change, and each command loads only what it uses."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rollout.build.resources import build_manifests
from rollout.output.plan import build_plan, diff_manifests
from rollout.spec.stack import load_stack, parse_stack
from rollout.spec.yaml12 import load_yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from bench.generate_stack import generate_stack  # noqa: E402


def _changes(changes) -> list[tuple[str, str, str]]:
    return [(c.kind, c.name, c.action) for c in changes]


def _stacks():
    for path in sorted(REPO.glob("Pulumi.*.yaml")):
        yield path.name, load_stack(path)
    text = generate_stack(services=6, flags=2, strategy="percentage")
    yield "generated percentage", parse_stack(load_yaml(text), "bench", "Pulumi.bench.yaml")


@pytest.mark.parametrize("name,settings", list(_stacks()), ids=lambda v: v if isinstance(v, str) else "")
def test_a_plan_between_any_two_stages_lists_every_resource_that_changes(name, settings):
    """The plan builds workloads only; diffing every resource, monitoring included, finds the same changes."""
    for source in settings.stage_names:
        everything_before = build_manifests(settings, source)
        for target in settings.stage_names:
            plan = build_plan(settings, target, source)
            expected = diff_manifests(everything_before, build_manifests(settings, target))
            assert _changes(plan.changes) == _changes(expected), f"{name}: {source} -> {target}"
            assert [(c.before, c.after) for c in plan.changes] == [(c.before, c.after) for c in expected]


def test_a_broken_monitoring_section_still_fails_the_plan(project: Path, rollout):
    """The plan builds no monitoring resource but still checks the section, as when it built them."""
    path = project / "Pulumi.prod.yaml"
    text = path.read_text(encoding="utf-8")
    assert "        for: 30m\n" in text
    path.write_text(text.replace("        for: 30m\n", "        for: soon\n", 1), encoding="utf-8")
    result = rollout("-C", project, "plan", "prod")
    assert result.code == 2 and "rollout:monitoring.alerts.ActiveSessionsHigh.for" in result.err, result.err


def _loaded_by(*args: str) -> set[str]:
    """Top-level modules and rollout modules a fresh `rollout ARGS` process has imported when it ends."""
    code = (
        "import sys, io, contextlib; from rollout.cli.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()): rc = main(sys.argv[1:])\n"
        "print(rc, ' '.join(sorted(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code, "-C", str(REPO), *args], capture_output=True, text=True,
                          timeout=60, check=True)
    rc, modules = done.stdout.split(" ", 1)
    assert rc == "0", done.stderr
    return set(modules.split())


NEVER = ("pulumi", "pulumi_kubernetes", "boto3", "botocore", "urllib.request", "concurrent.futures", "http.client")


@pytest.mark.parametrize("args,also_never", [
    (("status", "prod"), ("grafana_foundation_sdk", "rollout.build", "rollout.output.plan", "rollout.output.render", "rollout.output.yaml_out", "rollout.core.stackfile")),
    (("status", "prod", "--json"), ("grafana_foundation_sdk", "rollout.build", "rollout.output.plan", "rollout.output.render", "rollout.output.yaml_out")),
    (("plan", "prod"), ("grafana_foundation_sdk", "rollout.build.monitoring", "rollout.core.stackfile")),
    (("plan", "prod", "--json"), ("grafana_foundation_sdk", "rollout.build.monitoring", "rollout.core.stackfile")),
])
def test_each_command_imports_only_what_it_uses(args, also_never):
    loaded = _loaded_by(*args)
    unwanted = sorted(m for m in loaded if m in (*NEVER, *also_never) or m.startswith(tuple(f"{n}." for n in also_never)))
    assert unwanted == [], f"`rollout {' '.join(args)}` imports {', '.join(unwanted)}"


def test_render_still_writes_dashboards_with_the_grafana_sdk(tmp_path: Path):
    loaded = _loaded_by("render", "prod", "--out", str(tmp_path / "out"))
    assert "grafana_foundation_sdk" in loaded
    assert any(p.name.startswith("config-map--dashboard-") for p in (tmp_path / "out").iterdir())
    assert not {"pulumi", "boto3"} & loaded
