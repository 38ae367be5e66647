"""The Prometheus client against small hostile servers on 127.0.0.1: whatever they send is exit 5
with a sentence, never a traceback, and --timeout holds for the whole gate."""
from __future__ import annotations

import json
import socket
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Callable

import pytest

from prometheus_fixture import scenario_project

from rollout.gates.prometheus import (
    MAX_ANSWER_BYTES, Prometheus, PrometheusQueryError, PrometheusUnavailable,
)

Respond = Callable[[bytes, socket.socket, threading.Event], None]  # (request, connection, stop)


class TcpServer:
    """Answers every connection on 127.0.0.1 with `respond`; leaving the `with` stops it and its threads."""

    def __init__(self, respond: Respond):
        self.respond = respond
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []
        self.sent = 0  # bytes written, for the size bound
        self.connections = 0

    def __enter__(self) -> "TcpServer":
        self._start(self._accept)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop.set()
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        except OSError:
            pass
        self.listener.close()
        for thread in self.threads:
            thread.join(timeout=5)
        assert not any(t.is_alive() for t in self.threads), "a test server thread did not stop"

    def _start(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self.threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            self._start(self._serve, conn)

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            try:
                self.respond(read_request(conn), _Counting(conn, self), self.stop)
            except OSError:
                pass  # the client hung up: that is what a deadline or a size bound does


class _Counting:
    """The connection, counting what the server sends."""

    def __init__(self, conn: socket.socket, server: TcpServer):
        self.conn, self.server = conn, server

    def sendall(self, data: bytes) -> None:
        self.conn.sendall(data)
        self.server.sent += len(data)

    def close(self) -> None:
        self.conn.close()


def read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def query_of(request: bytes) -> str:
    body = request.partition(b"\r\n\r\n")[2].decode()
    return urllib.parse.parse_qs(body).get("query", [""])[0]


def http_answer(body: bytes | str, status: str = "200 OK", content_type: str = "application/json") -> Respond:
    data = body.encode() if isinstance(body, str) else body

    def respond(request: bytes, conn, stop) -> None:
        conn.sendall(f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(data)}\r\n"
                     f"Connection: close\r\n\r\n".encode() + data)
    return respond


def vector(*samples: object) -> str:
    return json.dumps({"status": "success", "data": {"resultType": "vector", "result": list(samples)}})


def drip(prefix: bytes, every: float = 1.0, at_most: float = 10.0) -> Respond:
    """Send `prefix` and then one byte every `every` seconds, for `at_most` seconds (so a client
    without a deadline fails its test instead of hanging it)."""
    def respond(request: bytes, conn, stop) -> None:
        conn.sendall(prefix)
        end = time.monotonic() + at_most
        while not stop.wait(every) and time.monotonic() < end:
            conn.sendall(b" ")
    return respond


def query(url: str, timeout: float = 5.0) -> dict[str, float]:
    return Prometheus(url, timeout=timeout).query("up")


# -- what a well-formed answer gives ---------------------------------------------------------

def test_a_well_formed_answer_gives_one_value_per_track_without_nan_or_infinities():
    body = vector({"metric": {"track": "off"}, "value": [1.5, "0.5"]},
                  {"metric": {"track": "on"}, "value": [1.5, "1e-3"]},
                  {"metric": {"track": "x"}, "value": [1.5, "NaN"]},
                  {"metric": {"track": "y"}, "value": [1.5, "+Inf"]},
                  {"metric": {}, "value": [1.5, "-2"]})
    with TcpServer(http_answer(body)) as server:
        assert query(server.url) == {"off": 0.5, "on": 0.001, "": -2.0}


def test_a_scalar_answer_is_one_value_without_a_track():
    body = json.dumps({"status": "success", "data": {"resultType": "scalar", "result": [1.5, "42"]}})
    with TcpServer(http_answer(body)) as server:
        assert query(server.url) == {"": 42.0}


# -- malformed answers are exit 5 with what was wrong -------------------------------------------

ok = {"metric": {"track": "on"}, "value": [1.5, "0.5"]}


@pytest.mark.parametrize("body, words", [
    (vector({"metric": {"track": "on"}}), "sample 1 of 1 has no value"),
    (vector(ok, {"metric": {"track": "off"}, "value": [1.5, "abc"]}), "sample 2 of 2 has the value [1.5, 'abc']"),
    (vector({"metric": {"track": "on"}, "value": [1.5, None]}), "has the value [1.5, None], not [time, \"number\"]"),
    (vector({"metric": {"track": "on"}, "value": None}), "sample 1 of 1 has the value None"),
    (vector({"metric": {"track": "on"}, "value": [1.5, ["0.5"]]}), "has the value [1.5, ['0.5']]"),
    (vector({"metric": {"track": "on"}, "value": [1.5, 0.5]}), "has the value [1.5, 0.5]"),
    (vector({"metric": {"track": "on"}, "value": [1.5, "1_000"]}), "has the value [1.5, '1_000']"),
    (vector({"metric": {"track": "on"}, "value": [1.5, " 1"]}), "has the value [1.5, ' 1']"),
    (vector({"metric": {"track": "on"}, "value": ["now", "1"]}), "has the value ['now', '1']"),
    (vector({"metric": {"track": "on"}, "value": [1.5]}), "has the value [1.5]"),
    (vector({"metric": {"track": 7}, "value": [1.5, "1"]}), "sample 1 of 1 has labels that are not strings"),
    (vector(["on", "1"]), "sample 1 of 1 is not an object"),
    (vector(ok, ok), "sample 2 of 2 repeats track 'on'"),
    (json.dumps({"status": "success", "data": {"resultType": "vector", "result": {"on": "1"}}}),
     "data.result is not a list"),
    (json.dumps({"status": "success", "data": {"resultType": "vector", "result": None}}), "data.result is not a list"),
    (json.dumps({"status": "success", "data": {"resultType": "matrix", "result": []}}),
     "data.resultType is 'matrix', not an instant vector"),
    (json.dumps({"status": "success"}), "the answer has no `data` object"),
    (json.dumps({"status": "success", "data": []}), "the answer has no `data` object"),
    (json.dumps({"status": "error", "error": "boom"}), "status is 'error', not 'success' ('boom')"),
    (json.dumps({"data": {}}), "status is None, not 'success'"),
    (json.dumps([1, 2]), "the answer is not a JSON object"),
    ("hello", "the answer is not JSON (it began with 'hello')"),
    ("", "the answer is not JSON (an empty answer)"),
    ("[" * 100_000, "the answer is not JSON"),
    (b"\xff\xfe\x00garbage", "the answer is not JSON"),
    ("<!DOCTYPE html><html><head><title>Sign in - Acme SSO</title></head><body>...</body></html>",
     "the answer is not JSON (an HTML page titled 'Sign in - Acme SSO')"),
])
def test_a_malformed_answer_is_no_data_with_what_was_wrong(body, words):
    with TcpServer(http_answer(body)) as server:
        with pytest.raises(PrometheusUnavailable) as error:
            query(server.url)
    assert error.value.exit_code == 5
    message = str(error.value)
    assert message.startswith(f"{server.url} does not answer like the Prometheus HTTP API (/api/v1/query): ")
    assert words in message


def test_an_html_error_page_is_no_data_naming_the_status_and_the_page():
    page = "<html><head><title>502 Bad Gateway</title></head><body><center>nginx</center></body></html>"
    with TcpServer(http_answer(page, "502 Bad Gateway", "text/html")) as server:
        with pytest.raises(PrometheusUnavailable) as error:
            query(server.url)
    assert str(error.value) == f"Prometheus at {server.url} answered HTTP 502: an HTML page titled '502 Bad Gateway'"


def test_a_query_prometheus_refuses_is_a_query_error_but_a_refusal_from_something_else_is_no_data():
    refusal = json.dumps({"status": "error", "errorType": "bad_data", "error": "parse error at char 3"})
    with TcpServer(http_answer(refusal, "400 Bad Request")) as server:
        with pytest.raises(PrometheusQueryError) as error:
            query(server.url)
    assert error.value.exit_code == 1 and "refused the query 'up': parse error at char 3" in str(error.value)
    with TcpServer(http_answer("<html>Bad Request</html>", "400 Bad Request", "text/html")) as server:
        with pytest.raises(PrometheusUnavailable, match="answered HTTP 400: an HTML page"):
            query(server.url)


def redirect_to(location: str, then: Respond | None = None) -> Respond:
    def respond(request: bytes, conn, stop) -> None:
        if request.startswith(b"POST"):
            conn.sendall(f"HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n".encode())
        elif then is not None:
            then(request, conn, stop)
    return respond


def test_a_redirect_to_a_sign_in_page_is_no_data_naming_the_page():
    page = http_answer("<html><head><title>Sign in</title></head></html>", content_type="text/html")
    with TcpServer(redirect_to("/login", page)) as server:
        with pytest.raises(PrometheusUnavailable, match="the answer is not JSON \\(an HTML page titled 'Sign in'\\)"):
            query(server.url)


@pytest.mark.parametrize("location, words", [
    ("ftp://127.0.0.1/answer.json", "unknown url type: ftp"),
    ("file:///etc/passwd", "answered HTTP 302"),
])
def test_a_redirect_away_from_http_is_not_followed(location, words):
    with TcpServer(redirect_to(location)) as server:
        with pytest.raises(PrometheusUnavailable, match=words):
            query(server.url)


@pytest.mark.parametrize("respond, words", [
    (lambda request, conn, stop: conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n"),
     "does not answer like the Prometheus HTTP API (/api/v1/query): it does not speak HTTP (it began with"),
    (lambda request, conn, stop: conn.sendall(b"\x00\x01\x02binary\r\n\r\n"), "it does not speak HTTP"),
    (lambda request, conn, stop: conn.sendall(b"HTTP/1.1 200 OK\r\n" + b"X" * 70_000 + b"\r\n\r\n"),
     "it does not speak HTTP"),
    (lambda request, conn, stop: conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"status\""),
     "it does not speak HTTP (the answer ended early)"),
    (lambda request, conn, stop: None, "it closed the connection without an answer"),
])
def test_a_server_that_does_not_speak_http_is_no_data(respond, words):
    with TcpServer(respond) as server:
        with pytest.raises(PrometheusUnavailable) as error:
            query(server.url)
    assert error.value.exit_code == 5 and words in str(error.value)


# -- size bound -------------------------------------------------------------------------------

def test_an_answer_announced_as_larger_than_the_bound_is_refused_without_reading_it():
    def huge(request, conn, stop) -> None:
        conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Length: {MAX_ANSWER_BYTES + 1}\r\n\r\n".encode())
        stop.wait(5)  # never sends the body: a client reading it would wait here

    with TcpServer(huge) as server:
        start = time.monotonic()
        with pytest.raises(PrometheusUnavailable, match="an answer over 10 MB, not read to the end"):
            query(server.url)
        assert time.monotonic() - start < 2


def test_an_endless_answer_is_refused_after_the_bound_not_read_to_its_end():
    def endless(request, conn, stop) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n")  # no length: until close
        chunk = b"[" * 65536
        for _ in range(100 * MAX_ANSWER_BYTES // len(chunk)):  # would be 1 GB
            if stop.is_set():
                return
            conn.sendall(chunk)

    with TcpServer(endless) as server:
        with pytest.raises(PrometheusUnavailable, match="an answer over 10 MB"):
            query(server.url)
        sent = server.sent
    assert MAX_ANSWER_BYTES < sent < MAX_ANSWER_BYTES + 8 * 1024 * 1024  # the bound plus socket buffers


# -- one deadline for the whole gate ------------------------------------------------------------

def test_a_server_sending_a_byte_a_second_cannot_hold_a_query_past_the_timeout():
    with TcpServer(drip(b"H", every=1.0)) as server:
        start = time.monotonic()
        with pytest.raises(PrometheusUnavailable) as error:
            query(server.url, timeout=1.5)
        elapsed = time.monotonic() - start
    assert 1.5 <= elapsed < 2.3
    assert str(error.value) == (f"Prometheus at {server.url} did not answer within 1.5s "
                                "(the time allowed for the whole gate)")


@pytest.mark.parametrize("prefix", [
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n",  # the headers
    b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n{",  # a body with a length
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n400\r\n{",  # a chunked body
    b"HTTP/1.1 200 OK\r\n\r\n{",  # a body that ends when the connection does
])
def test_a_trickle_in_any_part_of_the_answer_ends_at_the_timeout(prefix):
    # A byte every 0.2 s: each read is quick, so a per-read timeout of 0.5 s alone would wait forever.
    with TcpServer(drip(prefix, every=0.2)) as server:
        start = time.monotonic()
        with pytest.raises(PrometheusUnavailable, match="did not answer within 0.5s"):
            query(server.url, timeout=0.5)
        assert 0.5 <= time.monotonic() - start < 1.2


def test_a_tls_handshake_that_trickles_ends_at_the_timeout():
    # The header of a 16 KB TLS handshake record, then a byte every 0.2 s: no certificate needed.
    with TcpServer(drip(b"\x16\x03\x03\x40\x00", every=0.2)) as server:
        url = server.url.replace("http://", "https://")
        start = time.monotonic()
        with pytest.raises(PrometheusUnavailable, match="did not answer within 0.5s"):
            query(url, timeout=0.5)
        assert time.monotonic() - start < 1.2


def test_the_timeout_bounds_all_queries_together_not_each_one():
    # Every answer takes 0.2 s, well within 1 s; twelve of them two at a time take 1.2 s.
    def slow(request, conn, stop) -> None:
        if not stop.wait(0.2):
            http_answer(vector(ok))(request, conn, stop)

    with TcpServer(slow) as server:
        client = Prometheus(server.url, timeout=1.0, parallel=2)
        start = time.monotonic()
        with pytest.raises(PrometheusUnavailable, match="did not answer within 1s"):
            client.query_many(["up"] * 12)
        assert time.monotonic() - start < 1.6
        assert client.query_many(["up"] * 2) == [{"on": 0.5}] * 2  # each call has its own second


def test_one_malformed_answer_ends_the_other_queries_at_once():
    def mixed(request, conn, stop) -> None:
        if query_of(request) == "bad":
            http_answer("not json")(request, conn, stop)
        else:
            drip(b"HTTP/1.1 200 OK\r\n")(request, conn, stop)

    with TcpServer(mixed) as server:
        start = time.monotonic()
        with pytest.raises(PrometheusUnavailable, match="the answer is not JSON"):
            Prometheus(server.url, timeout=30).query_many(["slow", "slow", "bad", "slow"])
        assert time.monotonic() - start < 2


def test_a_shared_deadline_spans_several_calls():
    def slow(request, conn, stop) -> None:
        if not stop.wait(0.15):
            http_answer(vector(ok))(request, conn, stop)

    with TcpServer(slow) as server:
        client = Prometheus(server.url, timeout=0.6, parallel=1)
        with client.deadline() as deadline:
            client.query_many(["up"], deadline=deadline)
            client.query_many(["up"], deadline=deadline)
            with pytest.raises(PrometheusUnavailable, match="did not answer within 0.6s"):
                client.query_many(["up"] * 3, deadline=deadline)  # 0.3 s spent, 0.45 s more asked


# -- the commands ---------------------------------------------------------------------------------

def ledger_verdicts(path: Path) -> list[str]:
    return [json.loads(line)["verdict"] for line in (path.parent / "ledger" / "prod.jsonl").read_text().splitlines()]


def test_rollout_gate_against_a_dripping_server_ends_at_its_timeout_with_exit_5(tmp_path, rollout):
    path = scenario_project(tmp_path, "chat-prod", gates={"minSoak": 0})
    with TcpServer(drip(b"HTTP/1.1 200 OK\r\n")) as server:
        start = time.monotonic()
        result = rollout("gate", path, "--prometheus", server.url, "--timeout", "0.5")
        elapsed = time.monotonic() - start
        assert server.connections >= 8  # the queries ran side by side, under one deadline
    assert result.code == 5 and elapsed < 1.5
    assert f"Prometheus at {server.url} did not answer within 0.5s" in result.err
    assert "Traceback" not in result.err
    assert ledger_verdicts(path) == ["NO DATA"]


@pytest.mark.parametrize("body, words", [
    (vector({"metric": {"track": "on"}, "value": [1.5, "abc"]}), "has the value [1.5, 'abc']"),
    ("<html><title>Login</title></html>", "an HTML page titled 'Login'"),
])
def test_rollout_gate_and_promote_with_a_malformed_answer_exit_5_and_change_nothing(tmp_path, rollout, body, words):
    path = scenario_project(tmp_path, "chat-prod", gates={"minSoak": 0})
    before = path.read_text()
    with TcpServer(http_answer(body)) as server:
        gate = rollout("gate", path, "--prometheus", server.url, "--json")
        promote = rollout("promote", path, "--gate", server.url)
    assert gate.code == 5 and words in gate.err and json.loads(gate.out)["verdict"] == "NO DATA"
    assert promote.code == 5 and words in promote.err and "Traceback" not in promote.err
    assert path.read_text() == before


def test_rollout_watch_bounds_each_round_and_never_rolls_back_on_a_late_answer(tmp_path, rollout):
    path = scenario_project(tmp_path, "chat-prod", gates={"minSoak": 0})
    before = path.read_text()
    with TcpServer(drip(b"HTTP/1.1 200 OK\r\n")) as server:
        start = time.monotonic()
        result = rollout("watch", path, "--prometheus", server.url, "--for", "600ms", "--interval", "600ms",
                         "--timeout", "0.3")
        elapsed = time.monotonic() - start
    assert result.code == 5, result.out + result.err
    assert elapsed < 2  # two rounds of at most 0.3 s, and the 0.3 s left between them
    assert result.out.count("did not answer within 0.3s") >= 2 and "soak ended NO DATA" in result.out
    assert path.read_text() == before


def test_a_red_gate_rolls_back_even_when_the_rollback_trigger_queries_run_out_of_time(tmp_path, rollout):
    # Every gate query answers 3.0 on the canary (errors, latency, success: all RED); the trigger
    # queries (over the 1m trigger window) trickle until the round's deadline.
    def gate_red_triggers_slow(request, conn, stop) -> None:
        expr = query_of(request)
        if "[1m]" in expr:
            return drip(b"HTTP/1.1 200 OK\r\n", every=0.1)(request, conn, stop)
        if expr.startswith("sum by (track) (increase("):  # request counts: plenty on every track
            values = {"off": "1000", "on": "1000", "stable": "1000"}
        else:  # every check: the canary at 3.0, the other tracks at 0.5
            values = {"off": "0.5", "on": "3.0", "stable": "0.5"}
        http_answer(vector(*({"metric": {"track": t}, "value": [1.5, v]} for t, v in values.items())))(
            request, conn, stop)

    path = scenario_project(tmp_path, "chat-prod", gates={"minSoak": 0})
    with TcpServer(gate_red_triggers_slow) as server:
        result = rollout("watch", path, "--prometheus", server.url, "--for", "1s", "--timeout", "0.5")
    assert result.code == 4, result.out + result.err
    assert "canary-25: RED" in result.out and "did not answer within 0.5s" in result.out
    assert "rolled back prod: canary-25 -> canary-5" in result.out


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "soon"])
def test_a_timeout_that_is_not_a_positive_number_of_seconds_is_exit_2(tmp_path, rollout, value):
    path = scenario_project(tmp_path, "chat-prod")
    result = rollout("gate", path, "--prometheus", "http://127.0.0.1:9", "--timeout", value)
    assert result.code == 2
    assert f"argument --timeout: {value!r} is not a number of seconds above 0" in result.err
