"""Typed shapes of the campaigns: the ``POST /campaigns`` request, a campaign's stored settings, the dial
queue's messages and the ``Call Completed`` events read from the call-events bus."""

from __future__ import annotations

import hashlib
import re
import uuid
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from voiceagent.calls.placing import CallerId
from voiceagent.campaigns.rules import RetryRules
from voiceagent.settings import CallingWindowText, HttpUrlText, MachinePolicy, SpeakLanguage, SpeakVoice

CAMPAIGN_ID = re.compile(r"cmp-[0-9a-f]{16}")
CampaignId = Annotated[str, Field(pattern=rf"^{CAMPAIGN_ID.pattern}$", description="cmp- and 16 hex digits")]
IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{7,63}")
IDEMPOTENCY_HEADER = "idempotency_key"
"""Validation context: the ``Idempotency-Key`` header of ``POST /campaigns``, if any."""
METADATA_KEYS = ("campaign_id", "campaign_row", "campaign_attempt")
"""What every campaign call carries in its ``metadata`` (the bus's events carry it back unchanged)."""
MAX_FIELDS = 16
"""Contact fields passed to the agent: ``POST /calls`` metadata holds 20 entries, 4 are ours (and name)."""
MAX_BODY_BYTES = 5 * 1024 * 1024
"""A ``POST /campaigns`` body: Lambda takes at most 6 MB per synchronous invocation (API Gateway's 10 MB
never applies), and HTTP API may base64 the body."""


def campaign_id_for(idempotency_key: str | None) -> str:
    """A fresh campaign id, or the one an idempotency key always gives (a repeated POST finds it)."""
    if idempotency_key is None:
        return f"cmp-{uuid.uuid4().hex[:16]}"
    return "cmp-" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:16]


def placement_id(campaign_id: str, row: int, attempt: int) -> str:
    """The idempotency key of one attempt: SQS may deliver a dial message twice, Plivo never dials twice."""
    return f"{campaign_id}-{row:07d}-{attempt}"


class CreateCampaignRequest(BaseModel):
    """Body of ``POST /campaigns`` (and the CLI's ``campaign create`` options)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, str_strip_whitespace=True)

    name: str = Field(default="", max_length=100)
    from_: CallerId = Field(alias="from")
    contacts: list[dict[str, Any]] | None = Field(default=None, max_length=20000)
    contacts_csv: str | None = Field(default=None, max_length=MAX_BODY_BYTES)
    timezone: str | None = Field(
        default=None, max_length=64, description="an IANA time zone such as America/New_York"
    )
    default_country_code: str | None = Field(
        default=None, pattern=r"^[1-9]\d{0,2}$", description="a country calling code without +, e.g. 1 or 44"
    )
    window: CallingWindowText | None = None
    pace: float = Field(default=1.0, ge=0.01, le=1000, description="calls per second, e.g. 1 or 0.5")
    max_in_progress: int = Field(default=10, ge=1, le=1000)
    retry: RetryRules = RetryRules()
    policy: MachinePolicy | None = None
    voicemail_message: str | None = Field(default=None, min_length=1, max_length=3000)
    voicemail_audio_url: HttpUrlText | None = None
    voicemail_voice: SpeakVoice | None = None
    voicemail_language: SpeakLanguage | None = None
    machine_detection_time: int | None = Field(default=None, ge=2000, le=10000)
    ring_timeout: int | None = Field(default=None, ge=5, le=120)
    skip_invalid: bool = False
    """False: any invalid row refuses the whole list (400, every row named); True: they are left out and
    listed in the answer."""
    idempotency_key: str | None = Field(
        default=None, pattern=rf"^{IDEMPOTENCY_KEY.pattern}$", description="8 to 64 of A-Z a-z 0-9 _ . -"
    )

    @model_validator(mode="after")
    def _one_list_and_one_voicemail(self, info: ValidationInfo) -> Self:
        if (self.contacts is None) == (self.contacts_csv is None):
            raise ValueError("give contacts (a JSON list) or contacts_csv (CSV text), one of the two")
        if self.voicemail_message and self.voicemail_audio_url:
            raise ValueError("give voicemail_message or voicemail_audio_url, not both")
        header = (info.context or {}).get(IDEMPOTENCY_HEADER)
        if header is not None:
            if not IDEMPOTENCY_KEY.fullmatch(header):
                raise ValueError("the Idempotency-Key header must be 8 to 64 of A-Z a-z 0-9 _ . -")
            if self.idempotency_key not in (None, header):
                raise ValueError("idempotency_key and the Idempotency-Key header differ")
            self.idempotency_key = header
        return self

    def fingerprint(self) -> str:
        canonical = self.model_dump_json(exclude={"idempotency_key"}, by_alias=True)
        return hashlib.sha256(canonical.encode()).hexdigest()


class CampaignSettings(BaseModel):
    """What a campaign keeps of its request (stored once, in ``META``): its calls are made from these."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)

    campaign_id: str
    name: str = ""
    from_: str = Field(alias="from")
    window: str
    timezone: str | None = None
    pace: float
    max_in_progress: int
    retry: RetryRules
    policy: MachinePolicy | None = None
    voicemail_message: str | None = None
    voicemail_audio_url: str | None = None
    voicemail_voice: str | None = None
    voicemail_language: str | None = None
    machine_detection_time: int | None = None
    ring_timeout: int | None = None
    created_at: str


class DialMessage(BaseModel):
    """The dial queue's message: dial this contact's attempt ``attempt`` (deduplicated by the contact)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    campaign_id: CampaignId
    row: int = Field(ge=1)
    attempt: int = Field(ge=1)
    not_before_tick: int | None = None
    """Deferred by the pacer: the tick this message waited for (informational)."""


class CallCompletedDetail(BaseModel):
    """What a campaign reads of a ``Call Completed`` event (issue #17's contract, schema_version 1); other
    fields are ignored, so the schema can grow."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    schema_version: int = 1
    event_id: str = Field(max_length=200)
    occurred_at: str | None = None
    call_uuid: str | None = Field(default=None, max_length=64)
    placement_id: str | None = Field(default=None, max_length=64)
    metadata: dict[str, str] = Field(default_factory=dict)
    outcome: str = Field(max_length=32)
    hangup_cause: str | None = None
    duration_seconds: int | None = None
    answered_at: str | None = None
    completed_at: str | None = None

    def campaign_attempt(self) -> tuple[str, int, int] | None:
        """(campaign id, row, attempt) from the call's metadata; None for a call of no campaign."""
        try:
            campaign_id = self.metadata["campaign_id"]
            row, attempt = int(self.metadata["campaign_row"]), int(self.metadata["campaign_attempt"])
        except (KeyError, ValueError):
            return None
        if not CAMPAIGN_ID.fullmatch(campaign_id) or row < 1 or attempt < 1:
            return None
        # Only the dialer places a call under this attempt's placement id (POST /calls may carry any metadata,
        # but a placement id is the first request's for good): a call of someone else's making never settles
        # a contact.
        if self.placement_id != placement_id(campaign_id, row, attempt):
            return None
        return campaign_id, row, attempt


class CallCompletedEvent(BaseModel):
    """The EventBridge envelope, as the rule's SQS target delivers it."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)

    id: str
    source: str
    detail_type: str = Field(alias="detail-type")
    detail: CallCompletedDetail
