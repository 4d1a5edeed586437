"""template.yaml passes `sam validate` and cfn-lint offline, and declares what the code relies on."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.template import TEMPLATE_PATH, load_template, resources_of_type
from voiceagent import routes

ROOT = TEMPLATE_PATH.parent
pytestmark = pytest.mark.infra


def _tool(name: str, venv: str) -> str:
    candidate = ROOT / venv / "bin" / name
    found = str(candidate) if candidate.exists() else shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed: run `make test`, which installs it into {venv}/")
    return found


def _offline_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_DEFAULT_REGION="us-east-1",
        SAM_CLI_TELEMETRY="0",
        AWS_ACCESS_KEY_ID="x",
        AWS_SECRET_ACCESS_KEY="x",
    )  # never used: validation is local
    return env


def test_sam_validate_passes() -> None:
    result = subprocess.run(
        [
            _tool("sam", ".venv-sam"),
            "validate",
            "--template-file",
            str(TEMPLATE_PATH),
            "--region",
            "us-east-1",
        ],
        capture_output=True,
        text=True,
        env=_offline_env(),
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout + result.stderr


def test_cfn_lint_passes() -> None:
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    result = subprocess.run(
        [str(cfn_lint), str(TEMPLATE_PATH)],
        capture_output=True,
        text=True,
        env=_offline_env(),
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_checkov_finds_nothing_that_is_not_justified() -> None:
    """The IaC security scan: every finding fixed, or skipped with its reason in tests/infra/checkov.yaml."""
    config = ROOT / "tests" / "infra" / "checkov.yaml"
    result = subprocess.run(
        [_tool("checkov", ".venv-scan"), "--config-file", str(config), "-f", str(TEMPLATE_PATH)],
        capture_output=True,
        text=True,
        env=_offline_env(),
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "Failed checks: 0" in result.stdout


def test_globals_pin_runtime_architecture_and_tracing() -> None:
    function_globals = load_template()["Globals"]["Function"]
    assert function_globals["Runtime"] == "python3.13"
    assert function_globals["Architectures"] == ["arm64"]
    assert function_globals["Tracing"] == "Active"
    assert {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_LOG_LEVEL"} <= set(
        function_globals["Environment"]["Variables"]
    )


def test_every_setting_is_provided_by_the_template() -> None:
    from voiceagent.settings import PlivoAccount, Settings

    provided = set(load_template()["Globals"]["Function"]["Environment"]["Variables"])
    for function in resources_of_type("AWS::Serverless::Function").values():  # one function's own
        provided |= set(function["Properties"].get("Environment", {}).get("Variables", {}))
    aliases = {field.alias for model in (Settings, PlivoAccount) for field in model.model_fields.values()}
    # Only the local stack sets these (its fake Plivo, its @connections endpoint); deployed, defaults hold.
    local_only = {"PLIVO_API_BASE_URL", "WEBSOCKET_MANAGEMENT_ENDPOINT"}
    assert aliases - local_only <= provided


def test_layer_is_built_by_sam_for_the_runtime() -> None:
    (layer,) = resources_of_type("AWS::Serverless::LayerVersion").values()
    assert layer["Metadata"]["BuildMethod"] == "python3.13"
    assert (ROOT / layer["Properties"]["ContentUri"] / "requirements.txt").exists()


def test_calls_are_listed_through_a_by_time_index_the_calls_function_may_query() -> None:
    from voiceagent.store import keys

    table = load_template()["Resources"]["CallsTable"]["Properties"]
    (index,) = table["GlobalSecondaryIndexes"]
    assert index["IndexName"] == keys.LIST_INDEX
    assert [part["AttributeName"] for part in index["KeySchema"]] == [keys.LIST_PK, keys.LIST_SK]
    statements = [
        statement
        for policy in load_template()["Resources"]["CallsFunction"]["Properties"]["Policies"]
        if isinstance(policy, dict) and "Statement" in policy
        for statement in policy["Statement"]
    ]
    assert {"Fn::Sub": "${CallsTable.Arn}/index/ByTime"} in [
        statement["Resource"] for statement in statements
    ]


def test_calls_table_has_ttl_and_on_demand_billing() -> None:
    table = load_template()["Resources"]["CallsTable"]["Properties"]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert table["BillingMode"] == "PAY_PER_REQUEST"


def _http_routes() -> dict[tuple[str, str], dict[str, Any]]:
    found = {}
    for name, function in resources_of_type("AWS::Serverless::Function").items():
        for event in function["Properties"].get("Events", {}).values():
            if event["Type"] == "HttpApi":
                found[(event["Properties"]["Method"].upper(), event["Properties"]["Path"])] = {
                    "function": name,
                    **event["Properties"],
                }
    return found


@pytest.mark.parametrize(
    "path", [routes.ANSWER, routes.ANSWER_FALLBACK, routes.MACHINE_DETECTION, routes.VOICEMAIL, routes.HANGUP]
)
def test_plivo_webhooks_are_public_post_routes(path: str) -> None:
    route = _http_routes()[("POST", path)]
    assert "Auth" not in route  # Plivo cannot sign with IAM: these check Plivo's signature instead


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/calls"), ("GET", "/calls"), ("GET", "/calls/{call_id}"), ("POST", "/calls/{call_id}/hangup")],
)
def test_calls_api_requires_iam(method: str, path: str) -> None:
    route = _http_routes()[(method, path)]
    assert route["Auth"] == {"Authorizer": "AWS_IAM"}
    assert load_template()["Resources"]["WebhookApi"]["Properties"]["Auth"]["EnableIamAuthorizer"] is True


def test_every_function_code_uri_has_a_handler() -> None:
    for function in resources_of_type("AWS::Serverless::Function").values():
        assert (ROOT / function["Properties"]["CodeUri"] / "app.py").exists()


def test_outputs_give_every_url_a_user_pastes_into_plivo() -> None:
    outputs = load_template()["Outputs"]
    expected = {
        "AnswerUrl": routes.ANSWER,
        "AnswerFallbackUrl": routes.ANSWER_FALLBACK,
        "MachineDetectionUrl": routes.MACHINE_DETECTION,
        "VoicemailUrl": routes.VOICEMAIL,
        "StreamStatusUrl": routes.STREAM_STATUS,
        "HangupUrl": routes.HANGUP,
    }
    for name, path in expected.items():
        assert outputs[name]["Value"]["Fn::Sub"].endswith(path), name
    assert outputs["MediaWebSocketUrl"]["Value"]["Fn::Sub"].startswith("wss://")


def test_websocket_api_routes_frames_by_event() -> None:
    (api,) = resources_of_type("AWS::ApiGatewayV2::Api").values()
    assert api["Properties"]["ProtocolType"] == "WEBSOCKET"
    route_keys = {
        route["Properties"]["RouteKey"] for route in resources_of_type("AWS::ApiGatewayV2::Route").values()
    }
    assert {"$connect", "$disconnect", "$default"} <= route_keys


def test_no_function_gets_wildcard_permissions() -> None:
    for name, function in resources_of_type("AWS::Serverless::Function").items():
        for policy in function["Properties"].get("Policies", []):
            for statement in policy.get("Statement", []) if isinstance(policy, dict) else []:
                actions = (
                    statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                )
                assert all("*" not in action for action in actions), name
                assert statement["Resource"] != "*", name


def test_stream_alarms_watch_the_metrics_the_code_emits() -> None:
    from voiceagent.streams.callbacks import METRIC_NAMES
    from voiceagent.streams.events import StreamEventKind

    env = load_template()["Globals"]["Function"]["Environment"]["Variables"]
    alarms = {
        alarm["Properties"]["MetricName"]: alarm["Properties"]
        for alarm in resources_of_type("AWS::CloudWatch::Alarm").values()
        if "MetricName" in alarm["Properties"]
    }
    for kind in (StreamEventKind.DROPPED, StreamEventKind.DEGRADED):
        alarm = alarms[METRIC_NAMES[kind]]
        assert alarm["Namespace"] == env["POWERTOOLS_METRICS_NAMESPACE"]
        dimensions = {d["Name"]: d["Value"] for d in alarm["Dimensions"]}
        assert dimensions == {"service": env["POWERTOOLS_SERVICE_NAME"], "stage": {"Ref": "Stage"}}
        assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]


def _optional(pattern: str) -> str:
    """The template's form of a pattern whose parameter may also be empty."""
    return f"^(|{pattern[1:-1]})$"


def test_parameters_refuse_what_plivo_and_aws_refuse_with_the_patterns_the_code_checks() -> None:
    """One set of rules: a wrong value fails at deploy, and the same value fails in the settings."""
    from voiceagent import settings

    parameters = load_template()["Parameters"]
    expected = {
        "PlivoAuthId": settings.PLIVO_AUTH_ID_PATTERN,
        "PlivoAuthTokenParameterName": settings.SSM_PARAMETER_NAME_PATTERN,
        "StreamTokenSecretParameterName": _optional(settings.SSM_PARAMETER_NAME_PATTERN),
        "VoicemailVoice": settings.SPEAK_VOICE_PATTERN,
        "VoicemailLanguage": settings.SPEAK_LANGUAGE_PATTERN,
        "AgentPollyVoice": settings.POLLY_VOICE_PATTERN,
    }
    for name, pattern in expected.items():
        assert parameters[name]["AllowedPattern"] == pattern, name
        assert parameters[name]["ConstraintDescription"], name  # what CloudFormation prints on a mismatch
    for name in ("PlivoAuthTokenParameterName", "StreamTokenSecretParameterName"):
        assert parameters[name]["MaxLength"] == settings.SSM_PARAMETER_NAME_MAX_LENGTH


def _samconfig_overrides() -> dict[str, dict[str, str]]:
    import shlex
    import tomllib

    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    found = {}
    for environment, commands in config.items():
        if not isinstance(commands, dict):  # version = 0.1
            continue
        overrides = commands.get("deploy", {}).get("parameters", {}).get("parameter_overrides")
        if overrides:
            found[environment] = dict(item.split("=", 1) for item in shlex.split(overrides))
    return found


def test_every_default_and_samconfig_value_passes_its_own_parameter_checks() -> None:
    import re

    parameters = load_template()["Parameters"]
    environments = _samconfig_overrides()
    assert {"dev", "prod"} <= set(environments)
    values = [(name, str(p["Default"])) for name, p in parameters.items() if "Default" in p]
    values += [(name, value) for overrides in environments.values() for name, value in overrides.items()]
    for name, value in values:
        parameter = parameters[name]
        if "AllowedPattern" in parameter:
            assert re.fullmatch(parameter["AllowedPattern"], value), (name, value)
        if "AllowedValues" in parameter:
            assert value in [str(allowed) for allowed in parameter["AllowedValues"]], (name, value)
        if "MinValue" in parameter:
            assert float(value) >= parameter["MinValue"], (name, value)
        if "MaxValue" in parameter:
            assert float(value) <= parameter["MaxValue"], (name, value)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PlivoAuthId", "MA123"),
        ("PlivoAuthId", "MAabc-_ !@#$%^&*()12"),  # passes the plivo SDK's length-and-prefix check
        ("PlivoAuthId", "XA" + "A" * 18),
        ("PlivoAuthTokenParameterName", "/aws/plivo"),
        ("PlivoAuthTokenParameterName", "plivo/token"),
        ("StreamTokenSecretParameterName", "/a//b"),
        ("PublicBaseUrl", "http://voice.example.com"),
        ("PublicBaseUrl", "https://voice.example.com/hooks/"),
        ("PublicBaseUrl", "https://voice.example.com/hooks?x=1"),
        ("PublicBaseUrl", "https://voice example.com"),
        ("VoicemailVoice", "Joanna"),
        ("VoicemailLanguage", "en_US"),
        ("AgentPollyVoice", "Polly.Joanna"),
    ],
)
def test_values_plivo_or_aws_would_refuse_fail_at_deploy(name: str, value: str) -> None:
    import re

    assert not re.fullmatch(load_template()["Parameters"][name]["AllowedPattern"], value)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PlivoAuthId", "SA0123456789ABCDEFGH"),
        ("PublicBaseUrl", "https://voice.example.com"),
        ("PublicBaseUrl", "https://voice.example.com:8443/hooks/v1"),
        ("PublicBaseUrl", ""),
        ("StreamTokenSecretParameterName", ""),
    ],
)
def test_values_plivo_and_aws_accept_deploy(name: str, value: str) -> None:
    import re

    assert re.fullmatch(load_template()["Parameters"][name]["AllowedPattern"], value)


def _alarm_metrics(alarm: dict[str, Any]) -> list[dict[str, Any]]:
    """The metrics an alarm watches: its one metric, or each metric of its metric math."""
    properties = alarm["Properties"]
    if "MetricName" in properties:
        return [{key: properties[key] for key in ("Namespace", "MetricName", "Dimensions")}]
    return [query["MetricStat"]["Metric"] for query in properties["Metrics"] if "MetricStat" in query]


def _dimensions(metric: dict[str, Any]) -> dict[str, Any]:
    return {dimension["Name"]: dimension["Value"] for dimension in metric["Dimensions"]}


def test_the_media_stage_throttle_is_sized_from_a_stated_number_of_calls() -> None:
    parameters = load_template()["Parameters"]
    rate, burst = parameters["MediaThrottleRateLimit"], parameters["MediaThrottleBurstLimit"]
    calls, frames_per_second, headroom = 100, 50, 1.2
    assert rate["Default"] == calls * frames_per_second * headroom
    assert "100 concurrent calls x 50 frames/s x 1.2 headroom" in rate["Description"]
    assert burst["Default"] == rate["Default"] / 2
    settings = load_template()["Resources"]["MediaStage"]["Properties"]["DefaultRouteSettings"]
    assert settings == {
        "ThrottlingRateLimit": {"Ref": "MediaThrottleRateLimit"},
        "ThrottlingBurstLimit": {"Ref": "MediaThrottleBurstLimit"},
    }


def test_refused_and_failed_media_messages_raise_alarms() -> None:
    alarms = resources_of_type("AWS::CloudWatch::Alarm")
    watched = {
        metric["MetricName"]: _dimensions(metric)
        for name in ("MediaMessagesThrottledAlarm", "MediaMessagesFailedAlarm")
        for metric in _alarm_metrics(alarms[name])
    }
    media_stage = {"ApiId": {"Ref": "MediaWebSocketApi"}, "Stage": {"Ref": "Stage"}}
    assert watched == {
        "ClientError": media_stage,
        "IntegrationError": media_stage,
        "ExecutionError": media_stage,
        "MediaFramesFailed": {"service": "plivo-voice-agent", "stage": {"Ref": "Stage"}},
    }
    failed = alarms["MediaMessagesFailedAlarm"]["Properties"]
    assert failed["Threshold"] == {"Ref": "MediaFailedMessagesAlarmThreshold"}
    (expression,) = [query["Expression"] for query in failed["Metrics"] if "Expression" in query]
    assert "integration" in expression
    assert "execution" in expression
    assert "state" in expression  # frames the function let go because DynamoDB was unavailable


def test_a_throttle_of_any_function_raises_an_alarm() -> None:
    alarms = resources_of_type("AWS::CloudWatch::Alarm")
    watched: set[str] = set()
    for name in ("LambdaThrottlesAlarm", "CampaignLambdaThrottlesAlarm"):
        alarm = alarms[name]
        metrics = _alarm_metrics(alarm)
        assert len(metrics) <= 10, f"{name}: a metric math alarm watches at most 10 metrics"
        watched |= {
            _dimensions(metric)["FunctionName"]["Ref"]
            for metric in metrics
            if metric["Namespace"] == "AWS/Lambda" and metric["MetricName"] == "Throttles"
        }
        (expression,) = [q["Expression"] for q in alarm["Properties"]["Metrics"] if "Expression" in q]
        assert expression == "SUM(METRICS())"
    assert watched == set(resources_of_type("AWS::Serverless::Function"))


def test_no_metric_math_alarm_watches_more_than_ten_metrics() -> None:
    for name, alarm in resources_of_type("AWS::CloudWatch::Alarm").items():
        assert len(_alarm_metrics(alarm)) <= 10, name


def test_every_alarm_notifies_the_alarm_topic() -> None:
    for name, alarm in resources_of_type("AWS::CloudWatch::Alarm").items():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}], name
        assert alarm["Properties"]["TreatMissingData"] == "notBreaching", name


def _integration_function(route_key: str) -> str:
    (route,) = [
        route["Properties"]
        for route in resources_of_type("AWS::ApiGatewayV2::Route").values()
        if route["Properties"]["RouteKey"] == route_key
    ]
    integration_id = route["Target"]["Fn::Sub"].removeprefix("integrations/${").removesuffix("}")
    integration = load_template()["Resources"][integration_id]["Properties"]
    uri: str = integration["IntegrationUri"]["Fn::Sub"]
    return uri.split("functions/${")[1].split(".Arn}")[0]


def test_connects_and_disconnects_go_to_the_small_connect_function_and_frames_to_media() -> None:
    """A flood of refused $connects never runs the 1 GB media function."""
    assert _integration_function("$connect") == "StreamConnectFunction"
    assert _integration_function("$disconnect") == "StreamConnectFunction"
    assert _integration_function("$default") == "MediaFunction"
    functions = resources_of_type("AWS::Serverless::Function")
    assert functions["StreamConnectFunction"]["Properties"]["MemorySize"] == 256
    assert functions["MediaFunction"]["Properties"]["MemorySize"] == 1024
    permissions = resources_of_type("AWS::Lambda::Permission").values()
    invoked = {permission["Properties"]["FunctionName"]["Ref"] for permission in permissions}
    assert {"StreamConnectFunction", "MediaFunction"} <= invoked


def _reserved(function: dict[str, Any]) -> Any:
    return function["Properties"].get("ReservedConcurrentExecutions")


def test_reserved_concurrency_is_wired_to_its_parameters_and_off_by_default() -> None:
    template = load_template()
    functions = resources_of_type("AWS::Serverless::Function")
    webhook_functions = {
        route["function"] for (_, path), route in _http_routes().items() if path.startswith("/plivo/")
    }
    assert webhook_functions == {
        "AnswerFunction",
        "MachineDetectionFunction",
        "VoicemailFunction",
        "StreamStatusFunction",
        "HangupFunction",
    }
    for name in webhook_functions:
        assert _reserved(functions[name]) == {
            "Fn::If": [
                "ReservesWebhookConcurrency",
                {"Ref": "WebhookReservedConcurrency"},
                {"Ref": "AWS::NoValue"},
            ]
        }, name
    assert _reserved(functions["StreamConnectFunction"]) == {
        "Fn::If": [
            "ReservesStreamConnectConcurrency",
            {"Ref": "StreamConnectReservedConcurrency"},
            {"Ref": "AWS::NoValue"},
        ]
    }
    assert _reserved(functions["MediaFunction"]) is None  # frames scale with live calls, never capped
    for parameter in ("WebhookReservedConcurrency", "StreamConnectReservedConcurrency"):
        assert template["Parameters"][parameter]["Default"] == 0  # new accounts may have a quota of 10
    conditions = template["Conditions"]
    assert conditions["ReservesWebhookConcurrency"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "WebhookReservedConcurrency"}, 0]}]
    }


def test_prod_reserves_concurrency_and_dev_does_not() -> None:
    import tomllib

    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    prod = config["prod"]["deploy"]["parameters"]["parameter_overrides"]
    dev = config["dev"]["deploy"]["parameters"]["parameter_overrides"]
    assert 'WebhookReservedConcurrency="10"' in prod
    assert 'StreamConnectReservedConcurrency="20"' in prod
    assert "ReservedConcurrency" not in dev


def test_per_route_throttling_stays_on_both_apis() -> None:
    resources = load_template()["Resources"]
    webhook = resources["WebhookApi"]["Properties"]["DefaultRouteSettings"]
    assert webhook == {
        "ThrottlingRateLimit": {"Ref": "ApiThrottleRateLimit"},
        "ThrottlingBurstLimit": {"Ref": "ApiThrottleBurstLimit"},
    }
    assert set(resources["MediaStage"]["Properties"]["DefaultRouteSettings"]) == {
        "ThrottlingRateLimit",
        "ThrottlingBurstLimit",
    }


def test_every_stack_parameter_is_in_the_readme_configuration_table() -> None:
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("## Configuration") : readme.index("## Errors you may meet")]
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    documented = {name for row in rows for name in re.findall(r"`([A-Za-z]+)`", row.split("|")[1])}
    assert set(load_template()["Parameters"]) <= documented


# ---------------------------------------------------------------- call events and your own agent


def test_the_tables_changes_feed_the_call_events_publisher_with_bounded_retries_and_a_dead_letter_queue() -> (
    None
):
    resources = load_template()["Resources"]
    assert resources["CallsTable"]["Properties"]["StreamSpecification"] == {
        "StreamViewType": "NEW_AND_OLD_IMAGES"
    }
    source = resources["CallEventsSource"]  # other features add mappings of their own
    properties = source["Properties"]
    assert properties["FunctionName"] == {"Ref": "CallEventsFunction"}
    assert properties["EventSourceArn"] == {"Fn::GetAtt": ["CallsTable", "StreamArn"]}
    assert properties["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert properties["BisectBatchOnFunctionError"] is True
    assert properties["BatchSize"] <= 100
    assert properties["MaximumBatchingWindowInSeconds"] <= 5
    assert properties["MaximumRetryAttempts"] == {"Ref": "CallEventsMaxRetryAttempts"}
    assert properties["MaximumRecordAgeInSeconds"] == {"Ref": "CallEventsMaxRecordAgeSeconds"}
    assert properties["DestinationConfig"] == {
        "OnFailure": {"Destination": {"Fn::GetAtt": ["CallEventsDeadLetterQueue", "Arn"]}}
    }
    alarm = resources["CallEventsDeadLetterAlarm"]["Properties"]
    assert alarm["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["CallEventsDeadLetterQueue", "QueueName"]}}
    ]


def test_the_call_events_bus_is_the_contracts() -> None:
    template = load_template()
    bus = template["Resources"]["CallEventBus"]
    assert bus["Type"] == "AWS::Events::EventBus"
    assert bus["Properties"]["Name"] == {"Fn::Sub": "${AWS::StackName}-calls"}
    assert template["Globals"]["Function"]["Environment"]["Variables"]["EVENT_BUS_NAME"] == {
        "Ref": "CallEventBus"
    }
    outputs = template["Outputs"]
    assert outputs["CallEventBusName"]["Value"] == {"Ref": "CallEventBus"}
    assert outputs["CallEventBusArn"]["Value"] == {"Fn::GetAtt": ["CallEventBus", "Arn"]}


def test_the_publisher_may_put_events_on_its_bus_and_read_its_tables_stream_only() -> None:
    """SAM policy templates scoped to the one bus, stream and queue; no SAM DynamoDB event (which would add a
    managed policy reading every stream of the account)."""
    function = load_template()["Resources"]["CallEventsFunction"]["Properties"]
    assert "Events" not in function
    policies = function["Policies"]
    assert {"EventBridgePutEventsPolicy": {"EventBusName": {"Ref": "CallEventBus"}}} in policies
    assert {
        "DynamoDBStreamReadPolicy": {
            "TableName": {"Ref": "CallsTable"},
            "StreamName": {
                "Fn::Select": [3, {"Fn::Split": ["/", {"Fn::GetAtt": ["CallsTable", "StreamArn"]}]}]
            },
        }
    } in policies
    assert {
        "SQSSendMessagePolicy": {"QueueName": {"Fn::GetAtt": ["CallEventsDeadLetterQueue", "QueueName"]}}
    } in (policies)
    statements = [s for p in policies if isinstance(p, dict) and "Statement" in p for s in p["Statement"]]
    assert statements == [
        {"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": {"Fn::GetAtt": ["CallsTable", "Arn"]}}
    ]


def test_only_machine_detection_may_read_the_key_that_signs_notifications_to_your_agent() -> None:
    readers = [
        name
        for name, function in resources_of_type("AWS::Serverless::Function").items()
        if any(
            "ReadAgentWebhookSecretPolicy" in json_text(policy)
            for policy in function["Properties"]["Policies"]
        )
    ]
    assert readers == ["MachineDetectionFunction"]
    assert (
        load_template()["Resources"]["ReadAgentWebhookSecretPolicy"]["Condition"] == "HasAgentWebhookSecret"
    )


def json_text(value: Any) -> str:
    import json

    return json.dumps(value)


def test_a_deploy_with_your_agent_but_without_its_keys_fails() -> None:
    """CloudFormation Rules: an agent URL without its dedicated key stops the deploy before any change."""
    rules = load_template()["Rules"]
    stream = rules["AgentStreamNeedsItsOwnTokenKey"]
    assert stream["RuleCondition"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AgentStreamUrl"}, ""]}]}
    (assertion,) = stream["Assertions"]
    assert assertion["Assert"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "StreamTokenSecretParameterName"}, ""]}]
    }
    webhook = rules["AgentWebhookNeedsASigningKey"]
    (assertion,) = webhook["Assertions"]
    assert assertion["Assert"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "AgentWebhookSecretParameterName"}, ""]}]
    }


@pytest.mark.parametrize(
    ("name", "value", "accepted"),
    [
        ("AgentStreamUrl", "", True),
        ("AgentStreamUrl", "wss://agent.example.com:8443/plivo?tenant=acme", True),
        ("AgentStreamUrl", "ws://agent.example.com/plivo", False),
        ("AgentStreamUrl", "wss://agent.example.com/plivo#x", False),
        ("AgentWebhookUrl", "https://agent.example.com/voicemail", True),
        ("AgentWebhookUrl", "http://agent.example.com/voicemail", False),
        ("AgentWebhookSecretParameterName", "/agents/key", True),
        ("AgentWebhookSecretParameterName", "agents/key", False),
    ],
)
def test_agent_parameters_refuse_what_the_settings_refuse(name: str, value: str, accepted: bool) -> None:
    assert bool(re.fullmatch(load_template()["Parameters"][name]["AllowedPattern"], value)) is accepted


def test_call_completed_events_of_campaign_calls_reach_the_outcomes_queue_and_no_others() -> None:
    from tests.support.event_patterns import matches
    from voiceagent.campaigns.dialer import call_metadata
    from voiceagent.campaigns.models import placement_id

    resources = load_template()["Resources"]
    rule = resources["CampaignOutcomesRule"]["Properties"]
    assert rule["EventBusName"] == {"Ref": "CallEventBus"}
    campaign = "cmp-0123456789abcdef"
    metadata = call_metadata(campaign, {"row": 7, "name": "Ada", "fields": {"plan": "gold"}}, 2)
    event = {
        "source": "plivo-voice-agent",
        "detail-type": "Call Completed",
        "detail": {"placement_id": placement_id(campaign, 7, 2), "metadata": metadata, "outcome": "busy"},
    }
    assert matches(rule["EventPattern"], event)
    assert not matches(rule["EventPattern"], {**event, "detail-type": "Call Answered"})
    assert not matches(rule["EventPattern"], {**event, "detail": {"metadata": {"ticket": "42"}}})
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": ["CampaignOutcomesQueue", "Arn"]}
    assert target["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": ["CampaignOutcomesDeadLetterQueue", "Arn"]}
    policy = resources["CampaignOutcomesQueuePolicy"]["Properties"]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    assert statement["Condition"] == {
        "ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": ["CampaignOutcomesRule", "Arn"]}}
    }
    outcomes = resources["CampaignOutcomesFunction"]["Properties"]["Events"]["Outcomes"]["Properties"]
    assert outcomes["Queue"] == {"Fn::GetAtt": ["CampaignOutcomesQueue", "Arn"]}


def test_failures_the_stack_answers_itself_raise_alarms() -> None:
    """What the rehearsed faults leave behind is watched: failed invocations, webhook 5xx, Plivo calls that
    failed for good, and DynamoDB throttling of the calls table."""
    alarms = resources_of_type("AWS::CloudWatch::Alarm")
    errors = {
        _dimensions(metric)["FunctionName"]["Ref"]
        for name in ("FunctionErrorsAlarm", "CampaignFunctionErrorsAlarm")  # at most 10 metrics each
        for metric in _alarm_metrics(alarms[name])
        if metric["MetricName"] == "Errors"
    }
    assert errors == set(resources_of_type("AWS::Serverless::Function"))
    webhooks = alarms["WebhookErrorsAlarm"]["Properties"]
    assert (webhooks["MetricName"], webhooks["Threshold"]) == ("5xx", {"Ref": "WebhookErrorsAlarmThreshold"})
    assert _dimensions(webhooks)["ApiId"] == {"Ref": "WebhookApi"}
    plivo = alarms["PlivoApiErrorsAlarm"]["Properties"]
    assert (plivo["Namespace"], plivo["MetricName"]) == ("PlivoVoiceAgent", "PlivoApiErrors")
    throttled = {metric["MetricName"] for metric in _alarm_metrics(alarms["DynamoDbThrottlesAlarm"])}
    assert throttled == {"ReadThrottleEvents", "WriteThrottleEvents"}
    added = ("FunctionErrorsAlarm", "WebhookErrorsAlarm", "PlivoApiErrorsAlarm", "DynamoDbThrottlesAlarm")
    for name in added:
        assert alarms[name]["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}]
