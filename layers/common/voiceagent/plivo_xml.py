"""Plivo XML documents, built with Plivo's own XML builder."""

from __future__ import annotations

STREAM_CONTENT_TYPE = "audio/x-mulaw;rate=8000"


def stream_response(*, websocket_url: str, status_callback_url: str, stream_timeout_seconds: int) -> str:
    """Connect the callee's audio to our WebSocket, both ways, and keep the call up while it streams.

    ``inbound`` is the only track Plivo allows with ``bidirectional``; mu-law 8 kHz is set explicitly because
    Plivo's docs disagree on the default; the timeout stays under API Gateway's 2-hour connection limit.
    """
    from plivo import plivoxml  # lazily: the plivo package is a large part of a cold start

    response = plivoxml.ResponseElement()
    response.add(
        plivoxml.StreamElement(
            websocket_url,
            bidirectional=True,
            audioTrack="inbound",
            streamTimeout=stream_timeout_seconds,
            statusCallbackUrl=status_callback_url,
            statusCallbackMethod="POST",
            contentType=STREAM_CONTENT_TYPE,
            keepCallAlive=True,
        )
    )
    return str(response.to_string(pretty=False))


def voicemail_response(
    *,
    message: str | None,
    audio_url: str | None,
    voice: str,
    language: str,
    wait_seconds: int,
    min_silence_ms: int,
) -> str:
    """Leave a voicemail: wait for the greeting to end (silence after speech), say the message, hang up.

    ``<Wait silence="true">`` moves on as soon as ``minSilence`` ms of silence follow the greeting, or after
    ``length`` seconds at the latest, so the message is not spoken over the greeting.
    """
    from plivo import plivoxml

    response = plivoxml.ResponseElement()
    response.add_wait(length=wait_seconds, silence=True, min_silence=min_silence_ms)
    if audio_url:
        response.add_play(audio_url)
    else:
        response.add_speak(message or "", voice=voice, language=language)
    response.add_hangup()
    return str(response.to_string(pretty=False))
