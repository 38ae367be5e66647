"""Plain config values that look like credentials are named; ordinary settings pass."""
from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import REPO, SHIPPED_STACKS
from rollout.spec.credentials import credential_problem, credential_problems
from rollout.spec.stack import load_stack

# Well-known example values from vendors' docs and detect-secrets's own fixtures: none is live.
CREDENTIALS = [
    ("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE", "AWS Access Key"),
    ("GITHUB_TOKEN", "ghp_16C7e42F292c6912E7710c838347Ae178B4a", "GitHub Token"),
    ("SLACK_BOT", "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx", "Slack Token"),
    ("ALERTS_HOOK", "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX", "Slack Token"),
    ("DISCORD_HOOK", "https://discord.com/api/webhooks/123456789012345678/"
                     "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789", "webhook URL with a token in its path"),
    ("NOTIFY_URL", "https://example.com/notify?channel=ops&token=0123456789abcdef0123", "URL with a token in its query"),
    ("TLS_KEY", "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----", "Private Key"),
    ("SESSION_JWT", "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0Ij"
                    "oxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c", "JSON Web Token"),
    ("DATABASE_URL", "postgres://app:s3cr3tpass@db:5432/app", "Basic Auth Credentials"),
    ("DB_PASSWORD", "hunter2", "Secret Keyword"),
    ("API_KEY", "abc123def456", "Secret Keyword"),
    ("STRIPE_KEY", "sk_live_4eC39HqLyjWDarjtT1zdp7dc", "Stripe Access Key"),
]

ORDINARY = [
    ("ADK_BASE_URL", "http://agent:8080"),
    ("CSRF_BYPASS_PATHS", "/health,/metrics"),
    ("ENVIRONMENT", "production"),
    ("SESSION_CLEANUP_TTL_MINUTES", "30"),
    ("ENABLE_ADK_CANONICAL_STREAM", "true"),
    ("NEXT_PUBLIC_API_URL", "https://chat.example.com/api"),
    ("TOKEN_TTL_SECONDS", "3600"),
    ("DB_PASSWORD", ""),  # nothing set is no credential
    ("DB_PASSWORD", "${DB_PASSWORD}"),  # a reference, not a value
    ("PASSWORD_FILE", "/run/secrets/db-password"),
    ("REQUEST_ID", "123e4567-e89b-12d3-a456-426614174000"),
    ("IMAGE", "ghcr.io/acme/x@sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"),
    ("RECEIVER", "https://api.example.com/webhooks/github-events-receiver-endpoint"),
    ("LOG_LEVEL", "info"),
]


@pytest.mark.parametrize("key, value, kind", CREDENTIALS, ids=[c[0] for c in CREDENTIALS])
def test_a_credential_in_plain_config_is_named_with_its_kind(key, value, kind):
    problem = credential_problem(key, value)
    assert problem is not None and kind in problem, problem
    assert value not in problem  # the reason never repeats the secret


@pytest.mark.parametrize("key, value", ORDINARY, ids=[f"{k}={v[:20]}" for k, v in ORDINARY])
def test_an_ordinary_setting_is_not_a_credential(key, value):
    assert credential_problem(key, value) is None


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_no_env_or_flag_value_of_a_shipped_stack_looks_like_a_credential(stack, tmp_path):
    settings = load_stack(REPO / f"Pulumi.{stack}.yaml")
    pairs = [(k, v) for s in settings.services.values() for k, v in s.env.items()]
    pairs += [(f.name, v) for s in settings.services.values() for f in s.flags.values() for v in (f.off, f.on)]
    assert len(pairs) > 10
    assert credential_problems(pairs, cache_dir=tmp_path) == []


def test_a_batch_names_each_offending_key_in_order(tmp_path):
    pairs = [("ENVIRONMENT", "production"), ("GITHUB_TOKEN", CREDENTIALS[1][1]), ("DB_PASSWORD", "hunter2")]
    assert [key for key, _ in credential_problems(pairs, cache_dir=tmp_path)] == ["GITHUB_TOKEN", "DB_PASSWORD"]
    assert list(tmp_path.iterdir()) == []  # a batch with a credential is never remembered as clean


def test_a_clean_batch_is_remembered_by_digest_and_a_changed_value_is_checked_again(tmp_path):
    clean = [("ENVIRONMENT", "production"), ("ADK_BASE_URL", "http://agent:8080")]
    assert credential_problems(clean, cache_dir=tmp_path) == []
    markers = list(tmp_path.iterdir())
    assert len(markers) == 1 and "production" not in markers[0].name and markers[0].read_bytes() == b""
    changed = [("ENVIRONMENT", "production"), ("ADK_BASE_URL", "http://u:s3cr3tpass@agent:8080")]
    assert [key for key, _ in credential_problems(changed, cache_dir=tmp_path)] == ["ADK_BASE_URL"]


def test_a_remembered_clean_batch_does_not_import_detect_secrets(tmp_path):
    script = (
        "import sys; from pathlib import Path; from rollout.spec.credentials import credential_problems;"
        f"folder = Path({str(tmp_path)!r});"
        "pairs = [('ENVIRONMENT', 'production'), ('PATHS', '/health,/metrics')];"
        "assert credential_problems(pairs, cache_dir=folder) == [];"
        "print('detect_secrets' in sys.modules)"
    )
    run = lambda: subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,  # noqa: E731
                                 cwd=REPO).stdout.strip()
    assert run() == "True"  # first time: checked
    assert run() == "False"  # unchanged values: answered from the cache
