"""A real Prometheus on 127.0.0.1 with synthetic series loaded by `promtool tsdb create-blocks-from openmetrics`.

Series follow the monitoring contract: every series has namespace, job, track and pod;
HTTP counters carry `code`, histograms `le`. A Cloud Run service's series are Cloud Monitoring's
as Managed Prometheus's PromQL names them: run_googleapis_com:request_count by response code
(and class), request_latencies in milliseconds, one `service_name` per track
(`<namespace>-<service>-<track>`, the default Cloud Run name). Scenarios share one TSDB and differ
by namespace.
"""
from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator

STEP = 15  # seconds between samples, a usual scrape interval
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
CLOUD_RUN_REQUESTS = "run_googleapis_com:request_count"
CLOUD_RUN_LATENCIES = "run_googleapis_com:request_latencies"
CLOUD_RUN = {"frontend": ("acme-chat-prod", "us-central1")}  # the shipped prod stack's Cloud Run services
START_TIMEOUT = 30.0  # seconds; Prometheus with a few blocks is ready in about one


@dataclass(frozen=True)
class Track:
    """What one track of one service does, per second, and its latency shape."""

    rps: float = 20.0
    error_pct: float = 0.5  # percent of requests answered 500
    latency_max: float = 0.2  # uniform latencies in [0, latency_max] seconds
    session_rps: float = 2.0
    session_error_pct: float = 0.1
    sse_rps: float = 3.0
    sse_error_pct: float = 0.2
    first_token_max: float = 0.1
    with_sse_errors: bool = True  # False: the app never exports sse_connection_errors (an absent metric)
    error_pct_recent: float | None = None  # error share in the last `recent_seconds` (a late spike)
    recent_seconds: float = 0.0


@dataclass(frozen=True)
class Scenario:
    namespace: str
    tracks: dict[str, dict[str, Track]] = field(default_factory=dict)  # service -> track -> Track


def uniform_cdf(limit: float, top: float) -> float:
    return 1.0 if limit >= top else max(0.0, limit / top)


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


def series_lines(s: Scenario, start: int, end: int, services_jobs: dict[str, bool],
                 cloud_run: dict[str, tuple[str, str]] | None = None) -> Iterator[str]:
    """OpenMetrics sample lines; `services_jobs` says which services carry backend-only signals,
    `cloud_run` which services run on Cloud Run (service -> project, region)."""
    times = range(start, end + 1, STEP)
    cloud_run = CLOUD_RUN if cloud_run is None else cloud_run
    for service, by_track in s.tracks.items():
        backend_like = services_jobs.get(service, False)
        for track, spec in by_track.items():
            if service in cloud_run:
                yield from _cloud_run_series(s.namespace, service, track, spec, cloud_run[service], times, start, end)
                continue
            base = dict(namespace=s.namespace, job=service, track=track, pod=f"{service}-{track}-0")
            yield from _http_requests(base, spec, times, start, end)
            yield from _histogram("http_request_duration_seconds", base, spec.rps, spec.latency_max, times, start)
            yield from _histogram("adk_first_token_latency_seconds", base, spec.rps / 2, spec.first_token_max, times, start)
            if backend_like:
                yield from _pair("session_creation_total", "session_creation_errors", base, spec.session_rps,
                                 spec.session_error_pct, times, start, True)
                yield from _pair("sse_connection_total", "sse_connection_errors", base, spec.sse_rps,
                                 spec.sse_error_pct, times, start, spec.with_sse_errors)


def _cloud_run_series(namespace: str, service: str, track: str, spec: Track, where: tuple[str, str], times: range,
                     start: int, end: int) -> Iterator[str]:
    project, region = where
    base = dict(monitored_resource="cloud_run_revision", project_id=project, location=region,
                service_name=f"{namespace}-{service}-{track}")
    codes = ({"response_code": "200", "response_code_class": "2xx"}, {"response_code": "500", "response_code_class": "5xx"})
    yield from _http_requests(base, spec, times, start, end, CLOUD_RUN_REQUESTS, codes)
    yield from _histogram(CLOUD_RUN_LATENCIES, base, spec.rps, spec.latency_max * 1000, times, start,
                          tuple(b * 1000 for b in LATENCY_BUCKETS))


def _http_requests(base: dict, spec: Track, times: range, start: int, end: int, metric: str = "http_requests_total",
                   codes: tuple[dict, dict] = ({"code": "200"}, {"code": "500"})) -> Iterator[str]:
    switch = end - spec.recent_seconds if spec.error_pct_recent is not None else None

    def errors_at(t: int) -> float:
        if switch is None or t <= switch:
            return spec.rps * spec.error_pct / 100 * (t - start)
        before = spec.rps * spec.error_pct / 100 * (switch - start)
        return before + spec.rps * spec.error_pct_recent / 100 * (t - switch)

    ok, bad = _labels(**base, **codes[0]), _labels(**base, **codes[1])
    for t in times:
        errors = errors_at(t)
        yield f"{metric}{ok} {spec.rps * (t - start) - errors:.4f} {t}"
        yield f"{metric}{bad} {errors:.4f} {t}"


def _pair(total: str, errors: str, base: dict, rps: float, error_pct: float, times: range, start: int,
          with_errors: bool) -> Iterator[str]:
    labels = _labels(**base)
    for t in times:
        yield f"{total}{labels} {rps * (t - start):.4f} {t}"
        if with_errors:
            yield f"{errors}{labels} {rps * error_pct / 100 * (t - start):.4f} {t}"


def _histogram(name: str, base: dict, rps: float, top: float, times: range, start: int,
               buckets: tuple[float, ...] = LATENCY_BUCKETS) -> Iterator[str]:
    for t in times:
        count = rps * (t - start)
        for le in buckets:
            yield f"{name}_bucket{_labels(**base, le=f'{le:g}')} {count * uniform_cdf(le, top):.4f} {t}"
        yield f"{name}_bucket{_labels(**base, le='+Inf')} {count:.4f} {t}"
        yield f"{name}_sum{_labels(**base)} {count * top / 2:.4f} {t}"
        yield f"{name}_count{_labels(**base)} {count:.4f} {t}"


def prod_scenario(namespace: str, backend_on: Track | None = None, backend_off: Track | None = None,
                  everything: Track | None = None, frontend_on: Track | None = None) -> Scenario:
    """Prod at canary-25: backend (GKE) and frontend (Cloud Run) on tracks off/on, agent (no flags) on stable."""
    healthy = everything or Track()
    on_share = replace(healthy, rps=healthy.rps / 3)  # 25% against 75% of the traffic: a third of the off track's
    return Scenario(namespace, {
        "agent": {"stable": healthy},
        "backend": {"off": backend_off or healthy, "on": backend_on or on_share},
        "frontend": {"off": healthy, "on": frontend_on or on_share},
    })


def write_openmetrics(path: Path, scenarios: list[Scenario], start: int, end: int,
                      backend_like: dict[str, bool], cloud_run: dict[str, tuple[str, str]] | None = None) -> None:
    with path.open("w", encoding="utf-8") as out:
        for scenario in scenarios:
            for line in series_lines(scenario, start, end, backend_like, cloud_run):
                out.write(line + "\n")
        out.write("# EOF\n")


def build_tsdb(openmetrics: Path, data_dir: Path) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["promtool", "tsdb", "create-blocks-from", "openmetrics", str(openmetrics), str(data_dir)],
        capture_output=True, text=True, timeout=300,
    )
    if done.returncode != 0:
        raise RuntimeError(f"promtool create-blocks failed: {done.stderr[-2000:]}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrometheusServer:
    """One `prometheus` process on 127.0.0.1; `stop()` always ends it."""

    def __init__(self, data_dir: Path, workdir: Path):
        if shutil.which("prometheus") is None:
            raise RuntimeError("the `prometheus` binary is not on PATH (Debian: apt-get install prometheus)")
        self.data_dir, self.workdir = data_dir, workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        self.log = workdir / f"prometheus-{self.port}.log"

    def start(self) -> "PrometheusServer":
        config = self.workdir / "prometheus.yml"
        config.write_text("global:\n  scrape_interval: 15s\n")  # no scrape jobs: only the loaded blocks
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={self.data_dir}",
                 f"--web.listen-address=127.0.0.1:{self.port}", "--storage.tsdb.retention.time=30d",
                 "--query.lookback-delta=5m", "--log.level=warn"],
                stdout=log, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"prometheus exited at start: {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as response:
                    if response.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"prometheus was not ready within {START_TIMEOUT:g}s: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


# -- the scenarios the gate tests judge, shared by every test module in a session ----------

BACKEND_ON = 20.0 / 3  # the on track's request rate at canary-25 (5 of 20 replicas)


def gate_scenarios() -> list[Scenario]:
    healthy = Track()
    return [
        prod_scenario("healthy"),
        prod_scenario("yellow", backend_on=replace(healthy, rps=BACKEND_ON, error_pct=0.535)),  # 7% worse
        prod_scenario("red", backend_on=replace(healthy, rps=BACKEND_ON, error_pct=3.0)),  # 3% against 0.5%
        # The Cloud Run frontend's on track fails 3% of requests (5xx); everything else is healthy.
        prod_scenario("run-red", frontend_on=replace(healthy, rps=BACKEND_ON, error_pct=3.0)),
        prod_scenario("run-slow", frontend_on=replace(healthy, rps=BACKEND_ON, latency_max=2.0)),  # p95 1.9s
        prod_scenario("few", everything=replace(healthy, rps=0.005)),  # 3 requests in 10 minutes
        prod_scenario("absent", everything=replace(healthy, with_sse_errors=False)),
        # 0.5% errors, then 5% for the last 4 minutes before "now" on the canary only.
        prod_scenario("spike", backend_on=replace(healthy, rps=BACKEND_ON, error_pct_recent=5.0,
                                                   recent_seconds=AFTER_NOW + 240)),
        prod_scenario("spike-new", backend_on=replace(healthy, rps=BACKEND_ON, error_pct_recent=5.0,
                                                       recent_seconds=AFTER_NOW + 60)),
    ]


BEFORE_NOW, AFTER_NOW = 40 * 60, 30 * 60  # data runs past "now" so tests that start later still see it


@dataclass
class LoadedPrometheus:
    url: str
    now: int  # the moment the scenarios are centred on
    server: PrometheusServer


_shared: dict[str, LoadedPrometheus] = {}


def shared_gate_prometheus(config, tmp_dir: Path) -> LoadedPrometheus:
    """One Prometheus with every scenario for the whole session; stopped when pytest ends."""
    if "gate" not in _shared:
        now = int(time.time())
        om = tmp_dir / "scenarios.om"
        write_openmetrics(om, gate_scenarios(), now - BEFORE_NOW, now + AFTER_NOW, {"backend": True})
        build_tsdb(om, tmp_dir / "data")
        server = PrometheusServer(tmp_dir / "data", tmp_dir).start()
        config.add_cleanup(server.stop)
        config.add_cleanup(lambda: _shared.pop("gate", None))
        _shared["gate"] = LoadedPrometheus(server.url, now, server)
    return _shared["gate"]


REPO = Path(__file__).resolve().parent.parent


def scenario_project(folder: Path, namespace: str, stage: str = "canary-25", gates: dict | None = None,
                     soaked_since: float | None = None) -> Path:
    """A copy of the project whose prod stack reads `namespace` at `stage`; returns the stack file.

    `gates` overrides keys of the prod file's rollout:gates; `soaked_since` records the promote to `stage`
    in the ledger.
    """
    from ruamel.yaml import YAML

    from rollout.core.ledger import Record, iso_time, open_ledger
    from rollout.spec.stack import load_stack

    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "Pulumi.yaml", folder / "Pulumi.yaml")
    yaml = YAML()  # round trip: the copy stays a normal, commented stack file
    document = yaml.load((REPO / "Pulumi.prod.yaml").read_text())
    document["config"]["rollout:namespace"] = namespace
    document["config"]["rollout:stage"] = stage
    if gates is not None:
        document["config"]["rollout:gates"].update(gates)
    path = folder / "Pulumi.prod.yaml"
    with path.open("w") as handle:
        yaml.dump(document, handle)
    if soaked_since is not None:
        config = load_stack(path).gates
        open_ledger(config.ledger, path).append(Record(
            time=iso_time(soaked_since), user="test", commit=None, stack="prod", action="promote",
            from_stage="canary-5", to_stage=stage, verdict="GREEN"))
    return path
