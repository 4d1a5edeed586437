"""Round trips of the exact JSON on the wire, and tolerance of the variants Plivo is known to send."""

from __future__ import annotations

import base64
import json

import pytest

from voiceagent.plivo import stream_protocol as protocol

STREAM = "b2c3d4e5-f6a7-4b8c-9d0e-1f2a3b4c5d6e"
START = {
    "event": "start",
    "sequenceNumber": 1,
    "start": {
        "callId": "6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
        "streamId": STREAM,
        "accountId": "MAAAAAAAAAAAAAAAAAAA",
        "tracks": ["inbound"],
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000},
    },
    "extra_headers": "campaign=spring;attempt=2",
}


def test_start() -> None:
    message = protocol.parse(json.dumps(START))
    assert isinstance(message, protocol.StartMessage)
    assert message.start.call_id == "6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
    assert message.start.stream_id == STREAM
    assert message.start.media_format.sample_rate == 8000
    assert message.extra_headers == {"campaign": "spring", "attempt": "2"}


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        ("k=v;a=b", {"k": "v", "a": "b"}),
        ("k=v,a=b", {"k": "v", "a": "b"}),
        ("{X-PH-Campaign: spring, X-PH-Attempt: 2}", {"X-PH-Campaign": "spring", "X-PH-Attempt": "2"}),
        ('{"X-PH-Campaign": "spring"}', {"X-PH-Campaign": "spring"}),
        ({"k": 1}, {"k": "1"}),
        ("", {}),
        (None, {}),
    ],
)
def test_extra_headers_in_every_seen_shape(raw: object, parsed: dict[str, str]) -> None:
    assert protocol.parse_extra_headers(raw) == parsed


def test_media_with_string_numbers() -> None:
    audio = bytes(range(160))
    frame = {
        "event": "media",
        "sequenceNumber": "42",
        "streamId": STREAM,
        "media": {
            "track": "inbound",
            "timestamp": 1705312200000,
            "chunk": "41",
            "payload": base64.b64encode(audio).decode(),
        },
        "extra_headers": "{}",
    }
    message = protocol.parse(json.dumps(frame))
    assert isinstance(message, protocol.MediaMessage)
    assert (message.sequence_number, message.media.chunk, message.media.timestamp) == (
        42,
        41,
        "1705312200000",
    )
    assert message.media.audio() == audio


def test_dtmf() -> None:
    message = protocol.parse(
        '{"event":"dtmf","sequenceNumber":3,"streamId":"s","dtmf":{"track":"inbound","digit":"#","timestamp":"1"}}'
    )
    assert isinstance(message, protocol.DtmfMessage)
    assert message.dtmf.digit == "#"


@pytest.mark.parametrize("event", ["playedStream", "played"])
def test_played_under_both_names(event: str) -> None:
    message = protocol.parse(
        json.dumps({"event": event, "sequenceNumber": 9, "streamId": "s", "name": "greeting"})
    )
    assert isinstance(message, protocol.PlayedStreamMessage)
    assert message.name == "greeting"


def test_cleared_stop_and_unknown() -> None:
    assert isinstance(protocol.parse('{"event":"clearedAudio","streamId":"s"}'), protocol.ClearedAudioMessage)
    stop = protocol.parse('{"event":"stop","reason":"call ended"}')
    assert isinstance(stop, protocol.StopMessage)
    assert stop.reason == "call ended"
    unknown = protocol.parse('{"event":"playFailed","streamId":"s","error":"x"}')
    assert type(unknown) is protocol.UnknownMessage
    assert unknown.event == "playFailed"


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        ("not json", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        ("[1]", "no event"),
        ('{"event": 5}', "no event"),
        ('{"event":"media","streamId":"s"}', "malformed media frame: media"),
        ('{"event":"dtmf","dtmf":{"digit":"55"}}', "malformed dtmf frame: dtmf.digit"),
        ('{"event":"start","start":{"streamId":"s"}}', "malformed start frame: start.callId"),
        ('{"event":"playedStream"}', "malformed playedStream frame: name"),
    ],
)
def test_malformed_frames_raise_protocol_errors(frame: str | bytes, message: str) -> None:
    with pytest.raises(protocol.ProtocolError, match=message):
        protocol.parse(frame)


def test_media_payload_that_is_not_base64() -> None:
    message = protocol.parse('{"event":"media","media":{"payload":"%%%"}}')
    assert isinstance(message, protocol.MediaMessage)
    with pytest.raises(protocol.ProtocolError, match="not base64"):
        message.media.audio()


def test_play_audio_exact_json_and_splitting() -> None:
    audio = b"\x01" * 36000
    frames = protocol.play_audio(audio)
    assert len(frames) == 3
    assert [len(base64.b64decode(frame["media"]["payload"])) for frame in frames] == [16000, 16000, 4000]
    assert b"".join(base64.b64decode(frame["media"]["payload"]) for frame in frames) == audio
    encoded = protocol.encode(protocol.play_audio(b"\xff\x7f")[0])
    assert (
        encoded
        == b'{"event":"playAudio","media":{"contentType":"audio/x-mulaw","sampleRate":8000,"payload":"/38="}}'
    )
    assert all(len(protocol.encode(frame)) < 0.7 * 32 * 1024 for frame in frames)


def test_checkpoint_and_clear_exact_json() -> None:
    assert protocol.encode(protocol.checkpoint(STREAM, "greeting")) == (
        b'{"event":"checkpoint","streamId":"' + STREAM.encode() + b'","name":"greeting"}'
    )
    assert (
        protocol.encode(protocol.clear_audio(STREAM))
        == b'{"event":"clearAudio","streamId":"' + STREAM.encode() + b'"}'
    )


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        ("[" * 8_000, "not JSON"),  # deeper than the JSON parser's recursion limit, within the size limit
        ('{"event":"playFailed","sequenceNumber":"x"}', "malformed 'playFailed' frame"),
    ],
    ids=["deep-nesting", "unknown-event-bad-field"],
)
def test_frames_found_by_fuzzing_are_protocol_errors(frame: str, message: str) -> None:
    with pytest.raises(protocol.ProtocolError, match=message):
        protocol.parse(frame)


def test_extra_headers_parse_in_linear_time_and_overlong_ones_are_ignored() -> None:
    import time

    started = time.perf_counter()
    assert protocol.parse_extra_headers("a" * 4000) == {}
    assert protocol.parse_extra_headers("k=v;" * 1000) == {"k": "v"}
    assert time.perf_counter() - started < 0.05  # the old regex took seconds on inputs like these
    assert protocol.parse_extra_headers("k=v;" + "x" * 5000) == {}
    assert protocol.parse_extra_headers('{"a":' + "[" * 30_000) == {}


def test_a_frame_far_above_plivos_size_is_refused_before_parsing() -> None:
    frame = json.dumps({"event": "media", "media": {"payload": "A" * protocol.MAX_FRAME_BYTES}})
    with pytest.raises(protocol.ProtocolError, match="frame too large"):
        protocol.parse(frame)
    with pytest.raises(protocol.ProtocolError, match="frame too large"):
        protocol.parse(frame.encode())
