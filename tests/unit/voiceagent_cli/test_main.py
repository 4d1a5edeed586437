from __future__ import annotations

import base64
import json
from typing import Any

import pytest
import responses

from functions.calls import app as calls_app
from tests.support import constants as c
from tests.support import plivo_api as api
from tests.support.events import load_event
from voiceagent_cli.main import main

API = f"https://{c.HTTP_API_DOMAIN}/{c.STAGE}"


def route_to_calls_function(lambda_context: Any, seen: list[Any]) -> Any:
    """Stand in for API Gateway: check the SigV4 signature is there, then invoke the real function."""

    def callback(request: Any) -> tuple[int, dict[str, str], str]:
        seen.append(request)
        event = load_event("calls_place")
        body = request.body.decode() if isinstance(request.body, bytes) else request.body
        event["body"] = base64.b64encode(body.encode()).decode()
        event["isBase64Encoded"] = True
        response = calls_app.lambda_handler(event, lambda_context)
        return response["statusCode"], {"content-type": "application/json"}, response["body"]

    return callback


def test_call_command_posts_a_signed_request_that_places_the_call(
    aws_stack: Any,
    plivo_rest: responses.RequestsMock,
    lambda_context: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    seen: list[Any] = []
    plivo_rest.add_callback(
        responses.POST, f"{API}/calls", callback=route_to_calls_function(lambda_context, seen)
    )
    plivo_rest.post(api.CREATE_CALL, json=api.created(), status=201)

    code = main(
        [
            "call",
            "--to",
            c.TO_NUMBER,
            "--from",
            c.FROM_NUMBER,
            "--policy",
            "agent",
            "--tuning",
            "initial_silence=3000",
            "--placement-id",
            c.IDEMPOTENCY_KEY,
            "--api-url",
            API,
        ]
    )

    assert code == 0
    (request,) = seen
    assert request.headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=")
    assert "/us-east-1/execute-api/aws4_request" in request.headers["Authorization"]
    assert json.loads(request.body) == {
        "to": c.TO_NUMBER,
        "from": c.FROM_NUMBER,
        "policy": "agent",
        "tuning": {"initial_silence": 3000},
        "placement_id": c.IDEMPOTENCY_KEY,
    }
    out = capsys.readouterr().out  # the function's own metric lines come first
    printed = json.loads(out[out.index("{\n") :])
    assert printed["status"] == "requested"
    assert printed["request_uuid"] == c.REQUEST_UUID
    assert printed["placement_id"] == c.IDEMPOTENCY_KEY
    sent = api.json_body(api.requests_to(plivo_rest, "POST", api.CREATE_CALL)[0])
    assert sent["machine_detection_initial_silence"] == 3000


def test_api_errors_exit_non_zero(
    plivo_rest: responses.RequestsMock, capsys: pytest.CaptureFixture[str]
) -> None:
    plivo_rest.post(f"{API}/calls", json={"message": "invalid or missing fields: to"}, status=400)

    assert main(["call", "--to", c.TO_NUMBER, "--from", c.FROM_NUMBER, "--api-url", API, "--no-sign"]) == 1
    assert "invalid or missing fields" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["call", "--to", "12", "--from", c.FROM_NUMBER, "--api-url", API], "to"),
        (
            [
                "call",
                "--to",
                c.TO_NUMBER,
                "--from",
                c.FROM_NUMBER,
                "--tuning",
                "maximum_words=99",
                "--api-url",
                API,
            ],
            "maximum_words",
        ),
        (
            ["call", "--to", c.TO_NUMBER, "--from", c.FROM_NUMBER, "--tuning", "oops", "--api-url", API],
            "NAME=MILLISECONDS",
        ),
        (["call", "--to", c.TO_NUMBER, "--from", c.FROM_NUMBER], "VOICEAGENT_API_URL"),
    ],
)
def test_bad_arguments_are_explained_and_nothing_is_sent(
    argv: list[str],
    message: str,
    plivo_rest: responses.RequestsMock,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("VOICEAGENT_API_URL", raising=False)
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert len(plivo_rest.calls) == 0


def test_missing_credentials_are_explained(
    plivo_rest: responses.RequestsMock,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Any,
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")

    assert main(["call", "--to", c.TO_NUMBER, "--from", c.FROM_NUMBER, "--api-url", API]) == 2
    assert "no AWS credentials" in capsys.readouterr().err


def test_unreachable_api_is_reported(
    plivo_rest: responses.RequestsMock, capsys: pytest.CaptureFixture[str]
) -> None:
    import requests

    plivo_rest.post(f"{API}/calls", body=requests.exceptions.ConnectionError("refused"))

    assert main(["call", "--to", c.TO_NUMBER, "--from", c.FROM_NUMBER, "--api-url", API, "--no-sign"]) == 1
    assert "could not be reached" in capsys.readouterr().err
