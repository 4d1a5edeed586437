"""A working voice agent with no external service: greets, hears the callee, yields on barge-in, handles
DTMF, and in voicemail mode leaves the message and hangs up once Plivo confirms it played.

It is deliberately simple — it acknowledges what it hears rather than understanding it — so that it shows
every part of the ``Agent`` contract a real agent (speech-to-text, an LLM, text-to-speech) plugs into.
"""

from __future__ import annotations

from voiceagent.media.agent import (
    VOICEMAIL_CHECKPOINT,
    Action,
    CallView,
    Checkpoint,
    ClearAudio,
    Hangup,
    PlayAudio,
    Remember,
)
from voiceagent.media.speech import Speech
from voiceagent.media.vad import VadEvent

GREETING, LISTENING, CLOSING, VOICEMAIL = "greeting", "listening", "closing", "voicemail"
END_CALL_DIGIT = "#"


class ReferenceAgent:
    def __init__(self, speech: Speech) -> None:
        self._speech = speech

    @staticmethod
    def _say(prompt: str) -> list[Action]:
        return [PlayAudio(prompt), Checkpoint(prompt)]

    def on_start(self, call: CallView) -> list[Action]:
        return [*self._say("greeting"), Remember(state={"phase": GREETING})]

    def on_audio(self, call: CallView, audio: bytes, speech: VadEvent | None) -> list[Action]:
        phase = call.state.get("phase")
        if speech is VadEvent.SPEECH_STARTED and call.playing and phase in (GREETING, LISTENING):
            return [ClearAudio()]  # barge-in: stop talking when the callee talks
        if speech is VadEvent.SPEECH_ENDED and phase in (GREETING, LISTENING):
            return self._say("acknowledge")
        return []

    def on_dtmf(self, call: CallView, digit: str) -> list[Action]:
        if digit == END_CALL_DIGIT and call.state.get("phase") not in (CLOSING, VOICEMAIL):
            return [ClearAudio(), *self._say("goodbye"), Remember(state={"phase": CLOSING})]
        return []

    def on_played(self, call: CallView, name: str) -> list[Action]:
        if name == "greeting" and call.state.get("phase") == GREETING:
            return [Remember(state={"phase": LISTENING})]
        if name == "goodbye":
            return [Hangup("agent said goodbye")]
        if name == VOICEMAIL_CHECKPOINT:
            return [Hangup("voicemail left")]
        return []

    def on_cleared(self, call: CallView) -> list[Action]:
        return []

    def on_voicemail(self, call: CallView) -> list[Action]:
        return [
            ClearAudio(),
            PlayAudio(VOICEMAIL_CHECKPOINT),
            Checkpoint(VOICEMAIL_CHECKPOINT),
            Remember(state={"phase": VOICEMAIL}),
        ]

    def on_stop(self, call: CallView) -> list[Action]:
        return []

    def render(self, label: str, call: CallView) -> bytes:
        if label == VOICEMAIL_CHECKPOINT and call.voicemail_message:
            spoken = self._speech.say(call.voicemail_message)
            if spoken:
                return spoken
        return self._speech.prompt(label)
