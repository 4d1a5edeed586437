"""Stream status events, normalised: what each of Plivo's callbacks means for the stream it names.

Plivo speaks two vocabularies (``StartStream``/``StopStream``/``DroppedStream``/``DegradedStream`` and the
newer ``started``/``stopped``/``failed``); both map onto one set of kinds. Everything derived (durations, the
console's hangup reason) is computed when read, from the stored events and the call, never stored twice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from voiceagent.clock import iso, parse_iso, seconds_between
from voiceagent.plivo.webhooks import StreamStatusWebhook


class StreamEventKind(StrEnum):
    STARTED = "started"
    STOPPED = "stopped"
    DROPPED = "dropped"
    DEGRADED = "degraded"
    UNKNOWN = "unknown"


_KINDS = {
    "startstream": StreamEventKind.STARTED,
    "started": StreamEventKind.STARTED,
    "stopstream": StreamEventKind.STOPPED,
    "stopped": StreamEventKind.STOPPED,
    "droppedstream": StreamEventKind.DROPPED,
    "failed": StreamEventKind.DROPPED,
    "degradedstream": StreamEventKind.DEGRADED,
    "degraded": StreamEventKind.DEGRADED,
}

_LEVEL_KEY = re.compile(r"level|percent|buffer|usage", re.IGNORECASE)
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
UNKNOWN_STREAM = "unknown-stream"


def kind_of(event: str) -> StreamEventKind:
    return _KINDS.get(event.strip().lower(), StreamEventKind.UNKNOWN)


def event_time(raw: str | None, received: datetime) -> datetime:
    """Plivo's timestamp (``2024-10-14 13:42:33`` UTC, ISO 8601, epoch s or ms), else the arrival time."""
    if not raw:
        return received
    text = raw.strip()
    try:
        if text.isascii() and text.isdigit() and len(text) <= 13:
            return datetime.fromtimestamp(int(text) / (1000 if len(text) > 11 else 1), UTC)
        # Normalised to UTC now, so an offset that pushes the time out of range is caught here.
        return parse_iso(text).astimezone(UTC)
    except (ValueError, OverflowError, OSError):
        return received  # Plivo's raw value is still kept with the event


def degradation_level(parameters: dict[str, str]) -> str:
    """The buffer level Plivo reports with DegradedStream (30/60/90 %); the field's name is undocumented."""
    for key, value in sorted(parameters.items()):
        if _LEVEL_KEY.search(key):
            match = _NUMBER.search(value)
            if match:
                return match.group(0)
    return "unknown"


@dataclass(frozen=True)
class StreamEvent:
    """One stream status callback, normalised, with every parameter Plivo sent."""

    call_uuid: str
    stream_id: str
    kind: StreamEventKind
    plivo_event: str
    at: datetime
    raw_timestamp: str
    parameters: dict[str, str]

    @classmethod
    def from_webhook(cls, webhook: StreamStatusWebhook, received: datetime) -> StreamEvent:
        return cls(
            call_uuid=webhook.call_uuid,
            stream_id=webhook.stream_id or UNKNOWN_STREAM,
            kind=kind_of(webhook.event),
            plivo_event=webhook.event,
            at=event_time(webhook.timestamp, received),
            raw_timestamp=webhook.timestamp or iso(received),
            parameters=webhook.parameters(),
        )

    @property
    def idempotency_key(self) -> str:
        """Retries of one event share (stream, event, timestamp)."""
        return f"{self.stream_id}#{self.plivo_event}#{self.raw_timestamp}"

    def stored_attributes(self) -> dict[str, Any]:
        """What is kept of this event, unknown parameters included."""
        return {
            "kind": self.kind.value,
            "plivo_event": self.plivo_event,
            "stream_id": self.stream_id,
            "at": iso(self.at),
            "parameters": self.parameters,
        }

    def stream_changes(self) -> tuple[dict[str, Any], dict[str, Any], dict[str, int]]:
        """What this event sets on the stream record: (first-write-wins facts, overwrites, counters)."""
        at = iso(self.at)
        if self.kind is StreamEventKind.STARTED:
            return {"started_at": at}, {}, {}
        if self.kind is StreamEventKind.STOPPED:
            reason = self.parameters.get("StatusReason") or self.parameters.get("Reason")
            return (
                {"stopped_at": at, "ended_at": at, "stop_reason": reason, "plivo_duration": self.duration()},
                {},
                {},
            )
        if self.kind is StreamEventKind.DROPPED:
            error = self.parameters.get("Error") or self.parameters.get("StatusReason") or "unspecified"
            return {"ended_at": at, "dropped_at": at}, {"last_error": error}, {"drop_count": 1}
        if self.kind is StreamEventKind.DEGRADED:
            return (
                {},
                {"last_degradation_level": degradation_level(self.parameters), "last_degraded_at": at},
                {"degradation_count": 1},
            )
        return {}, {"last_unknown_event": self.plivo_event}, {"unknown_event_count": 1}

    def duration(self) -> int | None:
        raw = self.parameters.get("Duration")
        return int(raw) if raw and raw.isdigit() else None


def console_hangup_reason(
    stream: dict[str, Any], call: dict[str, Any], stream_timeout_seconds: int
) -> str | None:
    """Why a stream ended, in the terms of Plivo's console; None while it is still running."""
    if stream.get("dropped_at"):
        return "Connection error"
    if not stream.get("stopped_at"):
        return None
    reason = str(stream.get("stop_reason") or "").lower()
    if "timeout" in reason:
        return "Stream timeout"
    if "api" in reason:
        return "API request"
    if "hangup" in reason or "hung up" in reason:
        return "Call hangup"
    duration = stream_duration(stream)
    if duration is not None and duration >= stream_timeout_seconds - 2:
        return "Stream timeout"
    if call.get("stream_stop_requested_at"):
        return "API request"
    return "Call hangup"


def stream_duration(stream: dict[str, Any]) -> int | None:
    """Seconds from start to end: Plivo's own figure when it gave one, else from the two events."""
    if stream.get("plivo_duration") is not None:
        return int(stream["plivo_duration"])
    seconds = seconds_between(stream.get("started_at"), stream.get("ended_at"))
    return None if seconds is None else max(0, round(seconds))
