"""The call events this stack puts on its EventBridge bus: one pydantic model per detail-type — the schema.

Every event has ``Source`` ``plivo-voice-agent`` and a Title Case ``DetailType``; every ``detail`` carries
the fields of ``Detail`` and those of its type. The JSON Schemas in ``events/eventbridge/schemas/`` and the
samples beside them are generated from these models (``make events``), and a test keeps them current, so
README, samples and code say the same thing. A change that removes or retypes a field is a new
``schema_version``; adding a field is not (consumers must ignore fields they do not know).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

SOURCE = "plivo-voice-agent"
SCHEMA_VERSION: Literal[1] = 1

Outcome = Literal[
    "human",
    "voicemail_left",
    "voicemail_cut",
    "voicemail_hangup",
    "machine_hangup",
    "no_answer",
    "busy",
    "failed",
]
"""How a call ended (``voiceagent.calls.outcomes.Outcome``; a test keeps the two equal)."""
Policy = Literal["hangup", "transfer", "agent"]
VoicemailVia = Literal["stream", "transfer", "external_agent"]
"""Who left the message: our media route (agent policy), Plivo playing our voicemail XML (transfer policy,
or a fallback), or your own agent (agent policy on an external stream, reported by the agent)."""


class Detail(BaseModel):
    """What every event's ``detail`` has."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    DETAIL_TYPE: ClassVar[str] = ""
    FACT: ClassVar[str] = ""
    """The fact's name in ``event_id`` (``<call>:<fact>[:<stream>[:<n>]]``)."""

    schema_version: Literal[1] = Field(default=SCHEMA_VERSION, description="1; bumped by breaking changes")
    event_id: str = Field(
        description="deterministic: the call (or placement) id, the fact and, for stream facts, the stream; "
        "a consumer drops an event whose event_id it has already handled (a rare duplicate, see README)"
    )
    occurred_at: str = Field(description="when the fact happened, ISO 8601 UTC (…Z)")
    call_uuid: str | None = Field(
        description="Plivo's CallUUID; null only before Plivo answered (Call Placed, Call Not Placed)"
    )
    placement_id: str | None = Field(
        description="the placement id POST /calls answered (null: a call not placed by this stack)"
    )
    request_uuid: str | None = Field(description="Plivo's RequestUUID")
    stage: str = Field(description="the stack's Stage parameter")
    metadata: dict[str, str] = Field(
        default_factory=dict, description="the metadata object given to POST /calls, unchanged ({} if none)"
    )


class CallPlaced(Detail):
    """Plivo was asked to dial (``POST /calls`` or a campaign), and accepted or may have accepted."""

    DETAIL_TYPE = "Call Placed"
    FACT = "call-placed"

    status: Literal["requested", "unconfirmed"] = Field(
        description="requested: Plivo answered with a RequestUUID; unconfirmed: the create's outcome is "
        "unknown (a timeout, a 5xx) and it was not sent again; the answer or hangup tells"
    )
    placed_at: str
    to: str
    from_: str = Field(alias="from")
    policy: Policy
    attempts: int = Field(
        description="HTTP POSTs of the create (tried again only when Plivo surely never got it)"
    )


class CallNotPlaced(Detail):
    """Plivo refused the create, or was never reached: there is no call (and no Call Completed)."""

    DETAIL_TYPE = "Call Not Placed"
    FACT = "call-not-placed"

    error: str | None
    placed_at: str
    to: str
    from_: str = Field(alias="from")
    policy: Policy
    attempts: int


class CallAnswered(Detail):
    """Plivo called the answer URL: the callee (a person or a machine) picked up."""

    DETAIL_TYPE = "Call Answered"
    FACT = "call-answered"

    answered_at: str
    to: str | None
    from_: str | None = Field(alias="from")
    stream: Literal["media_route", "external_agent"] = Field(
        description="where the answer XML streams the call's audio: our media route or your own agent"
    )


class MachineDetected(Detail):
    """Plivo's machine detection reported an answering machine, and the call's voicemail policy was applied
    (occurred_at is the detection; the event follows once the policy is done)."""

    DETAIL_TYPE = "Machine Detected"
    FACT = "machine-detected"

    machine_detected_at: str
    if_machine: str | None = Field(description="Plivo's IfMachine: continue | hangup")
    detection_ms: int | None = Field(description="from answer to detection")
    policy: Policy | None = Field(description="the call's voicemail policy")
    policy_applied: str | None = Field(
        description="what was done: hangup | transfer | agent | transfer_fallback (agent policy with no live "
        "stream, or your agent's webhook failed); null when the call had already ended"
    )
    policy_result: str | None = Field(
        description="Plivo's or the agent's answer, e.g. hung_up, transferred, agent_notified, "
        "already_ended, failed"
    )
    policy_error: str | None = None
    after_hangup: bool = Field(
        default=False, description="the detection arrived after the call ended: nothing was done"
    )


class VoicemailLeft(Detail):
    """The whole voicemail message was delivered."""

    DETAIL_TYPE = "Voicemail Left"
    FACT = "voicemail-left"

    via: VoicemailVia
    started_at: str | None = Field(description="when the message started (null: Plivo's <Wait> decided)")
    finished_at: str | None = Field(
        description="when it finished playing (stream, external agent); for a transfer, the call's end"
    )
    trigger: str | None = Field(
        description="what started it on our stream: beep | late_beep | silence | max_wait (null otherwise)"
    )
    beep_heard: bool


class VoicemailCut(Detail):
    """The message started, but the machine hung up before it ended."""

    DETAIL_TYPE = "Voicemail Cut"
    FACT = "voicemail-cut"

    via: VoicemailVia
    started_at: str | None
    completed_at: str


class StreamDetail(Detail):
    stream_id: str


class StreamStarted(StreamDetail):
    DETAIL_TYPE = "Stream Started"
    FACT = "stream-started"

    started_at: str


class StreamStopped(StreamDetail):
    """The stream ended normally: the call hung up, the API stopped it, or its streamTimeout ran out."""

    DETAIL_TYPE = "Stream Stopped"
    FACT = "stream-stopped"

    stopped_at: str
    reason: str | None = Field(description="Plivo's StatusReason, when it gave one")
    duration_seconds: int | None = Field(description="Plivo's Duration, when it gave one")


class StreamDropped(StreamDetail):
    """The stream failed to connect or broke (Plivo had already retried the connect twice)."""

    DETAIL_TYPE = "Stream Dropped"
    FACT = "stream-dropped"

    dropped_at: str
    error: str | None


class StreamDegraded(StreamDetail):
    """Plivo's buffer for a slow consumer filled up to ``level`` percent (30, 60, 90)."""

    DETAIL_TYPE = "Stream Degraded"
    FACT = "stream-degraded"

    degraded_at: str
    level: str = Field(description="Plivo's buffer level in percent, or unknown")


class StreamRecovered(StreamDetail):
    """After a stream ended unexpectedly, the <Redirect> after the <Stream> reconnected it: a new stream
    (``stream_id``) started with a fresh token."""

    DETAIL_TYPE = "Stream Recovered"
    FACT = "stream-recovered"

    ended_stream_id: str | None
    attempt: int = Field(description="the how-many-th end of a stream on this call this recovered")
    recovered_at: str


class NotificationAttempt(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    at: str
    status: int | None = Field(description="the HTTP status your webhook answered (null: no answer)")
    error: str | None = None
    milliseconds: int


class AgentNotified(Detail):
    """The agent policy notified your own agent (an external stream) of an answering machine."""

    DETAIL_TYPE = "Agent Notified"
    FACT = "agent-notified"

    delivered: bool = Field(description="your webhook answered 2xx; false: it failed for good")
    webhook: str = Field(description="the webhook URL without its query")
    stream_id: str | None
    attempts: list[NotificationAttempt]
    fallback: Literal["transfer"] | None = Field(
        description="transfer: the notification failed, so the transfer policy left the message instead"
    )


class CallCompleted(Detail):
    """The call ended (Plivo's hangup callback), with its one outcome."""

    DETAIL_TYPE = "Call Completed"
    FACT = "call-completed"

    outcome: Outcome
    hangup_cause: str | None
    hangup_cause_code: int | None
    hangup_source: str | None
    duration_seconds: int | None
    bill_duration_seconds: int | None
    answered_at: str | None
    completed_at: str
    machine_detected: bool
    policy: Policy | None
    to: str | None
    from_: str | None = Field(alias="from")


class CallOutcomeCorrected(Detail):
    """A machine detection arrived after the hangup: the outcome Call Completed gave is corrected."""

    DETAIL_TYPE = "Call Outcome Corrected"
    FACT = "call-outcome-corrected"

    previous_outcome: Outcome
    outcome: Outcome
    reason: str


DETAILS: tuple[type[Detail], ...] = (
    CallPlaced,
    CallNotPlaced,
    CallAnswered,
    MachineDetected,
    AgentNotified,
    VoicemailLeft,
    VoicemailCut,
    StreamStarted,
    StreamStopped,
    StreamDropped,
    StreamDegraded,
    StreamRecovered,
    CallCompleted,
    CallOutcomeCorrected,
)
"""Every detail-type, in the order of a call's life."""


def event_id(subject: str, fact: str, *qualifiers: str) -> str:
    """``<call or placement>:<fact>[:<qualifier>…]``: the same fact always gets the same id."""
    return ":".join((subject, fact, *qualifiers))
