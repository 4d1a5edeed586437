from __future__ import annotations

import base64
import json
from collections import Counter
from typing import Any

import pytest
import responses
from botocore.stub import Stubber

from functions.machine_detection import app as md_app
from functions.media import app
from tests.support import constants as c
from tests.support import plivo_api as api
from tests.support import seed
from tests.support.events import load_event
from voiceagent.media import connections
from voiceagent.media import runtime as media_runtime
from voiceagent.media.runtime import SessionCache
from voiceagent.media.speech import BundledSpeech
from voiceagent.store import open_store

WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}


@pytest.fixture(autouse=True)
def fresh_sessions(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts as a cold container: no cached sessions."""
    monkeypatch.setattr(app, "SESSIONS", SessionCache())


def handle(name: str, lambda_context: Any) -> dict[str, Any]:
    response: dict[str, Any] = app.lambda_handler(load_event(name), lambda_context)
    return response


def frames(name: str, count: int, lambda_context: Any) -> None:
    for _ in range(count):
        assert handle(name, lambda_context) == {"statusCode": 200}


def call() -> dict[str, Any]:
    record = open_store().calls.get_call(c.CALL_UUID)
    assert record is not None
    return record


def summary(posted: list[dict[str, Any]]) -> list[str]:
    """playAudio runs collapsed, so a sequence reads like: play greeting, checkpoint greeting, ..."""
    out: list[str] = []
    for frame in posted:
        label = frame["event"] if frame["event"] != "checkpoint" else f"checkpoint:{frame['name']}"
        if not out or out[-1] != label or label != "playAudio":
            out.append(label)
    return out


def played_audio(posted: list[dict[str, Any]]) -> bytes:
    return b"".join(
        base64.b64decode(frame["media"]["payload"]) for frame in posted if frame["event"] == "playAudio"
    )


def test_event_without_connection_id_is_refused(aws_stack: Any, lambda_context: Any) -> None:
    event = load_event("media_speech")
    del event["requestContext"]["connectionId"]
    assert app.lambda_handler(event, lambda_context) == {"statusCode": 400}


# ---------------------------------------------------------------------------------------------- frames


def test_start_greets_with_bundled_audio_and_a_checkpoint(aws_stack: Any, lambda_context: Any) -> None:
    seed.streaming(lambda_context)

    handle("media_start", lambda_context)

    posted = seed.frames_posted()
    assert summary(posted) == ["playAudio", "checkpoint:greeting"]
    assert played_audio(posted) == BundledSpeech().prompt("greeting")
    assert all(len(json.dumps(frame)) < 32 * 1024 for frame in posted)
    assert posted[-1] == {"event": "checkpoint", "streamId": c.STREAM_ID, "name": "greeting"}
    assert call()["stream_id"] == c.STREAM_ID
    assert call()["agent_state"] == {"phase": "greeting"}


def test_start_for_another_call_is_dropped(aws_stack: Any, lambda_context: Any) -> None:
    seed.streaming(lambda_context)

    assert handle("media_start_other_call", lambda_context) == {"statusCode": 200}

    assert seed.frames_posted() == []
    assert "stream_id" not in call()


@pytest.mark.parametrize(
    "name",
    ["media_frame_malformed", "media_bad_payload", "media_unknown_event", "media_speech", "media_dtmf"],
)
def test_bad_unknown_or_orphan_frames_are_dropped_without_writes(
    name: str, aws_stack: Any, lambda_context: Any, table_items: Any
) -> None:
    assert handle(name, lambda_context) == {"statusCode": 200}  # the connection stays up
    assert table_items() == []
    assert seed.frames_posted() == []


def test_barge_in_clears_our_audio(aws_stack: Any, lambda_context: Any) -> None:
    seed.streaming(lambda_context)
    handle("media_start", lambda_context)

    frames("media_speech", 5, lambda_context)  # the callee talks over the greeting

    assert summary(seed.frames_posted()) == ["playAudio", "checkpoint:greeting", "clearAudio"]


def test_hash_key_says_goodbye_then_hangs_up_when_it_has_played(
    aws_stack: Any, plivo_rest: responses.RequestsMock, lambda_context: Any
) -> None:
    plivo_rest.delete(api.call_url(), status=204)
    seed.streaming(lambda_context)
    handle("media_start", lambda_context)

    handle("media_dtmf_end_call", lambda_context)
    assert len(plivo_rest.calls) == 0  # not before the goodbye has played
    handle("media_played_goodbye", lambda_context)

    assert summary(seed.frames_posted())[-3:] == ["clearAudio", "playAudio", "checkpoint:goodbye"]
    assert len(api.requests_to(plivo_rest, "DELETE", api.call_url())) == 1
    assert (call()["agent_hangup"], call()["agent_hangup_result"]) == ("agent said goodbye", "hung_up")


def test_a_gone_connection_is_cleaned_up(aws_stack: Any, lambda_context: Any, table_items: Any) -> None:
    from voiceagent.settings import get_settings

    seed.streaming(lambda_context)
    endpoint = f"https://{c.WS_API_DOMAIN}/{c.STAGE}"
    assert endpoint == connections.management_endpoint(get_settings())
    with Stubber(connections.management_client(endpoint)) as stubber:
        stubber.add_client_error(
            "post_to_connection", service_error_code="GoneException", http_status_code=410
        )
        handle("media_start", lambda_context)  # the first frame fails: no more are attempted
        stubber.assert_no_pending_responses()

    assert not [item for item in table_items() if item["pk"].startswith("CONN#")]
    assert "connection_id" not in call()


def test_a_cold_container_rebuilds_the_session_from_dynamodb(
    aws_stack: Any, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed.streaming(lambda_context)
    handle("media_start", lambda_context)
    handle("media_played_greeting", lambda_context)
    monkeypatch.setattr(app, "SESSIONS", SessionCache())  # the next frames land on another container

    frames("media_speech", 5, lambda_context)
    frames("media_silence", 35, lambda_context)

    assert summary(seed.frames_posted())[-2:] == ["playAudio", "checkpoint:acknowledge"]


def test_a_whole_simulated_stream(
    aws_stack: Any,
    plivo_rest: responses.RequestsMock,
    lambda_context: Any,
    dynamodb_calls: Counter[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """start → greeting → callee speaks → acknowledgement → barge-in → dtmf → machine detected (agent policy)
    → the machine's greeting ends → voicemail → playedStream → hang up. Exact frames, state, and no write per
    media frame."""
    monkeypatch.setattr(media_runtime, "MODE_CACHE_SECONDS", 0.0)  # this test runs faster than a real call
    plivo_rest.delete(api.call_url(), status=204)
    seed.placement("agent", voicemail_message="Hi, Acme here.")
    seed.answered(lambda_context)
    seed.streaming(lambda_context)

    handle("media_start", lambda_context)
    handle("media_played_greeting", lambda_context)
    assert call()["agent_state"] == {"phase": "listening"}

    dynamodb_calls.clear()
    frames("media_speech", 10, lambda_context)  # 200 ms of speech
    frames("media_silence", 35, lambda_context)  # 700 ms of silence: speech ended → acknowledge
    frames("media_speech", 5, lambda_context)  # talks over the acknowledgement → barge-in
    handle("media_cleared_audio", lambda_context)
    handle("media_dtmf", lambda_context)
    frames("media_silence", 35, lambda_context)  # ended again → acknowledge again
    assert sum(dynamodb_calls[name] for name in WRITES) == 0
    assert dynamodb_calls["GetItem"] == 2  # the voicemail mode, read once per speech→silence transition

    md_app.lambda_handler(load_event("machine_detection_machine"), lambda_context)
    assert call()["agent_mode"] == "voicemail"
    dynamodb_calls.clear()
    frames("media_speech", 50, lambda_context)  # the machine's greeting, 1 s
    frames("media_silence", 35, lambda_context)  # then silence (the beep is over): leave the message
    assert dynamodb_calls["UpdateItem"] == 1  # the switch to voicemail is one state change
    assert dynamodb_calls["GetItem"] == 1
    handle("media_played_voicemail", lambda_context)

    assert summary(seed.frames_posted()) == [
        "playAudio", "checkpoint:greeting",
        "playAudio", "checkpoint:acknowledge",
        "clearAudio",
        "playAudio", "checkpoint:acknowledge",
        "clearAudio",  # from the machine-detection webhook
        "clearAudio",  # the machine's greeting starts while the agent thinks it is still talking: barge-in
        "clearAudio", "playAudio", "checkpoint:voicemail",
    ]  # fmt: skip
    record = call()
    assert record["agent_state"] == {"phase": "voicemail"}
    assert "voicemail_played_at" in record
    assert record["agent_hangup"] == "voicemail left"
    assert len(api.requests_to(plivo_rest, "DELETE", api.call_url())) == 1


@pytest.mark.parametrize("broken", ["auth_id", "secret"])
def test_call_control_with_a_plivo_client_that_cannot_be_built_is_recorded_not_a_crash(
    broken: str,
    aws_stack: Any,
    plivo_rest: responses.RequestsMock,
    lambda_context: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from voiceagent.settings import get_settings

    seed.streaming(lambda_context)
    handle("media_start", lambda_context)
    handle("media_dtmf_end_call", lambda_context)
    if broken == "auth_id":
        monkeypatch.setenv("PLIVO_AUTH_ID", "MA-too-short")
        get_settings.cache_clear()
    else:
        from aws_lambda_powertools.utilities import parameters

        aws_stack["ssm"].delete_parameter(Name=c.AUTH_TOKEN_PARAM)
        parameters.clear_caches()  # type: ignore[no-untyped-call]

    assert handle("media_played_goodbye", lambda_context) == {"statusCode": 200}

    assert len(plivo_rest.calls) == 0
    assert "Plivo client cannot be built" in call()["agent_call_control_error"]


def test_a_frame_far_above_plivos_size_is_dropped_before_it_is_decoded(
    aws_stack: Any, lambda_context: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from voiceagent.plivo import stream_protocol

    seed.streaming(lambda_context)
    handle("media_start", lambda_context)
    decoded: list[Any] = []
    monkeypatch.setattr(stream_protocol, "_KNOWN", SpyAdapter(stream_protocol._KNOWN, decoded))

    assert handle("media_frame_oversized", lambda_context) == {"statusCode": 200}

    assert decoded == []
    assert any(getattr(record, "reason", "").startswith("frame too large") for record in caplog.records)
    assert summary(seed.frames_posted()) == ["playAudio", "checkpoint:greeting"]  # nothing acted on it


class SpyAdapter:
    """Records every frame handed to the protocol's JSON decoder."""

    def __init__(self, adapter: Any, seen: list[Any]) -> None:
        self._adapter, self._seen = adapter, seen

    def validate_json(self, frame: Any) -> Any:
        self._seen.append(frame)
        return self._adapter.validate_json(frame)
