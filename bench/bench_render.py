"""`rollout render` and `rollout plan` side by side with Helm's Go renderer and `kubectl kustomize`.

    .venv/bin/python bench/bench_render.py [--runs 5] [--sizes 10,50,200,500,1000] [--kustomize-runs 1]

Every tool produces the same resources: the documents `rollout render` writes for the shipped stacks
and for generated stacks (bench/generate_stack.py, 10 flags per service, at canary-25). Each run is a
fresh process, as a person or CI runs these commands; runs are interleaved so that load on the
machine falls on every tool alike, and the tables show medians. Needs helm-python-sdk and kubectl:
`bash scripts/setup.sh --bench`.

Targets (exit 1 if one is missed): render and plan of 500 services within 2x of Helm in the same
run; render and plan of 1,000 services under 2 s; `plan prod` and `status prod` under 0.1 s.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "infra"))

import yaml  # noqa: E402

from bench.generate_stack import generate_stack  # noqa: E402
from rollout.build.resources import build_manifests  # noqa: E402
from rollout.output.render import render_documents  # noqa: E402
from rollout.spec.stack import load_stack  # noqa: E402
from rollout.spec.yaml12 import Yaml12Loader  # noqa: E402

PY = sys.executable
ROLLOUT = [PY, "-m", "rollout.cli.main"]
SIZES = (10, 50, 200, 500, 1000)
# Every child writes and reuses bytecode as an installed command does (some shells disable it).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


@dataclass(frozen=True)
class Sample:
    wall: float  # seconds
    cpu: float  # user + system seconds of the process
    rss_mb: float  # peak resident memory


# Peak RSS is read with os.wait4, but Linux carries a process's high-water mark over exec from the
# memory it was forked from; this small launcher (started before this script grows) forks every
# measured command, so none inherits this script's own size.
LAUNCHER = r"""
import json, os, subprocess, sys, tempfile, threading, time
for line in sys.stdin:
    cmd, out_file, timeout = json.loads(line)
    stdout = open(out_file, "w") if out_file else subprocess.DEVNULL
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=stdout, stderr=err)
        killer = threading.Timer(timeout, proc.kill)
        killer.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        killer.cancel()
        if out_file:
            stdout.close()
        err.seek(0)
        print(json.dumps([wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, os.waitstatus_to_exitcode(status),
                          err.read().decode(errors="replace")[-2000:]]), flush=True)
"""


class Launcher:
    def __init__(self) -> None:
        self.proc = subprocess.Popen([PY, "-c", LAUNCHER], env=ENV, cwd=REPO, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)

    def run(self, cmd: list[str], out_file: Path | None = None, timeout: float = 900) -> Sample:
        """One fresh process; its wall time, CPU time and peak RSS."""
        self.proc.stdin.write(json.dumps([[str(c) for c in cmd], str(out_file) if out_file else None, timeout]) + "\n")
        self.proc.stdin.flush()
        wall, cpu, rss_kb, code, err = json.loads(self.proc.stdout.readline())
        if code != 0:
            raise RuntimeError(f"{' '.join(map(str, cmd))} exited {code}: {err}")
        return Sample(wall, cpu, rss_kb / 1024)

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait()


# -- the same resources for Helm and kustomize ---------------------------------------------------

# What Helm is given. Helm cannot compute these resources from a stack file, so it gets them
# finished: the values hold every manifest and the chart's one template ranges over them and writes
# each with `toYaml`. That is the part of `rollout render` Helm can do at all, turning resources
# into YAML text (Helm: values -> Go maps -> toYaml -> text; rollout: stack file -> checked settings
# -> manifests -> YAML), so Helm skips reading, checking and building and the comparison favours it.
# The values are JSON, read by Python's C parser and handed to the SDK: the cheapest way in.
# "helm text" is Helm's floor: the values hold the rendered YAML text and the template only joins
# it, so it measures Helm's start-up, values parsing and output with no templating work at all.
CHART = {"Chart.yaml": "apiVersion: v2\nname: bench\nversion: 0.1.0\n",
         "templates/resources.yaml": "{{- range .Values.resources }}\n---\n{{ toYaml . }}\n{{- end }}\n"}
TEXT_CHART = {"Chart.yaml": CHART["Chart.yaml"],
              "templates/resources.yaml": "{{- range .Values.documents }}\n---\n{{ . }}\n{{- end }}\n"}


def write_files(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def prepare_tools(documents: dict[str, str], work: Path) -> dict[str, Path]:
    """The Helm charts, their values and a kustomization, all from the rendered documents."""
    manifests = [yaml.load(text, Loader=yaml.CSafeLoader) for text in documents.values()]
    (work / "values.json").write_text(json.dumps({"resources": manifests}), encoding="utf-8")
    (work / "text-values.json").write_text(json.dumps({"documents": list(documents.values())}), encoding="utf-8")
    (work / "documents.json").write_text(json.dumps(documents), encoding="utf-8")
    # kustomize accepts Kubernetes objects only: a stack's Google Cloud documents (gcp-*) are left out for it.
    cluster = {name: text for name, text in documents.items() if not name.startswith("gcp-")}
    kustomize = write_files(work / "kustomize", {f"resources/{name}": text for name, text in cluster.items()})
    (kustomize / "kustomization.yaml").write_text(
        "resources:\n" + "".join(f"- resources/{name}\n" for name in cluster), encoding="utf-8")
    return {"chart": write_files(work / "chart", CHART), "text_chart": write_files(work / "text-chart", TEXT_CHART),
            "values": work / "values.json", "text_values": work / "text-values.json", "kustomize": kustomize,
            "documents": work / "documents.json"}


class _GoYamlLoader(Yaml12Loader):
    """Reads what Helm's Go YAML library writes: `=` and dates stay text there (YAML 1.2)."""


_GoYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if not tag.endswith((":value", ":merge", ":timestamp"))]
    for first, resolvers in Yaml12Loader.yaml_implicit_resolvers.items()
}


def check_same_resources(launcher: Launcher, documents: dict[str, str], work: Path, tools: dict[str, Path]) -> None:
    """Helm's output holds the resources rollout rendered (compared as data)."""
    ours = sorted(json.dumps(yaml.load(t, Loader=yaml.CSafeLoader), sort_keys=True) for t in documents.values())
    launcher.run([PY, str(BENCH / "helm_render.py"), str(tools["chart"]), str(tools["values"]), str(work / "check-helm")])
    helm_text = (work / "check-helm" / "bench" / "templates" / "resources.yaml").read_text(encoding="utf-8")
    theirs = sorted(json.dumps(d, sort_keys=True) for d in yaml.load_all(helm_text, Loader=_GoYamlLoader) if d)
    if theirs != ours:
        raise RuntimeError(f"Helm's chart in {work} does not render the same resources")


# The file system's share: a process that only writes the rendered documents, one file each, into a
# new folder, as `rollout render --out` does. Creating thousands of files is most of that on some disks.
WRITE_FILES = """
import json, os, sys
documents, folder = json.load(open(sys.argv[1])), sys.argv[2]
os.makedirs(folder)
for name, text in documents.items():
    fd = os.open(os.path.join(folder, name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    os.write(fd, text.encode())
    os.close(fd)
"""


# -- measurements -------------------------------------------------------------------------------

@dataclass
class Stack:
    name: str
    services: int | None  # None for a shipped stack
    resources: int
    work: Path
    tools: dict[str, Path]


def commands(project: Path, stack: Stack, run: int, with_kustomize: bool) -> dict[str, tuple[list[str], Path | None]]:
    out = stack.work / f"out-{run}"
    cmds = {
        "render": ([*ROLLOUT, "-C", str(project), "render", stack.name, "--out", str(out / "rollout")], None),
        # the same again over its own output: every file already holds its document, so none is written
        "again": ([*ROLLOUT, "-C", str(project), "render", stack.name, "--out", str(out / "rollout")], None),
        "plan": ([*ROLLOUT, "-C", str(project), "plan", stack.name], None),
        "helm": ([PY, str(BENCH / "helm_render.py"), str(stack.tools["chart"]), str(stack.tools["values"]),
                  str(out / "helm")], None),
        "helm text": ([PY, str(BENCH / "helm_render.py"), str(stack.tools["text_chart"]),
                       str(stack.tools["text_values"]), str(out / "helm-text")], None),
        "files": ([PY, "-c", WRITE_FILES, str(stack.tools["documents"]), str(out / "files")], None),
    }
    if with_kustomize:
        cmds["kustomize"] = (["kubectl", "kustomize", str(stack.tools["kustomize"])], out / "kustomize.yaml")
    return cmds


def measure(launcher: Launcher, project: Path, stacks: list[Stack], runs: int,
            kustomize_runs: int) -> dict[str, dict[str, list[Sample]]]:
    """stack -> tool -> samples; every run goes once through every stack and tool, in turn."""
    results: dict[str, dict[str, list[Sample]]] = {s.name: {} for s in stacks}
    for run in range(-1, runs):  # run -1 warms caches (bytecode, files) and is not counted
        for stack in stacks:
            with_kustomize = kubectl_available() and 0 <= run < kustomize_runs
            for tool, (cmd, out_file) in commands(project, stack, run, with_kustomize).items():
                if out_file:
                    out_file.parent.mkdir(parents=True, exist_ok=True)
                sample = launcher.run(cmd, out_file)
                if run >= 0:
                    results[stack.name].setdefault(tool, []).append(sample)
            shutil.rmtree(stack.work / f"out-{run}", ignore_errors=True)
        print(f"  run {run + 1}/{runs} done" if run >= 0 else "  warm-up done", flush=True)
    return results


def kubectl_available() -> bool:
    return shutil.which("kubectl") is not None


def median(samples: list[Sample], field: str = "wall") -> float:
    return statistics.median(getattr(s, field) for s in samples)


def cells(res: dict[str, list[Sample]], tools: list[str], field: str = "wall", digits: int = 3) -> str:
    """One table row's medians, `-` for a tool that did not run on that stack."""
    return " ".join(f"{median(res[t], field):>10.{digits}f}" if t in res else f"{'-':>10}" for t in tools)


def slope(points: list[tuple[int, float]]) -> float:
    """Least-squares cost per service."""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - mx) * (y - my) for x, y in points) / sum((x - mx) ** 2 for x in xs)


def import_times(project: Path, runs: int) -> dict[str, float]:
    """Milliseconds of imports per command (sum of top-level entries of -X importtime), median of runs."""
    tmp = project / "imports-out"
    cases = {
        "status": ["status", "prod"], "plan": ["plan", "prod"], "render": ["render", "prod", "--out", str(tmp)],
        "promote --dry-run": ["promote", "prod", "--dry-run"],
        "gate": ["gate", "prod", "--prometheus", "http://127.0.0.1:9", "--timeout", "0.2"],
        "history": ["history", "prod"],
    }
    out = {}
    for label, args in cases.items():
        totals = []
        for _ in range(runs):
            err = subprocess.run([PY, "-X", "importtime", *ROLLOUT[1:], "-C", str(project), *args], env=ENV,
                                 capture_output=True, text=True, cwd=REPO).stderr
            total = 0
            for line in err.splitlines():
                if line.startswith("import time:") and "|" in line and "self [us]" not in line:
                    name = line.rsplit("|", 1)[1]
                    if len(name) - len(name.lstrip()) == 1:  # top level: its cumulative time holds the rest
                        total += int(line.split("|")[1])
            totals.append(total / 1000)
        out[label] = statistics.median(totals)
    return out


def quick_commands(launcher: Launcher, project: Path, runs: int) -> dict[str, list[Sample]]:
    cases = {"plan prod": [*ROLLOUT, "-C", str(project), "plan", "prod"],
             "status prod": [*ROLLOUT, "-C", str(project), "status", "prod"],
             "python -c pass": [PY, "-c", "pass"]}
    samples: dict[str, list[Sample]] = {k: [] for k in cases}
    for run in range(-1, runs):
        for label, cmd in cases.items():
            sample = launcher.run(cmd)
            if run >= 0:
                samples[label].append(sample)
    return samples


# -- report -------------------------------------------------------------------------------------

def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, load average {load:.1f} at the end"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="generated stack sizes (services)")
    parser.add_argument("--kustomize-runs", type=int, default=1, help="kustomize is slow: runs counted for it")
    parser.add_argument("--quick-runs", type=int, default=21, help="runs of plan prod and status prod")
    args = parser.parse_args()
    try:
        import helm_python  # noqa: F401
    except ImportError:
        print("helm-python-sdk is missing: bash scripts/setup.sh --bench", file=sys.stderr)
        return 1
    if not kubectl_available():
        print("kubectl is missing (bash scripts/setup.sh --bench installs it): kustomize is left out", file=sys.stderr)
    sizes = [int(s) for s in args.sizes.split(",") if s]

    launcher = Launcher()
    with tempfile.TemporaryDirectory(prefix="bench-render-") as tmp:
        project = Path(tmp) / "project"
        project.mkdir()
        for path in [REPO / "Pulumi.yaml", *REPO.glob("Pulumi.*.yaml")]:
            shutil.copy(path, project / path.name)
        generated = {f"gen{size}": size for size in sizes}
        for name, size in generated.items():
            (project / f"Pulumi.{name}.yaml").write_text(generate_stack(size, 10, stage="canary-25"), encoding="utf-8")
        stacks = []
        for path in sorted(project.glob("Pulumi.*.yaml")):
            if path.name == "Pulumi.yaml":
                continue
            settings = load_stack(path)
            documents = render_documents(build_manifests(settings))
            work = Path(tmp) / settings.stack
            work.mkdir()
            tools = prepare_tools(documents, work)
            check_same_resources(launcher, documents, work, tools)
            stacks.append(Stack(settings.stack, generated.get(settings.stack), len(documents), work, tools))
        stacks.sort(key=lambda s: (s.services is not None, s.services or 0, s.name))
        print(f"measuring {len(stacks)} stacks x {args.runs} interleaved runs (kustomize: {args.kustomize_runs})",
              flush=True)
        results = measure(launcher, project, stacks, args.runs, args.kustomize_runs)
        quick = quick_commands(launcher, project, args.quick_runs)
        imports = import_times(project, 7)
    launcher.close()

    tools = ["render", "again", "files", "plan", "helm", "helm text", "kustomize"]
    print("\ncolumns: render = `rollout render STACK --out NEW_FOLDER`; again = the same over that output (nothing to"
          "\nwrite); files = only writing those documents, one file each (the file system's share of render); plan = `rollout plan STACK` (text with diffs); helm = Helm's Go"
          "\nrenderer writing every resource with toYaml; helm text = Helm joining pre-rendered text (its floor);"
          "\nkustomize = `kubectl kustomize` over the rendered files")
    print(f"\nmedian wall seconds of a fresh process ({args.runs} runs; kustomize {args.kustomize_runs}); "
          f"{machine()}")
    print(f"{'stack':<10} {'services':>8} {'resources':>9} " + " ".join(f"{t:>10}" for t in tools)
          + f" {'render/helm':>11} {'plan/helm':>9} {'render/text':>11}")
    for stack in stacks:
        res = results[stack.name]
        helm = median(res["helm"])
        print(f"{stack.name:<10} {stack.services or '':>8} {stack.resources:>9} " + cells(res, tools)
              + f" {median(res['render']) / helm:>11.2f} {median(res['plan']) / helm:>9.2f}"
              + f" {median(res['render']) / median(res['helm text']):>11.2f}")

    print("\nmedian CPU seconds (user + system) of the same runs: less sensitive to other load on the machine")
    print(f"{'stack':<10} " + " ".join(f"{t:>10}" for t in tools))
    for stack in stacks:
        print(f"{stack.name:<10} " + cells(results[stack.name], tools, "cpu"))

    generated = [s for s in stacks if s.services]
    print("\ncost per service (least squares over the generated stacks):")
    for tool in tools:
        points = [(s.services, median(results[s.name][tool])) for s in generated if tool in results[s.name]]
        if len(points) >= 2:
            print(f"  {tool:<10} {slope(points) * 1000:8.2f} ms/service")
    print("\npeak memory (MB RSS) per generated size:")
    print(f"  {'services':>8} " + " ".join(f"{t:>10}" for t in tools))
    for s in generated:
        print(f"  {s.services:>8} " + cells(results[s.name], tools, "rss_mb", digits=0))
    rss_points = [(s.services, median(results[s.name]["render"], "rss_mb")) for s in generated]
    if len(rss_points) >= 2:
        print(f"  render: {slope(rss_points) * 1000:.0f} kB per service")

    print(f"\nquick commands (median of {args.quick_runs} fresh processes):")
    for label, samples in quick.items():
        print(f"  {label:<16} wall {median(samples) * 1000:6.1f} ms  cpu {median(samples, 'cpu') * 1000:6.1f} ms")
    print("import time per command on prod (python -X importtime, median of 7):")
    for label, ms in imports.items():
        print(f"  {label:<18} {ms:6.1f} ms")

    by_size = {s.services: results[s.name] for s in generated}
    checks = []
    if 500 in by_size:
        for tool in ("render", "plan"):
            ratio = median(by_size[500][tool]) / median(by_size[500]["helm"])
            checks.append((f"{tool} of 500 services within 2x of Helm", ratio <= 2.0, f"{ratio:.2f}x"))
    if 1000 in by_size:
        for tool in ("render", "plan"):
            seconds = median(by_size[1000][tool])
            checks.append((f"{tool} of 1,000 services under 2 s", seconds < 2.0, f"{seconds:.2f} s"))
    for label in ("plan prod", "status prod"):
        seconds = median(quick[label])
        checks.append((f"{label} under 0.1 s", seconds < 0.1, f"{seconds * 1000:.0f} ms"))
    print("\ntargets:")
    for label, ok, shown in checks:
        print(f"  {label:<40} {shown:>9}  {'met' if ok else 'MISSED'}")
    return 0 if all(ok for _, ok, _ in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
