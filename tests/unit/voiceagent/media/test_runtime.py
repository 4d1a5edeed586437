"""The media runtime on its own (moto in-process, a recording sender and REST gateway): the state machine of a
stream, frame by frame, and the property that matters most: a call heard through one container or through
several — frames routed anywhere, two in flight at once, one pair out of order, a container dying between
deciding and acting — leads to the same agent actions and the same stored facts."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support import constants as c
from tests.support.audio import silence, tone
from tests.support.stream import StreamFrames
from voiceagent.media import runtime as runtime_module
from voiceagent.media.reference_agent import ReferenceAgent
from voiceagent.media.runtime import MediaRuntime
from voiceagent.media.speech import BundledSpeech
from voiceagent.plivo.rest import ApiResult, Deadline
from voiceagent.store import Store, open_store
from voiceagent.store.connections import ConnectionRecord, ConnectionRepository
from voiceagent.store.states import CallState

START = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
THROTTLED = "ProvisionedThroughputExceededException"
BEEP = tone(1000, 400, 0.3)


@dataclass
class Recorder:
    """Stands in for the @connections API and Plivo's REST API: what was sent, in order."""

    sent: list[str] = field(default_factory=list)
    rest: list[str] = field(default_factory=list)

    def send(self, connection_id: str, message: dict[str, Any]) -> bool:
        label = message["event"] if message["event"] != "checkpoint" else f"checkpoint:{message['name']}"
        if label != "playAudio" or not self.sent or self.sent[-1] != "playAudio":
            self.sent.append(label)
        return True

    def hangup(self, call_uuid: str, *, deadline: Deadline) -> ApiResult:
        self.rest.append(f"hangup {call_uuid}")
        return ApiResult("hung_up", 1)

    def transfer(self, call_uuid: str, url: str, *, deadline: Deadline) -> ApiResult:
        self.rest.append(f"transfer {url}")
        return ApiResult("transferred", 1)


class StaleFirstRead:
    """A connection repository whose next load returns the record as it was before the last write: the frame
    was read while another one, in flight at the same time, had not written yet."""

    def __init__(self, inner: ConnectionRepository) -> None:
        self._inner = inner
        self._before_last_write: ConnectionRecord | None = None
        self.stale_next = False

    def load(self, connection_id: str) -> ConnectionRecord | None:
        if self.stale_next and self._before_last_write is not None:
            self.stale_next = False
            return self._before_last_write
        return self._inner.load(connection_id)

    def save_state(self, record: ConnectionRecord, *args: Any) -> Any:
        before = self._inner.load(record.connection_id)
        result = self._inner.save_state(record, *args)
        if result[0]:
            self._before_last_write = before
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


def runtime(store: Store, recorder: Recorder, clock: Clock, connections: Any = None) -> MediaRuntime:
    return MediaRuntime(
        agent=ReferenceAgent(BundledSpeech()),
        calls=store.calls,
        connections=connections or store.connections,
        sender=recorder,  # type: ignore[arg-type]
        gateway=lambda: recorder,  # type: ignore[arg-type,return-value]
        clock=clock,
    )


def connect(store: Store) -> None:
    store.calls.transition(c.CALL_UUID, CallState.ANSWERED, START, {"voicemail_message": "Hi, Acme here."})
    store.connections.attach(c.CONNECTION_ID, c.CALL_UUID, START, token_id="token-1")


def body(event: dict[str, Any]) -> str:
    return str(event["body"])


@dataclass
class Script:
    """A recorded call: frames, and the moment machine detection asks for a voicemail."""

    frames: list[dict[str, Any]]
    voicemail_after: int | None = None


def human_then_voicemail() -> Script:
    """Greeting, a callee turn, a barge-in, a DTMF key, then machine detection: the greeting's pause, a beep,
    the message, its checkpoint."""
    stream = StreamFrames()
    frames = [stream.start(), stream.played("greeting")]
    frames += [*stream.speech(400), *stream.silence(800)]  # a turn: acknowledged once
    frames += stream.speech(200)  # barge-in over the acknowledgement
    frames += [stream.cleared(), stream.dtmf("5"), *stream.silence(800)]
    switch = len(frames)
    frames += [*stream.speech(1500), *stream.silence(1000), *stream.speech(600), *stream.silence(200)]
    frames += [*stream.audio(BEEP), *stream.silence(200), stream.played("voicemail")]
    return Script(frames, voicemail_after=switch)


def play(script: Script, *, containers: int, seed: int | None) -> tuple[list[str], list[str], dict[str, Any]]:
    """Play the script; with a seed, route frames at random, run random pairs in flight together, and swap
    one adjacent pair of media frames."""
    store = open_store()
    connect(store)
    recorder, clock = Recorder(), Clock()
    rng = random.Random(seed)
    stale = StaleFirstRead(store.connections)
    runtimes = [runtime(store, recorder, clock, stale) for _ in range(containers)]
    frames = list(script.frames)
    if seed is not None:
        media = [index for index, frame in enumerate(frames) if '"media"' in frame["body"] and index > 4]
        swap = rng.choice(media[:-1])
        frames[swap], frames[swap + 1] = frames[swap + 1], frames[swap]
    for index, frame in enumerate(frames):
        if index == script.voicemail_after:
            store.calls.update_call(c.CALL_UUID, clock(), overwrite={"agent_mode": "voicemail"})
            store.connections.request_voicemail(c.CONNECTION_ID, clock())
        stale.stale_next = seed is not None and rng.random() < 0.3
        clock.now += timedelta(milliseconds=20)
        chosen = runtimes[rng.randrange(containers)] if seed is not None else runtimes[0]
        chosen.on_frame(c.CONNECTION_ID, body(frame), Deadline.after(5))
    call = store.calls.get_call(c.CALL_UUID) or {}
    facts: dict[str, Any] = {
        key: call[key] for key in ("voicemail_trigger", "agent_hangup", "agent_hangup_result") if key in call
    }
    facts["timestamps"] = sorted(key for key in call if key.endswith("_at"))
    return recorder.sent, recorder.rest, facts


def test_one_recorded_call_acts_the_same_through_one_container_or_four(aws_stack: Any) -> None:
    script = human_then_voicemail()
    expected = play(script, containers=1, seed=None)
    assert expected[0] == [
        "playAudio", "checkpoint:greeting",
        "playAudio", "checkpoint:acknowledge",  # the first turn
        "clearAudio",  # barge-in
        "playAudio", "checkpoint:acknowledge",  # the second turn
        "clearAudio", "playAudio", "checkpoint:voicemail",  # right after the beep
    ]  # fmt: skip
    assert expected[1] == [f"hangup {c.CALL_UUID}"]
    assert expected[2]["voicemail_trigger"] == "beep"

    for seed in range(5):
        aws_stack["dynamodb"].delete_table(TableName=c.TABLE_NAME)
        from tests.support.template import table_definition

        aws_stack["dynamodb"].create_table(TableName=c.TABLE_NAME, **table_definition("CallsTable"))
        assert play(script, containers=4, seed=seed) == expected, f"schedule {seed}"


def test_two_frames_in_flight_act_once(aws_stack: Any) -> None:
    """Two copies of the frame that ends the callee's speech, both read before either wrote: one
    acknowledgement."""
    store = open_store()
    connect(store)
    recorder, clock = Recorder(), Clock()
    stale = StaleFirstRead(store.connections)
    first, second = runtime(store, recorder, clock, stale), runtime(store, recorder, clock, stale)
    stream = StreamFrames()
    for frame in [stream.start(), stream.played("greeting"), *stream.speech(400), *stream.silence(580)]:
        first.on_frame(c.CONNECTION_ID, body(frame), Deadline.after(5))
    last, after = stream.silence(40)
    first.on_frame(c.CONNECTION_ID, body(last), Deadline.after(5))  # speech ends here: acknowledge
    stale.stale_next = True
    second.on_frame(c.CONNECTION_ID, body(after), Deadline.after(5))  # read before that write

    assert recorder.sent.count("checkpoint:acknowledge") == 1


def test_actions_a_dead_container_left_are_carried_out_once_by_a_later_frame(
    aws_stack: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store()
    connect(store)
    recorder, clock = Recorder(), Clock()
    dying, healthy = runtime(store, recorder, clock), runtime(store, recorder, clock)
    stream = StreamFrames()
    healthy.on_frame(c.CONNECTION_ID, body(stream.start()), Deadline.after(5))

    def die(*_args: Any) -> None:
        raise SystemExit("container died after its write")

    monkeypatch.setattr(dying, "carry_out", die)
    with pytest.raises(SystemExit):
        dying.on_frame(c.CONNECTION_ID, body(stream.dtmf("#")), Deadline.after(5))  # goodbye, committed
    healthy.on_frame(c.CONNECTION_ID, body(stream.silence(20)[0]), Deadline.after(5))
    assert "checkpoint:goodbye" not in recorder.sent  # the dead container's lease is not over yet

    clock.now += timedelta(seconds=11)
    healthy.on_frame(c.CONNECTION_ID, body(stream.silence(20)[0]), Deadline.after(5))
    healthy.on_frame(c.CONNECTION_ID, body(stream.silence(20)[0]), Deadline.after(5))

    assert recorder.sent == [
        "playAudio",
        "checkpoint:greeting",
        "clearAudio",
        "playAudio",
        "checkpoint:goodbye",
    ]
    record = store.connections.load(c.CONNECTION_ID)
    assert record is not None
    assert record.outbox == []


class Throttled:
    """A connection repository whose next ``failures`` loads fail as DynamoDB fails when throttled (or with
    ``code``), after boto3's own retries."""

    def __init__(self, inner: ConnectionRepository, failures: int, code: str = THROTTLED) -> None:
        self._inner, self.failures, self.code = inner, failures, code

    def load(self, connection_id: str) -> ConnectionRecord | None:
        if self.failures > 0:
            self.failures -= 1
            raise ClientError({"Error": {"Code": self.code, "Message": "slow down"}}, "GetItem")
        return self._inner.load(connection_id)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def started(store: Store, recorder: Recorder, clock: Clock, stream: StreamFrames) -> None:
    connect(store)
    runtime(store, recorder, clock).on_frame(c.CONNECTION_ID, body(stream.start()), Deadline.after(5))


def test_an_event_is_tried_again_while_dynamodb_is_throttled(
    aws_stack: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """API Gateway never redelivers a frame: a lost DTMF key or checkpoint would be lost for good."""
    monkeypatch.setattr(runtime_module, "STORE_RETRY_SECONDS", 0.001)
    store, recorder, clock, stream = open_store(), Recorder(), Clock(), StreamFrames()
    started(store, recorder, clock, stream)
    throttled = Throttled(store.connections, failures=2)

    done = runtime(store, recorder, clock, throttled).on_frame(
        c.CONNECTION_ID, body(stream.dtmf("#")), Deadline.after(5)
    )

    assert done == "dtmf #"
    assert throttled.failures == 0
    assert recorder.sent[-2:] == ["playAudio", "checkpoint:goodbye"]


def test_an_audio_frame_is_let_go_when_dynamodb_is_throttled(aws_stack: Any) -> None:
    """Fifty a second: one is not worth holding the next ones back; the frame clock skips it."""
    store, recorder, clock, stream = open_store(), Recorder(), Clock(), StreamFrames()
    started(store, recorder, clock, stream)
    throttled = Throttled(store.connections, failures=1)

    done = runtime(store, recorder, clock, throttled).on_frame(
        c.CONNECTION_ID, body(stream.speech(20)[0]), Deadline.after(5)
    )

    assert done == "failed"


def test_an_event_is_let_go_when_the_invocation_has_no_time_left(aws_stack: Any) -> None:
    store, recorder, clock, stream = open_store(), Recorder(), Clock(), StreamFrames()
    started(store, recorder, clock, stream)
    throttled = Throttled(store.connections, failures=5)

    done = runtime(store, recorder, clock, throttled).on_frame(
        c.CONNECTION_ID, body(stream.dtmf("#")), Deadline.after(0.2)
    )

    assert done == "failed"
    assert "checkpoint:goodbye" not in recorder.sent


class ThrottledCalls:
    """The call repository, throttled for the next ``failures`` agent-event writes."""

    def __init__(self, inner: Any, failures: int) -> None:
        self._inner, self.failures = inner, failures

    def add_agent_event(self, *args: Any) -> Any:
        if self.failures > 0:
            self.failures -= 1
            raise ClientError({"Error": {"Code": THROTTLED, "Message": "slow down"}}, "PutItem")
        return self._inner.add_agent_event(*args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@pytest.mark.parametrize(("failures", "deadline", "logged"), [(2, 5.0, True), (50, 0.3, False)])
def test_what_a_frame_did_is_recorded_through_throttling_and_never_done_twice(
    failures: int, deadline: float, logged: bool, aws_stack: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The frames to Plivo went out before the records of them: a throttled record is tried again, or let
    go when time runs out — never a reason to leave the outbox entry for a later frame to send again."""
    monkeypatch.setattr(runtime_module, "STORE_RETRY_SECONDS", 0.001)
    store, recorder, clock, stream = open_store(), Recorder(), Clock(), StreamFrames()
    started(store, recorder, clock, stream)
    frames = runtime(store, recorder, clock)
    frames.calls = ThrottledCalls(store.calls, failures)  # type: ignore[assignment]

    frames.on_frame(c.CONNECTION_ID, body(stream.dtmf("#")), Deadline.after(deadline))
    clock.now += timedelta(seconds=11)  # past any lease: a left entry would be carried out again
    frames.on_frame(c.CONNECTION_ID, body(stream.silence(20)[0]), Deadline.after(5))

    assert recorder.sent.count("checkpoint:goodbye") == 1
    record = store.connections.load(c.CONNECTION_ID)
    assert record is not None
    assert record.outbox == []
    history = store.calls.history(c.CALL_UUID)
    assert history is not None
    assert any(item.get("event") == "dtmf #" for item in history.agent_events) is logged


def test_an_aws_error_that_retrying_cannot_fix_is_raised(aws_stack: Any) -> None:
    """A missing table or permission is a bug or a misconfiguration: the invocation fails, Lambda's Errors
    metric and its alarm see it."""
    store, recorder, clock, stream = open_store(), Recorder(), Clock(), StreamFrames()
    started(store, recorder, clock, stream)
    broken = Throttled(store.connections, failures=1, code="AccessDeniedException")

    with pytest.raises(ClientError):
        runtime(store, recorder, clock, broken).on_frame(
            c.CONNECTION_ID, body(stream.dtmf("#")), Deadline.after(5)
        )


def test_audio_a_dead_container_left_is_not_played_once_newer_audio_was(
    aws_stack: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An acknowledgement ten seconds late, after the goodbye, would be heard out of order: only its
    checkpoint goes (the agent hears it played) and the rest of the entry is done."""
    store = open_store()
    connect(store)
    recorder, clock = Recorder(), Clock()
    dying, healthy = runtime(store, recorder, clock), runtime(store, recorder, clock)
    stream = StreamFrames()
    for frame in [stream.start(), stream.played("greeting"), *stream.speech(400), *stream.silence(580)]:
        healthy.on_frame(c.CONNECTION_ID, body(frame), Deadline.after(5))

    def die(*_args: Any, **_kwargs: Any) -> None:
        raise SystemExit("container died after its write")

    monkeypatch.setattr(dying, "carry_out", die)
    with pytest.raises(SystemExit):
        dying.on_frame(c.CONNECTION_ID, body(stream.silence(20)[0]), Deadline.after(5))  # ends the turn
    healthy.on_frame(c.CONNECTION_ID, body(stream.dtmf("#")), Deadline.after(5))  # goodbye, played at once
    clock.now += timedelta(seconds=11)
    healthy.on_frame(c.CONNECTION_ID, body(stream.silence(20)[0]), Deadline.after(5))

    assert recorder.sent == [
        "playAudio",
        "checkpoint:greeting",
        "clearAudio",
        "playAudio",
        "checkpoint:goodbye",
        "checkpoint:acknowledge",
    ]
    record = store.connections.load(c.CONNECTION_ID)
    assert record is not None
    assert record.outbox == []


def test_machine_detection_after_the_beep_starts_the_message_at_once(aws_stack: Any) -> None:
    store = open_store()
    connect(store)
    recorder, clock = Recorder(), Clock()
    media = runtime(store, recorder, clock)
    stream = StreamFrames()
    frames = [stream.start(), stream.played("greeting"), *stream.speech(1500), *stream.silence(300)]
    frames += [*stream.audio(BEEP), *stream.silence(600)]
    for frame in frames:
        media.on_frame(c.CONNECTION_ID, body(frame), Deadline.after(5))
    assert "checkpoint:voicemail" not in recorder.sent

    store.connections.request_voicemail(c.CONNECTION_ID, clock())  # detection comes late
    media.on_frame(c.CONNECTION_ID, body(stream.silence(20)[0]), Deadline.after(5))

    assert recorder.sent[-2:] == ["playAudio", "checkpoint:voicemail"]
    call = store.calls.get_call(c.CALL_UUID) or {}
    assert call["voicemail_trigger"] == "late_beep"
    assert (call["beep_frequency_hz"], 380 <= call["beep_ms"] <= 420) == (1000, True)


def test_line_noise_after_a_late_detected_beep_still_starts_the_message_at_once(aws_stack: Any) -> None:
    store = open_store()
    connect(store)
    recorder, clock = Recorder(), Clock()
    media = runtime(store, recorder, clock)
    stream = StreamFrames()
    noise = tone(300, 2000, 0.02)  # a hum under the threshold to start speech, above the one to end it
    frames = [stream.start(), stream.played("greeting"), *stream.speech(1500), *stream.audio(BEEP)]
    frames += stream.audio(noise)
    for frame in frames:
        media.on_frame(c.CONNECTION_ID, body(frame), Deadline.after(5))
    store.connections.request_voicemail(c.CONNECTION_ID, clock())
    media.on_frame(c.CONNECTION_ID, body(stream.audio(tone(300, 20, 0.02))[0]), Deadline.after(5))

    assert recorder.sent[-2:] == ["playAudio", "checkpoint:voicemail"]
    assert (store.calls.get_call(c.CALL_UUID) or {})["voicemail_trigger"] == "late_beep"


@pytest.mark.parametrize(
    ("after_request", "trigger"),
    [
        (silence(2200), "silence"),  # no beep: two seconds of silence after the greeting
        (tone(220, 20_000, 0.4), "max_wait"),  # endless noise: the longest wait
    ],
)
def test_without_a_beep_the_message_starts_after_silence_or_the_longest_wait(
    aws_stack: Any, after_request: bytes, trigger: str
) -> None:
    store = open_store()
    connect(store)
    recorder, clock = Recorder(), Clock()
    media = runtime(store, recorder, clock)
    stream = StreamFrames()
    for frame in [stream.start(), stream.played("greeting"), *stream.speech(600)]:
        media.on_frame(c.CONNECTION_ID, body(frame), Deadline.after(5))
    store.connections.request_voicemail(c.CONNECTION_ID, clock())
    for frame in stream.audio(after_request):
        media.on_frame(c.CONNECTION_ID, body(frame), Deadline.after(5))

    assert recorder.sent.count("checkpoint:voicemail") == 1
    assert (store.calls.get_call(c.CALL_UUID) or {})["voicemail_trigger"] == trigger


def test_greeting_audio_lost_under_load_never_passes_for_silence(aws_stack: Any) -> None:
    """A pause of one second, then 1.5 s of the greeting's speech lost (throttled or overtaken frames), then
    quiet again: the clock spans 2.5 s of "quiet" but only a second of it was heard, so no message yet."""
    store = open_store()
    connect(store)
    recorder, clock = Recorder(), Clock()
    media = runtime(store, recorder, clock)
    stream = StreamFrames()
    for frame in [stream.start(), stream.played("greeting"), *stream.speech(600)]:
        media.on_frame(c.CONNECTION_ID, body(frame), Deadline.after(5))
    store.connections.request_voicemail(c.CONNECTION_ID, clock())
    heard = [*stream.speech(400), *stream.silence(1000)]
    stream.speech(1500)  # sent by Plivo, never processed
    heard += stream.silence(600)
    for frame in heard:
        media.on_frame(c.CONNECTION_ID, body(frame), Deadline.after(5))
    assert "checkpoint:voicemail" not in recorder.sent

    for frame in stream.silence(1400):  # now two seconds heard without a break since the lost audio
        media.on_frame(c.CONNECTION_ID, body(frame), Deadline.after(5))
    assert recorder.sent.count("checkpoint:voicemail") == 1
    assert (store.calls.get_call(c.CALL_UUID) or {})["voicemail_trigger"] == "silence"


def test_the_stream_state_stays_small(aws_stack: Any) -> None:
    script = human_then_voicemail()
    store = open_store()
    connect(store)
    media = runtime(store, Recorder(), Clock())
    largest = 0
    for frame in script.frames:
        media.on_frame(c.CONNECTION_ID, body(frame), Deadline.after(5))
        record = store.connections.load(c.CONNECTION_ID)
        assert record is not None
        largest = max(largest, len(json.dumps(record.state, default=str)))
    assert largest < 1000  # one write unit, one read unit
