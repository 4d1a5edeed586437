"""$connect and $disconnect: a stream is admitted only with a genuine, unexpired token that has never opened a
connection, for a live call, with Plivo's signature (under enforce); and the media function never runs."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from functions.stream_connect import app
from tests.support import constants as c
from tests.support import make_events as me
from tests.support import seed
from tests.support.events import load_event
from voiceagent.clock import utcnow
from voiceagent.store import open_store
from voiceagent.store.states import CallState


def handle(name: str, lambda_context: Any) -> dict[str, Any]:
    response: dict[str, Any] = app.lambda_handler(load_event(name), lambda_context)
    return response


def stored(table_items: Any, prefix: str) -> list[dict[str, Any]]:
    return [
        item for item in table_items() if str(item["pk"]).startswith(prefix) or item["sk"].startswith(prefix)
    ]


# ---------------------------------------------------------------------------------------------- admitted


def test_a_signed_connect_with_a_fresh_token_on_a_live_call_registers_the_connection(
    aws_stack: Any, lambda_context: Any, table_items: Any
) -> None:
    seed.answered(lambda_context)

    assert handle("stream_connect", lambda_context) == {"statusCode": 200}

    (connection,) = stored(table_items, "CONN#")
    assert connection["call_uuid"] == c.CALL_UUID
    assert seed.call_record()["connection_id"] == c.CONNECTION_ID
    assert "stream_connected_at" in seed.call_record()
    (claim,) = stored(table_items, "STREAMTOKEN#")
    assert (claim["sk"], claim["connection_id"]) == (f"STREAMTOKEN#{me.TOKEN_ID}", c.CONNECTION_ID)


def test_a_call_in_machine_detected_state_is_live(aws_stack: Any, lambda_context: Any) -> None:
    open_store().calls.transition(c.CALL_UUID, CallState.MACHINE_DETECTED, utcnow())
    assert handle("stream_connect", lambda_context) == {"statusCode": 200}


# ---------------------------------------------------------------------------------------------- refused


def test_a_token_opens_one_connection_only(aws_stack: Any, lambda_context: Any, table_items: Any) -> None:
    """The hijack: one token used to open any number of connections, the last becoming the call's."""
    seed.streaming(lambda_context)
    before = table_items()
    replayed = load_event("stream_connect")
    replayed["requestContext"]["connectionId"] = "Attacker0000="

    assert app.lambda_handler(replayed, lambda_context) == {"statusCode": 403}

    assert table_items() == before
    assert seed.call_record()["connection_id"] == c.CONNECTION_ID


def test_a_token_is_refused_once_the_call_has_completed(
    aws_stack: Any, lambda_context: Any, table_items: Any
) -> None:
    from functions.hangup import app as hangup_app

    seed.answered(lambda_context)
    hangup_app.lambda_handler(load_event("hangup_human"), lambda_context)
    before = table_items()

    assert handle("stream_connect", lambda_context) == {"statusCode": 403}

    assert table_items() == before


def test_a_token_for_a_call_never_answered_is_refused(
    aws_stack: Any, lambda_context: Any, table_items: Any
) -> None:
    assert handle("stream_connect", lambda_context) == {"statusCode": 403}
    assert table_items() == []


@pytest.mark.parametrize(
    "name",
    [
        "stream_connect_expired_token",
        "stream_connect_forged_token",
        "stream_connect_forged_token_id",
        "stream_connect_missing_token",
        "stream_connect_bad_signature",
        "stream_connect_unsigned",
    ],
)
def test_forged_expired_missing_or_unsigned_connects_are_refused_and_store_nothing(
    name: str, aws_stack: Any, lambda_context: Any, table_items: Any
) -> None:
    seed.answered(lambda_context)
    before = table_items()

    assert handle(name, lambda_context) == {"statusCode": 403}

    assert table_items() == before


@pytest.mark.parametrize("mode", ["warn", "off"])
@pytest.mark.parametrize("name", ["stream_connect_bad_signature", "stream_connect_unsigned"])
def test_the_signature_check_can_be_relaxed_to_the_token_alone(
    mode: str, name: str, aws_stack: Any, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STREAM_SIGNATURE_CHECK", mode)
    seed.answered(lambda_context)
    assert handle(name, lambda_context) == {"statusCode": 200}


def test_a_forged_connect_never_runs_the_media_function(
    aws_stack: Any, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rejected connects (a flood) cost this small function only: the media handler path is not imported,
    let alone invoked."""
    for module in [name for name in sys.modules if name.startswith(("functions.media", "voiceagent.media"))]:
        monkeypatch.delitem(sys.modules, module)

    assert handle("stream_connect_forged_token", lambda_context) == {"statusCode": 403}

    assert not [name for name in sys.modules if name.startswith(("functions.media", "voiceagent.media"))]


def test_an_event_that_is_not_a_connect_or_disconnect_is_refused(aws_stack: Any, lambda_context: Any) -> None:
    assert handle("stream_connect_wrong_route", lambda_context) == {"statusCode": 400}
    event = load_event("stream_connect")
    del event["requestContext"]["connectionId"]
    assert app.lambda_handler(event, lambda_context) == {"statusCode": 400}


# ---------------------------------------------------------------------------------------------- faults


def test_a_missing_ssm_parameter_is_a_configuration_error(
    aws_stack: Any, lambda_context: Any, table_items: Any, caplog: pytest.LogCaptureFixture
) -> None:
    seed.answered(lambda_context)
    aws_stack["ssm"].delete_parameter(Name=c.AUTH_TOKEN_PARAM)
    from aws_lambda_powertools.utilities import parameters

    parameters.clear_caches()  # type: ignore[no-untyped-call]
    before = table_items()

    assert handle("stream_connect", lambda_context) == {"statusCode": 500}

    (log,) = [record for record in caplog.records if record.getMessage() == "configuration error"]
    assert log.parameter == c.AUTH_TOKEN_PARAM  # type: ignore[attr-defined]
    assert table_items() == before


def test_a_throttled_dependency_answers_503_so_plivo_retries(
    aws_stack: Any, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.exceptions import ClientError

    from voiceagent import aws

    seed.answered(lambda_context)
    throttled = ClientError(
        {
            "Error": {"Code": "TransactionCanceledException", "Message": "throttled"},
            "CancellationReasons": [{"Code": "None"}, {"Code": "ThrottlingError"}, {"Code": "None"}],
        },
        "TransactWriteItems",
    )

    def fail(**_: Any) -> None:
        raise throttled

    monkeypatch.setattr(aws.dynamodb(), "transact_write_items", fail)

    assert handle("stream_connect", lambda_context) == {"statusCode": 503}


def test_an_aws_error_no_retry_can_fix_stays_loud(
    aws_stack: Any, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.exceptions import ClientError

    from voiceagent import aws

    seed.answered(lambda_context)
    invalid = ClientError({"Error": {"Code": "ValidationException", "Message": "bad"}}, "TransactWriteItems")

    def fail(**_: Any) -> None:
        raise invalid

    monkeypatch.setattr(aws.dynamodb(), "transact_write_items", fail)

    with pytest.raises(ClientError, match="ValidationException"):
        handle("stream_connect", lambda_context)


# ---------------------------------------------------------------------------------------------- $disconnect


def test_disconnect_removes_the_connection_from_its_call(
    aws_stack: Any, lambda_context: Any, table_items: Any
) -> None:
    seed.streaming(lambda_context)

    assert handle("stream_disconnect", lambda_context) == {"statusCode": 200}

    assert not stored(table_items, "CONN#")
    assert "connection_id" not in seed.call_record()
    assert "disconnected_at" in seed.call_record()


def test_disconnect_keeps_a_newer_connection(aws_stack: Any, lambda_context: Any) -> None:
    seed.streaming(lambda_context)
    assert handle("stream_connect_second_token", lambda_context) == {"statusCode": 200}

    handle("stream_disconnect", lambda_context)

    assert seed.call_record()["connection_id"] == "NewerConn0000="


def test_disconnect_of_unknown_connection_is_harmless(
    aws_stack: Any, lambda_context: Any, table_items: Any
) -> None:
    assert handle("stream_disconnect", lambda_context) == {"statusCode": 200}
    assert table_items() == []
