"""Plivo's audio-stream WebSocket protocol: parse what Plivo sends, encode what we send. Pure: no I/O.

Incoming: ``start``, ``media`` (~50/s per call), ``dtmf``, ``playedStream`` (one page says ``played``),
``clearedAudio``, ``stop``, and anything else as ``UnknownMessage``. Numbers may arrive as strings and
``extra_headers`` in three shapes; all are accepted. Outgoing: ``playAudio`` (split so no frame nears API
Gateway's 32 KB limit), ``checkpoint``, ``clearAudio``.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter, ValidationError

MULAW = "audio/x-mulaw"
SAMPLE_RATE = 8000
MAX_AUDIO_BYTES_PER_FRAME = 16000
"""2 s of 8 kHz mu-law: ~21.4 KB once base64-encoded — two thirds of API Gateway's 32 KB frame limit, and one
billed message (messages are billed per 32 KB), so speech costs half as many messages as 1 s frames."""


class ProtocolError(ValueError):
    """A frame that is not valid JSON or not a well-formed Plivo message: logged and dropped."""


# Numbers that arrive as strings ("42") and strings that arrive as numbers are coerced by pydantic-core
# itself (lax ints, ``coerce_numbers_to_str``): no Python validator runs on the ~50 frames a second.
Text = str
Number = int
Counter = Annotated[int, Field(ge=0, le=2**53)]
"""Plivo's sequence numbers and chunk counters: small and never negative (and storable as a number)."""


MAX_FRAME_BYTES = 8 * 1024
"""Plivo's largest frames are well under 1 KB (20 ms of 16 kHz L16 audio is 856 base64 characters; a start
frame's extraHeaders are capped at 512 bytes). API Gateway lets up to 128 KB through: anything this far above
Plivo's size is not Plivo's, and is dropped before it is parsed or decoded."""

MAX_EXTRA_HEADERS_LENGTH = 4096
"""Plivo caps extraHeaders at 512 bytes; anything far longer is not Plivo's and is ignored."""


def parse_extra_headers(value: object) -> dict[str, str]:
    """``k=v;k=v``, ``k=v,k=v``, ``{X-PH-k: v, …}`` (not JSON) or a JSON object → a dict. Linear time."""
    if isinstance(value, dict):
        return {str(key): str(item) for key, item in value.items()}
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_EXTRA_HEADERS_LENGTH:
        return {}
    text = value.strip()
    if text.startswith("{"):
        try:
            document = json.loads(text)
        except (ValueError, RecursionError):
            text = text.strip("{}")
        else:
            return parse_extra_headers(document) if isinstance(document, dict) else {}
    headers: dict[str, str] = {}
    for pair in text.replace(";", ",").split(","):
        separator = min((index for index in (pair.find("="), pair.find(":")) if index > 0), default=-1)
        if separator > 0:
            key, item = pair[:separator].strip(), pair[separator + 1 :].strip()
            if key:
                headers[key] = item
    return headers


ExtraHeaders = Annotated[dict[str, str], BeforeValidator(parse_extra_headers)]


_CONFIG = ConfigDict(extra="ignore", populate_by_name=True, frozen=True, coerce_numbers_to_str=True)


class _Message(BaseModel):
    model_config = _CONFIG

    event: str
    sequence_number: Counter | None = Field(default=None, alias="sequenceNumber")
    stream_id: Text | None = Field(default=None, alias="streamId")


class MediaFormat(BaseModel):
    model_config = _CONFIG

    encoding: str = MULAW
    sample_rate: Number = Field(default=SAMPLE_RATE, alias="sampleRate")


class StartInfo(BaseModel):
    model_config = _CONFIG

    call_id: Text = Field(alias="callId", min_length=1)
    stream_id: Text = Field(alias="streamId", min_length=1)
    account_id: Text | None = Field(default=None, alias="accountId")
    tracks: list[str] = Field(default_factory=lambda: ["inbound"])
    media_format: MediaFormat = Field(default_factory=MediaFormat, alias="mediaFormat")


class StartMessage(_Message):
    event: Literal["start"]
    start: StartInfo
    extra_headers: ExtraHeaders = Field(default_factory=dict)


MAX_MEDIA_PAYLOAD_CHARS = 8192
"""Plivo sends 20 ms per frame: 216 base64 characters of 8 kHz mu-law, 856 of 16 kHz L16. A payload far
above that is not Plivo's; it is dropped before it is decoded or heard."""


class Media(BaseModel):
    model_config = _CONFIG

    track: str = "inbound"
    timestamp: Text | None = None
    chunk: Counter | None = None
    payload: str = Field(max_length=MAX_MEDIA_PAYLOAD_CHARS)

    def audio(self) -> bytes:
        try:
            return base64.b64decode(self.payload, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ProtocolError("media payload is not base64") from exc


class MediaMessage(_Message):
    event: Literal["media"]
    media: Media

    @property
    def position(self) -> int | None:
        """The frame's place in the stream: Plivo's media ``chunk`` counter, else the message sequence."""
        return self.media.chunk if self.media.chunk is not None else self.sequence_number


class Dtmf(BaseModel):
    model_config = _CONFIG

    track: str = "inbound"
    digit: Annotated[str, Field(pattern=r"^[0-9*#A-Da-d]$")]
    timestamp: Text | None = None


class DtmfMessage(_Message):
    event: Literal["dtmf"]
    dtmf: Dtmf


class PlayedStreamMessage(_Message):
    event: Literal["playedStream", "played"]
    name: Text = Field(min_length=1)


class ClearedAudioMessage(_Message):
    event: Literal["clearedAudio"]


class StopMessage(_Message):
    event: Literal["stop"]
    reason: Text | None = None


class UnknownMessage(_Message):
    """An event this code does not know (``playFailed``, ``error``, future ones): kept for the log."""


KnownMessage = Annotated[
    StartMessage | MediaMessage | DtmfMessage | PlayedStreamMessage | ClearedAudioMessage | StopMessage,
    Field(discriminator="event"),
]
IncomingMessage = (
    StartMessage
    | MediaMessage
    | DtmfMessage
    | PlayedStreamMessage
    | ClearedAudioMessage
    | (StopMessage | UnknownMessage)
)
_KNOWN: TypeAdapter[Any] = TypeAdapter(KnownMessage)
_KNOWN_EVENTS = frozenset({"start", "media", "dtmf", "playedStream", "played", "clearedAudio", "stop"})


def parse(frame: str | bytes) -> IncomingMessage:
    """One WebSocket text frame → a typed message, or ``ProtocolError``.

    The common case is one pass in pydantic-core (JSON parsing and validation, dispatched on ``event``); only
    a frame that fails it is looked at again, to tell an unknown event from a malformed one.
    """
    if len(frame) > MAX_FRAME_BYTES:  # for text, characters: still a hard bound on the work that follows
        raise ProtocolError(f"frame too large ({len(frame)} > {MAX_FRAME_BYTES})")
    try:
        message: IncomingMessage = _KNOWN.validate_json(frame)
    except ValidationError as exc:
        return _diagnose(frame, exc)
    return message


def _diagnose(frame: str | bytes, error: ValidationError) -> IncomingMessage:
    try:
        document = json.loads(frame)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ProtocolError("frame is not JSON") from exc
    if not isinstance(document, dict) or not isinstance(document.get("event"), str):
        raise ProtocolError("frame has no event")
    event = document["event"]
    if event not in _KNOWN_EVENTS:
        try:
            return UnknownMessage.model_validate(document)
        except ValidationError as exc:
            raise ProtocolError(f"malformed {event[:40]!r} frame") from exc
    # Locations start with the discriminator's tag; the rest names the field.
    fields = ", ".join(sorted({".".join(str(part) for part in err["loc"][1:]) for err in error.errors()}))
    raise ProtocolError(f"malformed {event} frame: {fields}")


# ---------------------------------------------------------------- outgoing


def play_audio(audio: bytes, *, max_bytes: int = MAX_AUDIO_BYTES_PER_FRAME) -> list[dict[str, Any]]:
    """``playAudio`` messages for raw 8 kHz mu-law audio (no WAV header), split into frames of ≤ max_bytes."""
    return [
        {
            "event": "playAudio",
            "media": {
                "contentType": MULAW,
                "sampleRate": SAMPLE_RATE,
                "payload": base64.b64encode(audio[offset : offset + max_bytes]).decode(),
            },
        }
        for offset in range(0, len(audio), max_bytes)
    ]


def checkpoint(stream_id: str, name: str) -> dict[str, Any]:
    """Plivo answers ``playedStream`` with this name once the audio queued before it has played."""
    return {"event": "checkpoint", "streamId": stream_id, "name": name}


def clear_audio(stream_id: str) -> dict[str, Any]:
    """Flush Plivo's queue of our audio (barge-in); Plivo answers ``clearedAudio``."""
    return {"event": "clearAudio", "streamId": stream_id}


def encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode()
