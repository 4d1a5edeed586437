"""Speech for the reference agent: bundled prompts (no external service) or Amazon Polly.

Both give raw 8 kHz mu-law, the stream's format. Polly's 8 kHz ``pcm`` output (16-bit little-endian) is
encoded with our codec; results are cached per container, so a prompt is synthesised once, not once per call.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Protocol

from voiceagent.media.audio import pcm16_to_ulaw
from voiceagent.settings import Settings, TtsProvider

PROMPT_TEXTS = {
    "greeting": "Hello! This is the Acme assistant calling about your account. How can I help you today?",
    "acknowledge": "Thanks, I heard you. Tell me more, or press the pound key to end the call.",
    "goodbye": "Thank you for your time. Goodbye.",
    "voicemail": (
        "Hello, this is the Acme assistant. Sorry we missed you. We will call you back later. Goodbye."
    ),
}
"""What each bundled prompt says (the bundled audio was made from these texts)."""


class Speech(Protocol):
    def prompt(self, name: str) -> bytes:
        """A named prompt (see ``PROMPT_TEXTS``) as mu-law audio."""

    def say(self, text: str) -> bytes | None:
        """Arbitrary text as mu-law audio, or None when this source cannot synthesise."""


@lru_cache(maxsize=len(PROMPT_TEXTS))
def _bundled(name: str) -> bytes:
    if name not in PROMPT_TEXTS:
        raise KeyError(f"no prompt named {name!r}")
    return (resources.files("voiceagent.media") / "prompts" / f"{name}.ulaw").read_bytes()


class BundledSpeech:
    def prompt(self, name: str) -> bytes:
        return _bundled(name)

    def say(self, text: str) -> bytes | None:
        return None


@lru_cache(maxsize=64)
def _polly(text: str, voice: str) -> bytes:
    import boto3  # lazily: only the Polly provider needs it

    response = boto3.client("polly").synthesize_speech(
        Text=text,
        OutputFormat="pcm",
        SampleRate="8000",
        VoiceId=voice,
    )
    return pcm16_to_ulaw(response["AudioStream"].read())


class PollySpeech:
    def __init__(self, voice: str) -> None:
        self._voice = voice

    def prompt(self, name: str) -> bytes:
        if name not in PROMPT_TEXTS:
            raise KeyError(f"no prompt named {name!r}")
        return _polly(PROMPT_TEXTS[name], self._voice)

    def say(self, text: str) -> bytes | None:
        return _polly(text, self._voice)


def speech_for(settings: Settings) -> Speech:
    if settings.agent_tts is TtsProvider.POLLY:
        return PollySpeech(settings.agent_polly_voice)
    return BundledSpeech()
