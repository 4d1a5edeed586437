"""Pydantic models of the form bodies Plivo posts to our webhooks.

Field names are Plivo's (aliases); unknown fields are kept (``extra="allow"``) because Plivo adds fields and
custom ``X-PH-*`` headers over time and the call record should not lose them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, model_validator

from voiceagent.validation import validate

PLIVO_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-]{0,63}")
"""Plivo's UUIDs and ids: safe to put in a DynamoDB key or a URL."""
PlivoId = Annotated[
    str,
    StringConstraints(strip_whitespace=True, pattern=rf"^{PLIVO_ID.pattern}$"),
    Field(description="a Plivo id: letters, digits and '-', up to 64 characters"),
]
OptionalPlivoId = Annotated[PlivoId | None, BeforeValidator(lambda value: value or None)]
"""Plivo sends absent ids as empty strings (e.g. RequestUUID on inbound calls)."""
PhoneOrSip = Annotated[str, StringConstraints(strip_whitespace=True, max_length=256)]


class PlivoWebhook(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True, str_max_length=2048, frozen=True)

    call_uuid: PlivoId = Field(alias="CallUUID")
    from_: PhoneOrSip = Field(default="", alias="From")
    to: PhoneOrSip = Field(default="", alias="To")
    call_status: str = Field(default="", alias="CallStatus", max_length=64)
    direction: str = Field(default="", alias="Direction", max_length=32)
    request_uuid: OptionalPlivoId = Field(default=None, alias="RequestUUID")

    def custom_headers(self) -> dict[str, str]:
        """``X-PH-*`` headers the caller attached to the call, passed through by Plivo."""
        extra = self.model_extra or {}
        return {key: str(value) for key, value in extra.items() if key.lower().startswith("x-ph-")}


class AnswerWebhook(PlivoWebhook):
    """Posted to the answer URL when the callee picks up (or an inbound call arrives)."""

    a_leg_uuid: OptionalPlivoId = Field(default=None, alias="ALegUUID")
    a_leg_request_uuid: OptionalPlivoId = Field(default=None, alias="ALegRequestUUID")


WebhookT = TypeVar("WebhookT", bound=BaseModel)


def parse_webhook(model: type[WebhookT], params: Mapping[str, Sequence[str]]) -> WebhookT:
    """Validate a parsed form; a repeated field keeps its first value (Plivo never repeats one)."""
    flat: dict[str, Any] = {key: values[0] for key, values in params.items() if values}
    return validate(model, flat)


def _boolish(value: object) -> object:
    """Plivo sends booleans as 'true'/'false' (any case); absent means false."""
    if isinstance(value, str):
        return value.strip().lower() in {"true", "1", "yes"}
    return bool(value) if value is not None else False


def _int_or_none(value: object) -> object:
    if value in (None, ""):
        return None
    return value


OptionalInt = Annotated[Annotated[int, Field(ge=0, le=10**12)] | None, BeforeValidator(_int_or_none)]
"""Durations and codes: absent as "", never negative, and small enough for a DynamoDB number (38 digits)."""


class MachineDetectionWebhook(PlivoWebhook):
    """Posted to machine_detection_url when Plivo's asynchronous detection finds a machine."""

    machine: Annotated[bool, BeforeValidator(_boolish)] = Field(default=False, alias="Machine")
    if_machine: str | None = Field(default=None, alias="IfMachine", max_length=32)
    event: str | None = Field(default=None, alias="Event", max_length=64)


class VoicemailWebhook(PlivoWebhook):
    """Posted to our voicemail URL after the transfer policy moved the call there."""


class StreamEndedWebhook(PlivoWebhook):
    """Posted to the ``<Redirect>`` after our ``<Stream>`` when the stream ended and the call went on."""


class HangupWebhook(PlivoWebhook):
    """Posted to the hangup URL when the call ends, answered or not."""

    hangup_cause: str | None = Field(default=None, alias="HangupCause", max_length=128)
    hangup_cause_name: str | None = Field(default=None, alias="HangupCauseName", max_length=128)
    hangup_cause_code: OptionalInt = Field(default=None, alias="HangupCauseCode")
    hangup_source: str | None = Field(default=None, alias="HangupSource", max_length=64)
    duration: OptionalInt = Field(default=None, alias="Duration")
    bill_duration: OptionalInt = Field(default=None, alias="BillDuration")
    start_time: str | None = Field(default=None, alias="StartTime", max_length=64)
    answer_time: str | None = Field(default=None, alias="AnswerTime", max_length=64)
    end_time: str | None = Field(default=None, alias="EndTime", max_length=64)


class StreamStatusWebhook(BaseModel):
    """A stream status callback. Both of Plivo's vocabularies arrive here, and nobody documents every field
    (DegradedStream's least of all), so every parameter is kept as sent."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, str_max_length=2048, frozen=True)

    call_uuid: PlivoId = Field(alias="CallUUID")
    stream_id: OptionalPlivoId = Field(default=None, alias="StreamID")
    event: str = Field(alias="Event", min_length=1, max_length=64)
    timestamp: str | None = Field(default=None, alias="Timestamp", max_length=64)
    error: str | None = Field(default=None, alias="Error", max_length=1024)
    status_reason: str | None = Field(default=None, alias="StatusReason", max_length=1024)
    duration: OptionalInt = Field(default=None, alias="Duration")

    @model_validator(mode="before")
    @classmethod
    def _stream_id_spellings(cls, data: Any) -> Any:
        if isinstance(data, dict) and "StreamID" not in data:
            for spelling in ("StreamId", "streamId", "stream_id"):
                if spelling in data:
                    return {**data, "StreamID": data[spelling]}
        return data

    def parameters(self) -> dict[str, str]:
        """Every parameter Plivo sent, under Plivo's names (unknown ones included). A field without a name is
        dropped: DynamoDB map keys cannot be empty, and Plivo never sends one."""
        dumped = self.model_dump(by_alias=True, exclude_unset=True)
        return {key: str(value) for key, value in dumped.items() if key.strip()}
