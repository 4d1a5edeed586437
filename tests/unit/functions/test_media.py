from __future__ import annotations

import base64
import json
from collections import Counter
from collections.abc import Iterator
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
from tests.support.stream import StreamFrames
from voiceagent import aws
from voiceagent.clock import utcnow
from voiceagent.media import connections
from voiceagent.media.speech import BundledSpeech
from voiceagent.store import open_store

WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}


@pytest.fixture
def dynamodb_calls(aws_stack: Any) -> Iterator[Counter[str]]:
    """Counts DynamoDB operations made through the media function's client."""
    counts: Counter[str] = Counter()
    client = aws.dynamodb(realtime=True)

    def count(model: Any, **_: Any) -> None:
        counts[model.name] += 1

    client.meta.events.register("before-call.dynamodb", count)
    yield counts
    client.meta.events.unregister("before-call.dynamodb", count)


def handle(name: str, lambda_context: Any) -> dict[str, Any]:
    response: dict[str, Any] = app.lambda_handler(load_event(name), lambda_context)
    return response


def play(events: dict[str, Any] | list[dict[str, Any]], lambda_context: Any) -> None:
    for event in events if isinstance(events, list) else [events]:
        assert app.lambda_handler(event, lambda_context) == {"statusCode": 200}


def stream_state() -> dict[str, Any]:
    record = open_store().connections.load(c.CONNECTION_ID)
    assert record is not None
    return record.state


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


@pytest.fixture
def stream(aws_stack: Any, lambda_context: Any) -> StreamFrames:
    """A connected stream (``$connect`` done) whose frames the test plays."""
    seed.streaming(lambda_context)
    return StreamFrames()


def test_start_greets_with_bundled_audio_and_a_checkpoint(stream: StreamFrames, lambda_context: Any) -> None:
    play(stream.start(), lambda_context)

    posted = seed.frames_posted()
    assert summary(posted) == ["playAudio", "checkpoint:greeting"]
    assert played_audio(posted) == BundledSpeech().prompt("greeting")
    assert all(len(json.dumps(frame)) < 32 * 1024 for frame in posted)
    assert posted[-1] == {"event": "checkpoint", "streamId": c.STREAM_ID, "name": "greeting"}
    assert call()["stream_id"] == c.STREAM_ID
    state = stream_state()
    assert (state["agent"], state["pending"]) == ({"phase": "greeting"}, ["greeting"])
    assert open_store().connections.load(c.CONNECTION_ID).outbox == []  # type: ignore[union-attr]


def test_start_for_another_call_is_dropped(stream: StreamFrames, lambda_context: Any) -> None:
    play(stream.start(call_id="11111111-2222-4333-8444-555555555555"), lambda_context)

    assert seed.frames_posted() == []
    assert "stream_id" not in call()
    assert stream_state() == {}


def test_a_repeated_start_greets_once(stream: StreamFrames, lambda_context: Any) -> None:
    start = stream.start()
    play([start, start], lambda_context)
    assert summary(seed.frames_posted()) == ["playAudio", "checkpoint:greeting"]


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


def test_audio_before_the_start_is_dropped_and_events_wait_for_it(
    stream: StreamFrames, lambda_context: Any
) -> None:
    start = stream.start()
    play([*stream.speech(200), stream.dtmf("#")], lambda_context)  # they overtook the start
    assert seed.frames_posted() == []

    play(start, lambda_context)

    assert summary(seed.frames_posted()) == [
        "playAudio", "checkpoint:greeting", "clearAudio", "playAudio", "checkpoint:goodbye",
    ]  # fmt: skip
    assert stream_state()["deferred"] == []


def test_barge_in_clears_our_audio(stream: StreamFrames, lambda_context: Any) -> None:
    play(stream.start(), lambda_context)

    play(stream.speech(100), lambda_context)  # the callee talks over the greeting

    assert summary(seed.frames_posted()) == ["playAudio", "checkpoint:greeting", "clearAudio"]
    assert stream_state()["pending"] == []


def test_a_turn_is_acknowledged_once_when_the_callee_stops_talking(
    stream: StreamFrames, lambda_context: Any
) -> None:
    play([stream.start(), stream.played("greeting")], lambda_context)

    play([*stream.speech(400), *stream.silence(700)], lambda_context)

    assert summary(seed.frames_posted()) == [
        "playAudio", "checkpoint:greeting", "playAudio", "checkpoint:acknowledge",
    ]  # fmt: skip


def test_a_stale_media_frame_is_dropped_and_a_redelivered_event_acts_once(
    stream: StreamFrames, lambda_context: Any, plivo_rest: responses.RequestsMock
) -> None:
    plivo_rest.delete(api.call_url(), status=204)
    play([stream.start(), stream.played("greeting")], lambda_context)
    early, late = stream.speech(40)
    play([*stream.speech(60), late, early], lambda_context)  # the first two frames arrive last: stale
    goodbye = stream.dtmf("#")
    play([goodbye, goodbye], lambda_context)
    played = stream.played("goodbye")
    play([played, played], lambda_context)

    assert summary(seed.frames_posted()).count("checkpoint:goodbye") == 1
    assert len(api.requests_to(plivo_rest, "DELETE", api.call_url())) == 1


def test_hash_key_says_goodbye_then_hangs_up_when_it_has_played(
    stream: StreamFrames, plivo_rest: responses.RequestsMock, lambda_context: Any
) -> None:
    plivo_rest.delete(api.call_url(), status=204)
    play(stream.start(), lambda_context)

    play(stream.dtmf("#"), lambda_context)
    assert len(plivo_rest.calls) == 0  # not before the goodbye has played
    play(stream.played("goodbye"), lambda_context)

    assert summary(seed.frames_posted())[-3:] == ["clearAudio", "playAudio", "checkpoint:goodbye"]
    assert len(api.requests_to(plivo_rest, "DELETE", api.call_url())) == 1
    assert (call()["agent_hangup"], call()["agent_hangup_result"]) == ("agent said goodbye", "hung_up")


def test_a_gone_connection_is_cleaned_up(stream: StreamFrames, lambda_context: Any, table_items: Any) -> None:
    from voiceagent.settings import get_settings

    endpoint = f"https://{c.WS_API_DOMAIN}/{c.STAGE}"
    assert endpoint == connections.management_endpoint(get_settings())
    with Stubber(connections.management_client(endpoint)) as stubber:
        stubber.add_client_error(
            "post_to_connection", service_error_code="GoneException", http_status_code=410
        )
        play(stream.start(), lambda_context)  # the first frame fails: no more are attempted
        stubber.assert_no_pending_responses()

    assert not [item for item in table_items() if item["pk"].startswith("CONN#")]
    assert "connection_id" not in call()


def test_what_the_agent_did_is_on_the_calls_timeline(
    stream: StreamFrames, plivo_rest: responses.RequestsMock, lambda_context: Any
) -> None:
    from functions.calls import app as calls_app

    plivo_rest.delete(api.call_url(), status=204)
    play([stream.start(), stream.played("greeting")], lambda_context)
    play(
        [*stream.speech(300), *stream.silence(700), stream.dtmf("#"), stream.played("goodbye")],
        lambda_context,
    )

    report = json.loads(calls_app.lambda_handler(load_event("calls_report"), lambda_context)["body"])
    agent = [
        (entry["event"], entry["detail"])
        for entry in report["timeline"]
        if entry["event"].startswith("agent")
    ]
    assert agent == [
        ("agent: stream started", "plays greeting"),
        ("agent: heard the callee", "plays acknowledge"),
        ("agent: dtmf #", "stops talking (clearAudio), plays goodbye"),
        ("agent: our audio played", "hangs up (agent said goodbye)"),
    ]


def test_steady_audio_reads_once_per_frame_and_writes_only_on_changes(
    stream: StreamFrames, lambda_context: Any, dynamodb_calls: Counter[str]
) -> None:
    play([stream.start(), stream.played("greeting")], lambda_context)
    dynamodb_calls.clear()

    play(stream.silence(2000), lambda_context)  # 100 frames of silence
    assert dict(dynamodb_calls) == {"GetItem": 100}
    dynamodb_calls.clear()

    play([*stream.speech(1000), *stream.silence(1000)], lambda_context)  # one turn
    writes = sum(dynamodb_calls[name] for name in WRITES)
    assert dynamodb_calls["GetItem"] == 100
    assert writes <= 8  # run edges, speech start and end, the acknowledgement and its outbox: not per frame


def test_a_whole_call_that_turns_into_a_voicemail(
    stream: StreamFrames, plivo_rest: responses.RequestsMock, lambda_context: Any
) -> None:
    """start → greeting → callee speaks → acknowledgement → barge-in → dtmf → machine detected (agent policy)
    → the machine's greeting, a pause, its end → silence → voicemail → playedStream → hang up."""
    plivo_rest.delete(api.call_url(), status=204)
    seed.placement("agent", voicemail_message="Hi, Acme here.")
    seed.answered(lambda_context)
    play([stream.start(), stream.played("greeting")], lambda_context)

    play([*stream.speech(200), *stream.silence(700)], lambda_context)  # speech ended → acknowledge
    play(stream.speech(100), lambda_context)  # talks over the acknowledgement → barge-in
    play([stream.cleared(), stream.dtmf("5")], lambda_context)
    open_store().calls.update_call(c.CALL_UUID, utcnow(), facts={"stream_id": c.STREAM_ID})
    md_app.lambda_handler(load_event("machine_detection_machine"), lambda_context)
    assert call()["agent_mode"] == "voicemail"

    play([*stream.speech(1000), *stream.silence(1200)], lambda_context)  # a pause inside the greeting
    assert "voicemail_started_at" not in call()
    play([*stream.speech(800), *stream.silence(2000)], lambda_context)  # the greeting ends: 2 s of silence
    play(stream.played("voicemail"), lambda_context)

    assert summary(seed.frames_posted()) == [
        "playAudio", "checkpoint:greeting",
        "playAudio", "checkpoint:acknowledge",
        "clearAudio",
        "clearAudio",  # from the machine-detection webhook
        "clearAudio", "playAudio", "checkpoint:voicemail",
    ]  # fmt: skip
    record = call()
    assert record["voicemail_trigger"] == "silence"
    assert "voicemail_played_at" in record
    assert record["agent_hangup"] == "voicemail left"
    assert stream_state()["agent"] == {"phase": "voicemail"}
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
    expected = "PLIVO_AUTH_ID" if broken == "auth_id" else "Plivo client cannot be built"
    assert expected in call()["agent_call_control_error"]


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
