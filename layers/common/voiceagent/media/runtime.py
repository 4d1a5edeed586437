"""The media route's engine: Plivo frames in, agent actions out, at ~50 frames per second per call.

Per frame it parses, decodes, runs voice-activity detection and asks the agent — no DynamoDB access. State
lives in a small per-container session cache (an optimisation: frames of one call may land on another
container, which rebuilds the session from DynamoDB with two reads) and is written back only when the agent
returns ``Remember`` or the stream starts. The call's voicemail mode is read once per speech→silence
transition (cached for a second), which is when the agent may switch to leaving a voicemail.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger

from voiceagent.clock import iso, utcnow
from voiceagent.media.agent import (
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
from voiceagent.media.audio import EnergyVad, VadEvent
from voiceagent.media.connections import StreamConnections
from voiceagent.plivo import stream_protocol as protocol
from voiceagent.plivo.rest import Deadline, PlivoApiError, PlivoGateway
from voiceagent.store.calls import CallRepository
from voiceagent.store.connections import ConnectionRepository
from voiceagent.store.states import VOICEMAIL_MODE

logger = Logger(child=True)

MODE_CACHE_SECONDS = 1.0
MAX_SESSIONS = 256


@dataclass
class Session:
    connection_id: str
    view: CallView
    vad: EnergyVad
    pending_checkpoints: set[str] = field(default_factory=set)
    voicemail_started: bool = False
    mode: str | None = None
    mode_read_at: float = float("-inf")
    gone: bool = False


class SessionCache:
    """Bounded LRU of live sessions in this container."""

    def __init__(self, max_sessions: int = MAX_SESSIONS) -> None:
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._max = max_sessions

    def get(self, connection_id: str) -> Session | None:
        session = self._sessions.get(connection_id)
        if session is not None:
            self._sessions.move_to_end(connection_id)
        return session

    def put(self, session: Session) -> None:
        self._sessions[session.connection_id] = session
        self._sessions.move_to_end(session.connection_id)
        while len(self._sessions) > self._max:
            self._sessions.popitem(last=False)

    def drop(self, connection_id: str) -> None:
        self._sessions.pop(connection_id, None)

    def __len__(self) -> int:
        return len(self._sessions)


@dataclass
class MediaRuntime:
    agent: Agent
    calls: CallRepository
    connections: ConnectionRepository
    sender: StreamConnections
    gateway: Callable[[], PlivoGateway]
    sessions: SessionCache
    vad_threshold_dbfs: float = -40.0
    clock: Callable[[], datetime] = utcnow
    monotonic: Callable[[], float] = time.monotonic

    # ------------------------------------------------------------------ frames

    def on_frame(self, connection_id: str, body: str | bytes | None, deadline: Deadline) -> str:
        """Handle one frame; returns what was done (for logs and tests). Never raises on bad input."""
        try:
            message = protocol.parse(body or "")
        except protocol.ProtocolError as exc:
            logger.warning(
                "dropped malformed frame", extra={"reason": str(exc), "connection_id": connection_id}
            )
            return "dropped"
        if isinstance(message, protocol.StartMessage):
            return self._start(connection_id, message, deadline)
        session = self._session(connection_id)
        if session is None:
            logger.warning("frame for an unknown connection", extra={"frame_event": message.event})
            return "unknown-connection"
        session.view.now_iso = iso(self.clock())
        if isinstance(message, protocol.MediaMessage):
            return self._media(session, message, deadline)
        if isinstance(message, protocol.DtmfMessage):
            return self._run(session, self.agent.on_dtmf(session.view, message.dtmf.digit), deadline, "dtmf")
        if isinstance(message, protocol.PlayedStreamMessage):
            session.pending_checkpoints.discard(message.name)
            session.view.playing = bool(session.pending_checkpoints)
            return self._run(session, self.agent.on_played(session.view, message.name), deadline, "played")
        if isinstance(message, protocol.ClearedAudioMessage):
            return self._run(session, self.agent.on_cleared(session.view), deadline, "cleared")
        if isinstance(message, protocol.StopMessage):
            outcome = self._run(session, self.agent.on_stop(session.view), deadline, "stop")
            self.sessions.drop(connection_id)
            return outcome
        logger.info("ignored unknown stream event", extra={"frame_event": message.event})
        return "ignored"

    def on_disconnect(self, connection_id: str) -> None:
        self.sessions.drop(connection_id)

    def _start(self, connection_id: str, message: protocol.StartMessage, deadline: Deadline) -> str:
        call_uuid = self.connections.call_of(connection_id)
        if call_uuid is None or call_uuid != message.start.call_id:
            # The token bound this connection to a call at $connect; a start for another call is not ours.
            logger.warning(
                "start frame does not match the connection's call", extra={"call_id": message.start.call_id}
            )
            return "dropped"
        call = self.calls.get_call(call_uuid) or {}
        session = self._open(connection_id, call_uuid, call, message.start.stream_id, message.extra_headers)
        session.view.now_iso = iso(self.clock())
        return self._run(
            session,
            self.agent.on_start(session.view),
            deadline,
            "start",
            overwrite={"stream_id": message.start.stream_id},
        )

    def _session(self, connection_id: str) -> Session | None:
        session = self.sessions.get(connection_id)
        if session is not None:
            return session
        call_uuid = self.connections.call_of(connection_id)
        call = self.calls.get_call(call_uuid) if call_uuid else None
        if not call_uuid or not call or not call.get("stream_id"):
            return None
        session = self._open(connection_id, call_uuid, call, str(call["stream_id"]), {})
        session.voicemail_started = bool(call.get("voicemail_started_at"))
        return session

    def _open(
        self,
        connection_id: str,
        call_uuid: str,
        call: dict[str, Any],
        stream_id: str,
        extra_headers: dict[str, str],
    ) -> Session:
        """A session for this connection from the call's record (the agent's persisted state included)."""
        view = CallView(
            call_uuid=call_uuid,
            stream_id=stream_id,
            voicemail_message=call.get("voicemail_message"),
            metadata={**(call.get("metadata") or {}), **extra_headers},
            state=dict(call.get("agent_state") or {}),
        )
        session = Session(connection_id, view, EnergyVad(threshold_dbfs=self.vad_threshold_dbfs))
        self.sessions.put(session)
        return session

    def _media(self, session: Session, message: protocol.MediaMessage, deadline: Deadline) -> str:
        try:
            audio = message.media.audio()
        except protocol.ProtocolError as exc:
            logger.warning("dropped media frame", extra={"reason": str(exc)})
            return "dropped"
        speech = session.vad.feed(audio)
        if speech is VadEvent.SPEECH_ENDED and not session.voicemail_started and self._in_voicemail(session):
            session.voicemail_started = True
            return self._run(
                session,
                self.agent.on_voicemail(session.view),
                deadline,
                "voicemail",
                facts={"voicemail_started_at": session.view.now_iso},
            )
        actions = self.agent.on_audio(session.view, audio, speech)
        return self._run(session, actions, deadline, "media") if actions else "media"

    def _in_voicemail(self, session: Session) -> bool:
        now = self.monotonic()
        if now - session.mode_read_at >= MODE_CACHE_SECONDS:
            call = self.calls.get_call(session.view.call_uuid) or {}
            session.mode = call.get("agent_mode")
            session.mode_read_at = now
        return session.mode == VOICEMAIL_MODE

    # ------------------------------------------------------------------ actions

    def _run(
        self,
        session: Session,
        actions: list[Action],
        deadline: Deadline,
        label: str,
        overwrite: dict[str, Any] | None = None,
        facts: dict[str, Any] | None = None,
    ) -> str:
        state_changed = False
        facts = dict(facts or {})
        overwrite = dict(overwrite or {})
        for action in actions:
            if isinstance(action, Remember):
                session.view.state.update(action.state)
                facts.update(action.facts)
                state_changed = state_changed or bool(action.state)
            elif isinstance(action, PlayAudio):
                for frame in protocol.play_audio(action.audio):
                    self._send(session, frame)
                session.view.playing = True
            elif isinstance(action, Checkpoint):
                session.pending_checkpoints.add(action.name)
                self._send(session, protocol.checkpoint(session.view.stream_id, action.name))
            elif isinstance(action, ClearAudio):
                session.pending_checkpoints.clear()
                session.view.playing = False
                self._send(session, protocol.clear_audio(session.view.stream_id))
            elif isinstance(action, Hangup | Transfer):
                facts.update(self._call_control(session, action, deadline))
        if state_changed:
            overwrite["agent_state"] = session.view.state
        if facts or overwrite:
            self.calls.update_call(session.view.call_uuid, self.clock(), facts=facts, overwrite=overwrite)
        return label

    def _send(self, session: Session, message: dict[str, Any]) -> None:
        if session.gone:
            return
        if not self.sender.send(session.connection_id, message):
            session.gone = True
            self.sessions.drop(session.connection_id)

    def _call_control(
        self, session: Session, action: Hangup | Transfer, deadline: Deadline
    ) -> dict[str, Any]:
        try:
            gateway = self.gateway()  # building it may fail too (an auth id the SDK refuses, no token)
            if isinstance(action, Hangup):
                result = gateway.hangup(session.view.call_uuid, deadline=deadline)
                return {"agent_hangup": action.reason, "agent_hangup_result": result.outcome}
            result = gateway.transfer(session.view.call_uuid, action.url, deadline=deadline)
            return {"agent_transfer": action.url, "agent_transfer_result": result.outcome}
        except PlivoApiError as exc:
            logger.error("agent call control failed", extra={"error": str(exc)})
            return {"agent_call_control_error": str(exc)}
