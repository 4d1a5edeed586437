"""A stream's state as the media route keeps it between frames, in DynamoDB, with the connection.

Frames of one call run on any Lambda container, several at once, so nothing that must be continuous across
frames lives in a container's memory: the detectors' state, the frame clock, pending checkpoints, the
voicemail progress and the agent's own state are one small value, read with every frame (one strongly
consistent read) and written back only when a frame changed it, with a condition on the version it read.
Kept small on purpose: under 1 KB it costs one write unit, under 4 KB one read unit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from voiceagent.media.tones import BeepState
from voiceagent.media.vad import VadState

RECENT_EVENTS = 16
"""How many recent non-media sequence numbers are remembered to drop redelivered events."""
DEFERRED_EVENTS = 8
"""How many events that arrived before the stream's start are kept for it (Plivo sends none: a start still
being handled when the next frames are is what this is for)."""


def plain(value: Any) -> Any:
    """A value read back from DynamoDB with its numbers as ints or floats again (not Decimal)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    return value


@dataclass(frozen=True)
class VoicemailProgress:
    """Where the media route is in leaving a voicemail (only once machine detection asked for one)."""

    waiting_since: int | None = None
    """Frame clock when this stream first saw the voicemail request."""
    trigger: str | None = None
    """What started the message: ``beep``, ``late_beep``, ``silence`` or ``max_wait``; None while waiting."""
    started_at: int | None = None
    quiet_heard_ms: int = 0
    """Quiet audio heard without a break while waiting, frame by frame: a frame lost under load (throttled, or
    overtaken) breaks the run, so greeting audio that was never heard can never pass for silence."""
    quiet_to: int | None = None
    """Frame clock of the last frame counted in ``quiet_heard_ms`` (the next one must follow it)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "waiting_since": self.waiting_since,
            "trigger": self.trigger,
            "started_at": self.started_at,
            "quiet_heard_ms": self.quiet_heard_ms,
            "quiet_to": self.quiet_to,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> VoicemailProgress:
        data = data or {}
        waiting, started, quiet_to = data.get("waiting_since"), data.get("started_at"), data.get("quiet_to")
        return cls(
            None if waiting is None else int(waiting),
            data.get("trigger"),
            None if started is None else int(started),
            int(data.get("quiet_heard_ms") or 0),
            None if quiet_to is None else int(quiet_to),
        )


@dataclass(frozen=True)
class StreamState:
    stream_id: str | None = None
    media_seq: int = -1
    """The newest media frame whose effect was written: an older one arriving later is stale and dropped."""
    clock_ms: int = 0
    """The frame clock of that frame (the stream's position in time)."""
    vad: VadState = field(default_factory=VadState)
    beep: BeepState = field(default_factory=BeepState)
    last_beep: dict[str, Any] | None = None
    """The last beep heard (started, ended, frequency, level), whatever the mode."""
    pending: tuple[str, ...] = ()
    """Checkpoints sent and not yet confirmed by ``playedStream``: while any is pending, our audio plays."""
    voicemail: VoicemailProgress = field(default_factory=VoicemailProgress)
    agent: dict[str, Any] = field(default_factory=dict)
    events: tuple[int, ...] = ()
    deferred: tuple[str, ...] = ()
    """Events (their frames) handled before the start was: the start hands them to the agent after it."""

    @property
    def started(self) -> bool:
        return self.stream_id is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "stream_id": self.stream_id,
            "media_seq": self.media_seq,
            "clock_ms": self.clock_ms,
            "vad": self.vad.to_dict(),
            "beep": self.beep.to_dict(),
            "last_beep": self.last_beep,
            "pending": list(self.pending),
            "voicemail": self.voicemail.to_dict(),
            "agent": self.agent,
            "events": list(self.events),
            "deferred": list(self.deferred),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> StreamState:
        data = plain(data or {})
        return cls(
            stream_id=data.get("stream_id"),
            media_seq=int(data.get("media_seq", -1)),
            clock_ms=int(data.get("clock_ms", 0)),
            vad=VadState.from_dict(data.get("vad")),
            beep=BeepState.from_dict(data["beep"]) if data.get("beep") else BeepState(),
            last_beep=data.get("last_beep"),
            pending=tuple(data.get("pending") or ()),
            voicemail=VoicemailProgress.from_dict(data.get("voicemail")),
            agent=dict(data.get("agent") or {}),
            events=tuple(int(seq) for seq in data.get("events") or ()),
            deferred=tuple(str(body) for body in data.get("deferred") or ()),
        )

    def seen_event(self, sequence: int | None) -> bool:
        return sequence is not None and sequence in self.events

    def with_deferred(self, message: BaseModel) -> tuple[str, ...]:
        return (*self.deferred, message.model_dump_json(by_alias=True, exclude_none=True))[:DEFERRED_EVENTS]

    def with_event(self, sequence: int | None) -> tuple[int, ...]:
        if sequence is None:
            return self.events
        return (*self.events, sequence)[-RECENT_EVENTS:]
