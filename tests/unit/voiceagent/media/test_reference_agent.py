from __future__ import annotations

from typing import Any

import pytest

from voiceagent.media.agent import CallView, Checkpoint, ClearAudio, Hangup, PlayAudio, Remember
from voiceagent.media.reference_agent import ReferenceAgent
from voiceagent.media.speech import PROMPT_TEXTS, BundledSpeech, PollySpeech, speech_for
from voiceagent.media.vad import VadEvent
from voiceagent.settings import get_settings


class FakeSpeech:
    """Speech that says what it would say, so assertions read as text."""

    def __init__(self, can_say: bool = True) -> None:
        self.can_say = can_say

    def prompt(self, name: str) -> bytes:
        return f"<{name}>".encode()

    def say(self, text: str) -> bytes | None:
        return f"<say:{text}>".encode() if self.can_say else None


def view(**fields: Any) -> CallView:
    return CallView(call_uuid="c1", stream_id="s1", now_iso="2026-11-24T12:00:00.000Z", **fields)


AGENT = ReferenceAgent(FakeSpeech())


def test_start_greets() -> None:
    assert AGENT.on_start(view()) == [
        PlayAudio("greeting"),
        Checkpoint("greeting"),
        Remember(state={"phase": "greeting"}),
    ]


def test_greeting_played_moves_to_listening_once() -> None:
    assert AGENT.on_played(view(state={"phase": "greeting"}), "greeting") == [
        Remember(state={"phase": "listening"})
    ]
    assert AGENT.on_played(view(state={"phase": "listening"}), "greeting") == []


@pytest.mark.parametrize(
    ("playing", "speech", "expected"),
    [
        (True, VadEvent.SPEECH_STARTED, [ClearAudio()]),
        (False, VadEvent.SPEECH_STARTED, []),
        (
            False,
            VadEvent.SPEECH_ENDED,
            [PlayAudio("acknowledge"), Checkpoint("acknowledge")],
        ),
        (True, None, []),
    ],
)
def test_listening(playing: bool, speech: VadEvent | None, expected: list[object]) -> None:
    assert (
        AGENT.on_audio(view(state={"phase": "listening"}, playing=playing), b"\xff" * 160, speech) == expected
    )


def test_nothing_is_said_while_closing_or_leaving_voicemail() -> None:
    for phase in ("closing", "voicemail"):
        assert AGENT.on_audio(view(state={"phase": phase}, playing=True), b"", VadEvent.SPEECH_STARTED) == []
        assert AGENT.on_audio(view(state={"phase": phase}), b"", VadEvent.SPEECH_ENDED) == []
        assert AGENT.on_dtmf(view(state={"phase": phase}), "#") == []


def test_pound_says_goodbye_and_other_digits_do_nothing() -> None:
    assert AGENT.on_dtmf(view(state={"phase": "listening"}), "#") == [
        ClearAudio(),
        PlayAudio("goodbye"),
        Checkpoint("goodbye"),
        Remember(state={"phase": "closing"}),
    ]
    assert AGENT.on_dtmf(view(state={"phase": "listening"}), "5") == []


def test_hangs_up_after_goodbye_or_voicemail_played() -> None:
    assert AGENT.on_played(view(), "goodbye") == [Hangup("agent said goodbye")]
    assert AGENT.on_played(view(), "voicemail") == [Hangup("voicemail left")]
    assert AGENT.on_played(view(), "something-else") == []


def test_voicemail_plays_the_message_and_asks_when_it_is_over() -> None:
    assert AGENT.on_voicemail(view()) == [
        ClearAudio(),
        PlayAudio("voicemail"),
        Checkpoint("voicemail"),
        Remember(state={"phase": "voicemail"}),
    ]


def test_the_voicemail_is_the_calls_message_when_speech_can_say_it() -> None:
    assert AGENT.render("voicemail", view(voicemail_message="Hi, Acme here.")) == b"<say:Hi, Acme here.>"


def test_the_voicemail_falls_back_to_the_bundled_prompt() -> None:
    assert ReferenceAgent(FakeSpeech(can_say=False)).render("voicemail", view(voicemail_message="Hi")) == (
        b"<voicemail>"
    )
    assert AGENT.render("voicemail", view()) == b"<voicemail>"
    assert AGENT.render("greeting", view()) == b"<greeting>"


def test_cleared_and_stop_need_nothing() -> None:
    assert AGENT.on_cleared(view()) == []
    assert AGENT.on_stop(view()) == []


def test_every_bundled_prompt_exists_and_is_raw_mulaw() -> None:
    speech = BundledSpeech()
    for name in PROMPT_TEXTS:
        audio = speech.prompt(name)
        assert 8000 < len(audio) < 10 * 8000  # one to ten seconds at 8 kHz
    assert speech.say("anything") is None
    with pytest.raises(KeyError):
        speech.prompt("nope")


def test_polly_is_asked_for_8khz_pcm_and_encoded_to_mulaw(
    aws_stack: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENT_TTS", "polly")
    speech = speech_for(get_settings())
    assert isinstance(speech, PollySpeech)
    audio = speech.say("Hi, Acme here.")
    assert audio is not None
    assert len(audio) == 4  # moto answers 8 bytes of PCM: 4 samples → 4 mu-law bytes
    assert len(speech.prompt("greeting")) == 4
    with pytest.raises(KeyError):
        speech.prompt("nope")


def test_bundled_is_the_default() -> None:
    assert isinstance(speech_for(get_settings()), BundledSpeech)
