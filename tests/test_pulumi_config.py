"""The program reads its settings through Pulumi's config and checks them with the CLI's validator.

For every stack file, the file path (`rollout`) and the Pulumi-config path (the program) give
equal settings and equal manifests, bad values read the same, secrets stay out, and what Pulumi
config overrides is what gets registered. The stack file is turned into config the way the
Pulumi CLI does it (harness/pulumi_config.py).
"""
from __future__ import annotations

import json
from pathlib import Path

import pulumi
import pytest
import yaml

from harness.mock_program import language_host_config, run_stack_file
from harness.pulumi_config import config_from_stack_file
from harness.stacks import REPO_ROOT, STACK_FILES, rendered, secret_values
from rollout.build.resources import build_manifests
from rollout.errors import ConfigError
from rollout.pulumi.config import settings_from_pulumi_config, typed_value
from rollout.spec.model import StackSettings
from rollout.spec.stack import TOP_LEVEL_KEYS, TOP_LEVEL_TYPES, load_stack, stack_name_from_path
from rollout.spec.yaml12 import load_yaml

PROD = REPO_ROOT / "Pulumi.prod.yaml"


def settings_through_pulumi(
    stack_file: Path, overrides: dict[str, str] | None = None, secrets: dict[str, str] | None = None,
    text: str | None = None,
) -> StackSettings:
    """What the program reads when Pulumi hands it this stack file's config (plus overrides and secrets)."""
    config, _ = config_from_stack_file(stack_file.read_text(encoding="utf-8") if text is None else text)
    with language_host_config({**config, **(overrides or {}), **(secrets or {})}, secret_keys=list(secrets or {})):
        return settings_from_pulumi_config(stack_name_from_path(stack_file), stack_file)


def edited(tmp_path: Path, old: str, new: str) -> Path:
    """A copy of the prod stack file with one edit."""
    text = PROD.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "Pulumi.prod.yaml"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


# -- both paths agree ---------------------------------------------------------------------

@pytest.mark.parametrize("stack_file", STACK_FILES, ids=lambda p: p.name)
def test_every_stack_file_gives_equal_settings_and_manifests_through_pulumi_config(stack_file):
    from_file = load_stack(stack_file)
    from_config = settings_through_pulumi(stack_file)
    assert from_config == from_file
    assert list(from_config.services) == list(from_file.services), "the same roll order"
    assert from_config.stage_names == from_file.stage_names
    for stage in from_file.stage_names:
        # Compared as data: Pulumi sorts a mapping's keys, which changes no manifest's meaning.
        assert build_manifests(from_config, stage) == build_manifests(from_file, stage)


def test_every_key_of_the_schema_has_a_type_for_reading_it_back():
    assert set(TOP_LEVEL_TYPES) == set(TOP_LEVEL_KEYS)


@pytest.mark.parametrize("key,text,value", [
    ("stage", "1.10", "1.10"),  # text stays text: never the number 1.1
    ("stage", "off", "off"),  # never the boolean false
    ("app", "true", "true"),
    ("killSwitch", "5", "5"),
    ("killSwitch", "", None),  # a YAML null reaches the program as ""
    ("allowSkip", "true", True),
    ("allowSkip", "False", False),
    ("allowSkip", "yes", "yes"),  # left for the validator to refuse
    ("weightTolerance", "1", 1),
    ("weightTolerance", "0.5", 0.5),
    ("weightTolerance", "nan", "nan"),
    ("stages", '[{"name":"off","weight":0}]', [{"name": "off", "weight": 0}]),
    ("services", "{not json", "{not json"),
])
def test_each_value_is_read_back_by_the_type_its_key_has(key, text, value):
    assert typed_value(key, text) == value
    assert type(typed_value(key, text)) is type(value)


def test_a_stage_named_like_a_number_stays_a_string(tmp_path):
    path = edited(tmp_path, "- name: canary-5\n", "- name: \"1.10\"\n")
    path.write_text(path.read_text(encoding="utf-8").replace("stages: [canary-5]", 'stages: ["1.10"]'), encoding="utf-8")
    text = path.read_text(encoding="utf-8").replace('rollout:stage: "off"', "rollout:stage: 1.10")  # unquoted
    assert config_from_stack_file(text)[0]["rollout:stage"] == "1.10", "the Pulumi CLI passes the scalar as written"
    settings = settings_through_pulumi(path, text=text)
    assert settings.stage == "1.10" and "1.10" in settings.stage_names


def test_the_harness_hands_values_over_as_the_pulumi_cli_does():
    config, secure = config_from_stack_file(
        "config:\n  rollout:stage: off\n  rollout:allowSkip: false\n  rollout:killSwitch:\n"
        "  rollout:services: {b: {x: 1}, a: {y: true}}\n  rollout:key: {secure: v1:abc}\n"
    )
    assert config == {
        "rollout:stage": "off", "rollout:allowSkip": "false", "rollout:killSwitch": "",
        "rollout:services": '{"a":{"y":true},"b":{"x":1}}',  # a Go map: keys sorted
    }
    assert secure == ["rollout:key"]


# -- what Pulumi config says is what the program does ------------------------------------------

def test_an_override_given_through_pulumi_config_is_what_gets_registered(tmp_path):
    settings = load_stack(PROD)
    assert settings.stage == "off"
    run = run_stack_file(
        tmp_path, "prod", PROD.read_text(encoding="utf-8"), secret_values(rendered(settings)),
        overrides={"rollout:stage": "canary-50"},  # pulumi up --config rollout:stage=canary-50
    )
    replicas = {r.inputs["metadata"]["name"]: r.inputs["spec"]["replicas"] for r in run.resources.values() if r.type.endswith(":Deployment")}
    assert replicas, "prod's agent and backend run on Kubernetes"
    wanted = {d["metadata"]["name"]: d["spec"]["replicas"] for d in rendered(settings, "canary-50") if d.get("kind") == "Deployment"}
    assert replicas == wanted
    assert replicas != {d["metadata"]["name"]: d["spec"]["replicas"] for d in rendered(settings, "off") if d.get("kind") == "Deployment"}
    assert run.outputs["stage"] == "canary-50"


def test_keys_pulumi_config_supplies_from_elsewhere_count():
    """ESC, --config-file and the Kubernetes Operator's Stack config all arrive as Pulumi config."""
    settings = settings_through_pulumi(PROD, overrides={"rollout:allowSkip": "true", "rollout:weightTolerance": "2.5"})
    assert settings.allow_skip is True and settings.weight_tolerance == 2.5
    assert load_stack(PROD).allow_skip is False


# -- errors read the same on both paths ----------------------------------------------------

@pytest.mark.parametrize("old,new", [
    ('rollout:stage: "off"', "rollout:stage: canary-7"),
    ("rollout:allowSkip: false", "rollout:allowSkip: maybe"),
    ("rollout:weightTolerance: 1", "rollout:weightTolerance: 200"),
    ("      replicas: 20\n", "      replcas: 20\n"),
    ('rollout:stage: "off"', 'rollout:stage: "off"\n  rollout:stagee: canary-5'),  # an unknown rollout:* key
    ('rollout:stage: "off"', 'rollout:stage: "off"\n  rollout:previousStage: canary-5'),  # a retired key
])
def test_a_bad_value_reads_the_same_through_pulumi_config(tmp_path, old, new):
    path = edited(tmp_path, old, new)
    with pytest.raises(ConfigError) as from_file:
        load_stack(path)
    with pytest.raises(ConfigError) as from_config:
        settings_through_pulumi(path)
    assert str(from_config.value) == str(from_file.value)
    assert str(from_config.value).startswith("Pulumi.prod.yaml: rollout:")


def test_an_unknown_key_only_pulumi_config_has_is_refused_by_name():
    with pytest.raises(ConfigError) as raised:
        settings_through_pulumi(PROD, overrides={"rollout:replicas": "3"})  # e.g. pulumi up --config rollout:replicas=3
    assert str(raised.value).startswith("Pulumi.prod.yaml: rollout:replicas: unknown key; allowed: rollout:app, ")


@pytest.mark.parametrize("value", ["canary-5", ""])
def test_a_previous_stage_only_pulumi_config_passes_is_refused_by_name(value):
    """e.g. a CI step still running `pulumi up --config rollout:previousStage=$(pulumi stack output stage)`."""
    with pytest.raises(ConfigError) as raised:
        settings_through_pulumi(PROD, overrides={"rollout:previousStage": value})
    assert str(raised.value) == ("Pulumi.prod.yaml: rollout:previousStage: no longer used: `pulumi up` reads the "
                                 "deployed stage from the stack's own outputs; delete this line")


def test_a_bad_value_stops_the_program_with_the_same_message(tmp_path):
    text = PROD.read_text(encoding="utf-8")
    with pytest.raises(pulumi.RunError) as raised:
        run_stack_file(tmp_path, "prod", text, secret_values(rendered(load_stack(PROD))), overrides={"rollout:stage": "canary-7"})
    message = str(raised.value)
    assert message.startswith("Pulumi.prod.yaml: rollout:stage: unknown stage 'canary-7'")


# -- secrets ---------------------------------------------------------------------------------

def test_secret_config_never_enters_the_settings():
    secrets = {"rollout:sessionSigningKey": "s3cr3t-signing", "rollout:teamOnlySecret": "s3cr3t-other"}
    settings = settings_through_pulumi(PROD, secrets=secrets)
    assert "s3cr3t" not in repr(settings)
    assert "teamOnlySecret" not in repr(settings), "secret keys are no settings"


def test_a_schema_key_set_as_a_secret_is_refused_without_its_value():
    with pytest.raises(ConfigError) as raised:
        settings_through_pulumi(PROD, secrets={"rollout:stage": "canary-5"})
    message = str(raised.value)
    assert message.startswith("Pulumi.prod.yaml: rollout:stage: is set as a secret")
    assert "pulumi config set rollout:stage <value>" in message and "canary-5" not in message


# -- the roll order Pulumi config cannot carry -------------------------------------------------

def stack_with_services_in(tmp_path: Path, order: list[str]) -> Path:
    """A stack file declaring prod's services in another roll order."""
    document = json.loads(json.dumps(load_yaml(PROD.read_text(encoding="utf-8"))))  # plain ints for safe_dump
    services = document["config"]["rollout:services"]
    document["config"]["rollout:services"] = {name: services[name] for name in order}
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "Pulumi.prod.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def test_the_roll_order_pulumi_config_loses_is_taken_from_the_stack_file(tmp_path):
    order = ["backend", "frontend", "agent"]  # the frontend runs on Cloud Run, between two GKE services
    path = stack_with_services_in(tmp_path / "file", order)
    config, _ = config_from_stack_file(path.read_text(encoding="utf-8"))
    assert list(json.loads(config["rollout:services"])) == sorted(order), "what Pulumi hands over"
    assert list(settings_through_pulumi(path).services) == order
    run = run_stack_file(tmp_path / "run", "prod", path.read_text(encoding="utf-8"), secret_values(rendered(load_stack(path))))
    assert list(run.components) == order, "one component per service, Cloud Run ones too, applied in the file's order"


def test_services_the_stack_file_does_not_declare_are_refused_rather_than_rolled_in_a_guessed_order(tmp_path):
    services = json.loads(config_from_stack_file(PROD.read_text(encoding="utf-8"))[0]["rollout:services"])
    services["billing"] = services["agent"]
    with pytest.raises(ConfigError) as raised:
        settings_through_pulumi(PROD, overrides={"rollout:services": json.dumps(services, sort_keys=True)})
    message = str(raised.value)
    assert message.startswith("Pulumi.prod.yaml: rollout:services: Pulumi config passes the services agent, backend, billing, frontend")
    assert "roll order is only known from Pulumi.prod.yaml" in message


def test_without_a_stack_file_several_services_have_no_known_roll_order(tmp_path):
    config, _ = config_from_stack_file(PROD.read_text(encoding="utf-8"))
    with language_host_config(config, secret_keys=[]):
        with pytest.raises(ConfigError, match="does not declare rollout:services"):
            settings_from_pulumi_config("prod", tmp_path / "Pulumi.prod.yaml")


def test_a_single_service_needs_no_stack_file(tmp_path):
    fleet = PROD.parent / "tests" / "apps" / "Pulumi.fleet.yaml"  # one service: no order to lose
    config, _ = config_from_stack_file(fleet.read_text(encoding="utf-8"))
    with language_host_config(config, secret_keys=[]):
        settings = settings_from_pulumi_config("fleet", tmp_path / "Pulumi.fleet.yaml")
    assert list(settings.services) == ["edge"]
