"""The contract between the media route and a voice agent: events in, actions out.

The media route (``media_runtime``) parses Plivo's frames, runs voice-activity detection, and calls the agent;
the agent answers with actions, which the runtime carries out (frames to Plivo, REST calls, state writes). An
agent holds no I/O and no clients, so it is testable with plain calls.

Frames of one call may reach different Lambda containers: anything the agent must remember goes into
``CallView.state`` through a ``Remember`` action, which the runtime persists — only when the agent returns
one, so write it on state changes, never per frame. ``on_audio`` runs ~50 times a second: keep it cheap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from voiceagent.media.audio import VadEvent


@dataclass(frozen=True)
class PlayAudio:
    """Queue raw 8 kHz mu-law audio on Plivo (split into ``playAudio`` frames by the runtime)."""

    audio: bytes
    label: str = ""


@dataclass(frozen=True)
class Checkpoint:
    """Ask Plivo to tell us (``on_played(name)``) once everything queued before this has played."""

    name: str


@dataclass(frozen=True)
class ClearAudio:
    """Drop everything queued (barge-in)."""


@dataclass(frozen=True)
class Hangup:
    """End the call through Plivo's REST API."""

    reason: str


@dataclass(frozen=True)
class Transfer:
    """Move the call to other Plivo XML (e.g. the voicemail XML or a human queue) through the REST API."""

    url: str


@dataclass(frozen=True)
class Remember:
    """Persist agent state (merged into ``CallView.state``) and call facts (first write wins)."""

    state: dict[str, Any] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)


Action = PlayAudio | Checkpoint | ClearAudio | Hangup | Transfer | Remember


@dataclass
class CallView:
    """What the agent knows about the call. ``state`` is the agent's own, persisted through ``Remember``."""

    call_uuid: str
    stream_id: str
    voicemail_message: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)
    playing: bool = False
    """Our audio is queued or playing on Plivo (a checkpoint is outstanding); kept by the runtime."""
    now_iso: str = ""
    """The time of the event being handled (UTC, ISO 8601), for facts the agent records."""


class Agent(Protocol):
    def on_start(self, call: CallView) -> list[Action]:
        """The stream started: greet."""

    def on_audio(self, call: CallView, audio: bytes, speech: VadEvent | None) -> list[Action]:
        """A 20 ms frame of the callee's audio; ``speech`` is set on the frame where speech starts or ends."""

    def on_dtmf(self, call: CallView, digit: str) -> list[Action]:
        """The callee pressed a key."""

    def on_played(self, call: CallView, name: str) -> list[Action]:
        """Everything before checkpoint ``name`` has played."""

    def on_cleared(self, call: CallView) -> list[Action]:
        """Plivo confirmed a ``ClearAudio``."""

    def on_voicemail(self, call: CallView) -> list[Action]:
        """Machine detection said voicemail and the greeting has just ended: leave the message."""

    def on_stop(self, call: CallView) -> list[Action]:
        """Plivo announced the end of the stream."""
