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
    assert "the API answered 400: invalid or missing fields" in capsys.readouterr().err


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


LOCAL = "http://127.0.0.1:3000"


@pytest.mark.parametrize(
    ("callee", "number"),
    [("busy", "+14155550193"), ("machine-beep", "+14155550191"), ("hangup-after=5", "+14155550105")],
)
def test_a_simulated_callee_is_a_number_of_its_pattern(
    callee: str, number: str, plivo_rest: responses.RequestsMock, capsys: pytest.CaptureFixture[str]
) -> None:
    plivo_rest.post(f"{LOCAL}/calls", json={"placement_id": "pl-1", "status": "requested"}, status=202)

    assert main(["call", "--callee", callee, "--from", c.FROM_NUMBER, "--api-url", LOCAL, "--no-sign"]) == 0

    assert api.json_body(plivo_rest.calls[0].request)["to"] == number
    assert "voiceagent report pl-1 --follow" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--callee", "busy", "--api-url", API], "this API is not on this machine"),
        (["--callee", "robot", "--api-url", LOCAL], "one of: human, machine-beep"),
        (["--callee", "hangup-after=90", "--api-url", LOCAL], "1 to 89 seconds"),
        (["--callee", "hangup-after", "--api-url", LOCAL], "give the seconds"),
        (["--callee", "busy=3", "--api-url", LOCAL], "only hangup-after takes a value"),
    ],
)
def test_a_callee_that_cannot_be_played_is_explained(
    argv: list[str], message: str, plivo_rest: responses.RequestsMock, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["call", *argv, "--from", c.FROM_NUMBER, "--no-sign"]) == 2
    assert message in capsys.readouterr().err
    assert len(plivo_rest.calls) == 0


ROW = {
    "placed_at": "2024-11-24T12:30:00.000Z",
    "placement_id": "pl-1",
    "to": c.TO_NUMBER,
    "state": "completed",
    "in_progress": False,
    "outcome": "busy",
    "answered_by": "nobody",
    "duration_seconds": 0,
    "call_uuid": c.CALL_UUID,
}


def test_calls_prints_a_table_and_follows_every_page(
    plivo_rest: responses.RequestsMock, capsys: pytest.CaptureFixture[str]
) -> None:
    page = {"since": "a", "until": "b", "count": 1}
    plivo_rest.get(
        f"{API}/calls",
        json={**page, "calls": [ROW], "next_cursor": "next"},
        match=[responses.matchers.query_param_matcher({"outcome": "busy"})],
    )
    plivo_rest.get(
        f"{API}/calls",
        json={**page, "calls": [{**ROW, "placement_id": "pl-2"}], "next_cursor": None},
        match=[responses.matchers.query_param_matcher({"outcome": "busy", "cursor": "next"})],
    )

    assert main(["calls", "--outcome", "busy", "--all", "--api-url", API, "--no-sign"]) == 0

    out = capsys.readouterr().out
    assert "pl-1" in out
    assert "pl-2" in out
    assert "busy" in out


def test_calls_says_how_to_get_the_next_page(
    plivo_rest: responses.RequestsMock, capsys: pytest.CaptureFixture[str]
) -> None:
    plivo_rest.get(
        f"{API}/calls", json={"since": "a", "until": "b", "count": 1, "calls": [ROW], "next_cursor": "abc"}
    )

    assert main(["calls", "--api-url", API, "--no-sign"]) == 0
    assert "--cursor abc" in capsys.readouterr().out


def test_hangup_says_what_happened(
    plivo_rest: responses.RequestsMock, capsys: pytest.CaptureFixture[str]
) -> None:
    plivo_rest.post(
        f"{API}/calls/pl-1/hangup", json={"result": "cancelled", "placement_id": "pl-1", "call_uuid": None}
    )

    assert main(["hangup", "pl-1", "--api-url", API, "--no-sign"]) == 0
    assert capsys.readouterr().out == "pl-1: cancelled while it was ringing\n"


def _report(state: str, events: list[str], in_progress: bool) -> dict[str, object]:
    timeline = [{"at": "2024-11-24T12:30:00.000Z", "event": event, "offset_seconds": 0.0} for event in events]
    return {
        "ids": {"placement_id": "pl-1", "request_uuid": None, "call_uuid": c.CALL_UUID},
        "call_uuid": c.CALL_UUID,
        "state": state,
        "in_progress": in_progress,
        "outcome": None if in_progress else "human",
        "timeline": timeline,
        "streams": [],
    }


def test_report_follow_prints_each_event_once_until_the_call_is_over(
    plivo_rest: responses.RequestsMock, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"{API}/calls/pl-1"
    plivo_rest.get(url, json=_report("placed", ["placed"], True))
    plivo_rest.get(url, json=_report("answered", ["placed", "answered"], True))
    plivo_rest.get(url, json=_report("completed", ["placed", "answered", "hangup"], False))

    assert main(["report", "pl-1", "--follow", "--interval", "0", "--api-url", API, "--no-sign"]) == 0

    out = capsys.readouterr().out
    live = out[: out.index("\n\n")]
    assert [line.split()[-1] for line in live.splitlines() if not line.startswith("---")] == [
        "placed",
        "answered",
        "hangup",
    ]
    assert f"--- {c.CALL_UUID}: answered" in live
    assert "state=completed  outcome=human" in out  # then the whole report


def test_an_api_answer_that_is_not_json_is_shown_as_text(
    plivo_rest: responses.RequestsMock, capsys: pytest.CaptureFixture[str]
) -> None:
    plivo_rest.get(f"{API}/calls/pl-1", body="<html>Bad Gateway</html>", status=502)

    assert main(["report", "pl-1", "--api-url", API, "--no-sign"]) == 1
    assert "the API answered 502: <html>Bad Gateway</html>" in capsys.readouterr().err
