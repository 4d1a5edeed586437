"""Placing outbound calls: validate the request, record it, then ask Plivo to dial.

The call is recorded *before* Plivo is asked, under our own placement id, and that id rides on every URL we
give Plivo (answer, hangup, machine detection). Plivo only returns a RequestUUID; the answer webhook brings
the CallUUID together with our placement id, which joins the two.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Self
from urllib.parse import urlencode

from pydantic import BaseModel, ConfigDict, Field, model_validator

from voiceagent import routes
from voiceagent.plivo.rest import Deadline, PlivoApiError, PlivoGateway
from voiceagent.settings import HttpUrlText, MachinePolicy, Settings, SpeakLanguage, SpeakVoice
from voiceagent.store.placements import PlacementRepository

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

    @model_validator(mode="after")
    def _one_voicemail_source(self) -> Self:
        if self.voicemail_message and self.voicemail_audio_url:
            raise ValueError("give voicemail_message or voicemail_audio_url, not both")
        if self.from_.lstrip("+") == self.to.lstrip("+"):
            raise ValueError("from and to must differ")
        return self


@dataclass(frozen=True)
class PlacementResult:
    placement_id: str
    status: str  # "requested" or "failed"
    request_uuid: str | None = None
    error: str | None = None
    attempts: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {key: value for key, value in self.__dict__.items() if value is not None}


def new_placement_id() -> str:
    return f"pl-{uuid.uuid4().hex}"


def callback_url(base_url: str, path: str, placement_id: str | None) -> str:
    """A webhook URL we give Plivo, carrying our placement id when the call has one."""
    if not placement_id:
        return f"{base_url}{path}"
    return f"{base_url}{path}?{urlencode({routes.PLACEMENT_PARAM: placement_id})}"


def place_call(
    request: PlaceCallRequest,
    *,
    placements: PlacementRepository,
    gateway: Callable[[], PlivoGateway],
    settings: Settings,
    base_url: str,
    now: datetime,
    deadline: Deadline,
    placement_id: str | None = None,
) -> PlacementResult:
    placement_id = placement_id or new_placement_id()
    policy = request.policy or settings.default_machine_policy
    placements.create(
        placement_id,
        {
            "state": "placed",
            "to_number": request.to,
            "from_number": request.from_,
            "policy": policy.value,
            "voicemail_message": request.voicemail_message,
            "voicemail_audio_url": request.voicemail_audio_url,
            "voicemail_voice": request.voicemail_voice,
            "voicemail_language": request.voicemail_language,
            "metadata": request.metadata,
        },
        now,
    )
    params: dict[str, Any] = {
        "from_": request.from_,
        "to_": request.to,
        "answer_url": callback_url(base_url, routes.ANSWER, placement_id),
        "answer_method": "POST",
        "hangup_url": callback_url(base_url, routes.HANGUP, placement_id),
        "hangup_method": "POST",
        # Plivo can hang up on a machine itself; every other policy needs the asynchronous callback.
        "machine_detection": "hangup" if policy is MachinePolicy.HANGUP else "true",
        "machine_detection_time": request.machine_detection_time or settings.machine_detection_time_ms,
        "machine_detection_url": callback_url(base_url, routes.MACHINE_DETECTION, placement_id),
        "machine_detection_method": "POST",
        "ring_timeout": request.ring_timeout,
        **(request.tuning.api_params() if request.tuning else {}),
    }
    try:
        result = gateway().create_call(params, deadline=deadline)
    except PlivoApiError as exc:
        placements.update(placement_id, now, state="failed", error=str(exc), plivo_attempts=exc.attempts)
        return PlacementResult(placement_id, "failed", error=str(exc), attempts=exc.attempts)
    request_uuid = str(result.detail["request_uuid"])
    placements.update(
        placement_id, now, state="requested", request_uuid=request_uuid, plivo_attempts=result.attempts
    )
    return PlacementResult(placement_id, "requested", request_uuid=request_uuid, attempts=result.attempts)
