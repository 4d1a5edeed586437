"""template.yaml passes `sam validate` and cfn-lint offline, and declares what the code relies on."""

from __future__ import annotations

import os
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
    from voiceagent.settings import Settings

    provided = set(load_template()["Globals"]["Function"]["Environment"]["Variables"])
    aliases = {field.alias for field in Settings.model_fields.values()}
    # Defaults that suit AWS; the local stack and tuning override them through the environment.
    optional_with_defaults = {
        "SECRET_MAX_AGE_SECONDS",
        "PLIVO_API_BASE_URL",
        "PLIVO_TIMEOUT_SECONDS",
        "VOICEMAIL_WAIT_SECONDS",
        "VOICEMAIL_MIN_SILENCE_MS",
        "WEBSOCKET_MANAGEMENT_ENDPOINT",
        "AGENT_VAD_THRESHOLD_DBFS",
    }
    assert aliases - optional_with_defaults <= provided


def test_layer_is_built_by_sam_for_the_runtime() -> None:
    (layer,) = resources_of_type("AWS::Serverless::LayerVersion").values()
    assert layer["Metadata"]["BuildMethod"] == "python3.13"
    assert (ROOT / layer["Properties"]["ContentUri"] / "requirements.txt").exists()


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


@pytest.mark.parametrize(("method", "path"), [("POST", "/calls"), ("GET", "/calls/{call_uuid}")])
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
    }
    for kind in (StreamEventKind.DROPPED, StreamEventKind.DEGRADED):
        alarm = alarms[METRIC_NAMES[kind]]
        assert alarm["Namespace"] == env["POWERTOOLS_METRICS_NAMESPACE"]
        dimensions = {d["Name"]: d["Value"] for d in alarm["Dimensions"]}
        assert dimensions == {"service": env["POWERTOOLS_SERVICE_NAME"], "stage": {"Ref": "Stage"}}
        assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]


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
