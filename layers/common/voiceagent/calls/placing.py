"""Placing outbound calls: validate the request, record it, then ask Plivo to dial — once.

The call is recorded *before* Plivo is asked, under our placement id, and that id rides on every URL we
give Plivo (answer, hangup, machine detection, fallback). Plivo only returns a RequestUUID; the answer
webhook brings the CallUUID together with our placement id, which joins the two.

The placement id may come from the client (``placement_id`` in the body or an ``Idempotency-Key`` header):
the record is created with a conditional write, so a repeated POST with the same key finds the first
placement and returns its result instead of dialling again. Plivo's REST API has no idempotency key of its
own, so this is the only guard against a client that retries after a timeout.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from voiceagent import routes
from voiceagent.clock import iso
from voiceagent.plivo.callbacks import callback_url
from voiceagent.plivo.rest import Deadline, PlivoApiError, PlivoGateway
from voiceagent.settings import (
    AgentStreamUrl,
    AgentWebhookUrl,
    HttpUrlText,
    MachinePolicy,
    Settings,
    SpeakLanguage,
    SpeakVoice,
)
from voiceagent.store.placements import AlreadyExists, PlacementRepository
from voiceagent.validation import InvalidRequest, Problem, shown

Destination = Annotated[
    str,
    Field(
        pattern=r"^(\+?[1-9]\d{6,14}|sip:[^\s<>]{3,200})$",
        description="a phone number in E.164 form, 7 to 15 digits with an optional + (+14155550123), "
        "or a sip: URI",
    ),
]
CallerId = Annotated[
    str,
    Field(
        pattern=r"^\+?[1-9]\d{3,14}$",
        description="a number of your Plivo account, 4 to 15 digits with an optional + (+14155550100)",
    ),
]
PLACEMENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{7,63}")
"""A placement id (ours, or a client's idempotency key): safe in a DynamoDB key and a URL query as is."""
PlacementId = Annotated[
    str,
    Field(
        pattern=rf"^{PLACEMENT_ID.pattern}$",
        description="8 to 64 letters, digits, _ . or -, starting with a letter or digit",
    ),
]
IDEMPOTENCY_KEY = "idempotency_key"
"""Validation context: the ``Idempotency-Key`` header of ``POST /calls``, if any."""


class MachineDetectionTuning(BaseModel):
    """Plivo's optional detection tuning, with the ranges Plivo accepts (milliseconds unless noted)."""

    model_config = ConfigDict(extra="forbid")

    initial_silence: int | None = Field(default=None, ge=2000, le=10000)
    maximum_speech_length: int | None = Field(default=None, ge=1000, le=6000)
    maximum_words: int | None = Field(default=None, ge=2, le=10)  # a count, not milliseconds
    initial_greeting: int | None = Field(default=None, ge=1000, le=5000)
    silence: int | None = Field(default=None, ge=500, le=5000)

    def api_params(self) -> dict[str, int]:
        return {
            f"machine_detection_{name}": value for name, value in self.model_dump(exclude_none=True).items()
        }


class PlaceCallRequest(BaseModel):
    """Body of ``POST /calls`` (and the CLI's ``call`` arguments)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, str_strip_whitespace=True)

    to: Destination
    from_: CallerId = Field(alias="from")
    policy: MachinePolicy | None = None
    voicemail_message: str | None = Field(default=None, min_length=1, max_length=3000)
    voicemail_audio_url: HttpUrlText | None = None
    voicemail_voice: SpeakVoice | None = None
    voicemail_language: SpeakLanguage | None = None
    machine_detection_time: int | None = Field(default=None, ge=2000, le=10000)
    tuning: MachineDetectionTuning | None = None
    ring_timeout: int | None = Field(default=None, ge=5, le=120)
    metadata: dict[Annotated[str, Field(max_length=64)], Annotated[str, Field(max_length=256)]] | None = (
        Field(default=None, max_length=20)
    )
    placement_id: PlacementId | None = None
    """The client's idempotency key (also accepted as an ``Idempotency-Key`` header)."""
    stream_url: AgentStreamUrl | None = None
    """Your own agent's WebSocket: the answer XML streams this call there (default: the stack's
    ``AgentStreamUrl``, else our media route)."""
    agent_webhook_url: AgentWebhookUrl | None = None
    """Where the agent policy notifies your agent of an answering machine (default: ``AgentWebhookUrl``)."""

    @model_validator(mode="after")
    def _one_voicemail_source(self) -> Self:
        if self.voicemail_message and self.voicemail_audio_url:
            raise ValueError("give voicemail_message or voicemail_audio_url, not both")
        if self.from_.lstrip("+") == self.to.lstrip("+"):
            raise ValueError("from and to must differ")
        return self

    @model_validator(mode="after")
    def _idempotency_key_header(self, info: ValidationInfo) -> Self:
        header = (info.context or {}).get(IDEMPOTENCY_KEY)
        if header is None:
            return self
        if not PLACEMENT_ID.fullmatch(header):
            raise ValueError(f"placement_id (Idempotency-Key header) must match {PLACEMENT_ID.pattern}")
        if self.placement_id not in (None, header):
            raise ValueError("placement_id and the Idempotency-Key header differ")
        self.placement_id = header
        return self

    def fingerprint(self) -> str:
        """What the request asks for, so a reused idempotency key with another request is noticed."""
        canonical = self.model_dump_json(exclude={"placement_id"}, by_alias=True)
        return hashlib.sha256(canonical.encode()).hexdigest()


class PlacementConflict(Exception):
    """A client's idempotency key is already used by another request (answered 409; nothing is dialled)."""


@dataclass(frozen=True)
class PlacementResult:
    placement_id: str
    status: str
    """``requested`` (Plivo accepted it), ``unconfirmed`` (Plivo may have it: the webhooks will tell),
    ``failed`` (Plivo surely did not act), or ``placed`` (a repeat while the first is still running)."""
    request_uuid: str | None = None
    error: str | None = None
    attempts: int = 0
    repeated: bool | None = None
    """True when this is the answer to a repeated request with the same idempotency key."""

    def as_dict(self) -> dict[str, Any]:
        return {key: value for key, value in self.__dict__.items() if value is not None}

    @classmethod
    def of_record(cls, placement: dict[str, Any]) -> PlacementResult:
        """The result a placement's record says it had (for a repeated request)."""
        return cls(
            str(placement["placement_id"]),
            str(placement.get("state") or "placed"),
            request_uuid=placement.get("request_uuid"),
            error=placement.get("error"),
            attempts=int(placement.get("plivo_attempts") or 0),
            repeated=True,
        )


def new_placement_id() -> str:
    return f"pl-{uuid.uuid4().hex}"


def external_agent_problems(
    request: PlaceCallRequest, policy: MachinePolicy, settings: Settings
) -> list[Problem]:
    """What this stack cannot do for a call to your own agent: the agent checks stream tokens and signed
    notifications with keys of its own (never one derived from the Plivo auth token), and the agent policy
    on your agent's stream needs a webhook to tell it about the machine."""
    problems = []
    if request.stream_url and not settings.stream_token_secret_param:
        problems.append(
            Problem(
                "stream_url",
                shown(request.stream_url),
                "this stack keys stream tokens with the Plivo auth token; set the stack parameter "
                "StreamTokenSecretParameterName (a key your agent reads) to stream to your own agent",
            )
        )
    if request.agent_webhook_url and not settings.agent_webhook_secret_param:
        problems.append(
            Problem(
                "agent_webhook_url",
                shown(request.agent_webhook_url),
                "set the stack parameter AgentWebhookSecretParameterName (the key that signs notifications)",
            )
        )
    external = request.stream_url or settings.agent_stream_url
    webhook = request.agent_webhook_url or settings.agent_webhook_url
    if request.agent_webhook_url and not external:
        problems.append(
            Problem(
                "agent_webhook_url",
                shown(request.agent_webhook_url),
                "only with stream_url (or the stack's AgentStreamUrl): our own media route needs no webhook",
            )
        )
    if external and policy is MachinePolicy.AGENT and not webhook:
        problems.append(
            Problem(
                "agent_webhook_url",
                None,
                "policy agent on your own agent's stream needs agent_webhook_url (or the stack's "
                "AgentWebhookUrl): it is how your agent learns that a machine answered",
            )
        )
    return problems


def _create_payload(
    request: PlaceCallRequest, policy: MachinePolicy, placement_id: str, base_url: str, settings: Settings
) -> dict[str, Any]:
    """Plivo's create-call JSON body. Every URL carries our placement id and Plivo's callback retry settings
    (a fragment, which Plivo reads and never signs); ``fallback_url`` serves the answer's XML when the answer
    URL keeps failing."""

    def url(path: str) -> str:
        return callback_url(base_url, path, placement_id, retries=settings.plivo_callback_retries)

    return {
        "from": request.from_,
        "to": request.to,
        "answer_url": url(routes.ANSWER),
        "answer_method": "POST",
        "fallback_url": url(routes.ANSWER_FALLBACK),
        "fallback_method": "POST",
        "hangup_url": url(routes.HANGUP),
        "hangup_method": "POST",
        # Plivo can hang up on a machine itself; every other policy needs the asynchronous callback.
        "machine_detection": "hangup" if policy is MachinePolicy.HANGUP else "true",
        "machine_detection_time": request.machine_detection_time or settings.machine_detection_time_ms,
        "machine_detection_url": url(routes.MACHINE_DETECTION),
        "machine_detection_method": "POST",
        "ring_timeout": request.ring_timeout,
        **(request.tuning.api_params() if request.tuning else {}),
    }


@dataclass(frozen=True)
class Prepared:
    """A placement recorded and not yet sent (``existing`` is None), or one that already was: its first
    result (a repeated idempotency key)."""

    request: PlaceCallRequest
    placement_id: str
    policy: MachinePolicy
    existing: PlacementResult | None = None


def prepare_placement(
    request: PlaceCallRequest,
    *,
    placements: PlacementRepository,
    settings: Settings,
    now: datetime,
    held: bool = False,
) -> Prepared:
    """Record the placement before anything is sent (``PlacementConflict`` when its key names another
    request). A campaign's dialer prepares a call before its pacing tick, ``held`` (``not_sent``: surely
    not sent) until it arms it on the tick, so only the POST is left to do then."""
    placement_id = request.placement_id or new_placement_id()
    policy = request.policy or settings.default_machine_policy
    problems = external_agent_problems(request, policy, settings)
    if problems:
        raise InvalidRequest(problems)
    fingerprint = request.fingerprint()
    try:
        placements.create(
            placement_id,
            {
                "state": "not_sent" if held else "placed",
                "to_number": request.to,
                "from_number": request.from_,
                "policy": policy.value,
                "voicemail_message": request.voicemail_message,
                "voicemail_audio_url": request.voicemail_audio_url,
                "voicemail_voice": request.voicemail_voice,
                "voicemail_language": request.voicemail_language,
                "metadata": request.metadata,
                "stream_url": request.stream_url,
                "agent_webhook_url": request.agent_webhook_url,
                "request_fingerprint": fingerprint,
            },
            now,
        )
    except AlreadyExists:
        first = placements.get(placement_id) or {}
        if first.get("request_fingerprint") != fingerprint:
            raise PlacementConflict(
                f"placement_id {placement_id} is already used by another request"
            ) from None
        return Prepared(request, placement_id, policy, PlacementResult.of_record(first))
    return Prepared(request, placement_id, policy)


def send_placement(
    prepared: Prepared,
    *,
    placements: PlacementRepository,
    gateway: Callable[[], PlivoGateway],
    settings: Settings,
    base_url: str,
    now: datetime,
    deadline: Deadline,
) -> PlacementResult:
    """Ask Plivo to dial a prepared placement: one HTTP POST per attempt (see ``PlivoGateway.create_call``),
    then the result on the placement."""
    placement_id, request = prepared.placement_id, prepared.request
    payload = _create_payload(request, prepared.policy, placement_id, base_url, settings)
    try:
        result = gateway().create_call(payload, deadline=deadline)
    except PlivoApiError as exc:
        placements.update(placement_id, now, state="failed", error=str(exc), plivo_attempts=exc.attempts)
        return PlacementResult(placement_id, "failed", error=str(exc), attempts=exc.attempts)
    request_uuid = result.detail.get("request_uuid")
    error = result.detail.get("error")
    placements.update(
        placement_id,
        now,
        state=result.outcome,
        request_uuid=request_uuid,
        error=error,
        plivo_attempts=result.attempts,
        sent_at=iso(now),
    )
    return PlacementResult(
        placement_id, result.outcome, request_uuid=request_uuid, error=error, attempts=result.attempts
    )


def place_call(
    request: PlaceCallRequest,
    *,
    placements: PlacementRepository,
    gateway: Callable[[], PlivoGateway],
    settings: Settings,
    base_url: str,
    now: datetime,
    deadline: Deadline,
) -> PlacementResult:
    """Record the placement, then ask Plivo to dial once; a repeated idempotency key returns the first
    result (``PlacementConflict`` when it named another request)."""
    prepared = prepare_placement(request, placements=placements, settings=settings, now=now)
    if prepared.existing is not None:
        return prepared.existing
    return send_placement(
        prepared,
        placements=placements,
        gateway=gateway,
        settings=settings,
        base_url=base_url,
        now=now,
        deadline=deadline,
    )
