"""Slack notifications of promotes, rollbacks and the soak, against a fake webhook on 127.0.0.1.

A failing webhook (an error, a refused connection, a server that never answers) never blocks,
delays past its bound or undoes a move.
"""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from prometheus_fixture import scenario_project, shared_gate_prometheus
from rollout.notify import slack
from rollout.spec.stack import load_stack

SOAKED = 30 * 60


class Webhook:
    """Records every JSON body posted to it; answers `status` after `delay` seconds."""

    def __init__(self, status: int = 200, delay: float = 0.0):
        self.posts: list[dict] = []
        self.closing = threading.Event()
        webhook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the stdlib's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                webhook.posts.append(json.loads(body))
                webhook.closing.wait(delay)
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.handle_error = lambda request, address: None  # a client that gave up is expected here
        self.url = f"http://127.0.0.1:{self.server.server_port}/services/T/B/x"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "Webhook":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.closing.set()
        self.server.shutdown()
        self.server.server_close()

    @property
    def texts(self) -> list[str]:
        return [p["blocks"][0]["text"]["text"] for p in self.posts]


@pytest.fixture(scope="module")
def prom(request, tmp_path_factory):
    return shared_gate_prometheus(request.config, tmp_path_factory.mktemp("prometheus"))


@pytest.fixture
def hook(monkeypatch):
    with Webhook() as webhook:
        monkeypatch.setenv(slack.WEBHOOK_ENV, webhook.url)
        monkeypatch.setenv("ROLLOUT_USER", "sre@example.com")
        yield webhook


def _env_values(path: Path) -> set[str]:
    settings = load_stack(path)
    return {v for s in settings.services.values() for v in s.env.values() if len(v) > 3}


def test_a_promote_posts_what_moved_the_weights_who_and_the_commit(project, rollout, hook):
    result = rollout("-C", project, "promote", "prod")
    assert result.code == 0, result.err
    (text,) = hook.texts
    assert "*prod* promoted: `off` → `canary-5`" in text
    assert "backend 5% (effective 5%)" in text and "frontend 5% (effective 5%)" in text
    assert "By sre@example.com" in text and "commit" in text and "Gate: not run" in text
    assert not any(value in text for value in _env_values(project / "Pulumi.prod.yaml")), "no env value in chat"


def test_a_gated_promote_posts_the_verdict_and_the_numbers_behind_it(tmp_path, prom, rollout, hook):
    path = scenario_project(tmp_path, "healthy", soaked_since=prom.now - SOAKED)
    result = rollout("promote", path, "--gate", prom.url)
    assert result.code == 0, result.out + result.err
    (text,) = hook.texts
    assert "promoted: `canary-25` → `canary-50`" in text and "Gate: GREEN" in text
    assert "• backend.errorRate: off " in text


def test_a_watch_rollback_posts_the_incident_message(tmp_path, prom, rollout, hook):
    path = scenario_project(tmp_path, "red", soaked_since=prom.now - SOAKED)
    result = rollout("watch", path, "--prometheus", prom.url, "--for", "3s", "--interval", "1s")
    assert result.code == 4, result.out + result.err
    (incident,) = hook.texts
    assert "Incident: automatic rollback of prod" in incident
    assert "Trigger: backend" in incident and "Time: " in incident
    assert "Action taken: rolled back `canary-25` → `canary-5`" in incident
    assert "Status: stack file rolled back; `pulumi up --stack prod` is still to run" in incident


def test_a_healthy_soak_posts_that_it_passed(tmp_path, prom, rollout, hook):
    path = scenario_project(tmp_path, "healthy", soaked_since=prom.now - SOAKED)
    result = rollout("watch", path, "--prometheus", prom.url, "--for", "1s", "--interval", "1s")
    assert result.code == 0, result.out + result.err
    assert hook.texts == [hook.texts[0]] and "soak passed: ready to promote" in hook.texts[0]


@pytest.mark.parametrize("failure", ["error", "refused", "silent"])
def test_a_failing_webhook_never_blocks_or_undoes_a_rollback(tmp_path, prom, rollout, monkeypatch, failure):
    path = scenario_project(tmp_path, "red", soaked_since=prom.now - SOAKED)
    monkeypatch.setattr(slack, "TIMEOUT", 1.0)
    with Webhook(status=500, delay=30 if failure == "silent" else 0) as webhook:
        url = webhook.url
        if failure == "refused":
            url = "http://127.0.0.1:9/"  # discard port: nothing listens
        monkeypatch.setenv(slack.WEBHOOK_ENV, url)
        started = time.monotonic()
        result = rollout("watch", path, "--prometheus", prom.url, "--for", "3s", "--interval", "1s")
        elapsed = time.monotonic() - started
    assert result.code == 4 and "rolled back prod: canary-25 -> canary-5" in result.out
    assert load_stack(path).stage == "canary-5"
    assert "the Slack notification failed" in result.err and "the move itself is done" in result.err
    assert elapsed < 15, f"the webhook held the watch for {elapsed:.1f}s"


def test_without_a_webhook_nothing_is_posted_and_nothing_is_said(project, rollout, monkeypatch):
    monkeypatch.delenv(slack.WEBHOOK_ENV, raising=False)
    result = rollout("-C", project, "promote", "prod")
    assert result.code == 0 and result.err == ""


def test_the_stack_file_has_no_place_for_a_webhook(project, rollout):
    path = project / "Pulumi.prod.yaml"
    path.write_text(path.read_text() + "  rollout:slackWebhook: https://hooks.slack.com/services/T0/B0/abcdefghijklmnopqrstuvwx\n")
    result = rollout("-C", project, "status", "prod")
    assert result.code == 2 and "rollout:slackWebhook: unknown key" in result.err
    assert slack.post({"text": "x"}, url="") is False
