"""The media route's engine: Plivo frames in, agent actions out, right whatever container runs a frame.

API Gateway invokes the media function once per frame and Lambda gives each invocation to any idle
container, so one call's frames hop between containers and two can be in flight at once. The runtime keeps
nothing in memory between frames. Per frame:

1. ``load`` the connection's record: the call it carries and the stream's state (``media.state``), one
   strongly consistent read.
2. ``decide`` — pure, no I/O: order the frame on the stream's frame clock (a media frame older than the last
   one that changed the state is stale and dropped; a redelivered event is dropped), run the speech and beep
   detectors, the voicemail rules, and the agent, giving the next state and the actions it commits to.
3. If nothing changed, stop: most frames write nothing. Otherwise ``commit`` the next state with its actions
   as an outbox entry, conditionally on the version that was read; if another frame (or machine detection)
   wrote first, decide again on the newer state — so two frames never both act.
4. ``carry_out`` the committed actions (frames to Plivo, REST calls, call facts) and clear the entry. A
   container that dies before that leaves the entry; the next frame finishes it once its lease is over.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from voiceagent import observability
from voiceagent.aws import error_code, is_transient
from voiceagent.clock import iso, utcnow
from voiceagent.media.agent import (
    VOICEMAIL_CHECKPOINT,
    Action,
    Agent,
    CallView,
    Checkpoint,
    ClearAudio,
    Hangup,
    PlayAudio,
    Remember,
    Transfer,
)
from voiceagent.media.connections import StreamConnections
from voiceagent.media.state import StreamState, VoicemailProgress
from voiceagent.media.tones import Beep, BeepDetector
from voiceagent.media.vad import EnergyVad
from voiceagent.plivo import stream_protocol as protocol
from voiceagent.plivo.rest import Deadline, PlivoApiError, PlivoGateway
from voiceagent.settings import ConfigurationError
from voiceagent.store.calls import CallRepository
from voiceagent.store.connections import ConnectionRecord, ConnectionRepository, OutboxEntry

logger = Logger(child=True)

FRAME_MS = 20
"""Plivo's frame length: the frame clock advances this much per media chunk."""
QUIET_CHECKPOINT_MS = 100
"""While counting the silence after a greeting, the count is written this often (not every frame): a frame
that arrives more than this plus ``BRIDGED_GAP_MS`` after the last written one finds a gap."""
BRIDGED_GAP_MS = 100
"""Frames lost in a gap up to this long (a frame overtaken by the next one, a throttled read) count as the
quiet around them; a longer gap could hide a word, so the count starts again."""
MAX_ATTEMPTS = 4
"""Decide-and-commit rounds before a frame gives up to the frames racing it (each round lost means another
frame's effect was written; the loser is re-decided on top of it)."""
T = TypeVar("T")
STORE_RETRY_SECONDS = 0.1
"""First pause before an event frame tries a throttled DynamoDB again (doubling, at most 1 s)."""


@dataclass(frozen=True)
class VoicemailRules:
    """When the message starts once machine detection asked for a voicemail (frame clock, no timers)."""

    silence_ms: int = 2000
    """Silence after the greeting that starts the message when no beep comes (longer than a pause)."""
    max_wait_ms: int = 20000
    """The latest the message starts after the request, whatever the line sounds like."""
    beep_listen_ms: int = 60000
    """How long into the stream the beep detector runs before any request (a beep may precede detection)."""
    speech_after_beep_ms: int = 200
    """Speech starting this long after a beep means the greeting went on: that beep was not the last."""


@dataclass
class Decision:
    """What one frame does: the stream's next state and the actions it commits to."""

    state: StreamState
    actions: list[dict[str, Any]] = field(default_factory=list)
    label: str = "media"
    dropped: bool = False


@dataclass
class MediaRuntime:
    agent: Agent
    calls: CallRepository
    connections: ConnectionRepository
    sender: StreamConnections
    gateway: Callable[[], PlivoGateway]
    vad: EnergyVad = field(default_factory=EnergyVad)
    beeps: BeepDetector = field(default_factory=BeepDetector)
    rules: VoicemailRules = field(default_factory=VoicemailRules)
    clock: Callable[[], datetime] = utcnow
    outbox_lease_ms: int = 10_000
    """How long a committed outbox entry belongs to the container that wrote it (longer than the media
    function's timeout) before another frame may carry it out."""

    # ------------------------------------------------------------------ a frame

    def on_frame(self, connection_id: str, body: str | bytes | None, deadline: Deadline) -> str:
        """Handle one frame; returns what was done (for logs and tests). Never raises on bad input.

        API Gateway never delivers a frame twice, so a frame whose storage failed is gone. An audio frame is
        one of fifty a second: it is counted and let go (the frame clock skips it). An event (start, DTMF,
        a played checkpoint, stop) happens once, so a throttled or unreachable DynamoDB is tried again while
        the invocation has time."""
        try:
            message = protocol.parse(body or "")
        except protocol.ProtocolError as exc:
            logger.warning(
                "dropped malformed frame", extra={"reason": str(exc), "connection_id": connection_id}
            )
            return "dropped"
        once = not isinstance(message, protocol.MediaMessage)
        try:
            return _retried(lambda: self._handle(connection_id, message, deadline), deadline, retry=once)
        except StoreUnavailable:
            observability.add("MediaFramesFailed")
            logger.warning("stream state unavailable: frame let go", extra={"frame_event": message.event})
            return "failed"

    def _handle(self, connection_id: str, message: protocol.IncomingMessage, deadline: Deadline) -> str:
        record = self.connections.load(connection_id)
        for _ in range(MAX_ATTEMPTS):
            if record is None:
                logger.warning("frame for an unknown connection", extra={"frame_event": message.event})
                return "unknown-connection"
            self._recover(record, deadline)
            now = self.clock()
            decision = self.decide(record, message, now)
            current = StreamState.from_dict(record.state)
            if decision.dropped or (decision.state == current and not decision.actions):
                return decision.label
            actions = decision.actions + _log(decision, now)
            applied, written = self.connections.save_state(record, decision.state.to_dict(), actions, now)
            if applied and written is not None:
                entry = next((entry for entry in written.outbox if entry.version == written.version), None)
                if entry is not None:
                    self.carry_out(written, entry, deadline)
                return decision.label
            record = written
        observability.add("MediaFrameConflicts")
        logger.warning("frame lost every race to newer frames", extra={"frame_event": message.event})
        return "conflict"

    # ------------------------------------------------------------------ deciding (pure)

    def decide(self, record: ConnectionRecord, message: protocol.IncomingMessage, now: datetime) -> Decision:
        state = StreamState.from_dict(record.state)
        if isinstance(message, protocol.StartMessage):
            return self._start(record, state, message, now)
        if isinstance(message, protocol.UnknownMessage):
            logger.info("ignored unknown stream event", extra={"frame_event": message.event})
            return Decision(state, label="ignored", dropped=True)
        if isinstance(message, protocol.MediaMessage):
            if not state.started:  # audio before the stream's start: nothing to hear it yet
                return Decision(state, label="not-started", dropped=True)
            return self._media(record, state, self._view(record, state, now), message, now)
        if state.seen_event(message.sequence_number):
            return Decision(state, label="duplicate", dropped=True)
        # An event is never dropped on what one read said: it is written (at least as seen), so a read that
        # missed a write still in flight (the start, another delivery of it) fails the write and is redone.
        state = replace(state, events=state.with_event(message.sequence_number))
        if not state.started:
            # Sent after the start, handled before it (two frames in flight): kept until the start is.
            return Decision(replace(state, deferred=state.with_deferred(message)), label="deferred")
        return self._event(record, state, message, now)

    def _event(
        self, record: ConnectionRecord, state: StreamState, message: protocol.IncomingMessage, now: datetime
    ) -> Decision:
        """A DTMF key, a played checkpoint, a cleared queue or the stream's stop, told to the agent."""
        view = self._view(record, state, now)
        if isinstance(message, protocol.DtmfMessage):
            digit = message.dtmf.digit
            return self._apply(state, self.agent.on_dtmf(view, digit), f"dtmf {digit}")
        if isinstance(message, protocol.PlayedStreamMessage):
            return self._played(state, view, message.name, now)
        if isinstance(message, protocol.ClearedAudioMessage):
            return self._apply(state, self.agent.on_cleared(view), "cleared")
        return self._apply(state, self.agent.on_stop(view), "stop")

    def _start(
        self, record: ConnectionRecord, state: StreamState, message: protocol.StartMessage, now: datetime
    ) -> Decision:
        if message.start.call_id != record.call_uuid:
            # The token bound this connection to a call at $connect; a start for another call is not ours.
            logger.warning(
                "start frame does not match the connection's call", extra={"call_id": message.start.call_id}
            )
            return Decision(state, label="dropped", dropped=True)
        if state.started:
            return Decision(state, label="duplicate", dropped=True)
        call = self.calls.get_call(record.call_uuid) or {}
        started = StreamState(stream_id=message.start.stream_id, events=state.events)
        view = self._view(record, started, now)
        view.metadata = {**(call.get("metadata") or {}), **message.extra_headers}
        decision = self._apply(started, self.agent.on_start(view), "start")
        if call.get("state") != "completed":  # a late start must not rewrite a finished call's stream
            decision.actions.append({"call": {"overwrite": {"stream_id": message.start.stream_id}}})
        for body in state.deferred:  # events that overtook the start, in the order they arrived
            later = self._event(record, decision.state, protocol.parse(body), now)
            decision = Decision(later.state, decision.actions + later.actions, decision.label)
        return decision

    def _media(
        self,
        record: ConnectionRecord,
        state: StreamState,
        view: CallView,
        message: protocol.MediaMessage,
        now: datetime,
    ) -> Decision:
        position = message.position
        if position is not None and position <= state.media_seq:
            return Decision(state, label="stale", dropped=True)
        try:
            audio = message.media.audio()
        except protocol.ProtocolError as exc:
            logger.warning("dropped media frame", extra={"reason": str(exc)})
            return Decision(state, label="dropped", dropped=True)
        clock = position * FRAME_MS if position is not None else state.clock_ms + FRAME_MS
        vad, speech = self.vad.step(state.vad, audio, clock, FRAME_MS)
        beep_state, beep = state.beep, None
        requested = record.voicemail_requested_at is not None
        if state.voicemail.trigger is None and (requested or clock < self.rules.beep_listen_ms):
            beep_state, beep = self.beeps.step(state.beep, audio, clock)
        moved = replace(state, vad=vad, beep=beep_state, last_beep=_beep_dict(beep) or state.last_beep)
        decision = None
        if requested:
            quiet = not self.vad.loud(audio, state.vad.speaking) and not beep_state.in_tone
            decision = self._voicemail(moved, view, clock, beep, now, quiet=quiet)
        if decision is None and not requested:
            decision = self._apply(moved, self.agent.on_audio(view, audio, speech), "media")
        if decision is None:
            decision = Decision(moved)
        if beep is not None:
            decision.actions.append({"count": "beep"})
        if decision.state != state or decision.actions:
            decision.state = replace(decision.state, media_seq=position or state.media_seq, clock_ms=clock)
        return decision

    def _voicemail(
        self,
        state: StreamState,
        view: CallView,
        clock: int,
        beep: Beep | None,
        now: datetime,
        *,
        quiet: bool,
    ) -> Decision | None:
        """While a voicemail is requested and not yet started: start it at the right moment, or wait."""
        progress = state.voicemail
        if progress.trigger is not None:
            return None  # the message is playing: nothing for the agent to hear
        waiting_since = progress.waiting_since if progress.waiting_since is not None else clock
        since = None if progress.quiet_to is None else clock - progress.quiet_to
        follows = since is not None and 0 < since <= QUIET_CHECKPOINT_MS + BRIDGED_GAP_MS
        if not quiet:
            quiet_heard, quiet_to = 0, None
        elif follows and since is not None:
            quiet_heard = progress.quiet_heard_ms + since
            quiet_to = clock if since >= QUIET_CHECKPOINT_MS else progress.quiet_to
        else:  # the first quiet frame, or the first after a gap: count again from here
            quiet_heard, quiet_to = FRAME_MS, clock
        trigger = self._trigger(state, clock, waiting_since, beep, quiet_heard)
        if trigger is None:
            # Written at a checkpoint (every QUIET_CHECKPOINT_MS) or a reset; frames between change nothing.
            stored = quiet_heard if quiet_to != progress.quiet_to else progress.quiet_heard_ms
            waiting = VoicemailProgress(waiting_since, quiet_heard_ms=stored, quiet_to=quiet_to)
            return Decision(replace(state, voicemail=waiting), label="voicemail-wait")
        started = replace(
            state, voicemail=VoicemailProgress(waiting_since, trigger, clock, quiet_heard, quiet_to)
        )
        decision = self._apply(started, self.agent.on_voicemail(view), "voicemail")
        facts: dict[str, Any] = {"voicemail_started_at": iso(now), "voicemail_trigger": trigger}
        heard = state.last_beep if trigger in ("beep", "late_beep") else None
        if heard:
            ended_ms = int(heard["ended_ms"])
            facts.update(
                beep_heard_at=iso(now - timedelta(milliseconds=max(0, clock - ended_ms))),
                beep_frequency_hz=round(float(heard["hz"])),
                beep_ms=ended_ms - int(heard["started_ms"]),
                beep_level_dbfs=round(float(heard["level_dbfs"]), 1),
            )
        facts["voicemail_wait_ms"] = clock - waiting_since
        decision.actions += [
            {"call": {"facts": facts}},
            {"count": "voicemail_start", "trigger": trigger},
        ]
        return decision

    def _trigger(
        self, state: StreamState, clock: int, waiting_since: int, beep: Beep | None, quiet_heard: int
    ) -> str | None:
        """Why the message starts now, or None: a beep just ended; a beep came before the request and nothing
        was said after it; long enough silence heard after the greeting (counted since the request from the
        frames heard, never across a gap of lost frames longer than ``BRIDGED_GAP_MS``); or the longest wait
        is over."""
        if beep is not None:
            return "beep"
        vad = state.vad
        last = state.last_beep
        if last is not None:
            # The beep is the last thing heard unless speech began after it (the speech detector hears the
            # beep itself, and line noise after it, as one stretch that began before the beep ended).
            spoke_after = vad.spoke_from is not None and vad.spoke_from > int(last["ended_ms"]) + (
                self.rules.speech_after_beep_ms
            )
            if not spoke_after:
                return "late_beep"
        quiet_now = not vad.speaking and vad.run_from is None and not state.beep.in_tone
        if quiet_now and quiet_heard >= self.rules.silence_ms:
            return "silence"
        if clock + FRAME_MS - waiting_since >= self.rules.max_wait_ms:
            return "max_wait"
        return None

    def _played(self, state: StreamState, view: CallView, name: str, now: datetime) -> Decision:
        pending = list(state.pending)
        if name in pending:
            pending.remove(name)
        state = replace(state, pending=tuple(pending))
        view.playing = bool(pending)
        decision = self._apply(state, self.agent.on_played(view, name), "played")
        if name == VOICEMAIL_CHECKPOINT and state.voicemail.trigger is not None:
            decision.actions.insert(0, {"call": {"facts": {"voicemail_played_at": iso(now)}}})
        return decision

    def _apply(self, state: StreamState, actions: list[Action], label: str) -> Decision:
        """The agent's actions as the state they lead to and the outbox entries that carry them out."""
        agent, pending = dict(state.agent), list(state.pending)
        out: list[dict[str, Any]] = []
        facts: dict[str, Any] = {}
        for action in actions:
            if isinstance(action, Remember):
                agent.update(action.state)
                facts.update(action.facts)
            elif isinstance(action, PlayAudio):
                out.append({"play": action.label})
            elif isinstance(action, Checkpoint):
                pending.append(action.name)
                out.append({"checkpoint": action.name})
            elif isinstance(action, ClearAudio):
                pending.clear()
                out.append({"clear": True})
            elif isinstance(action, Hangup):
                out.append({"hangup": action.reason})
            elif isinstance(action, Transfer):
                out.append({"transfer": action.url})
        if facts:
            out.append({"call": {"facts": facts}})
        return Decision(replace(state, agent=agent, pending=tuple(pending)), out, label)

    def _view(self, record: ConnectionRecord, state: StreamState, now: datetime) -> CallView:
        return CallView(
            call_uuid=record.call_uuid,
            stream_id=state.stream_id or "",
            state=dict(state.agent),
            playing=bool(state.pending),
            now_iso=iso(now),
        )

    # ------------------------------------------------------------------ carrying out (I/O)

    def _recover(self, record: ConnectionRecord, deadline: Deadline) -> None:
        """Finish outbox entries whose owner died (their lease is over); exactly one frame takes each over."""
        now = self.clock()
        for entry in record.outbox:
            if int(now.timestamp() * 1000) - entry.created_ms < self.outbox_lease_ms:
                continue
            if self.connections.claim_outbox(record.connection_id, entry, now):
                # Audio newer than this entry's already played: its own would now come out of order (an
                # acknowledgement after the conversation moved on, before a voicemail message). Its
                # checkpoints still go, so the agent hears them "played", and the rest is done.
                audio = record.last_sent < entry.version
                logger.warning(
                    "carrying out actions a container left behind",
                    extra={"version": entry.version, "audio": audio},
                )
                observability.add("MediaOutboxRecovered")
                self.carry_out(record, entry, deadline, audio=audio)

    def carry_out(
        self, record: ConnectionRecord, entry: OutboxEntry, deadline: Deadline, *, audio: bool = True
    ) -> None:
        """Do what a committed frame decided, in order; without ``audio``, all of it but the audio
        (``playAudio`` and ``clearAudio``)."""
        state = StreamState.from_dict(record.state)
        view = self._view(record, state, self.clock())
        stream_id = state.stream_id or ""
        gone = sent = False
        for action in entry.actions:
            sends = "play" in action or "checkpoint" in action or "clear" in action
            sent = sent or (sends and not gone and (audio or "checkpoint" in action))
            if ("play" in action or "clear" in action) and not audio:
                continue
            if "play" in action and not gone:
                if action["play"] == VOICEMAIL_CHECKPOINT:
                    view.voicemail_message = self._voicemail_message(record.call_uuid, deadline)
                rendered = self.agent.render(str(action["play"]), view)
                gone = not all(self._send(record, frame) for frame in protocol.play_audio(rendered))
            elif "checkpoint" in action and not gone:
                gone = not self._send(record, protocol.checkpoint(stream_id, str(action["checkpoint"])))
            elif "clear" in action and not gone:
                gone = not self._send(record, protocol.clear_audio(stream_id))
            elif "hangup" in action or "transfer" in action:
                self._call_control(record.call_uuid, action, deadline)
            elif "call" in action:
                facts, overwrite = action["call"].get("facts"), action["call"].get("overwrite")
                update = partial(self.calls.update_call, facts=facts, overwrite=overwrite)
                self._write("call facts", partial(update, record.call_uuid, self.clock()), deadline)
            elif "count" in action:
                _count(action)
            elif "log" in action:
                log = partial(self.calls.add_agent_event, record.call_uuid, stream_id, entry.version)
                self._write("agent event", partial(log, action["log"], self.clock()), deadline)
        if not gone:
            self._write(
                "outbox cleared",
                lambda: self.connections.clear_outbox(record.connection_id, entry, self.clock(), sent=sent),
                deadline,
            )

    def _write(self, what: str, write: Callable[[], object], deadline: Deadline) -> None:
        """A record of what was done, tried again while DynamoDB throttles: the frames it records were
        already sent, so it is never a reason to do them again. Lost (logged, counted) only when the
        invocation runs out of time."""
        try:
            _retried(write, deadline)
        except StoreUnavailable:
            observability.add("MediaWritesLost")
            logger.error("could not record what the stream did", extra={"what": what})

    def _voicemail_message(self, call_uuid: str, deadline: Deadline) -> str | None:
        """The call's own voicemail text (None: the agent's default message)."""
        try:
            call = _retried(lambda: self.calls.get_call(call_uuid), deadline)
        except StoreUnavailable:
            return None
        message = (call or {}).get("voicemail_message")
        return str(message) if message else None

    def _send(self, record: ConnectionRecord, message: dict[str, Any]) -> bool:
        return self.sender.send(record.connection_id, message)

    def _call_control(self, call_uuid: str, action: dict[str, Any], deadline: Deadline) -> None:
        try:
            gateway = self.gateway()
            if "hangup" in action:
                result = gateway.hangup(call_uuid, deadline=deadline)
                facts = {"agent_hangup": action["hangup"], "agent_hangup_result": result.outcome}
            else:
                result = gateway.transfer(call_uuid, str(action["transfer"]), deadline=deadline)
                facts = {"agent_transfer": action["transfer"], "agent_transfer_result": result.outcome}
        except (PlivoApiError, ConfigurationError) as exc:
            # Recorded on the call, not raised: the frame is handled, the outbox entry done (a wrong setting
            # would fail every retry the same way).
            logger.error("agent call control failed", extra={"error": str(exc)})
            facts = {"agent_call_control_error": str(exc)}
        self._write(
            "call control", lambda: self.calls.update_call(call_uuid, self.clock(), facts=facts), deadline
        )


class StoreUnavailable(Exception):
    """DynamoDB stayed throttled (or out of reach) for as long as the invocation could wait."""


def _retried(work: Callable[[], T], deadline: Deadline, *, retry: bool = True) -> T:
    """``work``'s result; while DynamoDB throttles (or cannot be reached), tried again with jittered
    backoff as long as the invocation has time (not at all without ``retry``), then ``StoreUnavailable``.
    Any other AWS error is a bug or a misconfiguration, and is raised as it is."""
    delay = STORE_RETRY_SECONDS
    while True:
        try:
            return work()
        except (ClientError, BotoCoreError) as exc:
            if not is_transient(exc):
                raise
            if not retry or deadline.left() <= delay + 0.5:
                code = error_code(exc) or type(exc).__name__
                raise StoreUnavailable(code) from exc
            observability.add("MediaStoreRetries")
            time.sleep(random.uniform(delay / 2, delay))  # noqa: S311 - jitter, not cryptography
            delay = min(delay * 2, 1.0)


def _log(decision: Decision, now: datetime) -> list[dict[str, Any]]:
    """What the agent did, for the call's timeline: the event and the actions it led to."""
    done = [_describe(action) for action in decision.actions]
    done = [text for text in done if text]
    if not done and not decision.label.startswith("dtmf"):
        return []
    return [{"log": {"at": iso(now), "event": decision.label, "detail": ", ".join(done)}}]


def _describe(action: dict[str, Any]) -> str:
    if "play" in action:
        return f"plays {action['play']}"
    if "clear" in action:
        return "stops talking (clearAudio)"
    if "hangup" in action:
        return f"hangs up ({action['hangup']})"
    if "transfer" in action:
        return f"transfers to {action['transfer']}"
    return ""


def _count(action: dict[str, Any]) -> None:
    """Metrics a committed frame asked for, emitted once its effects are carried out."""
    if action["count"] == "beep":
        observability.count("BeepsHeard")
    else:
        observability.count("VoicemailStarts", trigger=str(action["trigger"]))


def _beep_dict(beep: Beep | None) -> dict[str, Any] | None:
    if beep is None:
        return None
    return {
        "started_ms": beep.started_ms,
        "ended_ms": beep.ended_ms,
        "hz": round(float(beep.frequency_hz), 1),
        "level_dbfs": round(float(beep.level_dbfs), 1),
    }
