"""A small Prometheus HTTP API client: instant queries under one deadline, errors for people.

Whatever is not a well-formed answer (not HTTP, not JSON, a sample without a number, an
answer too large) is PrometheusUnavailable: exit 5, the gate cannot judge. Only a query
Prometheus itself refuses is a PrometheusQueryError (a bad selector in the stack file).
"""
from __future__ import annotations

import http.client
import json
import math
import re
import urllib.parse
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import Any, Callable, Mapping, Sequence

from rollout.errors import RolloutError, UsageError
from rollout.net.http import Deadline, TimeUp, TooLarge, send

NO_DATA_EXIT = 5
MAX_ANSWER_BYTES = 10 * 1024 * 1024  # a gate's answers are a few KB: 10 MB is a wrong or hostile server
# How Prometheus writes a sample value (Go's FormatFloat, +Inf/-Inf/NaN); nothing looser.
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]?Inf|NaN")
_HTML_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


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
    """`timeout` is the total time a set of queries may take: a gate, or one round of a watch.
    Queries go as a form POST (long expressions fit), or as GET (Managed Prometheus's API documents GET);
    `headers` gives what each query sends besides, e.g. a bearer token that stays fresh during a long watch."""

    def __init__(self, url: str, timeout: float = 10.0, parallel: int = 8,
                 headers: Callable[[], Mapping[str, str]] | None = None, method: str = "POST"):
        self.url = check_url(url)
        self.timeout = timeout
        self.parallel = parallel
        self.headers = headers or dict
        self.method = method

    def deadline(self) -> Deadline:
        """One budget of `timeout` seconds, to share between the queries of a gate or a watch round."""
        return Deadline(self.timeout)

    def query(self, expr: str, at: float | None = None, deadline: Deadline | None = None) -> dict[str, float]:
        """Instant query; returns track -> value, with NaN and infinities dropped (they are no data)."""
        if deadline is None:
            with self.deadline() as own:
                return self.query(expr, at, own)
        params = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        encoded = urllib.parse.urlencode(params)
        headers = {"Accept": "application/json", **self.headers()}
        if self.method == "GET":
            url, body = f"{self.url}/api/v1/query?{encoded}", None
        else:
            url, body = f"{self.url}/api/v1/query", encoded.encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            status, payload = send(url, body, headers, deadline, MAX_ANSWER_BYTES)
        except TimeUp:
            raise self._too_slow() from None
        except TooLarge:
            raise self._malformed(f"an answer over {MAX_ANSWER_BYTES // (1024 * 1024)} MB, not read to the end") from None
        except http.client.RemoteDisconnected:
            raise PrometheusUnavailable(f"cannot reach Prometheus at {self.url}: it closed the connection "
                                        "without an answer") from None
        except OSError as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, OSError) and reason.strerror:
                reason = reason.strerror.lower()  # "connection refused", not "[Errno 111] Connection refused"
            raise PrometheusUnavailable(f"cannot reach Prometheus at {self.url}: {reason}") from None
        except http.client.HTTPException as exc:
            raise self._malformed(f"it does not speak HTTP ({_http_problem(exc)})") from None
        if status != 200:
            error = _prometheus_error(payload)
            if status in (401, 403):
                raise PrometheusUnavailable(f"Prometheus at {self.url} refused the credentials (HTTP {status}): "
                                            f"{error if error is not None else _preview(payload)}")
            if status in (400, 422) and error is not None:
                raise PrometheusQueryError(f"Prometheus at {self.url} refused the query {expr!r}: {error}")
            raise PrometheusUnavailable(f"Prometheus at {self.url} answered HTTP {status}: "
                                        f"{error if error is not None else _preview(payload)}")
        return parse_vector(payload, self.url)

    def query_many(self, exprs: Sequence[str], at: float | None = None,
                   deadline: Deadline | None = None) -> list[dict[str, float]]:
        """Independent queries side by side, all within one deadline; the first failure ends them all."""
        if deadline is None:
            with self.deadline() as own:
                return self.query_many(exprs, at, own)
        if not exprs:
            return []
        pool = ThreadPoolExecutor(max_workers=min(self.parallel, len(exprs)))
        futures = [pool.submit(self.query, expr, at, deadline) for expr in exprs]
        try:
            done, pending = wait(futures, timeout=deadline.remaining(), return_when=FIRST_EXCEPTION)
            failed = next((f.exception() for f in done if f.exception() is not None), None)
            if failed is not None or pending:
                deadline.expire()  # the gate is decided: stop waiting for the other answers
                raise failed or self._too_slow()
            return [f.result() for f in futures]
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    def _malformed(self, problem: str) -> PrometheusUnavailable:
        return malformed(self.url, problem)

    def _too_slow(self) -> PrometheusUnavailable:
        return PrometheusUnavailable(f"Prometheus at {self.url} did not answer within {self.timeout:g}s "
                                     "(the time allowed for the whole gate)")


def malformed(url: str, problem: str) -> PrometheusUnavailable:
    return PrometheusUnavailable(f"{url} does not answer like the Prometheus HTTP API (/api/v1/query): {problem}")


def parse_vector(payload: bytes, url: str) -> dict[str, float]:
    """track -> value from an instant-query answer; anything else in its place is `malformed`."""
    try:
        data = json.loads(payload)
    except (ValueError, RecursionError):
        raise malformed(url, f"the answer is not JSON ({_preview(payload)})") from None
    if not isinstance(data, dict):
        raise malformed(url, "the answer is not a JSON object")
    if data.get("status") != "success":
        raise malformed(url, f"status is {_short(data.get('status'))}, not 'success'"
                        + (f" ({_short(data['error'])})" if "error" in data else ""))
    body = data.get("data")
    if not isinstance(body, dict):
        raise malformed(url, "the answer has no `data` object")
    kind, result = body.get("resultType"), body.get("result")
    if kind == "scalar":
        result = [{"metric": {}, "value": result}]
    elif kind != "vector":
        raise malformed(url, f"data.resultType is {_short(kind)}, not an instant vector")
    if not isinstance(result, list):
        raise malformed(url, "data.result is not a list")
    values: dict[str, float] = {}
    for i, sample in enumerate(result, start=1):
        where = f"sample {i} of {len(result)}"
        if not isinstance(sample, dict):
            raise malformed(url, f"{where} is not an object")
        labels = sample.get("metric", {})
        if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
            raise malformed(url, f"{where} has labels that are not strings")
        track = labels.get("track", "")
        if "value" not in sample:
            raise malformed(url, f"{where} has no value")
        value = _sample_value(sample["value"])
        if value is None:
            raise malformed(url, f"{where} has the value {_short(sample['value'])}, not [time, \"number\"]")
        if track in values:
            raise malformed(url, f"{where} repeats track {track!r}")  # never trust one of two answers
        values[track] = value
    return {track: value for track, value in values.items() if math.isfinite(value)}


def _sample_value(raw: Any) -> float | None:
    if not isinstance(raw, list) or len(raw) != 2:
        return None
    stamp, value = raw
    if isinstance(stamp, bool) or not isinstance(stamp, (int, float)):
        return None
    if isinstance(value, str) and _NUMBER.fullmatch(value):
        return float(value)
    return None


def _prometheus_error(payload: bytes) -> str | None:
    """The `error` of a Prometheus error answer, or None when the body is something else."""
    try:
        data = json.loads(payload)
    except (ValueError, RecursionError):
        return None
    if isinstance(data, dict) and data.get("status") == "error" and isinstance(data.get("error"), str):
        return data["error"]
    return None


def _http_problem(exc: http.client.HTTPException) -> str:
    if isinstance(exc, http.client.BadStatusLine):
        return f"it began with {_short(exc.line)}"
    if isinstance(exc, http.client.IncompleteRead):
        return "the answer ended early"
    return str(exc) or type(exc).__name__


def _preview(payload: bytes) -> str:
    """A line a person can read: an HTML page's title, or the first bytes of the answer."""
    if not payload.strip():
        return "an empty answer"
    title = _HTML_TITLE.search(payload[:65536])
    if title:
        return f"an HTML page titled {_short(title.group(1).decode('utf-8', 'replace').strip())}"
    if payload.lstrip()[:1] == b"<":
        return "an HTML page"
    return f"it began with {_short(payload[:60].decode('utf-8', 'replace'))}"


def _short(value: Any, width: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."
