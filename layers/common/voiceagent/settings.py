"""Typed configuration, read from the environment once per container.

Every Lambda function and the local stack get the same variables (template.yaml Globals); a missing or
malformed one fails fast with its name instead of surfacing later as a confusing runtime error.
"""

from __future__ import annotations

import os
import re
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Self, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from voiceagent.agent_urls import (
    STREAM_URL_WORDS,
    WEBHOOK_URL_WORDS,
    stream_url_problem,
    webhook_url_problem,
)

HttpUrlText = Annotated[
    str,
    StringConstraints(pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$", max_length=2048),
    Field(description="an http(s) URL such as https://host/path, without a query or a fragment"),
]
"""An http(s) base URL. (Plain text, not pydantic's URL type, whose import costs a cold start ~20 ms.)"""

# What Plivo and AWS accept, in one place: template.yaml's AllowedPatterns repeat these (tests/infra checks
# that they are equal), so a wrong value fails at deploy and, if forced past that, here with its name.
PLIVO_AUTH_ID_PATTERN = r"^(MA|SA)[A-Z0-9]{18}$"
"""A Plivo account (MA…) or subaccount (SA…) auth id: the plivo SDK's own regex for account ids
(``plivo.utils.validators.is_account_id``). Its ``RestClient`` checks less (length 20, prefix MA/SA) and does
so in its constructor, so a wrong id fails every REST call."""
SSM_PARAMETER_NAME_PATTERN = r"^/(?![Aa][Ww][Ss]|[Ss][Ss][Mm])[A-Za-z0-9_.\-]+(/[A-Za-z0-9_.\-]+){0,14}$"
"""A fully qualified SSM parameter name: a-zA-Z0-9_.- per level, at most 15 levels, not prefixed with aws or
ssm (reserved); the leading slash is required because the IAM policy names it as ``parameter<name>``."""
SSM_PARAMETER_NAME_MAX_LENGTH = 1011
SPEAK_VOICE_PATTERN = r"^(WOMAN|MAN|Polly\.[A-Z][A-Za-z]{1,31}(-Neural)?)$"
"""Plivo ``<Speak voice>``: its two built-in voices or an Amazon Polly voice, namespaced ``Polly.``."""
SPEAK_LANGUAGE_PATTERN = r"^[a-z]{2,3}(-[A-Z]{2}(-[A-Z]{3})?)?$"
"""Plivo ``<Speak language>``: a tag as Plivo and Polly spell them (en-US, arb, cmn-CN, en-GB-WLS)."""
POLLY_VOICE_PATTERN = r"^[A-Z][A-Za-z]{1,31}$"
"""An Amazon Polly voice id (Joanna, Matthew, Lea…)."""

SpeakVoice = Annotated[
    str,
    StringConstraints(pattern=SPEAK_VOICE_PATTERN),
    Field(description="WOMAN, MAN, or an Amazon Polly voice such as Polly.Joanna (or Polly.Joanna-Neural)"),
]
SpeakLanguage = Annotated[
    str,
    StringConstraints(pattern=SPEAK_LANGUAGE_PATTERN),
    Field(description="a language tag as Plivo spells it: en-US, es-ES, arb, cmn-CN…"),
]
SsmParameterName = Annotated[
    str, StringConstraints(pattern=SSM_PARAMETER_NAME_PATTERN, max_length=SSM_PARAMETER_NAME_MAX_LENGTH)
]


def _agent_stream_url(value: str) -> str:
    problem = stream_url_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _agent_webhook_url(value: str) -> str:
    problem = webhook_url_problem(value)
    if problem:
        raise ValueError(problem)
    return value


AgentStreamUrl = Annotated[
    str,
    AfterValidator(_agent_stream_url),
    Field(description=STREAM_URL_WORDS),
]
AgentWebhookUrl = Annotated[
    str,
    AfterValidator(_agent_webhook_url),
    Field(description=WEBHOOK_URL_WORDS),
]
EVENT_BUS_NAME_PATTERN = r"^[A-Za-z0-9._\-/]{1,256}$"
"""An EventBridge bus name (the template names it ``<stack>-calls``)."""


class MachinePolicy(StrEnum):
    """What to do when machine detection reports an answering machine."""

    HANGUP = "hangup"
    TRANSFER = "transfer"
    AGENT = "agent"


class TtsProvider(StrEnum):
    """Where the reference agent's speech comes from."""

    BUNDLED = "bundled"  # prompts shipped in the layer: no external service
    POLLY = "polly"  # Amazon Polly, 8 kHz PCM, per text (the voicemail message included)


class SignatureCheck(StrEnum):
    """What ``$connect`` does with a Plivo signature that matches none of the URL forms we try."""

    ENFORCE = "enforce"  # reject the connection
    WARN = "warn"  # log it and rely on the per-call token alone
    OFF = "off"


class VoicemailWait(StrEnum):
    """How the voicemail XML waits for the greeting to end before the message."""

    SILENCE = "silence"
    """``<Wait silence>``: the message starts once ``minSilence`` of silence follows the greeting (and any
    beep). Whole on every greeting, a few seconds of silence on the recording."""
    BEEP = "beep"
    """``<Wait beep>``: Plivo listens for the beep and starts the message right after it; a greeting with no
    beep waits out ``length``."""


CALLING_WINDOW_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9]-([01][0-9]|2[0-3]):[0-5][0-9]$"
"""A daily calling window in the callee's local time, ``HH:MM-HH:MM`` (24-hour clock, start before end)."""
CallingWindowText = Annotated[
    str,
    StringConstraints(pattern=CALLING_WINDOW_PATTERN),
    Field(
        description="HH:MM-HH:MM in the callee's local time, 24-hour clock, start before end (09:00-20:00)"
    ),
]


class ConfigurationError(RuntimeError):
    """Raised when the environment does not describe a usable configuration."""


class Settings(BaseModel):
    # Python's re, not pydantic-core's: the SSM name pattern needs a look-ahead (checked once per container).
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True, regex_engine="python-re")

    stage: str = Field(alias="STAGE", min_length=1)
    calls_table_name: str = Field(alias="CALLS_TABLE_NAME", min_length=1)
    plivo_auth_token_param: SsmParameterName = Field(alias="PLIVO_AUTH_TOKEN_PARAM")
    stream_token_secret_param: SsmParameterName | None = Field(
        default=None, alias="STREAM_TOKEN_SECRET_PARAM"
    )
    websocket_url: str = Field(alias="WEBSOCKET_URL", pattern=r"^wss?://[^?#]+$")
    public_base_url: HttpUrlText | None = Field(default=None, alias="PUBLIC_BASE_URL")
    stream_timeout_seconds: Annotated[int, Field(ge=60, le=7200)] = Field(
        default=3600, alias="STREAM_TIMEOUT_SECONDS"
    )
    stream_token_ttl_seconds: Annotated[int, Field(ge=30, le=3600)] = Field(
        default=300, alias="STREAM_TOKEN_TTL_SECONDS"
    )
    default_machine_policy: MachinePolicy = Field(
        default=MachinePolicy.HANGUP, alias="DEFAULT_MACHINE_POLICY"
    )
    record_ttl_days: Annotated[int, Field(ge=1, le=3650)] = Field(default=30, alias="RECORD_TTL_DAYS")
    secret_max_age_seconds: Annotated[int, Field(ge=0, le=3600)] = Field(
        default=300, alias="SECRET_MAX_AGE_SECONDS"
    )
    plivo_api_base_url: HttpUrlText | None = Field(default=None, alias="PLIVO_API_BASE_URL")
    plivo_timeout_seconds: Annotated[float, Field(gt=0, le=20)] = Field(
        default=4.0, alias="PLIVO_TIMEOUT_SECONDS"
    )
    machine_detection_time_ms: Annotated[int, Field(ge=2000, le=10000)] = Field(
        default=5000, alias="MACHINE_DETECTION_TIME_MS"
    )
    voicemail_message: str = Field(
        default="Hello, this is an automated call. Sorry we missed you; we will try again later. Goodbye.",
        alias="VOICEMAIL_MESSAGE",
        min_length=1,
        max_length=3000,
    )
    voicemail_voice: SpeakVoice = Field(default="WOMAN", alias="VOICEMAIL_VOICE")
    voicemail_language: SpeakLanguage = Field(default="en-US", alias="VOICEMAIL_LANGUAGE")
    # The transfer policy's wait before the message ends at the first ``minSilence`` of silence once the
    # greeting is over (or at the beep, VOICEMAIL_WAIT_MODE=beep), or after ``length`` at the latest.
    # ``length`` is only a cap, so it costs nothing to make it long: personal greetings run 10-30 s and
    # carriers' default ones ~15-25 s; a cap shorter than the greeting starts the message over it and the
    # recording loses its first words. 3 s of silence is longer than the pauses inside a greeting (under
    # ~1.5 s) and short enough that voicemail systems keep recording.
    voicemail_wait_seconds: Annotated[int, Field(ge=1, le=120)] = Field(
        default=30, alias="VOICEMAIL_WAIT_SECONDS"
    )
    voicemail_wait_mode: VoicemailWait = Field(default=VoicemailWait.SILENCE, alias="VOICEMAIL_WAIT_MODE")
    voicemail_min_silence_ms: Annotated[int, Field(ge=500, le=10000)] = Field(
        default=3000, alias="VOICEMAIL_MIN_SILENCE_MS"
    )
    voicemail_silence_ms: Annotated[int, Field(ge=1200, le=10000)] = Field(
        default=2000, alias="VOICEMAIL_SILENCE_MS"
    )
    voicemail_max_wait_seconds: Annotated[int, Field(ge=5, le=120)] = Field(
        default=20, alias="VOICEMAIL_MAX_WAIT_SECONDS"
    )
    plivo_callback_retries: Annotated[int, Field(ge=0, le=5)] = Field(
        default=2, alias="PLIVO_CALLBACK_RETRIES"
    )
    stream_recovery_max_attempts: Annotated[int, Field(ge=0, le=5)] = Field(
        default=1, alias="STREAM_RECOVERY_MAX_ATTEMPTS"
    )
    stream_recovery_apology: str = Field(
        default="We are sorry, we are having technical difficulties. We will call you back. Goodbye.",
        alias="STREAM_RECOVERY_APOLOGY",
        max_length=500,
    )
    stream_signature_check: SignatureCheck = Field(
        default=SignatureCheck.ENFORCE, alias="STREAM_SIGNATURE_CHECK"
    )
    agent_tts: TtsProvider = Field(default=TtsProvider.BUNDLED, alias="AGENT_TTS")
    agent_polly_voice: str = Field(default="Joanna", alias="AGENT_POLLY_VOICE", pattern=POLLY_VOICE_PATTERN)
    agent_vad_threshold_dbfs: Annotated[float, Field(ge=-90, le=0)] = Field(
        default=-40.0, alias="AGENT_VAD_THRESHOLD_DBFS"
    )
    websocket_management_endpoint: HttpUrlText | None = Field(
        default=None, alias="WEBSOCKET_MANAGEMENT_ENDPOINT"
    )
    # Campaigns (the template sets the table names and the queue URL from the resources it creates; they are
    # optional here so functions that never touch campaigns run without them, and required where used).
    campaigns_table_name: str | None = Field(default=None, alias="CAMPAIGNS_TABLE_NAME")
    dnc_table_name: str | None = Field(default=None, alias="DNC_TABLE_NAME")
    campaign_dial_queue_url: HttpUrlText | None = Field(default=None, alias="CAMPAIGN_DIAL_QUEUE_URL")
    campaign_callback_base_url: HttpUrlText | None = Field(default=None, alias="CAMPAIGN_CALLBACK_BASE_URL")
    """The HTTP API's own URL (the dialer's: it places calls outside any request); PUBLIC_BASE_URL wins."""
    account_calls_per_second: Annotated[float, Field(ge=0.1, le=1000)] = Field(
        default=2.0, alias="ACCOUNT_CALLS_PER_SECOND"
    )
    """Plivo's outbound calls-per-second limit of the account: every campaign together never exceeds it."""
    pacing_guard_ms: Annotated[int, Field(ge=0, le=500)] = Field(default=20, alias="PACING_GUARD_MS")
    """Added to every second of pacing, and the latest a call may start after its tick: absorbs jitter."""
    campaign_calling_window: CallingWindowText = Field(default="09:00-20:00", alias="CAMPAIGN_CALLING_WINDOW")
    campaign_attempt_timeout_seconds: Annotated[int, Field(ge=180, le=86400)] = Field(
        default=600, alias="CAMPAIGN_ATTEMPT_TIMEOUT_SECONDS"
    )
    """An attempt with no word from Plivo after this long is settled by the sweeper from the stored state."""
    campaign_max_contacts: Annotated[int, Field(ge=1, le=20000)] = Field(
        default=10000, alias="CAMPAIGN_MAX_CONTACTS"
    )
    event_bus_name: str | None = Field(default=None, alias="EVENT_BUS_NAME", pattern=EVENT_BUS_NAME_PATTERN)
    """Where the call events go (``functions/call_events``); unset: nothing is published."""
    agent_stream_url: AgentStreamUrl | None = Field(default=None, alias="AGENT_STREAM_URL")
    """Your own agent's WebSocket, which the answer XML streams to instead of our media route (unset: ours).
    A call's ``stream_url`` overrides it."""
    agent_webhook_url: AgentWebhookUrl | None = Field(default=None, alias="AGENT_WEBHOOK_URL")
    """Where the agent policy notifies your own agent of an answering machine (a call's ``agent_webhook_url``
    overrides it)."""
    agent_webhook_secret_param: SsmParameterName | None = Field(
        default=None, alias="AGENT_WEBHOOK_SECRET_PARAM"
    )
    """SSM SecureString whose value keys the notification's HMAC signature."""
    agent_webhook_timeout_seconds: Annotated[float, Field(gt=0, le=10)] = Field(
        default=3.0, alias="AGENT_WEBHOOK_TIMEOUT_SECONDS"
    )
    agent_webhook_max_attempts: Annotated[int, Field(ge=1, le=5)] = Field(
        default=3, alias="AGENT_WEBHOOK_MAX_ATTEMPTS"
    )

    @field_validator(
        "stream_token_secret_param",
        "public_base_url",
        "plivo_api_base_url",
        "websocket_management_endpoint",
        "campaigns_table_name",
        "dnc_table_name",
        "campaign_dial_queue_url",
        "campaign_callback_base_url",
        "event_bus_name",
        "agent_stream_url",
        "agent_webhook_url",
        "agent_webhook_secret_param",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        # CloudFormation cannot omit an env var without !If noise: an empty string means "unset".
        return None if value == "" else value

    @model_validator(mode="after")
    def _voicemail_wait_outlasts_its_silence(self) -> Self:
        silence = self.voicemail_wait_mode is VoicemailWait.SILENCE
        if silence and self.voicemail_wait_seconds * 1000 <= self.voicemail_min_silence_ms:
            raise ValueError(
                "VOICEMAIL_WAIT_SECONDS (Plivo's <Wait length>) must be longer than VOICEMAIL_MIN_SILENCE_MS "
                f"(minSilence): {self.voicemail_wait_seconds} s <= {self.voicemail_min_silence_ms} ms"
            )
        return self

    @model_validator(mode="after")
    def _an_external_agent_has_its_own_keys(self) -> Self:
        # An agent outside the stack checks stream tokens and notifications: it gets keys of its own, never a
        # key derived from the Plivo auth token (which would hand it what it takes to forge Plivo's webhooks).
        if self.agent_stream_url and not self.stream_token_secret_param:
            raise ValueError(
                "AGENT_STREAM_URL (your own agent) needs STREAM_TOKEN_SECRET_PARAM: a dedicated SSM "
                "SecureString keying the stream tokens your agent checks, so that it never needs the Plivo "
                "auth token"
            )
        if self.agent_webhook_url and not self.agent_webhook_secret_param:
            raise ValueError(
                "AGENT_WEBHOOK_URL needs AGENT_WEBHOOK_SECRET_PARAM: the SSM SecureString keying the "
                "notifications' signatures"
            )
        return self

    @model_validator(mode="after")
    def _calling_window_starts_before_it_ends(self) -> Self:
        start, end = self.campaign_calling_window.split("-")
        if start >= end:
            raise ValueError(
                f"CAMPAIGN_CALLING_WINDOW must start before it ends: {self.campaign_calling_window}"
            )
        return self

    def required(self, name: str) -> str:
        """A setting only some functions need (a campaigns table, a queue): its value, or a
        ``ConfigurationError`` naming the variable."""
        value = getattr(self, name)
        if not value:
            alias = type(self).model_fields[name].alias
            raise ConfigurationError(f"invalid configuration: {alias}: not set (this function needs it)")
        return str(value)

    @property
    def callback_base(self) -> str:
        """Where Plivo reaches this stack for calls placed outside a request (the campaign dialer)."""
        base = self.public_base or self.campaign_callback_base_url
        if not base:
            raise ConfigurationError("invalid configuration: CAMPAIGN_CALLBACK_BASE_URL: not set")
        return base.rstrip("/")

    @property
    def public_base(self) -> str | None:
        """The configured public base URL without a trailing slash (custom domains, tunnels)."""
        return self.public_base_url.rstrip("/") if self.public_base_url else None


class PlivoAccount(BaseModel):
    """What a call to Plivo's REST API needs besides ``Settings`` (the auth token is read from SSM).

    Validated apart from ``Settings``, and only where a REST call is made: a webhook that never calls Plivo
    (answer, hangup, stream status) keeps working with a wrong auth id, and the ones that do call Plivo fail
    with this variable's name instead of the SDK's ``AuthenticationError``.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    auth_id: str = Field(alias="PLIVO_AUTH_ID")

    @field_validator("auth_id")
    @classmethod
    def _plivo_auth_id(cls, value: str) -> str:
        if not re.fullmatch(PLIVO_AUTH_ID_PATTERN, value):
            raise ValueError(
                "must be MA or SA followed by 18 upper-case letters or digits (the Auth ID on the Plivo "
                "console's overview page); the plivo SDK refuses anything else"
            )
        return value


ModelT = TypeVar("ModelT", bound=BaseModel)


def _from_environment(model: type[ModelT]) -> ModelT:
    try:
        return model.model_validate(dict(os.environ))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}" for error in exc.errors()
        )
        raise ConfigurationError(f"invalid configuration: {problems}") from exc


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Read and validate the environment once per container (tests call ``get_settings.cache_clear()``)."""
    return _from_environment(Settings)


@lru_cache(maxsize=1)
def get_plivo_account() -> PlivoAccount:
    """The Plivo account the REST client uses, validated once per container when first needed."""
    return _from_environment(PlivoAccount)
