"""An example of your own agent: a long-lived WebSocket server that takes the call's audio stream from Plivo,
and the webhook the stack's agent policy notifies when an answering machine picked up.

It speaks Plivo's stream protocol (``start``, ``media``, ``dtmf``, ``playedStream`` in; ``playAudio``,
``checkpoint``, ``clearAudio`` out), checks every connection's token and every notification's signature
(``checks``), and reuses the stack's own pieces where they fit: the protocol models, the speech and beep
detectors, the bundled prompts. No speech recognition, LLM or TTS here — that is what your agent adds:

- a person: it greets them, stops talking when they talk over it (barge-in), acknowledges each turn, and on
  ``#`` says goodbye and hangs up through the stack;
- a machine (the notification): it stops talking, waits for the beep (or, with none, for the greeting's
  silence, at most ``voicemail_max_wait_ms``), plays the message, and once Plivo confirms it played
  (``playedStream``) hangs up through the stack with ``{"voicemail_left": true}``.

Why hang up through the stack (``POST /calls/{id}/hangup``) rather than close the socket and let Plivo end the
call: a closed socket is a stream that ended, which the stack's ``<Redirect>`` after the ``<Stream>`` would
take for a drop and reconnect; and only the stack's hangup records who ended the call and that the message
was left, so the call's outcome is ``voicemail_left`` as on the stack's own route.

Unlike the stack's media route (a Lambda per frame, state in DynamoDB), this is one process holding each
call's state in memory: run one instance per call's lifetime, or share stream state if you scale out.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import ClientSession, ClientTimeout, web

from examples.external_agent.checks import token_ok, verified
from voiceagent.media.speech import BundledSpeech
from voiceagent.media.tones import BeepDetector, BeepState
from voiceagent.media.vad import EnergyVad, VadEvent, VadState
from voiceagent.plivo import stream_protocol as protocol

log = logging.getLogger("example.agent")

FRAME_MS = 20
SIGNATURE_HEADER = "X-Voiceagent-Signature"


@dataclass(frozen=True)
class AgentConfig:
    stream_key: bytes
    """The value of the SSM SecureString ``StreamTokenSecretParameterName`` names (UTF-8 bytes)."""
    webhook_key: bytes
    """The value of the SSM SecureString ``AgentWebhookSecretParameterName`` names (UTF-8 bytes)."""
    api_url: str
    """The stack's API (``CallsUrl`` without ``/calls``), to hang up through it."""
    sign_requests: bool = True
    """SigV4-sign the hangup with this process's AWS credentials (a deployed stack; not the local one)."""
    tolerance_seconds: int = 300
    voicemail_silence_ms: int = 2000
    voicemail_max_wait_ms: int = 20000
    listen_for_beeps_ms: int = 60000


@dataclass
class Call:
    """One call's stream, as this process holds it."""

    call_uuid: str
    stream_id: str
    socket: web.WebSocketResponse
    clock_ms: int = 0
    vad: VadState = field(default_factory=VadState)
    beep: BeepState = field(default_factory=BeepState)
    last_beep_end_ms: int | None = None
    pending: set[str] = field(default_factory=set)
    """Checkpoints sent, not yet played: while any is pending, our audio plays."""
    voicemail: Mapping[str, Any] | None = None
    waiting_since_ms: int | None = None
    message_started: bool = False
    ended: bool = False


@dataclass
class AgentStats:
    connects: int = 0
    connects_refused: int = 0
    notifications: int = 0
    notifications_refused: int = 0
    voicemails_left: int = 0
    hangups: list[tuple[str, int]] = field(default_factory=list)
    """(call, the stack's HTTP status) of each hangup asked for."""


Hangup = Callable[[str, dict[str, Any]], Awaitable[int]]


class ExampleAgent:
    def __init__(self, config: AgentConfig, hangup: Hangup | None = None) -> None:
        self.config = config
        self.calls: dict[str, Call] = {}
        self.stats = AgentStats()
        self._used_tokens: dict[str, int] = {}
        self._notifications_seen: set[str] = set()
        self._hangup = hangup or self._hang_up_through_the_stack
        self._speech = BundledSpeech()
        self._vad = EnergyVad()
        self._beeps = BeepDetector()
        self._session: ClientSession | None = None

    def app(self) -> web.Application:
        app = web.Application(client_max_size=256 * 1024)
        app.router.add_get("/stream", self.stream)
        app.router.add_post("/voicemail", self.voicemail)
        app.router.add_get("/health", self.health)
        app.on_cleanup.append(self._close)
        return app

    async def health(self, _request: web.Request) -> web.Response:
        return web.json_response({"calls": len(self.calls)})

    async def _close(self, _app: web.Application) -> None:
        if self._session is not None:
            await self._session.close()

    # ---------------------------------------------------------------- the stream

    def _admit(self, query: Mapping[str, str]) -> str | None:
        """The call a connection may carry: a genuine, unexpired token never used before."""
        now = int(time.time())
        self._used_tokens = {jti: expires for jti, expires in self._used_tokens.items() if expires >= now}
        if not token_ok(self.config.stream_key, query, now) or query["jti"] in self._used_tokens:
            return None
        self._used_tokens[query["jti"]] = int(query["expires"])
        return query["call_uuid"]

    async def stream(self, request: web.Request) -> web.StreamResponse:
        call_uuid = self._admit(request.query)
        if call_uuid is None:
            self.stats.connects_refused += 1
            return web.Response(status=403, text="forbidden")
        self.stats.connects += 1
        socket = web.WebSocketResponse(max_msg_size=128 * 1024)
        await socket.prepare(request)
        call: Call | None = None
        async for message in socket:
            if message.type.name != "TEXT":
                continue
            try:
                frame = protocol.parse(message.data)
            except protocol.ProtocolError:
                continue
            if isinstance(frame, protocol.StartMessage):
                if frame.start.call_id != call_uuid:  # the token was issued for another call
                    await socket.close()
                    break
                call = Call(call_uuid, frame.start.stream_id, socket)
                self.calls[call_uuid] = call
                await self._play(call, "greeting")
            elif call is not None:
                await self._frame(call, frame)
        if call is not None:
            call.ended = True
            self.calls.pop(call.call_uuid, None)
        return socket

    async def _frame(self, call: Call, frame: protocol.IncomingMessage) -> None:
        if isinstance(frame, protocol.MediaMessage):
            await self._media(call, frame)
        elif isinstance(frame, protocol.DtmfMessage) and frame.dtmf.digit == "#" and call.voicemail is None:
            await self._play(call, "goodbye")
        elif isinstance(frame, protocol.PlayedStreamMessage):
            call.pending.discard(frame.name)
            if frame.name == "goodbye":
                await self._end(call, voicemail_left=False)
            elif frame.name == "voicemail":
                self.stats.voicemails_left += 1
                await self._end(call, voicemail_left=True)

    async def _media(self, call: Call, frame: protocol.MediaMessage) -> None:
        try:
            audio = frame.media.audio()
        except protocol.ProtocolError:
            return
        chunk = frame.media.chunk
        call.clock_ms = chunk * FRAME_MS if chunk is not None else call.clock_ms + FRAME_MS
        call.vad, speech = self._vad.step(call.vad, audio, call.clock_ms, FRAME_MS)
        if not call.message_started and (call.voicemail or call.clock_ms < self.config.listen_for_beeps_ms):
            call.beep, beep = self._beeps.step(call.beep, audio, call.clock_ms)
            if beep is not None:
                call.last_beep_end_ms = beep.ended_ms
        if call.voicemail is not None:
            if not call.message_started and self._time_for_the_message(call):
                call.message_started = True
                await self._play(call, "voicemail")
            return
        if speech is VadEvent.SPEECH_STARTED and call.pending:  # barge-in: stop talking at once
            call.pending.clear()
            await self._send(call, protocol.clear_audio(call.stream_id))
        elif speech is VadEvent.SPEECH_ENDED and not call.pending:
            await self._play(call, "acknowledge")

    def _time_for_the_message(self, call: Call) -> bool:
        """After the beep; with none, once the greeting has been quiet long enough; at the latest after the
        longest wait (a voicemail records from its beep: a message started earlier loses its first words)."""
        waiting_since = call.waiting_since_ms if call.waiting_since_ms is not None else call.clock_ms
        beep_end = call.last_beep_end_ms
        spoke_after_beep = beep_end is not None and (call.vad.spoke_from or -1) > beep_end + 200
        if beep_end is not None and not spoke_after_beep and not call.beep.in_tone:
            return True
        quiet_since = call.vad.quiet_from if call.vad.quiet_from is not None else waiting_since
        quiet = not call.vad.speaking and call.vad.run_from is None and not call.beep.in_tone
        if quiet and call.clock_ms - quiet_since >= self.config.voicemail_silence_ms:
            return True
        return call.clock_ms - waiting_since >= self.config.voicemail_max_wait_ms

    async def _play(self, call: Call, prompt: str) -> None:
        """A prompt, then a checkpoint: Plivo answers ``playedStream`` once it has played. (Your agent
        would speak ``voicemail.message`` with its TTS, or play ``voicemail.audio_url``.)"""
        for frame in protocol.play_audio(self._speech.prompt(prompt)):
            await self._send(call, frame)
        call.pending.add(prompt)
        await self._send(call, protocol.checkpoint(call.stream_id, prompt))

    async def _send(self, call: Call, message: dict[str, Any]) -> None:
        if not call.socket.closed:
            await call.socket.send_str(json.dumps(message, separators=(",", ":")))

    async def _end(self, call: Call, *, voicemail_left: bool) -> None:
        status = await self._hangup(call.call_uuid, {"voicemail_left": True} if voicemail_left else {})
        self.stats.hangups.append((call.call_uuid, status))

    # ---------------------------------------------------------------- the notification

    async def voicemail(self, request: web.Request) -> web.Response:
        """The agent policy's notification: verified, once per notification, for a call this agent has."""
        body = await request.read()
        signature = request.headers.get(SIGNATURE_HEADER, "")
        if not verified(self.config.webhook_key, body, signature, self.config.tolerance_seconds):
            self.stats.notifications_refused += 1
            return web.json_response({"message": "bad signature"}, status=401)
        notification = json.loads(body)
        if notification.get("notification") != "voicemail":
            return web.json_response({"message": "unknown notification"}, status=400)
        if notification["notification_id"] in self._notifications_seen:
            return web.json_response({"message": "already handled"}, status=200)
        call = self.calls.get(str(notification["call_uuid"]))
        if call is None:  # not on this agent: the stack falls back to its transfer policy
            return web.json_response({"message": "no such call here"}, status=404)
        self._notifications_seen.add(notification["notification_id"])
        self.stats.notifications += 1
        call.voicemail = notification["voicemail"]
        call.waiting_since_ms = call.clock_ms
        if call.pending:  # stop talking over the greeting
            call.pending.clear()
            await self._send(call, protocol.clear_audio(call.stream_id))
        return web.json_response({"message": "leaving the message after the beep"}, status=202)

    # ---------------------------------------------------------------- the stack

    async def _hang_up_through_the_stack(self, call_uuid: str, body: dict[str, Any]) -> int:
        url = f"{self.config.api_url.rstrip('/')}/calls/{call_uuid}/hangup"
        data = json.dumps(body).encode()
        headers = {"content-type": "application/json"}
        if self.config.sign_requests:
            headers = await asyncio.get_running_loop().run_in_executor(None, _sigv4, url, data)
        if self._session is None:
            self._session = ClientSession(timeout=ClientTimeout(total=10))
        async with self._session.post(url, data=data, headers=headers) as response:
            log.info("hangup %s: %s", call_uuid, response.status)
            return response.status


def _sigv4(url: str, data: bytes) -> dict[str, str]:
    """The stack's /calls routes are IAM-authorised: sign with this process's credentials (its role)."""
    import re

    import botocore.session
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    session = botocore.session.get_session()
    credentials = session.get_credentials()
    if credentials is None:
        raise RuntimeError("no AWS credentials to sign the hangup with")
    found = re.search(r"\.execute-api\.([a-z0-9-]+)\.", url)
    region = found.group(1) if found else "us-east-1"
    request = AWSRequest(method="POST", url=url, data=data, headers={"content-type": "application/json"})
    SigV4Auth(credentials.get_frozen_credentials(), "execute-api", region).add_auth(request)
    return dict(request.headers.items())
