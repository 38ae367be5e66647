"""What Kubernetes or Pulumi would reject, and what an attacker would try, ends at load: exit 2, one
line naming the file (and the key or line), never a traceback, and the file untouched."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO

PROD = (REPO / "Pulumi.prod.yaml").read_text()


def _cli(path: Path, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """The real command in its own process: a crash (a segfault in a C parser) would show as a signal."""
    return subprocess.run([sys.executable, "-m", "rollout.cli.main", *args, str(path)], capture_output=True,
                          text=True, timeout=timeout, cwd=path.parent)


def _refused(path: Path, *words: str, command: str = "status") -> str:
    before = path.read_bytes()
    started = time.perf_counter()
    result = _cli(path, command)
    elapsed = time.perf_counter() - started
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("rollout: error: "), result.stderr[-2000:]
    assert "Traceback" not in result.stderr and path.name in result.stderr
    for word in words:
        assert word in result.stderr, result.stderr
    assert path.read_bytes() == before
    assert elapsed < 10, f"took {elapsed:.1f}s"
    return result.stderr


def _write(tmp_path: Path, data: str | bytes, name: str = "Pulumi.prod.yaml") -> Path:
    (tmp_path / "Pulumi.yaml").write_text((REPO / "Pulumi.yaml").read_text())
    path = tmp_path / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return path


# -- hostile files ---------------------------------------------------------------------------

def test_undecodable_bytes_name_the_line(tmp_path):
    path = _write(tmp_path, PROD.encode().replace(b"ghcr.io/acme/chat-agent", b"ghcr.io/acme/\xff\xfechat-agent"))
    line = PROD[:PROD.index("ghcr.io/acme/chat-agent")].count("\n") + 1
    _refused(path, "not UTF-8", f"line {line}")


def test_a_hundred_thousand_nested_brackets_end_fast_without_crashing(tmp_path):
    path = _write(tmp_path, "config:\n  rollout:app: " + "[" * 100_000 + "]" * 100_000 + "\n")
    _refused(path, "brackets deep")


def test_deep_block_nesting_ends_fast_without_crashing(tmp_path):
    path = _write(tmp_path, "config:\n  rollout:app:\n" + "- " * 100_000 + "x\n")
    _refused(path, "levels of indentation")


def test_a_billion_laughs_alias_bomb_ends_fast(tmp_path):
    lines = ["config:", '  rollout:app: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    previous = "a"
    for level in "bcdefghij":
        lines.append(f"  rollout:x{level}: &{level} [" + ", ".join([f"*{previous}"] * 9) + "]")
        previous = level
    path = _write(tmp_path, "\n".join(lines) + "\n")
    _refused(path, "alias bomb")


def test_a_file_over_the_size_bound_is_refused_before_parsing(tmp_path):
    path = _write(tmp_path, PROD + "# " + "x" * (9 * 1024 * 1024) + "\n")
    _refused(path, "limited to")


def test_duplicate_keys_are_refused_as_pulumi_refuses_them(tmp_path):
    path = _write(tmp_path, PROD.replace('  rollout:stage: "off"\n', '  rollout:stage: "off"\n  rollout:stage: full\n'))
    line = PROD[:PROD.index('  rollout:stage: "off"')].count("\n") + 2
    _refused(path, "'rollout:stage' appears twice", f"line {line}")


def test_a_duplicate_service_key_is_refused(tmp_path):
    path = _write(tmp_path, PROD.replace("      replicas: 20\n      resources:\n        requests: {cpu: 250m",
                                         "      replicas: 20\n      replicas: 2\n      resources:\n        requests: {cpu: 250m"))
    _refused(path, "'replicas' appears twice")


def test_a_bare_key_without_a_namespace_is_refused(tmp_path):
    path = _write(tmp_path, PROD.replace('  rollout:stage: "off"', '  rollout:stage: "off"\n  stage: full'))
    _refused(path, "stage: has no namespace")


def test_an_empty_file_and_a_file_without_config_are_refused(tmp_path):
    _refused(_write(tmp_path, ""), "config: is missing")
    _refused(_write(tmp_path, "name: x\n"), "config: is required")


# -- read exactly as Pulumi reads it (YAML 1.2 core schema) ----------------------------------------

@pytest.mark.parametrize("written,read", [("1:30", "1:30"), ("off", "off"), ("yes", "yes"), ("2026-01-01", "2026-01-01"),
                                          ("8080", "8080"), ("~x", "~x")])
def test_plain_values_stay_the_text_the_user_wrote(tmp_path, written, read):
    from rollout.spec.stack import load_stack

    path = _write(tmp_path, PROD.replace("SESSION_CLEANUP_TTL_MINUTES: \"30\"", f"SESSION_CLEANUP_TTL_MINUTES: {written}"))
    assert load_stack(path).services["backend"].env["SESSION_CLEANUP_TTL_MINUTES"] == read


@pytest.mark.parametrize("written,words", [("0755", "ambiguous"), ("1.10", "quote it"), ("1e3", "quote it"),
                                           ("0x1F", "quote it"), ("true", "quote numbers and booleans")])
def test_values_yaml_would_turn_into_other_numbers_are_refused(tmp_path, written, words):
    path = _write(tmp_path, PROD.replace("SESSION_CLEANUP_TTL_MINUTES: \"30\"", f"SESSION_CLEANUP_TTL_MINUTES: {written}"))
    _refused(path, words)


# -- numbers and names Kubernetes would reject ----------------------------------------------------

@pytest.mark.parametrize("old,new,key", [
    ("weight: 5\n", "weight: .nan\n", "rollout:stages[1].weight"),
    ("weight: 5\n", "weight: .inf\n", "rollout:stages[1].weight"),
    ("rollout:weightTolerance: 1", "rollout:weightTolerance: .nan", "rollout:weightTolerance"),
    ("minRequests: 100", "minRequests: .inf", "rollout:gates.minRequests"),
    ("errorRate: {max: 1}      ", "errorRate: {max: .nan}   ", "rollout:gates.checks.errorRate.max"),
    ("margins: {yellow: 5, red: 10}", "margins: {yellow: 5, red: -.inf}", "rollout:gates.margins.red"),
    ("canary: {minRequestRate: 0.1}", "canary: {minRequestRate: .nan}", "rollout:monitoring.canary.minRequestRate"),
])
def test_nan_and_infinities_are_refused(tmp_path, old, new, key):
    assert old in PROD
    _refused(_write(tmp_path, PROD.replace(old, new, 1)), key, "finite")


@pytest.mark.parametrize("old,new,key", [
    ("    backend:\n      image", "    Backend:\n      image", "rollout:services.Backend"),
    ("    backend:\n      image", "    1backend:\n      image", "rollout:services.1backend"),
    ("    backend:\n      image", "    " + "b" * 41 + ":\n      image", "at most 40"),
    ("rollout:namespace: chat-prod", "rollout:namespace: " + "n" * 64, "rollout:namespace"),
    ("rollout:namespace: chat-prod", "rollout:namespace: Chat_Prod", "rollout:namespace"),
    ("rollout:app: chat", "rollout:app: chat-", "rollout:app"),
    ("        ENVIRONMENT: production\n        SESSION", "        1ENVIRONMENT: production\n        SESSION",
     "rollout:services.backend.env.1ENVIRONMENT"),
    ("resourceLabels: {release: kube-prometheus-stack}", "resourceLabels: {release: -bad-}",
     "rollout:monitoring.resourceLabels.release"),
    ("        requests: {cpu: 250m, memory: 512Mi}", "        requests: {cpu: \"2\", memory: 512Mi}",
     "rollout:services.backend.resources.requests.cpu"),
    ("      port: 8000\n", "      port: 8000\n      podSecurity: {runAsUser: 0}\n", "rollout:services.backend.podSecurity.runAsUser"),
])
def test_names_and_values_kubernetes_would_reject_are_refused_with_the_key(tmp_path, old, new, key):
    assert old in PROD
    _refused(_write(tmp_path, PROD.replace(old, new, 1)), key)


def test_a_stack_name_that_cannot_label_resources_is_refused(tmp_path):
    _refused(_write(tmp_path, PROD, name="Pulumi.prod_.yaml"), "cannot label resources")


def test_a_config_map_over_one_mebibyte_is_refused(tmp_path):
    big = "x" * (1024 * 1024 + 1)
    path = _write(tmp_path, PROD.replace("        ENVIRONMENT: production\n        SESSION",
                                         f"        ENVIRONMENT: production\n        BLOB: {big}\n        SESSION", 1))
    _refused(path, "rollout:services.backend.env", "1 MiB")


# -- ladders and env that cannot work -------------------------------------------------------------

@pytest.mark.parametrize("old,new,words", [
    ("    - name: canary-5\n      weight: 5", "    - name: canary-5\n      weight: 5\n      weights: {backend: 5, frontend: 5}",
     "gives both weight and weights"),
    ("    - name: canary-5\n      weight: 5", "    - name: canary-5\n      weights: ~", "rollout:stages[1]"),
])
def test_a_stage_weight_given_twice_or_as_nothing_is_refused(tmp_path, old, new, words):
    _refused(_write(tmp_path, PROD.replace(old, new)), words)


def test_an_env_var_that_collides_with_the_percentage_variable_is_refused(tmp_path):
    text = PROD.replace("rollout:strategy: tracks", "rollout:strategy: percentage")
    text = text.replace("      onImage: ghcr.io/acme/chat-frontend:1.9.0-adk-stream\n", "")
    text = text.replace("{off: \"false\", on: \"true\", buildTime: true}", "{off: \"false\", on: \"true\"}")
    text = text.replace("        ENVIRONMENT: production\n        SESSION", "        ROLLOUT_PERCENTAGE: \"5\"\n        SESSION")
    _refused(_write(tmp_path, text), "rollout:services.backend.env.ROLLOUT_PERCENTAGE", "rollout:percentageEnv")


# -- secrets ----------------------------------------------------------------------------------

AWS_KEY = "AKIAIOSFODNN7EXAMPLE"  # AWS's documented example key id


def test_a_credential_in_plain_env_is_refused_pointing_to_secret_env(tmp_path):
    path = _write(tmp_path, PROD.replace("        ENVIRONMENT: production\n        SESSION",
                                         f"        ENVIRONMENT: production\n        AWS_ACCESS_KEY_ID: {AWS_KEY}\n        SESSION", 1))
    message = _refused(path, "rollout:services.backend.env.AWS_ACCESS_KEY_ID", "credential", "secretEnv")
    assert AWS_KEY not in message, "the error must not print the secret"


def test_a_stack_may_allow_one_key_explicitly(tmp_path):
    from rollout.spec.stack import load_stack

    text = PROD.replace("        ENVIRONMENT: production\n        SESSION",
                        f"        ENVIRONMENT: production\n        AWS_ACCESS_KEY_ID: {AWS_KEY}\n        SESSION", 1)
    text = text.replace("      secretEnv:\n        SESSION_SIGNING_KEY", "      allowPlainValues: [AWS_ACCESS_KEY_ID]\n      secretEnv:\n        SESSION_SIGNING_KEY")
    assert load_stack(_write(tmp_path, text)).services["backend"].env["AWS_ACCESS_KEY_ID"] == AWS_KEY


def test_a_secret_env_entry_holding_the_secret_itself_is_refused(tmp_path):
    path = _write(tmp_path, PROD.replace("SESSION_SIGNING_KEY: sessionSigningKey", f"SESSION_SIGNING_KEY: {AWS_KEY}"))
    _refused(path, "rollout:services.backend.secretEnv.SESSION_SIGNING_KEY", "NAME of a Pulumi secret config key")


def test_a_routing_entry_that_is_a_webhook_url_is_refused(tmp_path):
    path = _write(tmp_path, PROD.replace("webhookSecret: slackWebhookUrl",
                                         "webhookSecret: https://hooks.slack.com/services/T000/B000/XXXX"))
    _refused(path, "rollout:monitoring.routing.slack.webhookSecret")


# -- every command validates the whole file ---------------------------------------------------

@pytest.mark.parametrize("command", ["status", "plan", "promote", "rollback", "history"])
def test_every_command_refuses_a_typo_in_gates_or_monitoring(tmp_path, command):
    path = _write(tmp_path, PROD.replace("    minSoak: 15m", "    minSoek: 15m"))
    _refused(path, "rollout:gates.minSoek", "did you mean 'minSoak'", command=command)
