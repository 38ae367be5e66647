"""The stack file as a whole and its services, each rule at its edge: exactly at a limit is accepted,
one past it is refused with the key and the exact message (found by mutation testing, bench/mutation.py)."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from conftest import REPO
from rollout.errors import ConfigError
from rollout.spec import gcp
from rollout.spec.model import MetricContract, PodSecurity, RollbackOrder, Signal, Strategy
from rollout.spec.stack import is_secure, load_stack, parse_stack, read_document, stack_name_from_path

FILE = "Pulumi.prod.yaml"
API = {"image": "registry.example/api:1", "port": 8080, "healthPath": "/healthz", "replicas": 4,
       "flags": {"NEW_UI": {"off": "0", "on": "1"}}}
DB = {"image": "registry.example/db:1", "port": 5432, "healthPath": "/ready", "replicas": 1}
LADDER = [{"name": "off", "weight": 0}, {"name": "half", "weight": 50}, {"name": "full", "weight": 100}]


def document(api: dict | None = None, db: dict | None = None, **config) -> dict:
    """A small stack of a made-up shop: `api` carries a flag, `db` has none. Keyword arguments set
    rollout:<key>; `api`/`db` entries are merged into the service (None removes a key)."""
    services = {}
    for name, base, changes in (("api", API, api), ("db", DB, db)):
        service = copy.deepcopy(base)
        for key, value in (changes or {}).items():
            if value is None:
                service.pop(key, None)
            else:
                service[key] = copy.deepcopy(value)
        services[name] = service
    out = {"rollout:app": "shop", "rollout:namespace": "shop", "rollout:stage": "off",
           "rollout:stages": copy.deepcopy(LADDER), "rollout:services": services}
    out.update({f"rollout:{key}": copy.deepcopy(value) for key, value in config.items()})
    return {"config": {k: v for k, v in out.items() if v is not None}}


def load(doc: dict, stack: str = "prod"):
    return parse_stack(doc, stack, FILE)


def refused(doc: dict, stack: str = "prod") -> str:
    """The one-line message, file and key included."""
    with pytest.raises(ConfigError) as err:
        load(doc, stack)
    assert err.value.exit_code == 2
    return str(err.value)


# -- reading the file ---------------------------------------------------------------------------

def test_a_missing_file_and_a_folder_are_named(tmp_path: Path):
    with pytest.raises(ConfigError) as err:
        read_document(tmp_path / FILE)
    assert str(err.value) == f"{tmp_path / FILE}: (file): does not exist"
    with pytest.raises(ConfigError) as err:
        read_document(tmp_path)
    assert str(err.value) == f"{tmp_path}: (file): is a folder, not a stack file"


def test_broken_yaml_names_line_and_column(tmp_path: Path):
    path = tmp_path / FILE
    path.write_text("config:\n  rollout:app: [shop\n")
    with pytest.raises(ConfigError) as err:
        read_document(path)
    assert str(err.value).startswith("Pulumi.prod.yaml: line 3, column 1: is not valid YAML: ")


def test_a_path_that_cannot_be_read_says_why(tmp_path: Path):
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigError) as err:
        read_document(tmp_path / "file" / FILE)
    assert str(err.value) == f"{tmp_path / 'file' / FILE}: (file): cannot be read: Not a directory"


def test_a_file_the_yaml_reader_refuses_is_named_with_the_line(tmp_path: Path):
    path = tmp_path / FILE
    path.write_text("config:\n  rollout:app: a\n  rollout:app: b\n")
    with pytest.raises(ConfigError) as err:
        read_document(path)
    assert str(err.value) == ("Pulumi.prod.yaml: line 3: key 'rollout:app' appears twice in one mapping (first on line 2); "
                              "Pulumi refuses duplicate keys, keep one")


def test_a_control_character_is_refused_for_the_whole_file(tmp_path: Path):
    path = tmp_path / FILE
    path.write_text("config:\n  rollout:app: \x07\n")
    with pytest.raises(ConfigError) as err:
        read_document(path)
    assert str(err.value).startswith("Pulumi.prod.yaml: (file): is not valid YAML: unacceptable character #x0007")


def test_the_stack_name_comes_from_the_file_name():
    assert stack_name_from_path(Path("Pulumi.prod.yaml")) == "prod"
    assert stack_name_from_path(Path("x/Pulumi.eu.staging.yml")) == "eu.staging"
    assert stack_name_from_path(Path("stack.yaml")) == "stack"


def test_a_stack_file_is_loaded_under_its_own_name_or_the_one_given(tmp_path: Path):
    import yaml

    path = tmp_path / "Pulumi.eu.yaml"
    path.write_text(yaml.safe_dump(document()))
    settings = load_stack(path)
    assert (settings.stack, settings.file) == ("eu", "Pulumi.eu.yaml")
    settings = load_stack(path, "us", display_name="stacks/us")
    assert (settings.stack, settings.file) == ("us", "stacks/us")


# -- top-level keys ---------------------------------------------------------------------------

def test_an_empty_document_and_keys_without_a_namespace_are_refused():
    assert refused(None) == "Pulumi.prod.yaml: config: is missing: the file is empty"
    for key in ("stage", ":stage", "rollout:"):
        doc = document()
        doc["config"][key] = "off"
        assert refused(doc) == (f"Pulumi.prod.yaml: {key}: has no namespace: Pulumi config keys look like "
                                "rollout:<name> (or <provider>:<name>)")


def test_config_must_be_a_mapping():
    assert refused({"config": ["rollout:app"]}) == "Pulumi.prod.yaml: config: must be a mapping of keys to values, got a list"
    assert refused({"name": "x"}) == "Pulumi.prod.yaml: config: is required but missing"


def test_other_namespaces_and_secure_values_are_left_to_their_owners():
    doc = document()
    doc["config"]["kubernetes:context"] = "prod"
    doc["config"]["rollout:sessionKey"] = {"secure": "AAABAJ..."}
    assert load(doc).app == "shop"
    assert is_secure({"secure": "x"}) and not is_secure({"secure": "x", "other": 1}) and not is_secure("x")


def test_an_unknown_rollout_key_lists_every_allowed_one():
    doc = document()
    doc["config"]["rollout:stagez"] = "off"
    message = refused(doc)
    assert message.startswith("Pulumi.prod.yaml: rollout:stagez: unknown key (did you mean 'stage'?); allowed: "
                              "rollout:app, rollout:namespace, rollout:strategy, rollout:stage, ")
    assert message.endswith(", rollout:gitops (or a secret set with `pulumi config set --secret`)")


def test_a_retired_key_is_refused_with_what_to_do():
    assert refused(document(previousStage="off")) == (
        "Pulumi.prod.yaml: rollout:previousStage: no longer used: `pulumi up` reads the deployed stage from the "
        "stack's own outputs; delete this line")


def test_a_stack_name_that_cannot_be_a_label_is_refused():
    assert refused(document(), stack="prod_") == (
        "Pulumi.prod.yaml: (stack name): 'prod_' cannot label resources: letters, digits, '-', '_' and '.', "
        "starting and ending with a letter or digit, at most 63")
    assert load(document(), stack="p" * 63).stack == "p" * 63
    assert "cannot label resources" in refused(document(), stack="p" * 64)


def test_app_names_of_40_characters_are_accepted_and_41_refused():
    assert load(document(app="a" * 40)).app == "a" * 40
    assert refused(document(app="a" * 41)) == (
        "Pulumi.prod.yaml: rollout:app: is 41 characters long; at most 40 are allowed")


def test_namespaces_of_63_characters_are_accepted_and_64_refused():
    assert load(document(namespace="n" * 63)).namespace == "n" * 63
    assert refused(document(namespace="n" * 64)) == (
        "Pulumi.prod.yaml: rollout:namespace: is 64 characters long; at most 63 are allowed")


def test_a_namespace_kubernetes_would_refuse_says_what_it_may_hold():
    assert refused(document(namespace="Shop")) == (
        "Pulumi.prod.yaml: rollout:namespace: 'Shop' is not allowed: a Kubernetes namespace name: lowercase letters, "
        "digits and '-'")


def test_gitops_defaults_to_pull_requests_and_takes_push():
    assert load(document()).gitops.on_rollback == "pull-request"
    assert load(document(gitops={"onRollback": "push"})).gitops.on_rollback == "push"


def test_required_keys_are_named_when_missing():
    for key in ("app", "namespace", "services", "stages", "stage"):
        assert refused(document(**{key: None})) == f"Pulumi.prod.yaml: rollout:{key}: is required but missing"


def test_the_defaults_of_the_optional_keys():
    settings = load(document())
    assert settings.strategy is Strategy.TRACKS and settings.percentage_env == "ROLLOUT_PERCENTAGE"
    assert settings.allow_skip is False and settings.weight_tolerance == 1.0
    assert settings.kill_switch == "off" and settings.rollback_order is RollbackOrder.REVERSE


def test_optional_keys_take_the_values_given():
    settings = load(document(strategy="percentage", percentageEnv="ROLL_PCT", allowSkip=True,
                             weightTolerance=2.5, rollbackOrder="declared", stage="half"))
    assert settings.strategy is Strategy.PERCENTAGE and settings.percentage_env == "ROLL_PCT"
    assert (settings.allow_skip, settings.weight_tolerance) == (True, 2.5)
    assert settings.rollback_order is RollbackOrder.DECLARED and settings.stage == "half"


def test_the_weight_tolerance_is_a_percentage():
    assert load(document(weightTolerance=0)).weight_tolerance == 0
    assert load(document(weightTolerance=100)).weight_tolerance == 100
    assert refused(document(weightTolerance=100.5)) == "Pulumi.prod.yaml: rollout:weightTolerance: must be at most 100, got 100.5"


# -- stages ------------------------------------------------------------------------------------

def test_a_stage_reference_must_be_a_stage_of_the_ladder():
    assert refused(document(stage=True)) == (
        "Pulumi.prod.yaml: rollout:stage: must be a stage name, got the boolean true; quote it")
    assert refused(document(stage="hlaf")) == (
        "Pulumi.prod.yaml: rollout:stage: unknown stage 'hlaf' (did you mean 'half'?); the ladder is off -> half -> full")


def test_an_empty_ladder_is_refused():
    assert refused(document(stages=[])) == "Pulumi.prod.yaml: rollout:stages: must list at least one stage"


def test_stage_names_of_63_characters_are_accepted_and_64_refused():
    ladder = [{"name": "off", "weight": 0}, {"name": "s" * 63, "weight": 50}]
    assert load(document(stages=ladder)).stage_names == ["off", "s" * 63]
    ladder[1]["name"] = "s" * 64
    assert refused(document(stages=ladder)) == (
        "Pulumi.prod.yaml: rollout:stages[1].name: is 64 characters long; at most 63 are allowed")


def test_stage_names_are_unique():
    ladder = [{"name": "off", "weight": 0}, {"name": "half", "weight": 50}, {"name": "half", "weight": 60}]
    assert refused(document(stages=ladder)) == (
        "Pulumi.prod.yaml: rollout:stages[2].name: stage 'half' is listed twice; stage names must be unique")


def test_weights_are_percentages_up_to_exactly_100():
    for key, value, path in (("weight", 100.5, "weight"), ("weights", {"api": 100.5}, "weights.api")):
        ladder = [{"name": "off", "weight": 0}, {"name": "over", key: value}]
        assert refused(document(stages=ladder)) == f"Pulumi.prod.yaml: rollout:stages[1].{path}: must be at most 100, got 100.5"
    ladder = [{"name": "off", "weights": {"api": 0}}, {"name": "full", "weights": {"api": 100}}]
    assert dict(load(document(stages=ladder)).stage_named("full").weights) == {"api": 100.0}


def test_a_stage_gives_one_weight_or_per_service_weights_not_both():
    ladder = [{"name": "off", "weight": 0, "weights": {"api": 0}}]
    assert refused(document(stages=ladder)) == (
        "Pulumi.prod.yaml: rollout:stages[0]: gives both weight and weights; use weight (every flagged service) or "
        "weights (per service)")
    ladder = [{"name": "off", "weights": {"api": 0, "cache": 0}}]
    assert refused(document(stages=ladder)) == "Pulumi.prod.yaml: rollout:stages[0].weights.cache: unknown service; services are api, db"


def test_a_stage_needs_a_weight_or_weights_for_every_flagged_service():
    assert refused(document(stages=[{"name": "off"}])) == (
        "Pulumi.prod.yaml: rollout:stages[0]: needs `weight` (one percentage for every flagged service) or "
        "`weights` (per service)")
    assert refused(document(stages=[{"name": "off", "weights": {}}])) == (
        "Pulumi.prod.yaml: rollout:stages[0].weights: has no weight for api")


def test_weight_gives_every_flagged_service_the_same_percentage_and_none_to_the_others():
    settings = load(document(stage="half"))
    assert dict(settings.stage_named("half").weights) == {"api": 50.0}


def test_weights_set_each_flagged_service_and_refuse_services_without_flags():
    ladder = [{"name": "off", "weight": 0}, {"name": "some", "weights": {"api": 20}}]
    assert dict(load(document(api={"replicas": 5}, stages=ladder)).stage_named("some").weights) == {"api": 20.0}
    ladder[1]["weights"] = {"api": 20, "db": 20}
    assert refused(document(api={"replicas": 5}, stages=ladder)) == (
        "Pulumi.prod.yaml: rollout:stages[1].weights.db: service 'db' has no flags, so it has no weight to set")


def test_the_kill_switch_is_the_first_stage_with_every_weight_at_zero_unless_named():
    ladder = [{"name": "most", "weight": 75}, {"name": "gone", "weight": 0}, {"name": "also-gone", "weight": 0}]
    assert load(document(stages=ladder, stage="most")).kill_switch == "gone"
    assert load(document(stages=ladder, stage="most", killSwitch="also-gone")).kill_switch == "also-gone"
    assert refused(document(stages=ladder, stage="most", killSwitch="most")) == (
        "Pulumi.prod.yaml: rollout:killSwitch: stage 'most' must have every weight at 0 to be the kill switch")
    assert refused(document(stages=[{"name": "all", "weight": 100}], stage="all")) == (
        "Pulumi.prod.yaml: rollout:stages: needs a stage with every weight 0 to serve as the kill switch "
        "(or set rollout:killSwitch)")


# -- services ----------------------------------------------------------------------------------

def test_a_stack_needs_a_service_and_service_names_of_40_characters():
    doc = document()
    doc["config"]["rollout:services"] = {}
    assert refused(doc) == "Pulumi.prod.yaml: rollout:services: must declare at least one service"
    doc["config"]["rollout:services"] = {"s" * 40: dict(DB)}
    assert list(load(doc).services) == ["s" * 40]
    doc["config"]["rollout:services"] = {"s" * 41: dict(DB)}
    assert refused(doc) == (
        f"Pulumi.prod.yaml: rollout:services.{'s' * 41}: service names must be lowercase letters, digits and '-', "
        "starting with a letter and not ending with '-', at most 40 characters")


@pytest.mark.parametrize("key, low, high", [("port", 1, 65535), ("replicas", 1, 10_000)])
def test_ports_and_replicas_hold_their_range_inclusively(key, low, high):
    assert getattr(load(document(db={key: low})).services["db"], key) == low
    assert getattr(load(document(db={key: high})).services["db"], key) == high
    assert refused(document(db={key: low - 1})) == (
        f"Pulumi.prod.yaml: rollout:services.db.{key}: must be at least {low}, got {low - 1}")
    assert refused(document(db={key: high + 1})) == (
        f"Pulumi.prod.yaml: rollout:services.db.{key}: must be at most {high}, got {high + 1}")


def test_env_values_must_be_text_without_nul():
    assert refused(document(db={"env": {"MODE": None}})) == (
        'Pulumi.prod.yaml: rollout:services.db.env.MODE: must be text; quote numbers and booleans, e.g. "30" or "true"')
    assert refused(document(db={"env": {"MODE": "a\x00b"}})) == (
        "Pulumi.prod.yaml: rollout:services.db.env.MODE: must not contain a NUL character")
    assert dict(load(document(db={"env": {"MODE": "fast", "-x.y": "1"}})).services["db"].env) == {"MODE": "fast", "-x.y": "1"}


@pytest.mark.parametrize("section", ["env", "flags", "secretEnv"])
def test_env_names_follow_the_kubernetes_rule_in_every_section(section):
    value = {"off": "0", "on": "1"} if section == "flags" else "value"
    assert refused(document(api={section: {"9LIVES": value}})) == (
        f"Pulumi.prod.yaml: rollout:services.api.{section}.9LIVES: is not a valid environment variable name: "
        "an environment variable name: letters, digits, '_', '-' and '.', not starting with a digit")


def test_a_flag_needs_two_different_text_values():
    assert refused(document(api={"flags": {"NEW_UI": {"off": "1", "on": "1"}}})) == (
        "Pulumi.prod.yaml: rollout:services.api.flags.NEW_UI: off and on are both '1'; a flag must change something")
    assert refused(document(api={"flags": {"NEW_UI": {"off": ["0"], "on": "1"}}})) == (
        "Pulumi.prod.yaml: rollout:services.api.flags.NEW_UI.off: must be text, the env var value for this track; "
        'quote it, e.g. "true"')
    flag = load(document(api={"flags": {"NEW_UI": {"off": "0", "on": "1"}}})).services["api"].flags["NEW_UI"]
    assert (flag.off, flag.on, flag.build_time) == ("0", "1", False)


def test_a_name_set_both_in_env_and_in_flags_is_refused_at_the_flag():
    assert refused(document(api={"env": {"NEW_UI": "0"}})) == (
        "Pulumi.prod.yaml: rollout:services.api.flags.NEW_UI: NEW_UI is set both in env and in flags; "
        "keep it in one place")


@pytest.mark.parametrize("section", ["env", "flags"])
def test_the_percentage_variable_is_reserved_under_the_percentage_strategy(section):
    value = {"off": "0", "on": "1"} if section == "flags" else "5"
    entries = {**API.get(section, {}), "ROLL_PCT": value}
    assert refused(document(api={section: entries}, strategy="percentage", percentageEnv="ROLL_PCT")) == (
        f"Pulumi.prod.yaml: rollout:services.api.{section}.ROLL_PCT: ROLL_PCT carries the stage's percentage under "
        "the percentage strategy (rollout:percentageEnv); rename this variable or set rollout:percentageEnv")
    assert load(document(api={section: entries}, percentageEnv="ROLL_PCT")).services["api"]  # tracks: not reserved


def test_a_service_without_flags_may_use_the_percentage_variable():
    db = load(document(db={"env": {"ROLLOUT_PERCENTAGE": "7"}}, strategy="percentage")).services["db"]
    assert db.env["ROLLOUT_PERCENTAGE"] == "7"


def test_build_time_flags_need_tracks_and_their_own_on_image():
    build_time = {"NEW_UI": {"off": "0", "on": "1", "buildTime": True}}
    assert refused(document(api={"flags": build_time})) == (
        "Pulumi.prod.yaml: rollout:services.api: NEW_UI is a build-time flag, so the on track needs its own image: "
        "set onImage")
    assert refused(document(api={"flags": build_time, "onImage": "registry.example/api:1-ui"}, strategy="percentage")) == (
        "Pulumi.prod.yaml: rollout:services.api.flags: NEW_UI is a build-time flag: the percentage strategy cannot "
        "switch it at run time; use strategy tracks with an onImage")
    api = load(document(api={"flags": build_time, "onImage": "registry.example/api:1-ui"})).services["api"]
    assert api.on_image == "registry.example/api:1-ui" and api.flags["NEW_UI"].build_time


def test_an_on_image_must_differ_from_the_image_and_belongs_to_a_service_with_flags():
    assert refused(document(api={"onImage": API["image"]})) == (
        "Pulumi.prod.yaml: rollout:services.api.onImage: must differ from image: the build-time flags are compiled "
        "into the on image")
    assert refused(document(db={"onImage": "registry.example/db:2"})) == (
        "Pulumi.prod.yaml: rollout:services.db.onImage: is only used by the on track of a service with flags")
    assert load(document()).services["api"].on_image is None


def test_secret_env_names_a_config_key_of_at_most_200_characters_and_never_a_plain_name():
    assert dict(load(document(db={"secretEnv": {"PASSWORD": "k" * 200}})).services["db"].secret_env) == {"PASSWORD": "k" * 200}
    assert refused(document(db={"secretEnv": {"PASSWORD": "k" * 201}})) == (
        "Pulumi.prod.yaml: rollout:services.db.secretEnv.PASSWORD: is 201 characters long; at most 200 are allowed")
    assert refused(document(db={"env": {"PASSWORD": "x"}, "secretEnv": {"PASSWORD": "dbPassword"}})) == (
        "Pulumi.prod.yaml: rollout:services.db.secretEnv.PASSWORD: PASSWORD is also set in env or flags; "
        "a secret must only come from secret config")
    assert "also set in env or flags" in refused(document(api={"secretEnv": {"NEW_UI": "uiKey"}}))


def test_a_request_equal_to_its_limit_is_accepted_and_one_above_it_is_refused():
    equal = {"requests": {"memory": "1Gi", "cpu": "500m"}, "limits": {"memory": "1024Mi", "cpu": "0.5"}}
    resources = load(document(db={"resources": equal})).services["db"].resources
    assert dict(resources["requests"]) == {"memory": "1Gi", "cpu": "500m"}
    above = {"requests": {"cpu": "501m"}, "limits": {"cpu": "0.5"}}
    assert refused(document(db={"resources": above})) == (
        "Pulumi.prod.yaml: rollout:services.db.resources.requests.cpu: 501m is above the limit 0.5 "
        "(resources.limits.cpu); Kubernetes refuses a request above its limit")
    assert load(document(db={"resources": {"requests": {"cpu": "4"}}})).services["db"].resources["requests"]["cpu"] == "4"


def test_every_resource_kubernetes_limits_can_be_requested():
    given = {"requests": {"cpu": "1", "memory": "1Gi", "ephemeral-storage": "2Gi"}, "limits": {"ephemeral-storage": "4Gi"}}
    resources = load(document(db={"resources": given})).services["db"].resources
    assert dict(resources["requests"]) == given["requests"] and dict(resources["limits"]) == given["limits"]


def test_a_quantity_must_be_one_kubernetes_reads():
    assert refused(document(db={"resources": {"limits": {"memory": "1GB"}}})) == (
        "Pulumi.prod.yaml: rollout:services.db.resources.limits.memory: '1GB' is not allowed: "
        "a Kubernetes quantity like 250m, 1, 512Mi or 2Gi")


def env_and_flags_of(size: int) -> dict:
    """An api whose larger track's ConfigMap holds exactly `size` bytes: every key and value, the
    percentage variable's name (18) and 8 bytes for its value."""
    overhead = len("BLOB") + len("NEW_UI") + len("ROLLOUT_PERCENTAGE") + 8 + len("on-value")
    return {"env": {"BLOB": "x" * (size - overhead)}, "flags": {"NEW_UI": {"off": "0", "on": "on-value"}}}


def test_a_config_map_of_exactly_one_mebibyte_is_accepted_and_one_byte_more_is_refused():
    assert load(document(api=env_and_flags_of(1024 * 1024))).services["api"]
    assert refused(document(api=env_and_flags_of(1024 * 1024 + 1))) == (
        "Pulumi.prod.yaml: rollout:services.api.env: env and flags add up to 1,048,577 bytes, over the 1 MiB "
        "Kubernetes allows in a ConfigMap; move large values to a mounted file or secret")


@pytest.mark.parametrize("value, read", [(None, 1), (0, 0), (3, 3), ("25%", "25%"), ("100%", "100%"), ("5%", "5%")])
def test_max_unavailable_is_a_count_or_a_percentage(value, read):
    assert load(document(db={"maxUnavailable": value})).services["db"].max_unavailable == read


@pytest.mark.parametrize("value, problem", [
    (-1, "must be at least 0, got -1"),
    ("101%", "'101%' is not allowed: a count or a percentage like 25%"),
    ("25", "'25' is not allowed: a count or a percentage like 25%"),
])
def test_max_unavailable_outside_its_forms_is_refused(value, problem):
    assert refused(document(db={"maxUnavailable": value})) == f"Pulumi.prod.yaml: rollout:services.db.maxUnavailable: {problem}"


def test_allowed_plain_values_must_name_the_service_s_env_or_flags():
    api = load(document(api={"env": {"PUBLIC_KEY": "x"}, "allowPlainValues": ["PUBLIC_KEY", "NEW_UI"]})).services["api"]
    assert api.allow_plain == frozenset({"PUBLIC_KEY", "NEW_UI"})
    assert refused(document(api={"allowPlainValues": ["OTHER"]})) == (
        "Pulumi.prod.yaml: rollout:services.api.allowPlainValues[0]: OTHER is not in this service's env or flags")


def test_a_cloud_run_service_has_no_replicas_and_is_measured_by_cloud_monitoring():
    run_shop = YAML(typ="safe").load((REPO / "tests" / "apps" / "Pulumi.runshop.yaml").read_text())
    checkout = load(run_shop).services["checkout"]
    assert checkout.replicas == 0
    assert checkout.metrics == MetricContract(
        job=checkout.cloud_run.name, path="", error_codes="5..",
        signals={"requests": Signal("requests", "counter", gcp.REQUEST_COUNT),
                 "latency": Signal("latency", "histogram", gcp.REQUEST_LATENCIES)})


# -- pod security ------------------------------------------------------------------------------

def test_pod_security_defaults_to_the_restricted_standard():
    assert load(document()).services["db"].security == PodSecurity(
        run_as_non_root=True, run_as_user=None, run_as_group=None, fs_group=None, read_only_root_filesystem=False,
        allow_privilege_escalation=False, add_capabilities=(), seccomp_profile="RuntimeDefault",
        automount_service_account_token=False)


def test_pod_security_takes_every_override():
    given = {"runAsNonRoot": False, "runAsUser": 0, "runAsGroup": 10, "fsGroup": 2**31 - 1,
             "readOnlyRootFilesystem": True, "allowPrivilegeEscalation": True, "addCapabilities": ["NET_ADMIN"],
             "seccompProfile": "Unconfined", "automountServiceAccountToken": True}
    assert load(document(db={"podSecurity": given})).services["db"].security == PodSecurity(
        False, 0, 10, 2**31 - 1, True, True, ("NET_ADMIN",), "Unconfined", True)


def test_pod_security_refuses_root_under_run_as_non_root_ids_out_of_range_and_odd_capabilities():
    assert refused(document(db={"podSecurity": {"runAsUser": 0}})) == (
        "Pulumi.prod.yaml: rollout:services.db.podSecurity.runAsUser: is 0 (root) while runAsNonRoot is true; "
        "the kubelet would refuse to start the pod")
    assert load(document(db={"podSecurity": {"runAsUser": 1000}})).services["db"].security.run_as_user == 1000
    assert refused(document(db={"podSecurity": {"fsGroup": 2**31}})) == (
        "Pulumi.prod.yaml: rollout:services.db.podSecurity.fsGroup: must be at most 2147483647, got 2147483648")
    assert "is not allowed: a Linux capability like NET_BIND_SERVICE" in refused(
        document(db={"podSecurity": {"addCapabilities": ["net_admin"]}}))


# -- metric contracts --------------------------------------------------------------------------

def test_a_metric_contract_defaults_to_the_service_s_job_metrics_path_and_5xx_errors():
    metrics = load(document(db={"metrics": {"signals": {"requests": {"counter": "http_requests_total"}}}})).services["db"].metrics
    assert (metrics.job, metrics.path, metrics.error_codes) == ("db", "/metrics", "5..")
    assert metrics.signals["requests"].metric == "http_requests_total" and metrics.signals["requests"].kind == "counter"
    assert load(document()).services["db"].metrics is None


def test_a_metric_contract_takes_its_own_job_and_path():
    metrics = load(document(db={"metrics": {"job": "db-main", "path": "/stats"}})).services["db"].metrics
    assert (metrics.job, metrics.path) == ("db-main", "/stats")
    assert refused(document(db={"metrics": {"job": "db main"}})) == (
        "Pulumi.prod.yaml: rollout:services.db.metrics.job: 'db main' is not allowed: a Prometheus job label value")


@pytest.mark.parametrize("given, key", [({"healthPath": "ready"}, "healthPath"), ({"metrics": {"path": "ready"}}, "metrics.path")])
def test_paths_start_with_a_slash(given, key):
    assert refused(document(db=given)) == (
        f"Pulumi.prod.yaml: rollout:services.db.{key}: 'ready' is not allowed: a path starting with '/'")


def test_a_job_label_of_63_characters_is_accepted_and_64_refused():
    assert load(document(db={"metrics": {"job": "j" * 63}})).services["db"].metrics.job == "j" * 63
    assert refused(document(db={"metrics": {"job": "j" * 64}})) == (
        "Pulumi.prod.yaml: rollout:services.db.metrics.job: is 64 characters long; at most 63 are allowed")


@pytest.mark.parametrize("codes", ["100", "599", "5..|429", "4\\d\\d"])
def test_error_codes_that_match_a_status_from_100_to_599_are_accepted(codes):
    assert load(document(db={"metrics": {"errorCodes": codes}})).services["db"].metrics.error_codes == codes


def test_error_codes_are_written_with_the_characters_of_a_status_code_regex():
    assert refused(document(db={"metrics": {"errorCodes": "5.+"}})) == (
        "Pulumi.prod.yaml: rollout:services.db.metrics.errorCodes: '5.+' is not allowed: a regex on the status code, "
        "e.g. 5.. or 5..|429")


@pytest.mark.parametrize("codes", ["99", "600", "5..(", "[9]"])
def test_error_codes_that_match_no_status_or_are_no_regex_are_refused(codes):
    assert refused(document(db={"metrics": {"errorCodes": codes}})) == (
        f"Pulumi.prod.yaml: rollout:services.db.metrics.errorCodes: {codes!r} matches no HTTP status code 100-599; "
        "use a regex like 5.. or 5..|429")


def test_a_signal_names_one_kind_and_a_generic_role_keeps_its_own():
    def signals(value: dict) -> dict:
        return document(db={"metrics": {"signals": value}})

    assert refused(signals({"requests": {"counter": "a", "gauge": "b"}})) == (
        "Pulumi.prod.yaml: rollout:services.db.metrics.signals.requests: must name exactly one of counter, gauge, "
        "histogram, e.g. {counter: http_requests_total}")
    assert refused(signals({"requests": {}})).endswith("must name exactly one of counter, gauge, histogram, "
                                                     "e.g. {counter: http_requests_total}")
    assert refused(signals({"requests": {"gauge": "in_flight"}})) == (
        "Pulumi.prod.yaml: rollout:services.db.metrics.signals.requests: the generic role 'requests' is a counter, "
        "not a gauge")
    assert refused(signals({"Requests": {"counter": "a"}})) == (
        "Pulumi.prod.yaml: rollout:services.db.metrics.signals.Requests: 'Requests' is not a role name: "
        "a camelCase role name like requests or sseConnections")


def test_a_role_no_indicator_or_alert_reads_is_refused_as_a_likely_typo():
    assert refused(document(db={"metrics": {"signals": {"reqeusts": {"counter": "a"}}}})) == (
        "Pulumi.prod.yaml: rollout:services.db.metrics.signals.reqeusts: unknown role (did you mean 'requests'?): "
        "no indicator or alert reads it; roles: requests, errors, latency, saturation "
        "(declare indicators under rollout:indicators)")


# -- credentials ------------------------------------------------------------------------------

AWS_KEY = "AKIAIOSFODNN7EXAMPLE"  # AWS's documented example key id


def test_a_credential_in_env_or_a_flag_points_to_secret_env_and_allow_plain_values():
    expected = ("looks like a credential (AWS Access Key): set it with `pulumi config set --secret rollout:<key>` and "
                "reference the key under rollout:services.api.secretEnv, or list {key} in "
                "rollout:services.api.allowPlainValues")
    assert refused(document(api={"env": {"AWS_KEY": AWS_KEY}})) == (
        "Pulumi.prod.yaml: rollout:services.api.env.AWS_KEY: " + expected.format(key="AWS_KEY"))
    assert refused(document(api={"flags": {"NEW_UI": {"off": "0", "on": AWS_KEY}}})) == (
        "Pulumi.prod.yaml: rollout:services.api.flags.NEW_UI.on: " + expected.format(key="NEW_UI"))
    assert refused(document(api={"flags": {"NEW_UI": {"off": AWS_KEY, "on": "1"}}})).startswith(
        "Pulumi.prod.yaml: rollout:services.api.flags.NEW_UI.off: looks like a credential")


def test_allowed_plain_values_may_look_like_credentials():
    env = {"env": {"AWS_KEY": AWS_KEY}, "flags": {"NEW_UI": {"off": "0", "on": AWS_KEY}},
           "allowPlainValues": ["AWS_KEY", "NEW_UI"]}
    assert load(document(api=env)).services["api"].env["AWS_KEY"] == AWS_KEY


def test_secret_config_key_names_that_are_the_secret_itself_are_refused():
    advice = "give the NAME of a Pulumi secret config key here, never the secret itself"
    message = refused(document(db={"secretEnv": {"KEY": AWS_KEY}}))
    assert message == f"Pulumi.prod.yaml: rollout:services.db.secretEnv.KEY: looks like a credential (AWS Access Key): {advice}"
    routing = {"routing": {"pagerduty": {"routingKeySecret": AWS_KEY}}}
    assert refused(document(monitoring=routing)) == (
        "Pulumi.prod.yaml: rollout:monitoring.routing.pagerduty.routingKeySecret: looks like a credential "
        f"(AWS Access Key): {advice}")
    for key in ("webhookSecret", "tokenSecret"):
        assert refused(document(monitoring={"routing": {"slack": {key: AWS_KEY}}})).startswith(
            f"Pulumi.prod.yaml: rollout:monitoring.routing.slack.{key}: looks like a credential")
