"""The `rollout` command's contracts: JSON shapes, files written, exit statuses."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import REPO
from rollout.output.render import read_documents


def test_status_json_has_the_documented_shape(project: Path, rollout):
    result = rollout("-C", project, "status", "prod", "--json")
    assert result.code == 0
    data = json.loads(result.out)
    assert data == {
        "stack": "prod", "stage": "off", "ladder": ["off", "canary-5", "canary-25", "canary-50", "full"],
        "previous": None, "next": "canary-5",
        "weights": {"backend": {"requested": 0, "effective": 0}, "frontend": {"requested": 0, "effective": 0}},
    }


def test_status_marks_the_current_stage_in_the_ladder(project: Path, rollout):
    rollout("-C", project, "promote", "prod")
    result = rollout("-C", project, "status", "prod")
    assert "off -> [canary-5] -> canary-25" in result.out
    assert "previous  off" in result.out and "next      canary-25" in result.out


def test_plan_json_lists_changes_restarts_and_weights(project: Path, rollout):
    result = rollout("-C", project, "plan", "prod", "--to", "canary-25", "--json")
    assert result.code == 0
    data = json.loads(result.out)
    assert (data["stack"], data["from"], data["to"], data["pods_restarted"]) == ("prod", "off", "canary-25", 0)
    assert {"kind": "Deployment", "name": "backend-on", "action": "update"} in data["changes"]
    assert all(c["action"] in ("create", "update", "replace", "delete") for c in data["changes"])
    assert data["weights"]["frontend"] == {"requested": 25, "effective": 25}


def test_plan_text_is_a_reviewable_diff(project: Path, rollout):
    result = rollout("-C", project, "plan", "prod")
    assert result.code == 0
    assert "`off` -> `canary-5`" in result.out
    assert "-  replicas: 20\n+  replicas: 19" in result.out
    assert "Pods restarted: 0" in result.out


def test_plan_at_the_last_stage_without_a_target_says_what_to_do(project: Path, rollout):
    rollout("-C", project, "promote", "staging")
    result = rollout("-C", project, "plan", "staging")
    assert result.code == 2 and "last stage" in result.err and "--to" in result.err


def test_render_writes_one_file_per_resource_and_is_byte_identical_on_rerun(project: Path, rollout, tmp_path: Path):
    out = tmp_path / "rendered"
    assert rollout("-C", project, "render", "prod", "--stage", "canary-25", "--out", out).code == 0
    first = {p.name: p.read_bytes() for p in out.iterdir()}
    assert "deployment--backend-on.yaml" in first and "namespace--chat-prod.yaml" in first
    (out / "deployment--stale.yaml").write_text("kind: Stale\n")
    assert rollout("-C", project, "render", "prod", "--stage", "canary-25", "--out", out).code == 0
    assert {p.name: p.read_bytes() for p in out.iterdir()} == first
    on = next(d for d in read_documents(out) if d["kind"] == "Deployment" and d["metadata"]["name"] == "backend-on")
    assert on["spec"]["replicas"] == 5


def test_a_rerender_rewrites_only_the_files_that_differ(project: Path, rollout, tmp_path: Path):
    out = tmp_path / "rendered"
    assert rollout("-C", project, "render", "prod", "--out", out).code == 0
    kept, edited = out / "namespace--chat-prod.yaml", out / "deployment--backend-on.yaml"
    os.utime(kept, (1_000_000_000, 1_000_000_000))
    original = edited.read_bytes()
    edited.write_bytes(original.replace(b"replicas:", b"replicas: 99\n  x:"))
    assert rollout("-C", project, "render", "prod", "--out", out).code == 0
    assert kept.stat().st_mtime == 1_000_000_000  # untouched: tools watching the folder see no change
    assert edited.read_bytes() == original


def test_promote_and_rollback_walk_the_ladder(project: Path, rollout):
    assert rollout("-C", project, "promote", "prod").code == 0
    result = rollout("-C", project, "promote", "prod", "--to", "canary-50")
    assert result.code == 2 and "skips canary-25" in result.err and "--force" in result.err
    result = rollout("-C", project, "promote", "prod", "--to", "canary-50", "--force")
    assert result.code == 0 and "canary-5 -> canary-50" in result.out
    assert rollout("-C", project, "rollback", "prod").code == 0
    assert json.loads(rollout("-C", project, "status", "prod", "--json").out)["stage"] == "canary-25"
    result = rollout("-C", project, "rollback", "prod", "--kill-switch")
    assert result.code == 0 and "canary-25 -> off" in result.out
    result = rollout("-C", project, "rollback", "prod", "--kill-switch")
    assert result.code == 2 and "already at the kill switch" in result.err


def test_promote_backwards_points_to_rollback(project: Path, rollout):
    rollout("-C", project, "promote", "prod")
    result = rollout("-C", project, "promote", "prod", "--to", "off")
    assert result.code == 2 and "rollout rollback prod --to off" in result.err


def test_dry_run_prints_the_plan_and_changes_nothing(project: Path, rollout):
    before = (project / "Pulumi.prod.yaml").read_bytes()
    result = rollout("-C", project, "promote", "prod", "--dry-run")
    assert result.code == 0 and "dry run" in result.out and "replicas: 19" in result.out
    assert (project / "Pulumi.prod.yaml").read_bytes() == before


def test_usage_mistakes_exit_2_with_one_line(project: Path, rollout):
    for args in (["frobnicate"], ["status"], ["render", "prod"], ["status", "qa"], ["plan", "prod", "--to", "canary-6"]):
        result = rollout("-C", project, *args)
        assert result.code == 2, args
        assert result.err.count("\n") == 1 and result.err.startswith("rollout: error:"), result.err


def test_no_pulumi_project_is_a_usage_error(tmp_path: Path, rollout, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = rollout("status", "prod")
    assert result.code == 2 and "no Pulumi.yaml" in result.err


def test_the_installed_command_runs_without_importing_pulumi():
    code = (
        "import sys; from rollout.cli.main import main; rc = main(['-C', sys.argv[1], 'plan', 'prod', '--json']);"
        "assert 'pulumi' not in sys.modules, 'the CLI imported pulumi'; sys.exit(rc)"
    )
    result = subprocess.run([sys.executable, "-c", code, str(REPO)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["to"] == "canary-5"
