"""rollout:gates, rollout:indicators and rollout:monitoring, each rule at its edge: defaults, exactly at a
limit, one past it, and the exact message (found by mutation testing, bench/mutation.py)."""
from __future__ import annotations

import pytest

from rollout.spec.duration import Duration
from rollout.spec.model import AlertKind, Bound, Form, Severity
from rollout.spec.monitoring import camel
from test_mutants_spec_stack import document, load, refused

# The api measures requests, latency, checkouts and a queue; the db only its requests.
API_METRICS = {"signals": {
    "requests": {"counter": "http_requests_total"}, "latency": {"histogram": "http_request_duration_seconds"},
    "checkouts": {"counter": "checkouts_total"}, "checkoutErrors": {"counter": "checkout_errors_total"},
    "checkoutTime": {"histogram": "checkout_seconds"}, "queueDepth": {"gauge": "queue_depth"},
}}
DB_METRICS = {"signals": {"requests": {"counter": "db_requests_total"}}}
INDICATORS = {
    "checkoutSuccess": {"success": {"errors": "checkoutErrors", "total": "checkouts"}},
    "checkoutRate": {"rate": "checkouts"},
    "checkoutP99": {"quantile": {"histogram": "checkoutTime", "q": 0.99}},
    "queue": {"gauge": "queueDepth", "aggregate": "max"},
}


def measured(indicators: dict | None = None, **config) -> dict:
    """The shop with metrics, the indicators above and `indicators`; keyword arguments set rollout:<key>."""
    return document(api={"metrics": API_METRICS}, db={"metrics": DB_METRICS},
                    indicators={**INDICATORS, **(indicators or {})}, **config)


def gates(**section):
    return load(measured(gates=section)).gates


def monitoring(**section):
    return load(measured(monitoring=section)).monitoring


def refused_in(section: str, **values) -> str:
    """The message for rollout:<section> holding `values`, without the file name."""
    message = refused(measured(**{section: values}))
    assert message.startswith("Pulumi.prod.yaml: ")
    return message[len("Pulumi.prod.yaml: "):]


# -- gates ---------------------------------------------------------------------------------------

def test_gate_defaults_are_the_checklist_s_numbers():
    config = gates()
    assert (str(config.window), str(config.trigger_window), config.min_requests, str(config.min_soak)) == (
        "10m", "1m", 100, "15m")
    assert (config.yellow_margin, config.red_margin, config.on_red, config.ledger) == (5, 10, "previous", "ledger/prod.jsonl")
    assert {n: (t.bound, t.limit) for n, t in config.checks.items()} == {
        "errorRate": (Bound.MAX, 1.0), "latencyP95": (Bound.MAX, 0.5)}
    assert {n: (t.limit, str(t.hold)) for n, t in config.triggers.items()} == {
        "errorRate": (1.0, "2m"), "latencyP95": (5.0, "0s")}


def test_gate_windows_have_a_floor_and_are_read_exactly_at_it():
    assert str(gates(window="1m", triggerWindow="30s").window) == "1m"
    assert str(gates(window="1m", triggerWindow="30s").trigger_window) == "30s"
    assert refused_in("gates", window="59s") == "rollout:gates.window: must be at least 1m, got 59s"
    assert refused_in("gates", triggerWindow="29s") == "rollout:gates.triggerWindow: must be at least 30s, got 29s"


def test_margins_may_be_equal_but_red_never_below_yellow():
    config = gates(margins={"yellow": 7, "red": 7})
    assert (config.yellow_margin, config.red_margin) == (7, 7)
    assert (gates(margins={"yellow": 0, "red": 0}).red_margin, gates(margins={"yellow": 1000, "red": 1000}).yellow_margin) == (0, 1000)
    assert refused_in("gates", margins={"yellow": 1000.5}) == "rollout:gates.margins.yellow: must be at most 1000, got 1000.5"
    assert refused_in("gates", margins={"yellow": 8, "red": 7.5}) == (
        "rollout:gates.margins.red: red (7.5%) must not be below yellow (8%)")
    assert refused_in("gates", margins={"yellow": 12}) == "rollout:gates.margins: red (10%) must not be below yellow (12%)"
    assert refused_in("gates", margins={"red": 1000.5}) == "rollout:gates.margins.red: must be at most 1000, got 1000.5"


def test_gate_values_read_as_given():
    config = gates(minRequests=0, minSoak="1h", onRed="kill-switch", ledger="audit/x.jsonl")
    assert (config.min_requests, str(config.min_soak), config.on_red, config.ledger) == (0, "1h", "kill-switch", "audit/x.jsonl")
    assert refused_in("gates", minRequests=-1) == "rollout:gates.minRequests: must be at least 0, got -1"


@pytest.mark.parametrize("key, reason", [
    ("errorCodes", "moved to rollout:services.<service>.metrics.errorCodes, shared by alerts, gates and dashboards"),
    ("quantile", "moved to the indicator: rollout:indicators.<name>.quantile"),
])
def test_keys_that_moved_say_where_they_went(key, reason):
    assert refused_in("gates", **{key: "x"}) == f"rollout:gates.{key}: {reason}"


@pytest.mark.parametrize("location", ["ledger/prod.jsonl", "a/../b.jsonl", "/srv/audit.jsonl", "s3://bucket",
                                      "s3://my.bucket-1/rollout/prod", "s3://abc/"])
def test_a_ledger_inside_the_project_or_in_s3_is_accepted(location):
    assert gates(ledger=location).ledger == location


@pytest.mark.parametrize("location, problem", [
    ("s3://ab", "is not an S3 location: use s3://bucket or s3://bucket/prefix"),
    ("s3://Bucket/x", "is not an S3 location: use s3://bucket or s3://bucket/prefix"),
    ("gs://bucket/x", "must be a path inside the project (relative to the stack file) or s3://bucket/prefix"),
    ("~/audit.jsonl", "must be a path inside the project (relative to the stack file) or s3://bucket/prefix"),
    ("audit\\x.jsonl", "must be a path inside the project (relative to the stack file) or s3://bucket/prefix"),
    ("../audit.jsonl", "leaves the project; keep the ledger inside it or use s3://bucket/prefix"),
    ("a/../../audit.jsonl", "leaves the project; keep the ledger inside it or use s3://bucket/prefix"),
])
def test_a_ledger_anywhere_else_is_refused(location, problem):
    assert refused_in("gates", ledger=location) == f"rollout:gates.ledger: {location!r} {problem}"


def test_a_ledger_location_of_1024_characters_is_accepted_and_1025_refused():
    assert gates(ledger="l" * 1024).ledger == "l" * 1024
    assert refused_in("gates", ledger="l" * 1025) == "rollout:gates.ledger: is 1025 characters long; at most 1024 are allowed"


def test_checks_are_the_built_ins_then_the_stack_s_own_by_name_and_false_turns_one_off():
    config = gates(checks={"queue": {"min": 2}, "checkoutRate": {"min": 1}, "latencyP95": False, "errorRate": {"max": 2}})
    assert list(config.checks) == ["errorRate", "checkoutRate", "queue"]
    assert (config.checks["queue"].bound, config.checks["queue"].limit) == (Bound.MIN, 2)
    assert config.checks["errorRate"].limit == 2


def test_a_check_or_trigger_names_a_known_indicator_and_one_bound():
    assert refused_in("gates", checks={"checkoutSucess": {"min": 99}}) == (
        "rollout:gates.checks.checkoutSucess: unknown indicator (did you mean 'checkoutSuccess'?); indicators: "
        "errorRate, latencyP95, saturation, checkoutP99, checkoutRate, checkoutSuccess, queue "
        "(declare your own under rollout:indicators)")
    assert refused_in("gates", checks={"queue": {"min": 1, "max": 5}}) == "rollout:gates.checks.queue: give either max or min, not both"
    assert refused_in("gates", checks={"queue": {}}) == "rollout:gates.checks.queue: needs max or min: the limit for queue"
    assert refused_in("gates", checks={"checkoutSuccess": {}}) == (
        "rollout:gates.checks.checkoutSuccess: needs min: the limit for checkoutSuccess")


def test_only_rollback_triggers_hold_for_a_while():
    assert refused_in("gates", checks={"errorRate": {"max": 1, "for": "1m"}}) == (
        "rollout:gates.checks.errorRate.for: unknown key; allowed: max")
    triggers = gates(rollbackTriggers={"errorRate": {"max": 3}, "queue": {"min": 1}, "checkoutRate": {"min": 1, "for": "3m"}}).triggers
    assert (triggers["errorRate"].limit, str(triggers["errorRate"].hold)) == (3, "2m")  # the default hold stays
    assert str(triggers["queue"].hold) == "0s" and str(triggers["checkoutRate"].hold) == "3m"
    assert str(gates(rollbackTriggers={"errorRate": {"for": "5m"}}).triggers["errorRate"].hold) == "5m"


def test_limits_are_read_in_the_indicator_s_unit():
    config = gates(checks={"latencyP95": {"max": "300ms"}, "checkoutP99": {"max": 2}, "checkoutRate": {"max": 5000},
                           "checkoutSuccess": {"min": 0}})
    assert config.checks["latencyP95"].limit == pytest.approx(0.3) and config.checks["checkoutP99"].limit == 2
    assert config.checks["checkoutRate"].limit == 5000 and config.checks["checkoutSuccess"].limit == 0
    assert refused_in("gates", checks={"checkoutSuccess": {"min": 100.5}}) == (
        "rollout:gates.checks.checkoutSuccess.min: must be at most 100, got 100.5")
    assert refused_in("gates", checks={"latencyP95": {"max": -1}}) == "rollout:gates.checks.latencyP95.max: must be at least 0, got -1"
    assert refused_in("gates", checks={"queue": {"max": -1}}) == "rollout:gates.checks.queue.max: must be at least 0, got -1"


# -- indicators ----------------------------------------------------------------------------------

def test_indicators_are_the_built_ins_then_the_stack_s_own_by_name():
    indicators = load(measured()).indicators
    assert list(indicators) == ["errorRate", "latencyP95", "saturation", "checkoutP99", "checkoutRate",
                                "checkoutSuccess", "queue"]
    assert list(load(document()).indicators) == ["errorRate", "latencyP95", "saturation"]


def test_the_built_in_indicators_read_the_generic_roles():
    indicators = load(document()).indicators
    error_rate, latency, saturation = indicators["errorRate"], indicators["latencyP95"], indicators["saturation"]
    assert (error_rate.title, error_rate.form, error_rate.total, error_rate.errors, error_rate.errors_by_code) == (
        "5xx error rate", Form.ERROR_RATIO, "requests", "errors", True)
    assert (latency.title, latency.form, latency.role, latency.quantile) == ("p95 latency", Form.QUANTILE, "latency", 0.95)
    assert (saturation.title, saturation.form, saturation.role, saturation.aggregate) == (
        "saturation", Form.GAUGE, "saturation", "max")


def test_each_form_reads_its_roles():
    indicators = load(measured()).indicators
    success = indicators["checkoutSuccess"]
    assert (success.form, success.total, success.errors, success.errors_by_code, success.title) == (
        Form.SUCCESS, "checkouts", "checkoutErrors", False, "checkoutSuccess")
    assert (indicators["checkoutRate"].form, indicators["checkoutRate"].role) == (Form.RATE, "checkouts")
    assert (indicators["checkoutP99"].role, indicators["checkoutP99"].quantile) == ("checkoutTime", 0.99)
    assert (indicators["queue"].form, indicators["queue"].aggregate) == (Form.GAUGE, "max")


def test_the_shorter_forms_take_their_defaults():
    indicators = load(measured(indicators={
        "slow": {"quantile": "checkoutTime", "title": "slow checkouts"}, "slowish": {"quantile": {"histogram": "checkoutTime"}},
        "depth": {"gauge": "queueDepth"}, "failing": {"errorRatio": {"total": "checkouts"}},
    })).indicators
    assert (indicators["slow"].quantile, indicators["slow"].title) == (0.95, "slow checkouts")
    assert indicators["slowish"].quantile == 0.95 and indicators["depth"].aggregate == "sum"
    assert (indicators["failing"].errors, indicators["failing"].errors_by_code) == (None, True)


@pytest.mark.parametrize("q, accepted", [(0.01, True), (0.999, True), (0.009, False), (0.9991, False)])
def test_a_quantile_is_between_one_and_99_9_percent(q, accepted):
    doc = measured(indicators={"p": {"quantile": {"histogram": "checkoutTime", "q": q}}})
    if accepted:
        assert load(doc).indicators["p"].quantile == q
    else:
        assert refused(doc).startswith("Pulumi.prod.yaml: rollout:indicators.p.quantile.q: must be at")


@pytest.mark.parametrize("indicators, problem", [
    ({"errorRate": {"rate": "checkouts"}}, "rollout:indicators.errorRate: 'errorRate' is built in; give yours another name"),
    ({"Queue": {"gauge": "queueDepth"}},
     "rollout:indicators.Queue: 'Queue' is not an indicator name: camelCase letters and digits, e.g. sseSuccess"),
    ({"x": {"rate": "checkouts", "gauge": "queueDepth"}},
     "rollout:indicators.x: must name exactly one form: errorRatio or success {errors, total}, quantile "
     "{histogram, q} (or quantile: <role>), rate: <role>, gauge: <role>"),
    ({"x": {"title": "no form"}}, "rollout:indicators.x: must name exactly one form: errorRatio or success {errors, total}, "
     "quantile {histogram, q} (or quantile: <role>), rate: <role>, gauge: <role>"),
    ({"x": {"rate": "checkouts", "aggregate": "max"}}, "rollout:indicators.x.aggregate: only applies to gauge indicators"),
    ({"x": {"rate": "checkout"}}, "rollout:indicators.x.rate: no service declares the role 'checkout' (did you mean "
     "'checkouts'?); declared roles: checkoutErrors, checkoutTime, checkouts, latency, queueDepth, requests"),
    ({"x": {"gauge": "checkouts"}}, "rollout:indicators.x.gauge: 'checkouts' is declared as a counter, but this needs a gauge"),
    ({"x": {"success": {"errors": "checkoutErrors"}}}, "rollout:indicators.x.success.total: is required but missing"),
    ({"x": {"gauge": "queueDepth", "title": "t" * 81}}, "rollout:indicators.x.title: is 81 characters long; at most 80 are allowed"),
])
def test_bad_indicators_are_named(indicators, problem):
    assert refused_in("indicators", **indicators) == problem


def test_a_stack_without_metrics_is_told_so_when_an_indicator_reads_a_role():
    doc = document(indicators={"x": {"rate": "checkouts"}})
    assert refused(doc) == ("Pulumi.prod.yaml: rollout:indicators.x.rate: no service declares the role 'checkouts'; "
                            "declared roles: (no service declares metrics)")


# -- monitoring: the section ---------------------------------------------------------------------

def test_alert_prefixes_are_the_app_name_in_camel_case():
    assert camel("chat") == "Chat" and camel("chat-app_x.y") == "ChatAppXY" and camel("a--b") == "AB"
    assert monitoring().prefix == "Shop"
    assert monitoring(alertPrefix="Pay2").prefix == "Pay2"
    assert refused_in("monitoring", alertPrefix="pay") == (
        "rollout:monitoring.alertPrefix: 'pay' is not allowed: CamelCase letters and digits, e.g. Chat")


def test_monitoring_defaults():
    settings = monitoring()
    assert settings.runbook_url == "https://github.com/acme/rollout/blob/main/docs/runbook.md"
    assert [str(d) for d in (settings.evaluation_interval, settings.scrape_interval, settings.rate_window)] == ["30s", "30s", "5m"]
    assert dict(settings.resource_labels) == {} and settings.dashboard_folder == "shop rollout" and settings.slos == ()
    assert (settings.canary.red_margin, settings.canary.min_request_rate, settings.canary.min_error_ratio) == (10, 0.1, 0.1)


def test_the_canary_alerts_share_the_gate_s_red_margin_and_take_their_own_floors():
    canary = load(measured(gates={"margins": {"red": 20}}, monitoring={"canary": {"minRequestRate": 2, "minErrorRatio": 100}})).monitoring.canary
    assert (canary.red_margin, canary.min_request_rate, canary.min_error_ratio) == (20, 2, 100)
    assert refused_in("monitoring", canary={"minErrorRatio": 100.5}) == (
        "rollout:monitoring.canary.minErrorRatio: must be at most 100, got 100.5")
    assert refused_in("monitoring", canary={"redMargin": 12}) == (
        "rollout:monitoring.canary.redMargin: moved: the RED margin is rollout:gates.margins.red, shared by alerts and gates")


@pytest.mark.parametrize("key, low, high", [("evaluationInterval", "1s", "5m"), ("scrapeInterval", "1s", "5m")])
def test_intervals_hold_their_range_inclusively(key, low, high):
    assert str(getattr(monitoring(**{key: low, "rateWindow": "5m"}), "evaluation_interval" if key[0] == "e" else "scrape_interval")) == low
    assert monitoring(**{key: high, "rateWindow": "20m"})
    assert refused_in("monitoring", **{key: "5m1s"}) == f"rollout:monitoring.{key}: must be at most 5m, got 5m1s"
    assert refused_in("monitoring", **{key: "999ms"}) == f"rollout:monitoring.{key}: must be at least 1s, got 999ms"


def test_the_rate_window_is_at_least_four_scrape_intervals_and_at_most_an_hour():
    assert str(monitoring(scrapeInterval="15s", rateWindow="1m").rate_window) == "1m"
    assert str(monitoring(scrapeInterval="15s", rateWindow="1h").rate_window) == "1h"
    assert refused_in("monitoring", scrapeInterval="15s", rateWindow="59s") == (
        "rollout:monitoring.rateWindow: must be at least four scrape intervals (1m) so rate() always has samples")
    assert refused_in("monitoring", rateWindow="1h1s") == "rollout:monitoring.rateWindow: must be at most 1h, got 1h1s"


def test_the_runbook_is_an_http_url_without_an_anchor():
    assert monitoring(runbookUrl="http://wiki/runbook").runbook_url == "http://wiki/runbook"
    assert refused_in("monitoring", runbookUrl="ftp://wiki/runbook") == (
        "rollout:monitoring.runbookUrl: 'ftp://wiki/runbook' is not allowed: an http(s) URL without '#'")
    assert refused_in("monitoring", runbookUrl="https://wiki/x#y") == (
        "rollout:monitoring.runbookUrl: must not contain '#': each alert adds its own anchor")


def test_resource_labels_follow_kubernetes_label_rules():
    name63 = "k" * 63
    labels = monitoring(resourceLabels={"release": "kube-prometheus", f"example.com/{name63}": "v" * 63}).resource_labels
    assert dict(labels) == {"release": "kube-prometheus", f"example.com/{name63}": "v" * 63}
    assert refused_in("monitoring", resourceLabels={"k" * 64: "v"}) == (
        f"rollout:monitoring.resourceLabels.{'k' * 64}: is not a valid Kubernetes label key")
    assert refused_in("monitoring", resourceLabels={"-bad": "v"}) == "rollout:monitoring.resourceLabels.-bad: is not a valid Kubernetes label key"
    assert refused_in("monitoring", resourceLabels={"release": "v" * 64}) == (
        "rollout:monitoring.resourceLabels.release: is 64 characters long; at most 63 are allowed")


def test_the_dashboard_folder_is_a_short_title_without_a_slash():
    assert monitoring(dashboards={"folder": "f" * 60}).dashboard_folder == "f" * 60
    assert "is not allowed: a folder title without '/'" in refused_in("monitoring", dashboards={"folder": "f" * 61})
    assert "is not allowed: a folder title without '/'" in refused_in("monitoring", dashboards={"folder": "a/b"})


def test_routing_defaults_and_overrides():
    routing = monitoring().routing
    assert (routing.pagerduty_secret, routing.slack_secret, routing.slack_channel) == (
        "pagerdutyRoutingKey", "slackWebhookUrl", "#shop-prod-alerts")
    assert routing.group_by == ("alertname", "namespace", "job")
    assert [str(d) for d in (routing.group_wait, routing.group_interval, routing.repeat_interval)] == ["30s", "5m", "4h"]
    routing = monitoring(routing={"pagerduty": {"routingKeySecret": "pd"}, "slack": {"webhookSecret": "hook", "channel": "#ops"},
                                  "groupBy": ["alertname"], "groupWait": "1ms", "groupInterval": "1m", "repeatInterval": "1d"}).routing
    assert (routing.pagerduty_secret, routing.slack_secret, routing.slack_channel, routing.group_by) == ("pd", "hook", "#ops", ("alertname",))
    assert [str(d) for d in (routing.group_wait, routing.group_interval, routing.repeat_interval)] == ["1ms", "1m", "1d"]
    assert refused_in("monitoring", routing={"groupBy": []}) == "rollout:monitoring.routing.groupBy: must list at least one label"
    for key in ("groupWait", "groupInterval", "repeatInterval"):
        assert refused_in("monitoring", routing={key: "0s"}) == f"rollout:monitoring.routing.{key}: must be at least 1ms, got 0s"


# -- monitoring: alerts --------------------------------------------------------------------------

def test_a_built_in_alert_takes_every_override():
    alert = monitoring(alerts={"ServerErrorRate": {"threshold": 3, "for": "4m", "severity": "warning", "enabled": False}}).alerts["ServerErrorRate"]
    assert (alert.threshold, str(alert.for_), alert.severity, alert.enabled) == (3, "4m", Severity.WARNING, False)
    untouched = monitoring(alerts={"ServerErrorRate": {"threshold": None}}).alerts["ServerErrorRate"]
    assert (untouched.threshold, str(untouched.for_), untouched.severity, untouched.enabled) == (1, "2m", Severity.CRITICAL, True)


def test_a_percentage_threshold_is_at_most_100_and_other_thresholds_have_no_ceiling():
    assert monitoring(alerts={"ServerErrorRate": {"threshold": 100}}).alerts["ServerErrorRate"].threshold == 100
    assert monitoring(alerts={"ServerErrorRate": {"threshold": 0}}).alerts["ServerErrorRate"].threshold == 0
    for name in ("ServerErrorRate", "MemoryHigh"):  # memory is a percentage of the limit
        assert refused_in("monitoring", alerts={name: {"threshold": 100.5}}) == (
            f"rollout:monitoring.alerts.{name}.threshold: must be at most 100, got 100.5")
    assert monitoring(alerts={"LatencyHigh": {"threshold": 500}}).alerts["LatencyHigh"].threshold == 500


def test_built_in_alerts_read_the_roles_of_their_indicator_and_the_others_none():
    alerts = monitoring().alerts
    assert alerts["ServerErrorRate"].roles == ("errors", "requests") and alerts["LatencyHigh"].roles == ("latency",)
    assert alerts["CanaryErrorRatioWorse"].roles == () and alerts["ServiceDown"].roles == ()
    assert alerts["CanaryErrorRatioWorse"].indicator.name == "errorRate" and alerts["ServiceDown"].indicator is None


def test_a_threshold_an_alert_takes_from_elsewhere_is_refused():
    assert refused_in("monitoring", alerts={"ServiceDown": {"threshold": 1}}) == (
        "rollout:monitoring.alerts.ServiceDown.threshold: is not used: ServiceDown takes its threshold from "
        "nothing (it fires when no target is up)")


INDICATOR_ALERT = {"indicator": "checkoutSuccess", "below": 97, "for": "3m", "severity": "critical", "summary": "s",
                   "description": "d", "test": {"healthy": 99, "breaching": 90}}
EXPR_ALERT = {"expr": "max({queueDepth}) / max({queueDepth} offset {window})", "above": 10, "for": "1m",
              "severity": "warning", "summary": "s", "description": "d",
              "test": {"healthy": {"queueDepth": 1}, "breaching": {"queueDepth": 50}}}


def alert(name: str, **changes):
    body = {**(EXPR_ALERT if "expr" in changes or name.startswith("Expr") else INDICATOR_ALERT), **changes}
    return monitoring(alerts={name: {k: v for k, v in body.items() if v is not None}}).alerts[name]


def alert_refused(name: str, **changes) -> str:
    body = {**(EXPR_ALERT if name.startswith("Expr") else INDICATOR_ALERT), **changes}
    return refused_in("monitoring", alerts={name: {k: v for k, v in body.items() if v is not None}})


def test_the_stack_s_own_indicator_alert():
    own = alert("CheckoutLow")
    assert (own.kind, own.builtin, own.above, own.threshold, own.indicator.name) == (AlertKind.INDICATOR, False, False, 97, "checkoutSuccess")
    assert (own.roles, own.services, own.enabled, own.runbook, own.severity) == (
        ("checkoutErrors", "checkouts"), None, True, None, Severity.CRITICAL)
    assert (own.test.healthy, own.test.breaching) == (99, 90)
    assert list(monitoring(alerts={"CheckoutLow": INDICATOR_ALERT}).alerts)[-1] == "CheckoutLow"


def test_the_stack_s_own_expression_alert_reads_its_roles_but_not_the_window():
    own = alert("ExprQueueGrows")
    assert (own.kind, own.above, own.threshold, own.roles, own.expr) == (
        AlertKind.EXPR, True, 10, ("queueDepth",), EXPR_ALERT["expr"])
    assert dict(own.test.healthy) == {"queueDepth": 1} and dict(own.test.breaching) == {"queueDepth": 50}


def test_own_alerts_may_name_their_services_runbook_and_start_disabled():
    own = alert("CheckoutLow", services=["api"], runbook="https://wiki/checkout", enabled=False)
    assert (own.services, own.runbook, own.enabled) == (("api",), "https://wiki/checkout", False)


@pytest.mark.parametrize("name, changes, problem", [
    ("checkoutLow", {}, "'checkoutLow' is not an alert name: a CamelCase alert name like SessionCreationFailureRate"),
    ("CheckoutLow", {"expr": "max({queueDepth})"}, "give either indicator or expr, not both"),
    ("CheckoutLow", {"above": 1}, "needs exactly one of above: <threshold> or below: <threshold>"),
    ("CheckoutLow", {"below": None}, "needs exactly one of above: <threshold> or below: <threshold>"),
    ("CheckoutLow", {"services": ["db"]}, "db does not declare checkoutErrors, checkouts, which CheckoutLow reads"),
    ("ExprQueue", {"expr": "max(up)"}, "names no role: write each metric as {role}, e.g. max by (namespace, job) ({activeSessions})"),
    ("ExprQueue", {"expr": "max({queueDepht})"}, "{queueDepht} is not a role any service declares (did you mean "
     "'queueDepth'?); declared roles: checkoutErrors, checkoutTime, checkouts, latency, queueDepth, requests"),
    ("ExprQueue", {"test": {"healthy": {}, "breaching": {"queueDepth": 50}}},
     "needs a value for queueDepth (what each role reads in the test)"),
    ("ExprQueue", {"test": {"healthy": {"queueDepth": 1, "requests": 1}, "breaching": {"queueDepth": 50}}},
     "is not a role of the expression; roles: queueDepth"),
])
def test_bad_own_alerts_are_named(name, changes, problem):
    message = alert_refused(name, **changes)
    assert message.endswith(problem), message
    assert message.startswith(f"rollout:monitoring.alerts.{name}")


def test_an_unknown_indicator_or_a_misspelt_built_in_alert_is_named():
    assert alert_refused("CheckoutLow", indicator="checkoutSucess").startswith(
        "rollout:monitoring.alerts.CheckoutLow.indicator: unknown indicator (did you mean 'checkoutSuccess'?); indicators: ")
    assert refused_in("monitoring", alerts={"LatencyHihg": {"threshold": 2}}).startswith(
        "rollout:monitoring.alerts.LatencyHihg: is not a built-in alert (did you mean 'LatencyHigh'?) and declares no "
        "indicator or expr of its own; built-in alerts: ServerErrorRate, ")


def test_an_own_alert_no_single_service_can_carry_is_refused():
    doc = measured(monitoring={"alerts": {"ExprQueue": {
        **EXPR_ALERT, "expr": "max({queueDepth}) / max({connections})",
        "test": {"healthy": {"queueDepth": 1, "connections": 1}, "breaching": {"queueDepth": 50, "connections": 1}}}}})
    doc["config"]["rollout:services"]["db"]["metrics"]["signals"]["connections"] = {"gauge": "db_connections"}
    assert refused(doc) == ("Pulumi.prod.yaml: rollout:monitoring.alerts.ExprQueue.services: no service can carry "
                            "ExprQueue: none declares queueDepth, connections")


@pytest.mark.parametrize("test, problem", [
    ({"healthy": 96, "breaching": 90}, "healthy: 96 would fire CheckoutLow (below 97); a healthy value must not breach it"),
    ({"healthy": 99, "breaching": 97}, "breaching: 97 would not fire CheckoutLow (below 97); a breaching value must breach it"),
])
def test_an_alert_test_must_stay_quiet_when_healthy_and_fire_when_breaching(test, problem):
    assert alert_refused("CheckoutLow", test=test) == f"rollout:monitoring.alerts.CheckoutLow.test.{problem}"


def test_an_above_alert_at_exactly_its_threshold_is_quiet():
    assert alert("CheckoutHigh", below=None, above=97, test={"healthy": 97, "breaching": 97.5}).above
    assert alert_refused("CheckoutHigh", below=None, above=97, test={"healthy": 97.5, "breaching": 99}) == (
        "rollout:monitoring.alerts.CheckoutHigh.test.healthy: 97.5 would fire CheckoutHigh (above 97); "
        "a healthy value must not breach it")


# -- monitoring: SLOs ----------------------------------------------------------------------------

SLO = {"name": "checkout", "service": "api", "objective": 99.9, "indicator": "checkoutSuccess"}


def test_an_slo_defaults_to_thirty_days_and_describes_itself():
    slo = monitoring(slos=[SLO]).slos[0]
    assert (slo.name, slo.service, slo.objective, str(slo.window), slo.indicator.name) == (
        "checkout", "api", 99.9, "30d", "checkoutSuccess")
    assert slo.description == "99.9% of checkout succeed over 30d"


@pytest.mark.parametrize("changes, problem", [
    ({"objective": 49.9}, "slos[0].objective: must be at least 50, got 49.9"),
    ({"objective": 99.9991}, "slos[0].objective: must be at most 99.999, got 99.9991"),
    ({"window": "23h"}, "slos[0].window: must be at least 1d, got 23h"),
    ({"window": "91d"}, "slos[0].window: must be at most 90d, got 91d"),
    ({"indicator": "checkoutRate"}, "slos[0].indicator: 'checkoutRate' is not an errorRatio or success indicator "
     "(did you mean 'checkoutSuccess'?); those are: errorRate, checkoutSuccess"),
    ({"indicator": "queue"}, "slos[0].indicator: 'queue' is not an errorRatio or success indicator; "
     "those are: errorRate, checkoutSuccess"),
    ({"service": "db"}, "slos[0].indicator: service db does not declare the roles checkoutSuccess reads "
     "(checkoutErrors, checkouts)"),
    ({"name": "n" * 64}, "slos[0].name: is 64 characters long; at most 63 are allowed"),
])
def test_bad_slos_are_named(changes, problem):
    assert refused_in("monitoring", slos=[{**SLO, **changes}]) == f"rollout:monitoring.{problem}"


def test_slo_edges_are_accepted():
    slos = monitoring(slos=[{**SLO, "objective": 50, "window": "1d", "name": "n" * 63},
                            {**SLO, "name": "b", "objective": 99.999, "window": "90d", "description": "mine"}]).slos
    assert [(s.objective, str(s.window)) for s in slos] == [(50, "1d"), (99.999, "90d")]
    assert slos[1].description == "mine"


@pytest.mark.parametrize("moved", ["errors", "total", "errorCodes"])
def test_an_slo_giving_its_own_counters_is_pointed_to_indicators(moved):
    assert refused_in("monitoring", slos=[{**SLO, moved: "x"}]) == (
        "rollout:monitoring.slos[0]: errors/total/errorCodes moved to an indicator: declare it under rollout:indicators "
        "(or use the built-in errorRate) and give `indicator: <name>`")


def test_slo_names_are_lowercase():
    assert refused_in("monitoring", slos=[{**SLO, "name": "Checkout"}]) == (
        "rollout:monitoring.slos[0].name: 'Checkout' is not allowed: lowercase letters, digits and '-'")


def test_alert_texts_of_2000_characters_are_accepted_and_2001_refused():
    assert len(alert("CheckoutLow", summary="s" * 2000).summary) == 2000
    assert alert_refused("CheckoutLow", description="d" * 2001) == (
        "rollout:monitoring.alerts.CheckoutLow.description: is 2001 characters long; at most 2000 are allowed")


def test_two_slos_of_one_name_are_refused():
    assert refused_in("monitoring", slos=[SLO, SLO]) == (
        "rollout:monitoring.slos[1].name: SLO 'checkout' is declared twice; names must be unique")
