"""Faults: DynamoDB throttling and outages, concurrent duplicate deliveries racing each other, and what the
logs may contain. The contract: a clear answer, one hangup or transfer per call, nothing lost, no secret
logged."""

from __future__ import annotations

import io
import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import responses
from botocore.exceptions import ClientError, EndpointConnectionError

from functions.answer import app as answer_app
from functions.hangup import app as hangup_app
from functions.machine_detection import app as md_app
from tests.support import constants as c
from tests.support import plivo_api as api
from tests.support import seed
from tests.support.events import load_event
from voiceagent import aws
from voiceagent.store import open_store


def _failing(error: Exception) -> Any:
    def fail(**_: Any) -> None:
        raise error

    return fail


THROTTLED = ClientError(
    {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}, "UpdateItem"
)
UNREACHABLE = EndpointConnectionError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com")


@pytest.mark.parametrize("error", [THROTTLED, UNREACHABLE], ids=["throttled", "unreachable"])
def test_dynamodb_outage_answers_503_and_plivos_retry_then_succeeds_once(
    error: Exception, aws_stack: Any, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = aws.dynamodb()
    with monkeypatch.context() as patch:
        patch.setattr(client, "update_item", _failing(error))
        failed = hangup_app.lambda_handler(load_event("hangup_human"), lambda_context)
    assert failed["statusCode"] == 503
    assert failed["headers"]["Retry-After"] == "1"
    assert json.loads(failed["body"]) == {"message": "temporarily unavailable, retry"}
    assert open_store().calls.get_call(c.CALL_UUID) is None  # nothing half-written

    retried = hangup_app.lambda_handler(load_event("hangup_human"), lambda_context)

    assert retried["statusCode"] == 200
    record = open_store().calls.get_call(c.CALL_UUID)
    assert record is not None
    assert record["state"] == "completed"


def test_an_aws_error_that_retrying_cannot_fix_is_not_disguised_as_unavailable(
    aws_stack: Any, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    invalid = ClientError({"Error": {"Code": "ValidationException", "Message": "bad"}}, "UpdateItem")
    monkeypatch.setattr(aws.dynamodb(), "update_item", _failing(invalid))
    with pytest.raises(ClientError, match="ValidationException"):
        hangup_app.lambda_handler(load_event("hangup_human"), lambda_context)


@pytest.fixture
def atomic_items(aws_stack: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """moto applies a conditional write in several unlocked steps; DynamoDB applies each atomically. Serialise
    the client's calls (not the handlers) so concurrent deliveries race as they do against DynamoDB."""
    client = aws.dynamodb()
    original = client._make_api_call  # type: ignore[attr-defined]
    lock = threading.Lock()

    def atomic(operation: str, params: Any) -> Any:
        with lock:
            return original(operation, params)

    monkeypatch.setattr(client, "_make_api_call", atomic)


def test_concurrent_duplicate_machine_detections_hang_up_once(
    aws_stack: Any, atomic_items: None, plivo_rest: responses.RequestsMock, lambda_context: Any
) -> None:
    """Plivo retrying while the first delivery is still running: the conditional write lets one through."""
    seed.placement("hangup")
    seed.answered(lambda_context)
    plivo_rest.delete(api.call_url(), status=204)

    with ThreadPoolExecutor(max_workers=4) as pool:
        statuses = list(
            pool.map(
                lambda _: md_app.lambda_handler(load_event("machine_detection_machine"), lambda_context)[
                    "statusCode"
                ],
                range(4),
            )
        )

    assert statuses == [200, 200, 200, 200]
    assert len(api.requests_to(plivo_rest, "DELETE", api.call_url())) == 1


def test_concurrent_duplicate_transfers_transfer_once(
    aws_stack: Any, atomic_items: None, plivo_rest: responses.RequestsMock, lambda_context: Any
) -> None:
    seed.placement("transfer")
    plivo_rest.post(api.call_url(), json={"message": "call transferred"}, status=202)

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(
            pool.map(
                lambda _: md_app.lambda_handler(load_event("machine_detection_machine"), lambda_context),
                range(4),
            )
        )

    assert len(api.requests_to(plivo_rest, "POST", api.call_url())) == 1


def test_logs_carry_no_secret_and_no_request_body(
    aws_stack: Any, plivo_rest: responses.RequestsMock, lambda_context: Any
) -> None:
    """Every log line of a whole call (and of rejected requests), at DEBUG, is free of the auth token, the
    signatures, the stream token and the callee's number."""
    service = logging.getLogger("plivo-voice-agent")  # every handler's Logger and the layer's child loggers
    captured = io.StringIO()
    handler = logging.StreamHandler(captured)
    handler.setFormatter(answer_app.logger.registered_formatter)  # the JSON lines Lambda would ship
    service.addHandler(handler)
    previous_level = service.level
    service.setLevel(logging.DEBUG)
    try:
        plivo_rest.post(api.call_url(), json={"message": "call transferred"}, status=202)
        seed.placement("transfer")
        seed.answered(lambda_context)
        seed.streaming(lambda_context)
        md_app.lambda_handler(load_event("machine_detection_machine"), lambda_context)
        hangup_app.lambda_handler(load_event("hangup_human"), lambda_context)
        for rejected in ("answer_bad_signature", "answer_missing_call_uuid", "answer_not_utf8"):
            answer_app.lambda_handler(load_event(rejected), lambda_context)
    finally:
        service.removeHandler(handler)
        service.setLevel(previous_level)

    logs = captured.getvalue()
    connect = load_event("stream_connect")
    secrets = [
        c.TEST_AUTH_TOKEN,
        load_event("answer_outbound")["headers"]["x-plivo-signature-v3"],
        connect["queryStringParameters"]["token"],
        c.TO_NUMBER,
    ]
    assert "call answered" in logs  # the logs are there...
    assert "rejected request: bad signature" in logs
    for secret in secrets:
        assert secret not in logs  # ...without what must not be in them


def test_machine_detection_racing_the_hangup_never_records_a_human_outcome_for_a_machine(
    aws_stack: Any, plivo_rest: responses.RequestsMock, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race seen in 2 of 8 runs (transfer policy), made deterministic: the hangup reads the call, machine
    detection moves it to machine_detected, then the hangup writes. The outcome must be derived from the
    record the completing write replaces, not from an older read."""
    seed.placement("transfer")
    seed.answered(lambda_context)
    plivo_rest.post(api.call_url(), json={"message": "call transferred"}, status=202)
    client = aws.dynamodb()
    original = client.get_item
    hangup_read, detection_done = threading.Event(), threading.Event()

    def get_item(**kwargs: Any) -> Any:
        result = original(**kwargs)
        is_call = kwargs["Key"]["sk"]["S"] == "CALL"
        if threading.current_thread().name == "hangup" and is_call and not hangup_read.is_set():
            hangup_read.set()
            assert detection_done.wait(10)
        return result

    monkeypatch.setattr(client, "get_item", get_item)
    hangup = threading.Thread(
        target=hangup_app.lambda_handler, args=(load_event("hangup_human"), lambda_context), name="hangup"
    )
    hangup.start()
    assert hangup_read.wait(10)
    md_app.lambda_handler(load_event("machine_detection_machine"), lambda_context)
    detection_done.set()
    hangup.join(10)

    record = open_store().calls.get_call(c.CALL_UUID)
    assert record is not None
    assert record["state"] == "completed"
    assert record["machine_detection_result"] == "machine"
    assert record["outcome"] == "voicemail_hangup"  # a machine got no message: never "human"


def test_a_call_that_keeps_changing_while_it_completes_answers_503_so_plivo_retries(
    aws_stack: Any, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from voiceagent.store.calls import CallRepository, WriteConflict

    def conflict(*_: Any, **__: Any) -> None:
        raise WriteConflict("kept changing")

    monkeypatch.setattr(CallRepository, "transition_derived", conflict)

    response = hangup_app.lambda_handler(load_event("hangup_human"), lambda_context)

    assert response["statusCode"] == 503
    assert response["headers"]["Retry-After"] == "1"


@pytest.mark.parametrize("handler", [answer_app, hangup_app, md_app], ids=["answer", "hangup", "md"])
def test_a_missing_ssm_parameter_is_a_configuration_error_not_a_retry(
    handler: Any,
    aws_stack: Any,
    lambda_context: Any,
    table_items: Any,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Retrying cannot create a parameter: no 503, no Retry-After, no "retry" wording; the logs name it."""
    aws_stack["ssm"].delete_parameter(Name=c.AUTH_TOKEN_PARAM)
    name = {answer_app: "answer_outbound", hangup_app: "hangup_human", md_app: "machine_detection_machine"}

    response = handler.lambda_handler(load_event(name[handler]), lambda_context)

    assert response["statusCode"] == 500
    assert "Retry-After" not in response["headers"]
    assert "retry" not in response["body"].lower()
    assert table_items() == []
    (log,) = [record for record in caplog.records if record.getMessage() == "configuration error"]
    assert log.levelname == "ERROR"
    assert log.parameter == c.AUTH_TOKEN_PARAM  # type: ignore[attr-defined]
    assert '"ConfigurationErrors"' in capsys.readouterr().out


def test_ssm_throttling_answers_503_without_touching_state(
    aws_stack: Any, lambda_context: Any, table_items: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aws_lambda_powertools.utilities import parameters

    from tests.unit.voiceagent.test_credentials import ssm_failing

    monkeypatch.setattr(parameters, "get_parameter", ssm_failing("ThrottlingException"))

    response = answer_app.lambda_handler(load_event("answer_outbound"), lambda_context)

    assert response["statusCode"] == 503
    assert response["headers"]["Retry-After"] == "1"
    assert table_items() == []
