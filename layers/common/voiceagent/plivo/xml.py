"""Plivo XML documents, built with Plivo's own XML builder, and the one description of our ``<Stream>``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from voiceagent.settings import VoicemailWait

STREAM_CONTENT_TYPE = "audio/x-mulaw;rate=8000"
MAX_EXTRA_HEADERS_BYTES = 512  # Plivo's limit on <Stream extraHeaders>
_ALPHANUMERIC = re.compile(r"[A-Za-z0-9]+")


@dataclass(frozen=True)
class StreamOptions:
    """How a call's audio is streamed (the answer XML's ``<Stream>``, and each reconnect's).

    ``inbound`` is the only track Plivo allows with ``bidirectional``; mu-law 8 kHz is set explicitly because
    Plivo's docs disagree on the default; the timeout stays under API Gateway's 2-hour connection limit;
    ``keepCallAlive`` keeps the call up while the stream runs.
    """

    service_url: str
    status_callback_url: str
    timeout_seconds: int
    content_type: str = STREAM_CONTENT_TYPE
    extra_headers: tuple[tuple[str, str], ...] = ()
    """Sent as ``extraHeaders="k=v,k=v"`` (none by default: per-call context rides in the wss URL). Plivo
    allows alphanumeric keys and values, 512 bytes in all; anything else is refused here, not by Plivo."""

    def __post_init__(self) -> None:
        if not all(_ALPHANUMERIC.fullmatch(part) for pair in self.extra_headers for part in pair):
            raise ValueError("extraHeaders keys and values must be alphanumeric (Plivo's rule)")
        if len(self._extra_headers_text().encode()) > MAX_EXTRA_HEADERS_BYTES:
            raise ValueError(f"extraHeaders exceed Plivo's {MAX_EXTRA_HEADERS_BYTES} bytes")

    def _extra_headers_text(self) -> str:
        return ",".join(f"{key}={value}" for key, value in self.extra_headers)

    def xml_attributes(self) -> dict[str, Any]:
        """Keyword arguments of ``plivoxml.StreamElement`` (camelCase, real booleans)."""
        extra = {"extraHeaders": self._extra_headers_text()} if self.extra_headers else {}
        return {
            "bidirectional": True,
            "audioTrack": "inbound",
            "streamTimeout": self.timeout_seconds,
            "statusCallbackUrl": self.status_callback_url,
            "statusCallbackMethod": "POST",
            "contentType": self.content_type,
            "keepCallAlive": True,
            **extra,
        }


def stream_response(options: StreamOptions, stream_ended_url: str) -> str:
    """Connect the callee's audio to the stream's WebSocket both ways, keeping the call up while it streams;
    when the stream ends (a drop, after Plivo's own two reconnects, or a timeout), Plivo moves on to the
    ``<Redirect>``, whose answer decides what happens next (a reconnect, a fallback, a hangup)."""
    from plivo import plivoxml  # lazily: the plivo package is a large part of a cold start

    response = plivoxml.ResponseElement()
    response.add(plivoxml.StreamElement(options.service_url, **options.xml_attributes()))
    response.add_redirect(stream_ended_url, method="POST")
    return str(response.to_string(pretty=False))


def hangup_response(*, message: str | None, voice: str, language: str) -> str:
    """End the call, after a short ``message`` if there is one (e.g. an apology when the stream is lost)."""
    from plivo import plivoxml

    response = plivoxml.ResponseElement()
    if message:
        response.add_speak(message, voice=voice, language=language)
    response.add_hangup()
    return str(response.to_string(pretty=False))


def voicemail_response(
    *,
    message: str | None,
    audio_url: str | None,
    voice: str,
    language: str,
    wait: VoicemailWait,
    wait_seconds: int,
    min_silence_ms: int,
) -> str:
    """Leave a voicemail: wait for the greeting to end, say (or play) the message, hang up.

    ``wait_seconds`` caps either wait. Plivo's ``beep`` excludes ``silence``/``minSilence``, and with
    ``silence`` Plivo requires ``length`` > ``minSilence`` (the settings enforce it).
    """
    from plivo import plivoxml

    response = plivoxml.ResponseElement()
    if wait is VoicemailWait.BEEP:
        response.add_wait(length=wait_seconds, beep=True)
    else:
        response.add_wait(length=wait_seconds, silence=True, min_silence=min_silence_ms)
    if audio_url:
        response.add_play(audio_url)
    else:
        response.add_speak(message or "", voice=voice, language=language)
    response.add_hangup()
    return str(response.to_string(pretty=False))
