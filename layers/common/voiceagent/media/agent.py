"""The contract between the media route and a voice agent: events in, actions out.

The media route (``media.runtime``) parses Plivo's frames, runs the speech and beep detectors, and calls the
agent; the agent answers with actions, which the runtime carries out (frames to Plivo, REST calls, record
writes). An agent holds no I/O and no clients, so it is testable with plain calls.

Frames of one call run on any Lambda container, several at once: an agent keeps NOTHING in memory between
calls. What it must remember goes into ``CallView.state`` through ``Remember`` (persisted with the stream's
state, only when changed — so change it on events, not per frame). Every method must be a function of its
arguments: when two frames race, the runtime may call it again on the newer state and keep only one answer.

Audio is named, not embedded: ``PlayAudio(label)`` and the agent's ``render(label, call)`` give the bytes.
That keeps the actions a frame commits to small enough to be written with the state, so a container that
dies before sending them leaves them for the next frame to finish.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from voiceagent.media.vad import VadEvent


@dataclass(frozen=True)
class PlayAudio:
    """Queue the agent's audio called ``label`` (``Agent.render``) on Plivo; the runtime splits it into
    ``playAudio`` frames."""

    label: str


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
    """The call's voicemail text: given to ``on_voicemail`` and ``render`` (read from the call's record)."""
    metadata: dict[str, str] = field(default_factory=dict)
    """The call's metadata and the stream's extra headers: given to ``on_start``."""
    state: dict[str, Any] = field(default_factory=dict)
    playing: bool = False
    """Our audio is queued or playing on Plivo (a checkpoint is outstanding); kept by the runtime."""
    now_iso: str = ""
    """The time of the event being handled (UTC, ISO 8601), for facts the agent records."""


class Agent(Protocol):
    def on_start(self, call: CallView) -> list[Action]:
        """The stream started: greet."""

    def on_audio(self, call: CallView, audio: bytes, speech: VadEvent | None) -> list[Action]:
        """A 20 ms frame of the callee's audio; ``speech`` is set on the frame where speech starts or ends.
        Not called while the call is leaving a voicemail."""

    def on_dtmf(self, call: CallView, digit: str) -> list[Action]:
        """The callee pressed a key."""

    def on_played(self, call: CallView, name: str) -> list[Action]:
        """Everything before checkpoint ``name`` has played."""

    def on_cleared(self, call: CallView) -> list[Action]:
        """Plivo confirmed a ``ClearAudio``."""

    def on_voicemail(self, call: CallView) -> list[Action]:
        """Machine detection said voicemail and the greeting is over (the beep, or long enough silence): leave
        the message now. The runtime records the message as left once a checkpoint named ``voicemail``
        (``VOICEMAIL_CHECKPOINT``) has played."""

    def on_stop(self, call: CallView) -> list[Action]:
        """Plivo announced the end of the stream."""

    def render(self, label: str, call: CallView) -> bytes:
        """The 8 kHz mu-law audio of a ``PlayAudio`` label this agent returned (raw samples, no header)."""


VOICEMAIL_CHECKPOINT = "voicemail"
"""The checkpoint after the voicemail message: its ``playedStream`` means the whole message was played."""
