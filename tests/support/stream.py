"""One stream's frames as Plivo numbers them (``sequenceNumber`` per message, ``chunk`` per media frame),
as API Gateway events for the media handler, so tests can play a call frame by frame in order, out of order
or twice."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.support import constants as c
from tests.support.audio import silence, tone
from tests.support.make_events import START_FRAME, frame_event, media_frame

FRAME_MS = 20
SPEECH = tone(220, FRAME_MS, 0.5)  # below the beep band: a beep is a steady 400-2100 Hz tone
QUIET = silence(FRAME_MS)


@dataclass
class StreamFrames:
    connection_id: str = c.CONNECTION_ID
    stream_id: str = c.STREAM_ID
    sequence: int = 0

    def _event(self, frame: dict[str, Any]) -> dict[str, Any]:
        event = frame_event({**frame, "streamId": self.stream_id})
        event["requestContext"]["connectionId"] = self.connection_id
        return event

    def _next(self) -> int:
        self.sequence += 1
        return self.sequence

    def start(self, call_id: str = c.CALL_UUID) -> dict[str, Any]:
        frame = {**START_FRAME, "sequenceNumber": self._next()}
        frame["start"] = {**START_FRAME["start"], "callId": call_id, "streamId": self.stream_id}
        return self._event(frame)

    def media(self, audio: bytes) -> dict[str, Any]:
        return self._event(media_frame(audio, self._next()))

    def audio(self, audio: bytes) -> list[dict[str, Any]]:
        """20 ms frames of ``audio`` (its length a multiple of 160 bytes)."""
        step = 8 * FRAME_MS
        return [self.media(audio[offset : offset + step]) for offset in range(0, len(audio), step)]

    def speech(self, ms: int) -> list[dict[str, Any]]:
        return [self.media(SPEECH) for _ in range(ms // FRAME_MS)]

    def silence(self, ms: int) -> list[dict[str, Any]]:
        return [self.media(QUIET) for _ in range(ms // FRAME_MS)]

    def dtmf(self, digit: str) -> dict[str, Any]:
        return self._event(
            {"event": "dtmf", "sequenceNumber": self._next(), "dtmf": {"track": "inbound", "digit": digit}}
        )

    def played(self, name: str) -> dict[str, Any]:
        return self._event({"event": "playedStream", "sequenceNumber": self._next(), "name": name})

    def cleared(self) -> dict[str, Any]:
        return self._event({"event": "clearedAudio", "sequenceNumber": self._next()})

    def stop(self) -> dict[str, Any]:
        return self._event({"event": "stop", "sequenceNumber": self._next()})
