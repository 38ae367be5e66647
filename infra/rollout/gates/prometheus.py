"""A small Prometheus HTTP API client (urllib only): instant queries, timeouts, errors for people."""
from __future__ import annotations

import json
import math
import socket
import urllib.error
import urllib.parse
from typing import Callable, Mapping, Sequence

from rollout.errors import RolloutError, UsageError

NO_DATA_EXIT = 5


class PrometheusUnavailable(RolloutError):
    """Prometheus cannot be reached or does not answer like Prometheus: not enough data to judge."""

    exit_code = NO_DATA_EXIT


class PrometheusQueryError(RolloutError):
    """Prometheus refused a query (a bad selector or regex in the stack file, or a bug)."""


def check_url(url: str) -> str:
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise UsageError(f"--prometheus {url!r} is not a URL; give e.g. http://prometheus.monitoring:9090")
    return url.rstrip("/")


class Prometheus:
    """Queries go as a form POST (long expressions fit), or as GET (Managed Prometheus's API documents GET);
    `headers` gives what each query sends besides, e.g. a bearer token that stays fresh during a long watch."""

    def __init__(self, url: str, timeout: float = 10.0, parallel: int = 8,
                 headers: Callable[[], Mapping[str, str]] | None = None, method: str = "POST"):
        self.url = check_url(url)
        self.timeout = timeout
        self.parallel = parallel
        self.headers = headers or dict
        self.method = method

    def query(self, expr: str, at: float | None = None) -> dict[str, float]:
        """Instant query; returns track -> value, with NaN and infinities dropped (they are no data)."""
        params = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        import urllib.request  # with http.client and ssl it costs ~50 ms: only when a query is sent

        encoded = urllib.parse.urlencode(params)
        extra = self.headers()
        if self.method == "GET":
            request = urllib.request.Request(f"{self.url}/api/v1/query?{encoded}",
                                             headers={"Accept": "application/json", **extra})
        else:
            request = urllib.request.Request(
                f"{self.url}/api/v1/query", data=encoded.encode(),
                headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json", **extra},
            )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                payload = response.read()
        except urllib.error.HTTPError as exc:
            detail = _error_detail(exc.read())
            if exc.code in (400, 422):
                raise PrometheusQueryError(f"Prometheus at {self.url} refused the query {expr!r}: {detail}") from None
            if exc.code in (401, 403):
                raise PrometheusUnavailable(f"Prometheus at {self.url} refused the credentials (HTTP {exc.code}): "
                                            f"{detail}") from None
            raise PrometheusUnavailable(f"Prometheus at {self.url} answered HTTP {exc.code}: {detail}") from None
        except (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, (socket.timeout, TimeoutError)):
                reason = f"no answer within {self.timeout:g}s"
            elif isinstance(reason, OSError) and reason.strerror:
                reason = reason.strerror.lower()  # "connection refused", not "[Errno 111] Connection refused"
            raise PrometheusUnavailable(f"cannot reach Prometheus at {self.url}: {reason}") from None
        return _parse_vector(payload, self.url)

    def query_many(self, exprs: Sequence[str], at: float | None = None) -> list[dict[str, float]]:
        """Run independent queries side by side: the gate's wall time is one round trip, not sixty."""
        if len(exprs) <= 1:
            return [self.query(e, at) for e in exprs]
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(self.parallel, len(exprs))) as pool:
            return list(pool.map(lambda e: self.query(e, at), exprs))


def _error_detail(payload: bytes) -> str:
    try:
        data = json.loads(payload)
        return str(data.get("error") or data)
    except (ValueError, AttributeError):
        return payload[:200].decode("utf-8", "replace").strip() or "(empty answer)"


def _parse_vector(payload: bytes, url: str) -> dict[str, float]:
    try:
        data = json.loads(payload)
        if data.get("status") != "success":
            raise PrometheusQueryError(f"Prometheus at {url} said: {data.get('error', data)}")
        result = data["data"]["result"]
        kind = data["data"]["resultType"]
    except (ValueError, KeyError, TypeError, AttributeError):
        raise PrometheusUnavailable(f"{url} does not answer like the Prometheus HTTP API (/api/v1/query)") from None
    if kind == "scalar":
        result = [{"metric": {}, "value": result}]
    elif kind != "vector":
        raise PrometheusQueryError(f"Prometheus at {url} returned a {kind}, expected an instant vector")
    values: dict[str, float] = {}
    for sample in result:
        value = float(sample["value"][1])
        if math.isfinite(value):
            values[_track(sample.get("metric", {}))] = value
    return values


def _track(labels: Mapping[str, str]) -> str:
    return labels.get("track", "")
