"""Pydantic models of the form bodies Plivo posts to our webhooks.

Field names are Plivo's (aliases); unknown fields are kept (``extra="allow"``) because Plivo adds fields and
custom ``X-PH-*`` headers over time and the call record should not lose them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

PlivoId = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9][A-Za-z0-9\-]{0,63}$")
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


WebhookT = TypeVar("WebhookT", bound=PlivoWebhook)


def parse_webhook(model: type[WebhookT], params: Mapping[str, Sequence[str]]) -> WebhookT:
    """Validate a parsed form; a repeated field keeps its first value (Plivo never repeats one)."""
    flat: dict[str, Any] = {key: values[0] for key, values in params.items() if values}
    return model.model_validate(flat)
