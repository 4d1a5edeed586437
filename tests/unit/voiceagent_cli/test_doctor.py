"""`voiceagent doctor`, check by check: every pass, every failure with its fix, every skip. The stack's side
is stood in for here (responses, botocore Stubber, small fakes); tests/integration/test_doctor.py runs the
doctor against the real local stack."""

from __future__ import annotations

import dataclasses
import io
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

import boto3
import pytest
import requests
import responses
from botocore.exceptions import ClientError, EndpointConnectionError
from botocore.stub import Stubber

from tests.support import constants as c
from tests.support import plivo_api as api
from voiceagent import routes
from voiceagent.plivo.signature import matches_any_url, verify_v3
from voiceagent.streams import tokens
from voiceagent_cli import doctor
from voiceagent_cli.doctor import Check, Doctor, Status, Target
from voiceagent_cli.main import main
from voiceagent_cli.websocket_probe import ProbeError

BASE = f"https://{c.HTTP_API_DOMAIN}/{c.STAGE}"
TOPIC = "arn:aws:sns:us-east-1:123456789012:plivo-voice-agent-dev-AlarmTopic"
STREAM_URL = f"{c.WEBSOCKET_URL}?call_uuid=doctor-1&expires={c.FAR_FUTURE}&token=issued-by-the-stack"
ANSWER_XML = (
    '<Response><Stream bidirectional="true" keepCallAlive="true">'
    f"{STREAM_URL.replace('&', '&amp;')}</Stream></Response>"
)
CONFIRMED = {"SubscriptionArn": f"{TOPIC}:1", "Protocol": "email", "Endpoint": "ops@example.com"}


def client_error(code: str, message: str = "no") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "Operation")


class FakeSsm:
    def __init__(self, outcome: dict[str, Any] | Exception) -> None:
        self.outcome = outcome
        self.names: list[str] = []

    def get_parameter(self, *, Name: str, WithDecryption: bool) -> dict[str, Any]:
        assert WithDecryption
        self.names.append(Name)
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return {"Parameter": self.outcome}


class FakeSns:
    def __init__(self, outcome: list[dict[str, str]] | Exception) -> None:
        self.outcome = outcome

    def get_paginator(self, name: str) -> FakeSns:
        assert name == "list_subscriptions_by_topic"
        return self

    def paginate(self, *, TopicArn: str) -> list[dict[str, Any]]:
        assert TopicArn == TOPIC
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return [{"Subscriptions": self.outcome[:1]}, {"Subscriptions": self.outcome[1:]}]


def target(**changes: Any) -> Target:
    base = Target(
        description="test stack",
        webhook_base=BASE,
        urls={
            **{output: BASE + path for output, path in doctor.WEBHOOK_OUTPUTS.items()},
            "CallsUrl": BASE + routes.CALLS,
            "MediaWebSocketUrl": c.WEBSOCKET_URL,
        },
        auth_id=c.TEST_AUTH_ID,
        auth_token_parameter=c.AUTH_TOKEN_PARAM,
        stream_key_parameter=None,
        plivo_api_base_url=None,
        alarm_topic_arn=TOPIC,
        ssm=FakeSsm({"Type": "SecureString", "Value": c.TEST_AUTH_TOKEN}),
        sns=FakeSns([CONFIRMED]),
    )
    return dataclasses.replace(base, **changes)


def probe_answering(statuses: Mapping[str, int | Exception]) -> doctor.Probe:
    """A WebSocket probe: the status each kind of upgrade gets (no token; the stack's token, signed by
    Plivo; the stack's token, unsigned; a forged one), as the stack's ``$connect`` tells them apart."""

    def probe(url: str, headers: Mapping[str, str]) -> int:
        token = dict(parse_qsl(urlsplit(url).query)).get(tokens.TOKEN_PARAM)
        kind = "none" if token is None else "valid" if token == "issued-by-the-stack" else "forged"
        if kind == "valid" and not _signed_by_plivo(url, headers):
            kind = "unsigned"
        outcome = statuses.get(kind, 403)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    return probe


def _signed_by_plivo(url: str, headers: Mapping[str, str]) -> bool:
    lowered = {name.lower(): value for name, value in headers.items()}
    return bool(matches_any_url(urls=[url], headers=lowered, auth_token=c.TEST_AUTH_TOKEN))


HEALTHY_PROBE = {"none": 403, "valid": 101, "unsigned": 403, "forged": 403}


class SignedWebhooks:
    """Stands in for the webhooks: 403 unless Plivo's own function verifies the signature, then 200."""

    def __init__(
        self, mock: responses.RequestsMock, answers: dict[str, tuple[int, str]] | None = None
    ) -> None:
        self.nonces: list[str] = []
        self.forms: dict[str, list[dict[str, list[str]]]] = {}
        self.answers = answers or {}
        for path in doctor.WEBHOOK_OUTPUTS.values():
            mock.add_callback(responses.POST, BASE + path, callback=self._answer)
        mock.get(f"{BASE}{routes.CALLS}/doctor-unsigned", json={"message": "Forbidden"}, status=403)

    def _answer(self, request: Any) -> tuple[int, dict[str, str], str]:
        form = parse_qs(request.body, keep_blank_values=True)
        path = urlsplit(request.url).path.removeprefix(f"/{c.STAGE}")
        headers = {key.lower(): value for key, value in request.headers.items()}
        if "x-plivo-signature-v3" not in headers:
            return 403, {}, '{"message": "forbidden"}'
        verify_v3(method="POST", url=request.url, headers=headers, params=form, auth_token=c.TEST_AUTH_TOKEN)
        self.nonces.append(headers["x-plivo-signature-v3-nonce"])
        self.forms.setdefault(path, []).append(form)
        status, body = self.answers.get(path, (200, ANSWER_XML if path == routes.ANSWER else "<Response/>"))
        return status, {"content-type": "application/xml"}, body


@pytest.fixture
def plivo_account(plivo_rest: responses.RequestsMock) -> responses.RequestsMock:
    plivo_rest.get(
        f"{api.ACCOUNT}/", json={"auth_id": c.TEST_AUTH_ID, "name": "Acme", "account_type": "standard"}
    )
    return plivo_rest


def run(checks_target: Target, probe: doctor.Probe | None = None) -> list[Check]:
    return list(Doctor(checks_target, probe=probe or probe_answering(HEALTHY_PROBE), timeout=2).run())


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {check.name: check for check in checks}


# ---------------------------------------------------------------------------------------- the whole run


def test_a_healthy_stack_passes_every_check_with_signed_requests_and_fresh_nonces(
    aws_stack: Any, plivo_account: responses.RequestsMock
) -> None:
    webhooks = SignedWebhooks(plivo_account)

    checks = run(target())

    assert [check.status for check in checks] == [Status.PASS] * len(checks), checks
    assert tuple(check.name for check in checks) == c.DOCTOR_CHECKS
    assert len(set(webhooks.nonces)) == len(webhooks.nonces) == 6  # a fresh nonce for every signed request
    (answered,) = webhooks.forms[routes.ANSWER]
    call_uuid = answered["CallUUID"][0]
    assert call_uuid.startswith("doctor-")
    assert call_uuid in by_name(checks)["webhook answer"].detail
    assert all(form["CallUUID"] == [call_uuid] for forms in webhooks.forms.values() for form in forms)
    assert [form["Event"] for form in webhooks.forms[routes.STREAM_STATUS]] == [
        ["StartStream"],
        ["StopStream"],
    ]
    assert webhooks.forms[routes.MACHINE_DETECTION][0]["Machine"] == ["false"]  # no voicemail policy runs
    assert "Acme standard" in by_name(checks)["plivo credentials"].detail


def test_a_configured_stream_token_key_is_checked_too(
    aws_stack: Any, plivo_account: responses.RequestsMock
) -> None:
    SignedWebhooks(plivo_account)
    ssm = FakeSsm({"Type": "SecureString", "Value": c.TEST_AUTH_TOKEN})

    checks = run(target(ssm=ssm, stream_key_parameter="/plivo-voice-agent/dev/stream-key"))

    assert by_name(checks)["ssm stream-token key"].status is Status.PASS
    assert ssm.names == [c.AUTH_TOKEN_PARAM, "/plivo-voice-agent/dev/stream-key"]


def test_the_report_prints_each_fix_and_the_exit_code_says_whether_all_passed() -> None:
    out = io.StringIO()
    checks = [
        doctor.passed("a", "fine"),
        doctor.failed("b", "broken", "mend it"),
        doctor.skipped("c", "not here"),
    ]

    assert doctor.report(iter(checks), out) == 1
    assert doctor.report(iter(checks[:1] + checks[2:]), io.StringIO()) == 0
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("PASS  a ")
    assert lines[1].startswith("FAIL  b ")
    assert lines[2].strip() == "fix: mend it"
    assert lines[3].startswith("SKIP  c ")
    assert lines[-1] == "1 passed, 1 failed, 1 skipped"


# ---------------------------------------------------------------------------------------- SSM


@pytest.mark.parametrize(
    ("outcome", "detail", "fix"),
    [
        (client_error("ParameterNotFound"), "does not exist", "aws ssm put-parameter"),
        (client_error("AccessDeniedException"), "cannot be read or decrypted", "kms:Decrypt"),
        (
            EndpointConnectionError(endpoint_url="https://ssm"),
            "SSM cannot be reached",
            "credentials and a region",
        ),
        ({"Type": "String", "Value": "plain"}, "is a String, not a SecureString", "--type SecureString"),
        ({"Type": "SecureString", "Value": " "}, "is empty", "aws ssm put-parameter"),
    ],
)
def test_a_secret_that_cannot_be_used_fails_and_the_checks_that_need_it_are_skipped(
    outcome: dict[str, Any] | Exception, detail: str, fix: str, plivo_rest: responses.RequestsMock
) -> None:
    checks = by_name(run(target(ssm=FakeSsm(outcome)), probe=probe_answering(HEALTHY_PROBE)))

    secret = checks["ssm auth token"]
    assert secret.status is Status.FAIL
    assert detail in secret.detail
    assert fix in secret.fix
    assert checks["plivo credentials"].status is Status.SKIP
    assert checks["signed webhooks"].status is Status.SKIP
    assert not [call for call in plivo_rest.calls if "plivo.com" in str(call.request.url)]


# ---------------------------------------------------------------------------------------- Plivo


def test_an_auth_id_plivo_would_refuse_fails_before_any_request(plivo_rest: responses.RequestsMock) -> None:
    check = Doctor(target(auth_id="MA123")).plivo_credentials(c.TEST_AUTH_TOKEN)

    assert check.status is Status.FAIL
    assert "is not a Plivo auth id" in check.detail
    assert "PlivoAuthId=" in check.fix
    assert len(plivo_rest.calls) == 0


@pytest.mark.parametrize(
    ("status", "detail", "fix"),
    [
        (401, "Plivo refused", f"put {c.TEST_AUTH_ID}'s auth token into {c.AUTH_TOKEN_PARAM}"),
        (404, "GET Account/", "reaches Plivo's API"),
    ],
)
def test_credentials_plivo_refuses_fail_with_the_fix(
    status: int, detail: str, fix: str, aws_stack: Any, plivo_rest: responses.RequestsMock
) -> None:
    plivo_rest.get(f"{api.ACCOUNT}/", json={"error": "no"}, status=status)

    check = Doctor(target()).plivo_credentials(c.TEST_AUTH_TOKEN)

    assert check.status is Status.FAIL
    assert detail in check.detail
    assert fix in check.fix


# ---------------------------------------------------------------------------------------- URLs


@pytest.mark.parametrize(
    ("answer", "status", "detail"),
    [
        ({"status": 403}, Status.PASS, "refuses an unsigned request (403)"),
        ({"status": 200}, Status.FAIL, "accepted an unsigned request"),
        ({"status": 502}, Status.FAIL, "answered an unsigned request with 502"),
        ({"body": requests.exceptions.ConnectionError("refused")}, Status.FAIL, "does not answer"),
    ],
)
def test_each_webhook_url_must_answer_and_refuse_unsigned_requests(
    answer: dict[str, Any], status: Status, detail: str, plivo_rest: responses.RequestsMock
) -> None:
    for path in doctor.WEBHOOK_OUTPUTS.values():
        plivo_rest.post(BASE + path, **answer)
    plivo_rest.get(f"{BASE}{routes.CALLS}/doctor-unsigned", status=403)

    checks = list(Doctor(target(), probe=probe_answering(HEALTHY_PROBE)).urls())

    for check in checks[:5]:
        assert check.status is status, check
        assert detail in check.detail
        assert check.fix or status is Status.PASS


@pytest.mark.parametrize(
    ("answer", "status", "detail"),
    [
        ({"status": 403}, Status.PASS, "answers (403 without IAM credentials)"),
        ({"status": 404}, Status.PASS, "answers (404"),  # the local stack has no IAM in front
        ({"status": 500}, Status.FAIL, "answered 500"),
        ({"body": requests.exceptions.ConnectTimeout("slow")}, Status.FAIL, "does not answer"),
    ],
)
def test_the_calls_api_must_answer(
    answer: dict[str, Any], status: Status, detail: str, plivo_rest: responses.RequestsMock
) -> None:
    plivo_rest.get(f"{BASE}{routes.CALLS}/doctor-unsigned", **answer)

    check = Doctor(target())._calls_api(BASE + routes.CALLS)

    assert check.status is status
    assert detail in check.detail


@pytest.mark.parametrize(
    ("outcome", "status", "detail"),
    [
        (403, Status.PASS, "refuses a stream without a token (403)"),
        (101, Status.FAIL, "opened a stream without a token"),
        (ProbeError("ConnectionRefusedError"), Status.FAIL, "does not answer"),
    ],
)
def test_the_media_websocket_must_answer_and_refuse_a_stream_without_a_token(
    outcome: int | Exception, status: Status, detail: str
) -> None:
    probe = probe_answering({"none": outcome, "valid": 101, "unsigned": 403, "forged": 403})

    check = Doctor(target(), probe=probe)._refuses_tokenless(c.WEBSOCKET_URL)

    assert check.status is status
    assert detail in check.detail


# ---------------------------------------------------------------------------------------- webhooks and stream


@pytest.mark.parametrize(
    ("status", "fix"),
    [
        (403, "set PublicBaseUrl"),
        (400, "same version"),
        (503, "run the doctor again"),
        (500, "sam logs"),
    ],
)
def test_a_webhook_that_refuses_a_signed_request_fails_with_the_fix(
    status: int, fix: str, plivo_rest: responses.RequestsMock
) -> None:
    SignedWebhooks(plivo_rest, answers={routes.HANGUP: (status, "nope")})

    checks = by_name(list(Doctor(target(), probe=probe_answering(HEALTHY_PROBE)).webhooks(c.TEST_AUTH_TOKEN)))

    assert checks["webhook hangup"].status is Status.FAIL
    assert f"answered {status}: nope" in checks["webhook hangup"].detail
    assert fix in checks["webhook hangup"].fix
    assert checks["webhook voicemail"].status is Status.PASS  # the others are still tried


def test_an_answer_without_a_stream_fails_and_the_websocket_checks_are_skipped(
    plivo_rest: responses.RequestsMock,
) -> None:
    SignedWebhooks(plivo_rest, answers={routes.ANSWER: (200, "<Response><Speak>hi</Speak></Response>")})

    checks = by_name(list(Doctor(target(), probe=probe_answering(HEALTHY_PROBE)).webhooks(c.TEST_AUTH_TOKEN)))

    assert checks["webhook answer"].status is Status.FAIL
    assert "without a <Stream> URL" in checks["webhook answer"].detail
    assert checks["websocket"].status is Status.SKIP
    assert checks["webhook hangup"].status is Status.PASS


def test_an_unreachable_webhook_base_fails_once_and_skips_the_rest(
    plivo_rest: responses.RequestsMock,
) -> None:
    plivo_rest.post(BASE + routes.ANSWER, body=requests.exceptions.ConnectionError("refused"))

    checks = list(Doctor(target()).webhooks(c.TEST_AUTH_TOKEN))

    assert [(check.name, check.status) for check in checks] == [
        ("webhook answer", Status.FAIL),
        ("other webhooks", Status.SKIP),
    ]


@pytest.mark.parametrize(
    ("statuses", "name", "detail"),
    [
        ({"none": 403, "valid": 403, "forged": 403}, "websocket valid token", "was refused (403)"),
        (
            {"none": 403, "valid": 101, "forged": 101},
            "websocket forged token",
            "forged stream token was accepted",
        ),
        (
            {"none": 403, "valid": ProbeError("reset"), "forged": 403},
            "websocket valid token",
            "does not answer: reset",
        ),
    ],
)
def test_the_stream_must_open_with_the_served_url_and_only_with_it(
    statuses: dict[str, int | Exception], name: str, detail: str
) -> None:
    checks = by_name(
        list(Doctor(target(), probe=probe_answering(statuses)).websocket(STREAM_URL, c.TEST_AUTH_TOKEN))
    )

    assert checks[name].status is Status.FAIL
    assert detail in checks[name].detail
    assert checks[name].fix


def test_a_forged_url_keeps_everything_but_the_token() -> None:
    forged = dict(parse_qsl(urlsplit(doctor.forged(STREAM_URL)).query))
    served = dict(parse_qsl(urlsplit(STREAM_URL).query))

    assert forged[tokens.TOKEN_PARAM] != served[tokens.TOKEN_PARAM]
    assert len(forged[tokens.TOKEN_PARAM]) == 43  # a base64url HMAC-SHA256, as the stack issues them
    assert {k: v for k, v in forged.items() if k != tokens.TOKEN_PARAM} == {
        k: v for k, v in served.items() if k != tokens.TOKEN_PARAM
    }


# ---------------------------------------------------------------------------------------- alarms


@pytest.mark.parametrize(
    ("sns", "status", "detail", "fix"),
    [
        (FakeSns([CONFIRMED]), Status.PASS, "1 confirmed: email ops@example.com", ""),
        (
            FakeSns([{**CONFIRMED, "SubscriptionArn": "PendingConfirmation"}]),
            Status.FAIL,
            "await confirmation: ops@example.com",
            "confirm",
        ),
        (FakeSns([]), Status.FAIL, "nobody is subscribed", "AlarmEmail="),
        (FakeSns(client_error("AuthorizationError")), Status.FAIL, "AuthorizationError", "sns:List"),
    ],
)
def test_alarms_need_a_confirmed_subscriber(sns: FakeSns, status: Status, detail: str, fix: str) -> None:
    check = Doctor(target(sns=sns)).alarm_subscribers()

    assert check.status is status
    assert detail in check.detail
    assert fix in check.fix


def test_the_local_stack_has_no_alarms_to_check() -> None:
    assert Doctor(target(alarm_topic_arn=None)).alarm_subscribers().status is Status.SKIP


# ---------------------------------------------------------------------------------------- finding the stack


class Session:
    region_name = "us-east-1"

    def __init__(self, cloudformation: Any) -> None:
        self.cloudformation = cloudformation

    def client(self, name: str) -> Any:
        return self.cloudformation if name == "cloudformation" else f"{name} client"


OUTPUTS = {
    **{output: BASE + path for output, path in doctor.WEBHOOK_OUTPUTS.items()},
    "CallsUrl": BASE + routes.CALLS,
    "MediaWebSocketUrl": c.WEBSOCKET_URL,
    "AlarmTopicArn": TOPIC,
}


def described(status: str = "CREATE_COMPLETE", outputs: dict[str, str] = OUTPUTS, **parameters: str) -> Any:
    return {
        "Stacks": [
            {
                "StackName": "plivo-voice-agent-dev",
                "CreationTime": datetime(2026, 1, 1, tzinfo=UTC),
                "StackStatus": status,
                "Outputs": [{"OutputKey": key, "OutputValue": value} for key, value in outputs.items()],
                "Parameters": [
                    {"ParameterKey": key, "ParameterValue": value}
                    for key, value in {
                        "PlivoAuthId": c.TEST_AUTH_ID,
                        "PlivoAuthTokenParameterName": c.AUTH_TOKEN_PARAM,
                        "StreamTokenSecretParameterName": "",
                        "PublicBaseUrl": "",
                        **parameters,
                    }.items()
                ],
            }
        ]
    }


def find(response: dict[str, Any] | ClientError) -> tuple[Check, Target | None]:
    cloudformation = boto3.client("cloudformation", region_name="us-east-1")
    with Stubber(cloudformation) as stub:
        if isinstance(response, ClientError):
            stub.add_client_error(
                "describe_stacks",
                service_error_code=response.response["Error"]["Code"],
                service_message=response.response["Error"]["Message"],
            )
        else:
            stub.add_response("describe_stacks", response, {"StackName": "plivo-voice-agent-dev"})
        return doctor.stack_target("plivo-voice-agent-dev", Session(cloudformation))


def test_a_deployed_stack_is_found_by_name_with_its_urls_and_secrets() -> None:
    check, found = find(described(StreamTokenSecretParameterName="/plivo-voice-agent/dev/stream-key"))

    assert check.status is Status.PASS
    assert found is not None
    assert found.webhook_base == BASE
    assert found.urls["MediaWebSocketUrl"] == c.WEBSOCKET_URL
    assert (found.auth_id, found.auth_token_parameter) == (c.TEST_AUTH_ID, c.AUTH_TOKEN_PARAM)
    assert found.stream_key_parameter == "/plivo-voice-agent/dev/stream-key"
    assert found.alarm_topic_arn == TOPIC
    assert found.plivo_api_base_url is None  # Plivo's own API


def test_behind_a_custom_domain_the_webhooks_are_called_and_signed_there() -> None:
    _, found = find(described(PublicBaseUrl=c.CUSTOM_DOMAIN_BASE))

    assert found is not None
    assert found.webhook_base == c.CUSTOM_DOMAIN_BASE
    assert found.stream_key_parameter is None


@pytest.mark.parametrize(
    ("response", "detail", "fix"),
    [
        (
            client_error("ValidationError", "Stack with id plivo-voice-agent-dev does not exist"),
            "no stack plivo-voice-agent-dev in us-east-1",
            "--region",
        ),
        (client_error("AccessDenied"), "cannot read stack", "cloudformation:DescribeStacks"),
        (described("ROLLBACK_COMPLETE"), "is ROLLBACK_COMPLETE", "describe-stack-events"),
        (
            described(outputs={k: v for k, v in OUTPUTS.items() if k != "AlarmTopicArn"}),
            "lacks the outputs AlarmTopicArn",
            "make deploy",
        ),
    ],
)
def test_a_stack_that_cannot_be_checked_says_why(
    response: dict[str, Any] | ClientError, detail: str, fix: str
) -> None:
    check, found = find(response)

    assert found is None
    assert check.status is Status.FAIL
    assert detail in check.detail
    assert fix in check.fix


def test_without_aws_credentials_or_region_the_stack_check_says_so() -> None:
    class NoRegion(Session):
        region_name = None  # type: ignore[assignment]

        def client(self, name: str) -> Any:
            from botocore.exceptions import NoRegionError

            raise NoRegionError()

    check, found = doctor.stack_target("plivo-voice-agent-dev", NoRegion(None))

    assert (check.status, found) == (Status.FAIL, None)
    assert "aws configure" in check.fix


def test_the_command_reports_a_missing_stack_and_exits_1(
    aws_stack: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["doctor", "--stack", "no-such-stack", "--region", c.REGION]) == 1

    out = capsys.readouterr().out
    assert "FAIL  stack" in out
    assert "0 passed, 1 failed, 0 skipped" in out


def test_the_command_needs_a_stack_or_the_local_one(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["doctor"])
    assert exited.value.code == 2
    assert "--stack" in capsys.readouterr().err


def test_the_local_stack_is_found_where_make_local_puts_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """The doctor's defaults for --local are the local stack's own (same variables, same values)."""
    from tests.local import stack

    for name in ("LOCAL_HTTP_PORT", "LOCAL_WS_PORT", "LOCAL_PLIVO_PORT", "LOCAL_MOTO_PORT", "PLIVO_AUTH_ID"):
        monkeypatch.delenv(name, raising=False)
    config = stack.LocalConfig.from_env()
    found = doctor.local_target({})

    assert found.webhook_base == config.public_base_url
    assert found.urls["MediaWebSocketUrl"] == config.websocket_url
    assert found.auth_id == config.auth_id
    assert found.auth_token_parameter == stack.AUTH_TOKEN_PARAM
    environment = config.function_environment()
    assert found.plivo_api_base_url == environment["PLIVO_API_BASE_URL"]
    assert found.ssm.meta.endpoint_url == environment["AWS_ENDPOINT_URL_SSM"]
    assert (found.alarm_topic_arn, found.sns) == (None, None)

    moved = doctor.local_target({"LOCAL_HTTP_PORT": "4000", "LOCAL_WS_PORT": "4001"}, None)
    assert moved.urls["AnswerUrl"] == "http://127.0.0.1:4000/plivo/answer"
    assert moved.urls["MediaWebSocketUrl"] == "ws://127.0.0.1:4001"
    tunnel = doctor.local_target({}, "https://tunnel.example.com/")
    assert tunnel.webhook_base == "https://tunnel.example.com"
    assert tunnel.urls["MediaWebSocketUrl"] == "wss://tunnel.example.com/media"  # one tunnel serves both
    live = doctor.local_target(
        {
            "LOCAL_PLIVO": "live",
            "PLIVO_AUTH_ID": c.TEST_AUTH_ID,
            "LOCAL_PUBLIC_BASE_URL": "https://t.example.com",
        }
    )
    assert (live.plivo_api_base_url, live.auth_id) == (None, c.TEST_AUTH_ID)  # Plivo's own API
    assert live.urls["AnswerUrl"] == "https://t.example.com/plivo/answer"


def test_the_command_checks_a_deployed_stack_after_finding_it(
    aws_stack: Any,
    plivo_account: responses.RequestsMock,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    SignedWebhooks(plivo_account)
    found = doctor.passed("stack", "plivo-voice-agent-dev is UPDATE_COMPLETE in us-east-1")
    monkeypatch.setattr(doctor, "stack_target", lambda name, session: (found, target()))
    probe = probe_answering(HEALTHY_PROBE)
    monkeypatch.setattr(doctor, "upgrade_status", lambda url, timeout, headers: probe(url, headers))

    assert main(["doctor", "--stack", "plivo-voice-agent-dev", "--region", c.REGION]) == 0

    out = capsys.readouterr().out.splitlines()
    assert out[0] == "voiceagent doctor: test stack"
    assert out[1].startswith("PASS  stack ")
    assert out[-1] == f"{len(c.DOCTOR_CHECKS) + 1} passed, 0 failed, 0 skipped"
    assert logging.root.manager.disable == logging.NOTSET  # the quiet report does not outlive the command
