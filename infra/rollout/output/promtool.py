"""Run Prometheus's own `promtool` on rule groups and test documents, and read what it reports.

`promtool test rules` prints, for every failed check, the alerts it got with their labels and
annotations as Prometheus rendered them; `probe` uses that to learn when and how an alert fires.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from rollout.errors import RolloutError
from rollout.spec.duration import Duration

TIMEOUT = 300  # seconds for one promtool process; a stack's cases take a few


class PromtoolMissing(RolloutError):
    """promtool is not installed."""


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        raise PromtoolMissing("promtool is not on PATH: install Debian's `prometheus` package (apt-get install prometheus)")
    return path


@dataclass(frozen=True)
class FiredAlert:
    labels: dict[str, str]
    annotations: dict[str, str]


@dataclass(frozen=True)
class Failure:
    group: str  # test group name
    alert: str
    at: Duration
    got: tuple[FiredAlert, ...]


@dataclass(frozen=True)
class PromtoolResult:
    returncode: int
    output: str

    @property
    def failures(self) -> list[Failure]:
        return parse_failures(self.output)


_FAILURE = re.compile(r"name: (?P<group>.*?),\s*\n\s*alertname: (?P<alert>\S+), time: (?P<at>\S+), \n"
                      r"(?P<body>(?:(?!\n\s*name: ).)*)", re.S)
_PAIR = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')


def _pairs(text: str) -> dict[str, str]:
    return {k: json.loads(f'"{v}"') for k, v in _PAIR.findall(text)}


def parse_failures(output: str) -> list[Failure]:
    failures = []
    for match in _FAILURE.finditer(output):
        got_text = match.group("body").split("got:", 1)[-1]
        got = tuple(FiredAlert(_pairs(labels), _pairs(annotations))
                    for labels, annotations in re.findall(r"Labels:\{(.*?)\}\n\s*Annotations:\{(.*?)\}\n", got_text))
        failures.append(Failure(match.group("group"), match.group("alert"), Duration.parse(match.group("at")), got))
    return failures


def _dump(document: Any) -> str:
    return yaml.safe_dump(document, sort_keys=False, width=1000)


def check_rules(groups: list[dict[str, Any]]) -> PromtoolResult:
    """`promtool check rules` on rule groups, as one plain rules file."""
    with tempfile.TemporaryDirectory(prefix="rollout-promtool-") as tmp:
        path = Path(tmp) / "rules.yaml"
        path.write_text(_dump({"groups": groups}), encoding="utf-8")
        proc = subprocess.run([promtool(), "check", "rules", str(path)], capture_output=True, text=True,
                              timeout=TIMEOUT, cwd=tmp)
        return PromtoolResult(proc.returncode, proc.stdout + proc.stderr)


def test_rules(cases: list[tuple[dict[str, Any], list[dict[str, Any]]]], evaluation_interval: Duration) -> PromtoolResult:
    """`promtool test rules` on (rule group, test groups) pairs, each group against its own rules only
    (rules never read each other's alerts, and it is many times less work), spread over one process per CPU."""
    with tempfile.TemporaryDirectory(prefix="rollout-promtool-") as tmp:
        folder = Path(tmp)
        workers = max(1, os.cpu_count() or 1)
        shares: list[list[str]] = [[] for _ in range(workers)]
        for i, (group, tests) in enumerate(cases):
            rules = f"rules-{i}.yaml"
            (folder / rules).write_text(_dump({"groups": [group]}), encoding="utf-8")
            for worker in range(workers):  # deal each case's tests round-robin so every process gets a share
                dealt = tests[worker::workers]
                if dealt:
                    name = f"tests-{i}-{worker}.yaml"
                    document = {"rule_files": [rules], "evaluation_interval": str(evaluation_interval), "tests": dealt}
                    (folder / name).write_text(_dump(document), encoding="utf-8")
                    shares[worker].append(name)
        return _test_shares([share for share in shares if share], folder)


def _test_shares(shares: list[list[str]], cwd: Path) -> PromtoolResult:
    """One `promtool test rules` process per share of test files, at once; none outlives the call."""
    procs = [subprocess.Popen([promtool(), "test", "rules", *share], cwd=cwd, text=True, env=_fast_tmp_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for share in shares]
    outputs, code = [], 0
    try:
        for proc in procs:
            out, _ = proc.communicate(timeout=TIMEOUT)
            outputs.append(out)
            code = code or proc.returncode
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    return PromtoolResult(code, "\n".join(outputs))


def test_file(path: Path) -> PromtoolResult:
    """`promtool test rules` on a committed tests file, its groups split over one process per CPU
    (each share is a copy next to the original, so `rule_files` resolve the same way)."""
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    workers = max(1, min(os.cpu_count() or 1, len(document["tests"])))
    shares = []
    try:
        for worker in range(workers):
            share = path.with_name(f".{path.stem}.share-{worker}{path.suffix}")
            share.write_text(_dump({**document, "tests": document["tests"][worker::workers]}), encoding="utf-8")
            shares.append(share)
        return _test_shares([[share.name] for share in shares], path.parent)
    finally:
        for share in shares:
            share.unlink(missing_ok=True)


def _fast_tmp_env() -> dict[str, str]:
    """promtool builds a TSDB per test group in TMPDIR; on tmpfs the cases run about 3x faster."""
    env = dict(os.environ)
    if os.access("/dev/shm", os.W_OK):
        env["TMPDIR"] = "/dev/shm"
    return env
