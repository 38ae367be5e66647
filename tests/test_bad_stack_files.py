"""Bad stack files end with exit 2 and one message naming the key; the file is never touched."""
from __future__ import annotations

from pathlib import Path

import pytest

# (what is wrong, text replaced -> replacement in Pulumi.prod.yaml, words the message must contain)
MISTAKES = [
    ("unknown current stage", 'rollout:stage: "off"', "rollout:stage: canary-7",
     ["rollout:stage", "unknown stage 'canary-7'", "off -> canary-5"]),
    ("weight over 100", "weight: 50", "weight: 150", ["rollout:stages[3].weight", "at most 100"]),
    ("negative weight", "weight: 5\n", "weight: -5\n", ["rollout:stages[1].weight", "at least 0"]),
    ("typo in a top-level key", "rollout:allowSkip:", "rollout:alowSkip:",
     ["rollout:alowSkip", "unknown key", "did you mean 'allowSkip'"]),
    ("typo in a service key", "      replicas: 20\n      resources:\n        requests: {cpu: 250m",
     "      replcas: 20\n      resources:\n        requests: {cpu: 250m",
     ["rollout:services.backend.replcas", "did you mean 'replicas'"]),
    ("stage weight for an unknown service", "    - name: canary-25\n      weight: 25",
     "    - name: canary-25\n      weights: {backend: 25, frontend: 25, payments: 25}",
     ["rollout:stages[2].weights.payments", "unknown service"]),
    ("weight on a service without flags", "    - name: canary-25\n      weight: 25",
     "    - name: canary-25\n      weights: {backend: 25, frontend: 25, agent: 25}",
     ["rollout:stages[2].weights.agent", "has no flags"]),
    ("replicas not a number", "      replicas: 20\n      resources:\n        requests: {cpu: 250m",
     "      replicas: twenty\n      resources:\n        requests: {cpu: 250m",
     ["rollout:services.backend.replicas", "whole number", "'twenty'"]),
    ("port out of range", "port: 8000", "port: 80000", ["rollout:services.backend.port", "at most 65535"]),
    ("unknown strategy", "rollout:strategy: tracks", "rollout:strategy: blue-green",
     ["rollout:strategy", "'blue-green'", "tracks, percentage"]),
    ("duplicate stage name", "name: canary-50", "name: canary-25", ["rollout:stages[3].name", "listed twice"]),
    ("build-time flag without its own image", "      onImage: us-central1-docker.pkg.dev/acme-chat-prod/chat/frontend:1.9.0-adk-stream\n", "",
     ["rollout:services.frontend", "build-time flag", "onImage"]),
    ("flag with the same value on both tracks", '{off: "false", on: "true"}\n      # Env', '{off: "true", on: "true"}\n      # Env',
     ["rollout:services.backend.flags.ENABLE_ADK_CANONICAL_STREAM", "both 'true'"]),
    ("unquoted boolean env value", 'SESSION_CLEANUP_INTERVAL_MINUTES: "30"', "SESSION_CLEANUP_INTERVAL_MINUTES: true",
     ["rollout:services.backend.env.SESSION_CLEANUP_INTERVAL_MINUTES", "quote"]),
    ("flag on a key missing its on value", '{off: "false", on: "true"}\n      # Env', '{off: "false"}\n      # Env',
     ["rollout:services.backend.flags.ENABLE_ADK_CANONICAL_STREAM.on", "required"]),
    ("bad memory quantity", "limits: {cpu: \"1\", memory: 1Gi}", "limits: {cpu: \"1\", memory: 1 gig}",
     ["rollout:services.backend.resources.limits.memory", "quantity"]),
    ("health path without slash", "healthPath: /api/health", "healthPath: api/health",
     ["rollout:services.frontend.healthPath", "starting with '/'"]),
    ("kill switch stage with traffic on", 'rollout:killSwitch: "off"', "rollout:killSwitch: canary-5",
     ["rollout:killSwitch", "every weight at 0"]),
    ("uppercase namespace", "rollout:namespace: chat-prod", "rollout:namespace: Chat_Prod", ["rollout:namespace", "'Chat_Prod'"]),
    ("missing services", "  rollout:services:\n    agent:", "  rollout:servicez:\n    agent:", ["rollout:servicez", "did you mean 'services'"]),
    ("unknown metric kind", "requests: {counter: http_requests_total}", "requests: {summary: http_requests_total}",
     ["rollout:services.agent.metrics.signals.requests.summary", "unknown key"]),
    ("stage weight replicas cannot express", "      replicas: 20\n      resources:\n        requests: {cpu: 250m",
     "      replicas: 10\n      resources:\n        requests: {cpu: 250m", ["canary-5", "backend", "10 replicas", "rollout:services.backend.replicas"]),
    ("broken YAML", "  rollout:app: chat", "  rollout:app: [chat", ["Pulumi.prod.yaml", "not valid YAML"]),
    ("a previousStage line older versions wrote", 'rollout:stage: "off"', 'rollout:stage: "off"\n  rollout:previousStage: "off"',
     ["Pulumi.prod.yaml: rollout:previousStage: no longer used", "`pulumi up` reads the deployed stage from the stack's own outputs",
      "delete this line"]),
    ("secret env also in env", "        SESSION_SIGNING_KEY: sessionSigningKey", "        ENVIRONMENT: sessionSigningKey",
     ["rollout:services.backend.secretEnv.ENVIRONMENT", "also set in env"]),
    # Google Cloud
    ("replicas on a Cloud Run service", "      platform: cloudrun\n", "      platform: cloudrun\n      replicas: 3\n",
     ["rollout:services.frontend.replicas", "does not apply to a Cloud Run service", "minInstances"]),
    ("Cloud Run service with flags and no domain", "        domain: chat.example.com\n", "",
     ["rollout:services.frontend.cloudRun.domain", "required", "load balancer"]),
    ("no project for Cloud Run", "  gcp:project: acme-chat-prod\n", "",
     ["rollout:services.frontend.cloudRun.project", "gcp:project"]),
    ("a warm instance per track is required", "minInstances: 2 ", "minInstances: 0 ",
     ["rollout:services.frontend.cloudRun.minInstances", "cold start"]),
    ("a CPU count Cloud Run does not offer", '        cpu: "1"\n', '        cpu: "3"\n',
     ["rollout:services.frontend.cloudRun.cpu", "'3'", "1, 2, 4, 6, 8"]),
    ("Cloud Run without Managed Prometheus", "    target: gmp\n", "",
     ["rollout:monitoring.target", "must be gmp", "frontend"]),
    ("backup before an unknown stage", "stages: [canary-5]", "stages: [canary-6]",
     ["rollout:gates.cloudSqlBackup.stages[0]", "unknown stage 'canary-6'"]),
    ("a weight the load balancer cannot split", "    - name: canary-5\n      weight: 5",
     "    - name: canary-5\n      weights: {backend: 5, frontend: 2.55}",
     ["canary-5", "frontend", "0.1%"]),
]


@pytest.mark.parametrize("what,old,new,words", MISTAKES, ids=[m[0] for m in MISTAKES])
def test_a_bad_stack_file_gives_exit_2_naming_the_key_and_is_left_unchanged(project: Path, rollout, what, old, new, words):
    path = project / "Pulumi.prod.yaml"
    original = path.read_text()
    assert original.count(old) >= 1, f"test setup: {old!r} not in the stack file"
    broken = original.replace(old, new, 1)
    path.write_text(broken)
    for command in (["status", "prod"], ["plan", "prod", "--json"], ["promote", "prod"]):
        result = rollout("-C", project, *command)
        assert result.code == 2, (command, result)
        assert result.out == ""
        message = result.err.strip()
        assert message.count("\n") == 0 and "Traceback" not in message
        assert message.startswith("rollout: error: ")
        for word in words:
            assert word in message, (word, message)
    assert path.read_text() == broken


def test_there_are_at_least_fifteen_kinds_of_mistake():
    assert len(MISTAKES) >= 15


def test_a_refused_promote_leaves_the_stack_file_byte_for_byte(project: Path, rollout):
    path = project / "Pulumi.prod.yaml"
    before = path.read_bytes()
    assert rollout("-C", project, "promote", "prod", "--to", "full").code == 2
    assert rollout("-C", project, "promote", "prod", "--to", "nope").code == 2
    assert rollout("-C", project, "rollback", "prod").code == 2  # already at the first stage
    assert path.read_bytes() == before
