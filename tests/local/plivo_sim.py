"""A simulated Plivo: its REST API (calls, hangup, transfer, streams) and the calls it places.

A call plays the way Plivo plays one: signed form webhooks (V3 signatures, with the plivo SDK's functions),
tried again as each URL's retry settings say (its fragment: ``#rc=2&rp=5xx,ct,rt``; Plivo's defaults when it
has none) and, for the answer URL, the call's ``fallback_url`` once those are spent; a
real WebSocket client speaking the stream protocol at real-time pace (20 ms mu-law frames from a scripted
callee: speech, silence, DTMF, a voicemail greeting), stream status and machine-detection callbacks, and a
hangup callback. It runs the XML it gets element by element, as Plivo does: ``<Stream>`` keeps the call
while it streams, then the next element runs (after a drop, the ``<Redirect>``, whose answer runs next);
``<Wait>``, ``<Speak>``, ``<Play>``, ``<Hangup>``; the end of the document hangs up. It reacts like Plivo to
``playAudio`` (queues and plays in real time), ``checkpoint`` (``playedStream`` once the audio before it
has played), ``clearAudio`` (flush, ``clearedAudio``), and to REST hangup and transfer (which replaces the
running XML).
"""

from __future__ import annotations

import asyncio
import base64
import functools
import json
import logging
import random
import secrets
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urldefrag, urlencode, urlsplit
from xml.etree import ElementTree

import aiohttp
from aiohttp import web

from tests.support import corpus
from tests.support.audio import silence
from tests.support.plivo_signing import sign_v3, signed_upgrade_headers
from voiceagent.media.audio import ulaw_energy

log = logging.getLogger("local.plivo")

FRAME_MS = 20
CONNECT_RETRIES = 2  # Plivo tries a failed stream connect twice more before DroppedStream
Cause = tuple[str, str, int, str]
UNREACHABLE: Cause = ("NORMAL_TEMPORARY_FAILURE", "Application URL Unreachable", 5000, "Plivo")
END_OF_XML: Cause = ("NORMAL_CLEARING", "End Of XML Instructions", 4010, "Plivo")
SILENCE_FRAME = silence(FRAME_MS)
LOUD_POWER = 32768.0**2 * 1e-4
"""-40 dBFS: louder than this is sound, for ``<Wait silence>`` (the stack's VAD threshold too)."""


@functools.cache
def _voice() -> tuple[bytes, ...]:
    """Twelve seconds of one synthetic speaker talking without a pause (harmonics, formants, gliding pitch,
    syllables): what a speech detector hears from a callee, and what a beep detector must not mistake."""
    rng = random.Random("local-callee")
    return corpus.encode(corpus.speech(rng, corpus.Speaker.random(rng), 12.0, (), -20.0).samples)


@functools.cache
def _word_starts() -> tuple[int, ...]:
    """Frames of the voice where a word begins: loud for 60 ms after a quiet frame."""
    loud = [ulaw_energy(frame) >= LOUD_POWER for frame in _voice()]
    return tuple(
        index for index in range(1, len(loud) - 3) if not loud[index - 1] and all(loud[index : index + 3])
    )


def speech_frames(ms: int, start_ms: int = 0) -> tuple[bytes, ...]:
    """The callee talking for ``ms``: a stretch of the synthetic voice that begins at the first word at or
    after ``start_ms`` into it, as people start talking with a word, not with the tail of one."""
    voice, starts = _voice(), _word_starts()
    wanted = (start_ms // FRAME_MS) % len(voice)
    first = next((index for index in starts if index >= wanted), starts[0])
    return tuple(voice[(first + index) % len(voice)] for index in range(ms // FRAME_MS))


def _plivo_time() -> str:
    """Plivo's callback timestamp format (UTC), to the millisecond so retries and distinct events differ."""
    now = time.time()
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}"


@dataclass(frozen=True)
class RetryRules:
    """Plivo's callback retry settings for one URL, from its fragment ("Callback Configurations"): ``rc``
    tries again (0-5, default 1), ``rp`` on what (``4xx``, ``5xx``, ``ct`` connect failure, ``rt`` read
    timeout, ``all``; default ``ct,rt``: a 5xx is not retried), ``ct``/``rt`` timeouts in ms."""

    retries: int = 1
    on: frozenset[str] = frozenset({"ct", "rt"})
    connect_ms: int = 2000
    read_ms: int = 40000

    @classmethod
    def of(cls, url: str) -> tuple[str, RetryRules]:
        """The URL as sent over HTTP (no fragment) and its rules."""
        bare, fragment = urldefrag(url)
        settings = dict(parse_qsl(fragment))
        default = cls()
        return bare, cls(
            retries=min(5, int(settings.get("rc", default.retries))),
            on=frozenset(settings["rp"].split(",")) if "rp" in settings else default.on,
            connect_ms=int(settings.get("ct", default.connect_ms)),
            read_ms=int(settings.get("rt", default.read_ms)),
        )

    def retried(self, failure: str) -> bool:
        return "all" in self.on or failure in self.on


@dataclass(frozen=True)
class Delivery:
    """One signed request Plivo sent (what an eavesdropper could capture), and what it got back."""

    url: str
    body: str
    headers: dict[str, str]
    status: int | None
    response: str


# ---------------------------------------------------------------- what the scripted callee does


@dataclass(frozen=True)
class Speak:
    ms: int


@dataclass(frozen=True)
class Quiet:
    ms: int


@dataclass(frozen=True)
class Press:
    digit: str


@dataclass(frozen=True)
class Audio:
    """Recorded callee audio (20 ms mu-law frames), e.g. a voicemail greeting with its beep. ``marks`` names
    moments in it (ms from its first frame: ``greeting_end``, ``beep_start``, ``beep_end``), noted on the call
    when the audio gets there, so a test can compare what the stack did with what the callee played."""

    frames: tuple[bytes, ...]
    marks: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class DropStream:
    """The stream's connection breaks (Plivo then reports DroppedStream)."""


@dataclass(frozen=True)
class Degrade:
    """Plivo reports our consumer as slow, at this buffer level (30/60/90 %)."""

    level: int


@dataclass(frozen=True)
class HangUp:
    """The callee hangs up."""


Step = Speak | Quiet | Audio | Press | DropStream | Degrade | HangUp


@dataclass(frozen=True)
class Callee:
    """Who answers and what they do. ``machine_after_ms``: Plivo's detection fires once this much of the
    callee's audio has played (the audio starts when the call is answered)."""

    script: tuple[Step, ...]
    machine_after_ms: int | None = None
    ring_ms: int = 200
    unanswered: tuple[str, str, int, str] | None = None
    """Never answers: after ``ring_ms`` (or the call's shorter ``ring_timeout``) the call ends with this
    hangup cause, source last (busy, no answer, failed)."""


# ---------------------------------------------------------------- one simulated call


@dataclass
class SimCall:
    call_uuid: str
    request_uuid: str
    params: dict[str, Any]
    callee: Callee
    events: list[str] = field(default_factory=list)
    frames_received: list[dict[str, Any]] = field(default_factory=list)
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    """Set once the hangup callback has been delivered."""
    hangup_cause: tuple[str, str, int, str] | None = None
    answered_at: float | None = None
    ended_at: float | None = None
    streams_started: int = 0
    transferred_to: str | None = None
    machine_detection_posts: int = 0
    audio_ms: int = 0
    """How much of the callee's audio has played on the call (it plays on while no stream listens)."""
    last_loud_ms: int = 0
    """Where the callee's audio was last louder than silence (for ``<Wait silence>``)."""
    marks: dict[str, int] = field(default_factory=dict)
    """Moments of the callee's audio (``Audio.marks``) and of ours (``message_started``), on ``audio_ms``."""
    talked_over_at: int | None = None
    """Where the callee last started talking while our audio played (a barge-in, until we clear)."""
    barge_in_ms: list[int] = field(default_factory=list)
    """For each barge-in: from the callee's first word to our clearAudio arriving (ms)."""
    document: int = 0
    """Which XML document runs: a transfer starts a new one, and the old one stops."""
    observer: Callable[[SimCall, str], None] | None = None
    """Told of every event of the call as it happens (the demo's live lines)."""

    def note(self, what: str) -> None:
        self.events.append(what)
        log.debug("%s %s", self.call_uuid[:8], what)
        if self.observer is not None:
            self.observer(self, what)


class Stream:
    """One WebSocket stream of a call: sends the callee's audio, plays what the server queues."""

    def __init__(self, sim: PlivoSimulator, call: SimCall, url: str, status_url: str | None) -> None:
        self.sim, self.call, self.url, self.status_url = sim, call, url, status_url
        self.stream_id = str(uuid.uuid4())
        self.queue: list[tuple[str, Any]] = []
        self.queue_changed = asyncio.Event()
        self.socket: aiohttp.ClientWebSocketResponse | None = None
        self.sequence = 0
        self.chunk = 0
        self.closed = asyncio.Event()
        self.batch_started: int | None = None
        """Where in the callee's audio the run of our audio now playing began (None: nothing playing)."""

    async def open(self) -> bool:
        """Connect as Plivo does: a refused or failed connect is tried twice more, then DroppedStream."""
        for _ in range(1 + CONNECT_RETRIES):
            headers = signed_upgrade_headers(url=self.url, auth_token=self.sim.auth_token)
            try:
                self.socket = await self.sim.session.ws_connect(
                    self.url, headers=headers, max_msg_size=128 * 1024
                )
                break
            except aiohttp.WSServerHandshakeError as exc:
                self.call.note(f"stream refused {exc.status}")
            except aiohttp.ClientError:
                self.call.note("stream connect failed")
            finally:
                # Seen on the wire (by an eavesdropper, say) once it was sent: a replay cannot overtake it.
                self.sim.upgrades.append((self.url, headers))
        else:
            self.closed.set()
            await self.sim.status(self, "DroppedStream", Error="could not connect to the stream URL")
            return False
        self.call.streams_started += 1
        self.call.note("stream connected")
        await self.sim.status(self, "StartStream")
        await self.send(
            {
                "event": "start",
                "start": {
                    "callId": self.call.call_uuid,
                    "streamId": self.stream_id,
                    "accountId": self.sim.auth_id,
                    "tracks": ["inbound"],
                    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000},
                },
                "extra_headers": "",
            }
        )
        self.sim.spawn(self._receive())
        self.sim.spawn(self._play())
        return True

    async def send(self, message: dict[str, Any]) -> None:
        if self.socket is None or self.socket.closed:
            return
        self.sequence += 1
        self.sim.frames_sent += 1
        await self.socket.send_str(
            json.dumps({"sequenceNumber": self.sequence, "streamId": self.stream_id, **message})
        )

    async def media(self, audio: bytes) -> None:
        self.chunk += 1
        await self.send(
            {
                "event": "media",
                "media": {
                    "track": "inbound",
                    "timestamp": str(int(time.time() * 1000)),
                    "chunk": self.chunk,
                    "payload": base64.b64encode(audio).decode(),
                },
            }
        )

    async def _receive(self) -> None:
        assert self.socket is not None
        async for message in self.socket:
            if message.type is not aiohttp.WSMsgType.TEXT:
                break
            frame = json.loads(message.data)
            self.call.frames_received.append(frame)
            event = frame.get("event")
            if event == "playAudio":
                self.queue.append(("audio", len(base64.b64decode(frame["media"]["payload"]))))
            elif event == "checkpoint":
                self.queue.append(("checkpoint", frame["name"]))
            elif event == "clearAudio":
                self.queue.clear()
                self.batch_started = None
                if self.call.talked_over_at is not None:
                    self.call.barge_in_ms.append(self.call.audio_ms - self.call.talked_over_at)
                    self.call.talked_over_at = None
                self.call.note("audio cleared")
                await self.send({"event": "clearedAudio"})
            self.queue_changed.set()
        self.closed.set()

    async def _play(self) -> None:
        """Plays queued audio in real time; answers checkpoints once what came before them has played."""
        while not self.closed.is_set():
            if not self.queue:
                self.queue_changed.clear()
                waiter = asyncio.create_task(self.queue_changed.wait())
                closer = asyncio.create_task(self.closed.wait())
                await asyncio.wait({waiter, closer}, return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                closer.cancel()
                continue
            kind, value = self.queue[0]
            if kind == "checkpoint":
                self.queue.pop(0)
                if value == "voicemail" and self.batch_started is not None:
                    self.call.marks.setdefault("message_started", self.batch_started)
                self.batch_started = None
                self.call.talked_over_at = None  # our audio ended before any clear: not a barge-in
                await self.send({"event": "playedStream", "name": value})
                self.call.note(f"played {value}")
                continue
            if self.batch_started is None:
                self.batch_started = self.call.audio_ms
            # Play up to 100 ms at a time so a clearAudio cuts the audio short, as it does on Plivo.
            chunk = min(value, 800)
            await asyncio.sleep(chunk / 8000 * self.sim.time_scale)
            if self.queue and self.queue[0] == (kind, value):
                remaining = value - chunk
                if remaining > 0:
                    self.queue[0] = ("audio", remaining)
                else:
                    self.queue.pop(0)

    async def close(self, *, dropped: bool = False) -> None:
        if self.socket is not None and not self.socket.closed:
            await self.socket.close(code=1006 if dropped else 1000)
        self.closed.set()
        await self.sim.status(
            self,
            "DroppedStream" if dropped else "StopStream",
            **({"Error": "websocket connection lost"} if dropped else {}),
        )


@dataclass
class RestFaults:
    """Plivo's REST API misbehaving for the calls of one caller id (a rehearsed fault): per operation
    (``create``, ``hangup``, ``cancel``, ``transfer``), the answers it gives next — ``"429"`` or ``"500"``
    instead of acting, or ``"timeout"``: it acts, then answers later than any client waits."""

    late_seconds: float = 3.0
    pending: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    injected: Counter[str] = field(default_factory=Counter)

    def fail(self, operation: str, caller: str, *answers: str) -> None:
        self.pending.setdefault((operation, caller.lstrip("+")), []).extend(answers)

    def next(self, operation: str, caller: str | None) -> str | None:
        queued = self.pending.get((operation, (caller or "").lstrip("+")))
        if not queued:
            return None
        answer = queued.pop(0)
        self.injected[f"{operation} {answer}"] += 1
        return answer


class PlivoSimulator:
    """Plivo's REST API (``rest_app``) plus the calls it places."""

    def __init__(
        self,
        *,
        auth_id: str,
        auth_token: str,
        callees: Callable[[str], Callee],
        observer: Callable[[SimCall, str], None] | None = None,
        time_scale: float = 1.0,
    ) -> None:
        self.auth_id = auth_id
        self.auth_token = auth_token
        self.time_scale = time_scale
        """Seconds of wall time per second of call: above 1, every call plays slower (a loaded machine can
        then carry more of them); everything the stack decides runs on the frame clock, so nothing else
        changes."""
        self._callees = callees
        self.observer = observer
        self.calls: dict[str, SimCall] = {}
        self.by_request: dict[str, SimCall] = {}
        self.streams: dict[str, Stream] = {}
        self._session: aiohttp.ClientSession | None = None
        self.rest_requests: list[tuple[str, str]] = []
        self.rest_faults = RestFaults()
        self.lost_callbacks = 0
        self.failed_deliveries: list[tuple[str, str]] = []
        """(path, failure) of every callback attempt that failed, retried or not."""
        self.deliveries: list[Delivery] = []
        """Every signed callback attempt, as sent (for replay attacks in tests/local/attack.py)."""
        self.upgrades: list[tuple[str, dict[str, str]]] = []
        """Every signed stream connect (URL and headers), as sent."""
        self.frames_sent = 0
        self.creates: list[tuple[float, str, str]] = []
        """Every call created: (epoch seconds it arrived, the number called, our placement id)."""
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        """Run in the background, keeping a reference until done (the loop holds tasks only weakly)."""
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    # ------------------------------------------------------------------ signed callbacks

    async def post(
        self, url: str, form: dict[str, str], *, fallback_url: str | None = None, call: SimCall | None = None
    ) -> str | None:
        """A signed callback, tried again as the URL's retry settings say; with ``fallback_url`` (the answer
        URL's), that is tried once they are spent. The body of the first 2xx, or None: a lost callback.

        Plivo signs the URL as it was given (Plivo's SDK functions drop the fragment) and sends it without
        the fragment. Its retries reuse the nonce here: whether Plivo's do is undocumented, and reuse is the
        harder case for a replay guard (a retry of a failure must still run).
        """
        bare, rules = RetryRules.of(url)
        nonce = secrets.token_hex(10)
        signature = sign_v3(method="POST", url=url, params=form, nonce=nonce, auth_token=self.auth_token)
        headers = {
            "X-Plivo-Signature-V3": signature,
            "X-Plivo-Signature-Ma-V3": signature,
            "X-Plivo-Signature-V3-Nonce": nonce,
            "Content-Type": "application/x-www-form-urlencoded",
        }
        timeout = aiohttp.ClientTimeout(sock_connect=rules.connect_ms / 1000, sock_read=rules.read_ms / 1000)
        for attempt in range(rules.retries + 1):
            body = urlencode(form)
            try:
                async with self.session.post(bare, data=body, headers=headers, timeout=timeout) as got:
                    text = await got.text()
                    self.deliveries.append(Delivery(bare, body, headers, got.status, text))
                    if 200 <= got.status < 300:
                        return text
                    failure = f"{got.status // 100}xx"
            except aiohttp.ClientConnectorError:
                failure = "ct"
            except TimeoutError:
                failure = "rt"
            path = urlsplit(bare).path
            self.failed_deliveries.append((path, failure))
            if call is not None:
                call.note(f"callback {path} failed ({failure}), try {attempt + 1}")
            if not rules.retried(failure):
                break
        if fallback_url:
            return await self.post(fallback_url, form, call=call)
        self.lost_callbacks += 1
        log.error("callback %s lost after its retries", bare)
        return None

    def _form(self, call: SimCall, **extra: str) -> dict[str, str]:
        return {
            "CallUUID": call.call_uuid,
            "RequestUUID": call.request_uuid,
            "From": str(call.params["from"]),
            "To": str(call.params["to"]),
            "Direction": "outbound",
            **extra,
        }

    async def status(self, stream: Stream, event: str, **extra: str) -> None:
        if stream.status_url:
            await self.post(
                stream.status_url,
                {
                    "CallUUID": stream.call.call_uuid,
                    "StreamID": stream.stream_id,
                    "Event": event,
                    "Timestamp": _plivo_time(),
                    "From": str(stream.call.params["from"]),
                    "To": str(stream.call.params["to"]),
                    "ParentAuthID": self.auth_id,
                    "ServiceURL": stream.url.split("?")[0],
                    **extra,
                },
                call=stream.call,
            )

    # ------------------------------------------------------------------ the call's life

    async def _run(self, call: SimCall) -> None:
        try:
            unanswered = call.callee.unanswered
            ring_ms = call.callee.ring_ms
            if unanswered and call.params.get("ring_timeout"):
                ring_ms = min(ring_ms, int(call.params["ring_timeout"]) * 1000)
            await asyncio.sleep(ring_ms / 1000 * self.time_scale)
            if call.ended.is_set():  # cancelled while ringing
                return
            if unanswered:
                await self._end(call, unanswered)
                return
            call.answered_at = time.monotonic()
            xml = await self.post(
                call.params["answer_url"],
                self._form(call, CallStatus="in-progress", Event="StartApp"),
                fallback_url=call.params.get("fallback_url"),
                call=call,
            )
            if xml is None:  # the answer URL and the fallback URL failed: Plivo ends the call
                await self._end(call, UNREACHABLE)
                return
            call.note("answered")
            if call.callee.machine_after_ms is not None:
                self.spawn(self._detect_machine(call))
            self.spawn(self._script(call))  # the callee acts while the XML runs
            await self._run_xml(call, xml, call.document)
        except Exception:
            log.exception("simulated call %s failed", call.call_uuid)
            await self._end(call, ("NORMAL_TEMPORARY_FAILURE", "Simulator Error", 5000, "Plivo"))

    async def _run_xml(self, call: SimCall, xml: str | None, document: int) -> None:
        """Run Plivo XML element by element until the call ends, the document is replaced (a transfer) or
        it runs out (Plivo hangs up). A ``<Redirect>`` fetches the next document (signed POST)."""
        while xml is not None:
            following: str | None = None
            redirected = False
            for element in ElementTree.fromstring(xml):
                if call.ended.is_set() or call.document != document:
                    return
                if element.tag == "Stream":
                    await self._stream_element(call, element)
                elif element.tag == "Redirect":
                    call.note(f"redirect {urlsplit(element.text or '').path}")
                    following = await self.post(
                        (element.text or "").strip(),
                        self._form(call, CallStatus="in-progress", Event="Redirect"),
                        call=call,
                    )
                    redirected = True
                    break
                elif element.tag == "Wait":
                    await self._wait(call, element)
                elif element.tag in ("Speak", "Play"):
                    call.marks.setdefault("message_started", call.audio_ms)
                    call.note(f"{element.tag.lower()}: {(element.text or '')[:40]}")
                    await asyncio.sleep(0.5 * self.time_scale)
                elif element.tag == "Hangup":
                    break
            if call.ended.is_set() or call.document != document:
                return
            if redirected and following is None:
                await self._end(call, UNREACHABLE)
                return
            xml = following
        await self._end(call, END_OF_XML)

    async def _stream_element(self, call: SimCall, element: ElementTree.Element) -> None:
        """``<Stream keepCallAlive="true">``: the call stays here while the stream runs; when it ends (a drop,
        a stop), the next element runs."""
        stream = Stream(self, call, (element.text or "").strip(), element.get("statusCallbackUrl"))
        self.streams[call.call_uuid] = stream
        if await stream.open():
            await stream.closed.wait()
        if self.streams.get(call.call_uuid) is stream:
            self.streams.pop(call.call_uuid, None)

    async def _script(self, call: SimCall) -> None:
        """The callee: audio into whichever stream is live, key presses, drops, degradations, hanging up."""
        for step in call.callee.script:
            if call.ended.is_set():
                return
            stream = self.streams.get(call.call_uuid)
            if isinstance(step, Speak):
                await self._play_audio(call, speech_frames(step.ms, call.audio_ms))
            elif isinstance(step, Quiet):
                await self._play_audio(call, (SILENCE_FRAME,) * (step.ms // FRAME_MS))
            elif isinstance(step, Audio):
                await self._play_audio(call, step.frames, step.marks)
            elif isinstance(step, Press) and stream is not None:
                await stream.send(
                    {
                        "event": "dtmf",
                        "dtmf": {
                            "track": "inbound",
                            "digit": step.digit,
                            "timestamp": str(int(time.time() * 1000)),
                        },
                    }
                )
                call.note(f"pressed {step.digit}")
            elif isinstance(step, DropStream) and stream is not None:
                call.note("stream dropped")
                await stream.close(dropped=True)
            elif isinstance(step, Degrade) and stream is not None:
                await self.status(stream, "DegradedStream", BufferUsagePercentage=str(step.level))
                call.note(f"degraded {step.level}%")
            elif isinstance(step, HangUp):
                await self._end(call, ("NORMAL_CLEARING", "Normal Hangup", 4000, "Callee"))
                return

    async def _play_audio(
        self, call: SimCall, frames: tuple[bytes, ...], marks: tuple[tuple[str, float], ...] = ()
    ) -> None:
        """The callee's audio at real-time pace, to the stream if there is one (the call goes on anyway)."""
        started, origin = time.monotonic(), call.audio_ms
        pending = sorted(marks, key=lambda mark: mark[1])
        for index, frame in enumerate(frames):
            if call.ended.is_set():
                return
            while pending and origin + pending[0][1] <= call.audio_ms:
                name, offset = pending.pop(0)
                call.marks[name] = origin + round(offset)
                call.note(name.replace("_", " "))
            current = self.streams.get(call.call_uuid)
            if current is not None and not current.closed.is_set():
                await current.media(frame)
            if ulaw_energy(frame) >= LOUD_POWER:
                playing = current is not None and current.batch_started is not None
                if playing and call.talked_over_at is None and call.audio_ms - call.last_loud_ms >= 300:
                    call.talked_over_at = call.audio_ms
                call.last_loud_ms = call.audio_ms + FRAME_MS
            call.audio_ms += FRAME_MS
            # Real-time pace against the clock, so slow handling does not stretch the call.
            pace = (index + 1) * FRAME_MS / 1000 * self.time_scale
            await asyncio.sleep(max(0.0, started + pace - time.monotonic()))
        for name, offset in pending:
            call.marks[name] = origin + round(offset)

    async def _detect_machine(self, call: SimCall) -> None:
        while call.audio_ms < (call.callee.machine_after_ms or 0) and not call.ended.is_set():
            await asyncio.sleep(FRAME_MS / 1000)
        if call.ended.is_set() or not call.params.get("machine_detection"):
            return
        call.marks["machine_detected"] = call.audio_ms
        call.note("machine detected")
        call.machine_detection_posts += 1
        await self.post(
            call.params["machine_detection_url"],
            self._form(
                call, Machine="true", IfMachine="continue", Event="MachineDetection", CallStatus="in-progress"
            ),
            call=call,
        )
        if call.params["machine_detection"] == "hangup":
            await asyncio.sleep(0.3 * self.time_scale)  # Plivo hangs up on the machine itself in this mode
            await self._end(call, ("MACHINE_DETECTED", "Machine Detected", 9100, "Plivo"))

    async def _end(self, call: SimCall, cause: Cause) -> None:
        if call.ended.is_set():
            return
        call.ended.set()
        call.ended_at = time.time()
        call.hangup_cause = cause
        stream = self.streams.pop(call.call_uuid, None)
        if stream is not None:
            await stream.close()
        duration = int(time.monotonic() - call.answered_at) if call.answered_at else 0
        name, cause_name, code, source = cause
        call.note(f"hangup {name}")
        try:
            await self.post(
                call.params["hangup_url"],
                self._form(
                    call,
                    CallStatus="completed",
                    Event="Hangup",
                    HangupCause=name,
                    HangupCauseName=cause_name,
                    HangupCauseCode=str(code),
                    HangupSource=source,
                    Duration=str(duration),
                    BillDuration=str(duration),
                    AnswerTime=time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()) if call.answered_at else "",
                ),
                call=call,
            )
        finally:
            call.finished.set()

    async def _transfer(self, call: SimCall, url: str) -> None:
        """Plivo stops the stream and runs the new XML in place of the old (the voicemail XML: wait out the
        greeting, say the message, hang up)."""
        call.transferred_to = url
        call.document += 1
        document = call.document
        stream = self.streams.pop(call.call_uuid, None)
        if stream is not None:
            await stream.close()
        xml = await self.post(url, self._form(call, CallStatus="in-progress", Event="Redirect"), call=call)
        if xml is None:
            await self._end(call, UNREACHABLE)
            return
        await self._run_xml(call, xml, document)

    # ------------------------------------------------------------------ REST API

    async def _wait(self, call: SimCall, element: ElementTree.Element) -> None:
        """``<Wait>`` as Plivo plays it on the callee's audio: ``beep`` ends after the next beep,
        ``silence`` once ``minSilence`` ms were silent, else ``length`` seconds (the cap in every mode)."""
        since = call.audio_ms
        min_silence = int(element.get("minSilence", "2000"))
        if element.get("beep") == "true":

            def done() -> bool:
                return call.marks.get("beep_end", -1) >= since

        elif element.get("silence") == "true":

            def done() -> bool:
                return call.audio_ms - max(call.last_loud_ms, since) >= min_silence

        else:

            def done() -> bool:
                return False

        deadline = time.monotonic() + float(element.get("length", "1")) * self.time_scale
        while not done() and time.monotonic() < deadline and not call.ended.is_set():
            await asyncio.sleep(FRAME_MS / 1000)

    def rest_app(self) -> web.Application:
        app = web.Application()
        base = "/v1/Account/{auth_id}/Call/"
        app.router.add_post(base, self._guarded(self._create, "create"))
        app.router.add_get(base, self._guarded(self._list))
        app.router.add_delete(base + "{call_uuid}/", self._guarded(self._hangup, "hangup"))
        app.router.add_post(base + "{call_uuid}/", self._guarded(self._update, "transfer"))
        app.router.add_delete(
            "/v1/Account/{auth_id}/Request/{request_uuid}/", self._guarded(self._cancel, "cancel")
        )
        app.router.add_get("/v1/Account/{auth_id}/", self._guarded(self._account))
        return app

    async def _list(self, request: web.Request) -> web.Response:
        """GET Call/: ended calls (records, ``end_time__gte``), or ``status=live`` / ``queued`` ids, by
        ``to_number`` and ``from_number`` (digits, as Plivo writes them)."""
        query = request.query

        def digits(number: object) -> str:
            return str(number).lstrip("+")

        matching = [
            call
            for call in self.calls.values()
            if digits(call.params.get("to")) == query.get("to_number", digits(call.params.get("to")))
            and digits(call.params.get("from")) == query.get("from_number", digits(call.params.get("from")))
        ]
        status = query.get("status")
        if status == "live":
            return web.json_response({"calls": [c.call_uuid for c in matching if not c.ended.is_set()]})
        if status == "queued":
            return web.json_response({"calls": []})  # a simulated call is live from its create
        since = query.get("end_time__gte")
        try:
            earliest = (
                datetime.strptime(since, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp()
                if since
                else 0.0
            )
        except ValueError:
            return web.json_response({"error": "end_time__gte must be YYYY-MM-DD HH:MM:SS"}, status=400)
        ended = [c for c in matching if c.ended_at is not None and c.ended_at >= earliest]
        return web.json_response(
            {
                "meta": {"count": len(ended), "limit": 20, "offset": 0},
                "objects": [{"call_uuid": c.call_uuid, "to_number": digits(c.params["to"])} for c in ended],
            }
        )

    async def _account(self, request: web.Request) -> web.Response:
        """GET Account/{auth_id}/: the read-only call `voiceagent doctor` proves the credentials with."""
        return web.json_response(
            {
                "api_id": str(uuid.uuid4()),
                "auth_id": self.auth_id,
                "name": "Local simulator",
                "account_type": "standard",
            }
        )

    def _guarded(
        self, handler: Callable[[web.Request], Awaitable[web.Response]], operation: str = ""
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def checked(request: web.Request) -> web.Response:
            self.rest_requests.append((request.method, request.path))
            auth = (
                aiohttp.BasicAuth.decode(request.headers.get("Authorization", ""))
                if "Authorization" in request.headers
                else None
            )
            if (
                auth is None
                or (auth.login, auth.password) != (self.auth_id, self.auth_token)
                or request.match_info["auth_id"] != self.auth_id
            ):
                return web.json_response({"error": "authentication failed"}, status=401)
            fault = self.rest_faults.next(operation, await self._caller(request)) if operation else None
            if fault in ("429", "500"):
                status = int(fault)
                return web.json_response(
                    {"error": "rehearsed fault", "api_id": str(uuid.uuid4())}, status=status
                )
            answer = await handler(request)
            if fault == "timeout":
                await asyncio.sleep(self.rest_faults.late_seconds)
            return answer

        return checked

    async def _caller(self, request: web.Request) -> str | None:
        """The caller id of the call a REST request is about (rehearsed faults are per caller)."""
        if "call_uuid" in request.match_info:
            call = self.calls.get(request.match_info["call_uuid"])
        elif "request_uuid" in request.match_info:
            call = self.by_request.get(request.match_info["request_uuid"])
        else:
            return str((await request.json()).get("from") or "")
        return str(call.params["from"]) if call is not None else None

    async def _create(self, request: web.Request) -> web.Response:
        arrived = time.time()
        params = await request.json()
        placement = dict(parse_qsl(urlsplit(str(params.get("answer_url", ""))).query)).get("placement", "")
        self.creates.append((arrived, str(params.get("to")), placement))
        call = SimCall(
            call_uuid=str(uuid.uuid4()),
            request_uuid=str(uuid.uuid4()),
            params=params,
            callee=self._callees(str(params["to"])),
            observer=self.observer,
        )
        self.calls[call.call_uuid] = call
        self.by_request[call.request_uuid] = call
        call.note(f"placed to {params['to']}")
        self.spawn(self._run(call))
        return web.json_response(
            {"api_id": str(uuid.uuid4()), "message": "call fired", "request_uuid": call.request_uuid},
            status=201,
        )

    def _live(self, request: web.Request) -> SimCall | None:
        call = self.calls.get(request.match_info["call_uuid"])
        return call if call is not None and not call.ended.is_set() else None

    async def _hangup(self, request: web.Request) -> web.Response:
        call = self._live(request)
        if call is None:
            return web.json_response({"error": "call not found"}, status=404)
        call.note("REST hangup")
        self.spawn(self._end(call, ("NORMAL_CLEARING", "Normal Hangup", 4000, "API")))
        return web.Response(status=204)

    async def _cancel(self, request: web.Request) -> web.Response:
        """DELETE Request/{uuid}/: a call still ringing ends unanswered; others are not pending requests."""
        call = self.by_request.get(request.match_info["request_uuid"])
        if call is None or call.ended.is_set() or call.answered_at is not None:
            return web.json_response({"error": "request not found"}, status=404)
        call.note("REST cancel")
        self.spawn(self._end(call, ("ORIGINATOR_CANCEL", "Originator Cancel", 4000, "API")))
        return web.Response(status=204)

    async def _update(self, request: web.Request) -> web.Response:
        call = self._live(request)
        if call is None:
            return web.json_response({"error": "call not found"}, status=404)
        body = await request.json()
        if body.get("legs") != "aleg" or not body.get("aleg_url"):
            return web.json_response({"error": "legs and aleg_url are required"}, status=400)
        call.note("REST transfer")
        self.spawn(self._transfer(call, body["aleg_url"]))
        return web.json_response({"message": "call transferred", "api_id": str(uuid.uuid4())}, status=202)
