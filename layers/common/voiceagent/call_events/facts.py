"""Facts, read from how an item changed: a fact is an attribute a write gave the item (absent in the old
image, present in the new), a stream event inserted, or a placement's state leaving ``placed``.

Every fact here is written by exactly one conditional write (the transition that makes it, a first-write-
wins ``if_not_exists``, a stream event stored once per (stream, event, time)), so it shows in exactly one
change, however often Plivo retried the webhook behind it. Deriving is pure: the caller reads the call record
for items that do not carry the call's ids (stream events, recoveries).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from voiceagent.call_events import schema
from voiceagent.clock import iso, parse_iso
from voiceagent.store.changes import Change
from voiceagent.store.keys import SK, ItemKind
from voiceagent.streams.events import degradation_level

MACHINE_OUTCOMES = frozenset({"voicemail_left", "voicemail_cut", "voicemail_hangup", "machine_hangup"})
EXTERNAL_AGENT = "external_agent"
"""``stream_to`` of a call whose answer XML streams to your own agent."""


@dataclass(frozen=True)
class Context:
    stage: str
    call_record: Callable[[str], Mapping[str, Any] | None]
    """The call record of a CallUUID (for the ids and metadata of stream events and recoveries)."""


def derive(change: Change, context: Context) -> list[schema.Detail]:
    """The facts one change brings, as event details (none for most writes)."""
    if change.event_name not in ("INSERT", "MODIFY") or not change.new:
        return []
    if change.kind is ItemKind.CALL:
        return _call_facts(change, context.stage)
    if change.kind is ItemKind.PLACEMENT:
        return _placement_facts(change, context.stage)
    call_uuid = change.call_uuid
    if call_uuid is None:
        return []
    if change.kind is ItemKind.STREAM_EVENT and change.event_name == "INSERT":
        return _stream_facts(change.new, call_uuid, context)
    if change.kind is ItemKind.RECOVERY and change.appeared("recovered_at"):
        return [_recovered(change.new, call_uuid, context)]
    return []


# ---------------------------------------------------------------- the fields every detail has


def _metadata(record: Mapping[str, Any]) -> dict[str, str]:
    metadata = record.get("metadata")
    return {str(key): str(value) for key, value in metadata.items()} if isinstance(metadata, Mapping) else {}


def _text(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def _number(value: Any) -> int | None:
    return None if value in (None, "") else int(value)


def _common(
    record: Mapping[str, Any], stage: str, call_uuid: str | None, fact: str, *qualifiers: str
) -> dict[str, Any]:
    subject = call_uuid or str(record.get("placement_id") or "unknown")
    return {
        "event_id": schema.event_id(subject, fact, *qualifiers),
        "call_uuid": call_uuid,
        "placement_id": _text(record.get("placement_id")),
        "request_uuid": _text(record.get("request_uuid")),
        "stage": stage,
        "metadata": _metadata(record),
    }


def _policy(value: Any) -> Any:
    return value if value in ("hangup", "transfer", "agent") else None


# ---------------------------------------------------------------- the call record


def _call_facts(change: Change, stage: str) -> list[schema.Detail]:
    call, details = change.new, list[schema.Detail]()
    call_uuid = str(call.get("call_uuid") or change.call_uuid or "")
    if not call_uuid:
        return []

    def common(detail: type[schema.Detail]) -> dict[str, Any]:
        return _common(call, stage, call_uuid, detail.FACT)

    if change.appeared("answered_at"):
        details.append(
            schema.CallAnswered(
                **common(schema.CallAnswered),
                occurred_at=call["answered_at"],
                answered_at=call["answered_at"],
                to=_text(call.get("to_number")),
                from_=_text(call.get("from_number")),
                stream="external_agent" if call.get("stream_to") == EXTERNAL_AGENT else "media_route",
            )
        )
    if change.appeared("policy_completed_at") or change.appeared("machine_detected_after_hangup"):
        details.append(machine_detected(call, stage, call_uuid))
    if change.appeared("agent_notification_completed_at"):
        details.append(_agent_notified(call, stage, call_uuid))
    completed = call.get("state") == "completed"
    if change.appeared("voicemail_played_at") and not change.appeared("completed_at") and not completed:
        details.append(_voicemail_left(call, common(schema.VoicemailLeft), via=_stream_via(call)))
    if change.appeared("completed_at"):
        details += _completed(call, stage, call_uuid)
    elif completed and change.old.get("outcome") and change.old.get("outcome") != call.get("outcome"):
        details.append(
            schema.CallOutcomeCorrected(
                **common(schema.CallOutcomeCorrected),
                occurred_at=str(call.get("machine_detected_after_hangup") or call.get("updated_at")),
                previous_outcome=change.old["outcome"],
                outcome=call["outcome"],
                reason="machine detection arrived after the hangup",
            )
        )
    return details


def _stream_via(call: Mapping[str, Any]) -> str:
    return EXTERNAL_AGENT if call.get("stream_to") == EXTERNAL_AGENT else "stream"


def machine_detected(call: Mapping[str, Any], stage: str, call_uuid: str) -> schema.MachineDetected:
    """The Machine Detected detail of a call record (also the body of a notification to your agent, built
    while the policy is still being applied: then ``policy_applied`` is ``agent`` and there is no result)."""
    after_hangup = call.get("machine_detected_after_hangup")
    detected = call.get("machine_detected_at") or after_hangup or call.get("updated_at")
    return schema.MachineDetected(
        **_common(call, stage, call_uuid, schema.MachineDetected.FACT),
        occurred_at=str(detected),
        machine_detected_at=str(detected),
        if_machine=_text(call.get("if_machine")),
        detection_ms=_number(call.get("detection_ms")),
        policy=_policy(call.get("policy")),
        policy_applied=None if after_hangup else _text(call.get("policy_applied")),
        policy_result="call_already_completed" if after_hangup else _text(call.get("policy_result")),
        policy_error=_text(call.get("policy_error")),
        after_hangup=bool(after_hangup),
    )


def _agent_notified(call: Mapping[str, Any], stage: str, call_uuid: str) -> schema.AgentNotified:
    delivered = call.get("agent_notification_status") == "delivered"
    return schema.AgentNotified(
        **_common(call, stage, call_uuid, schema.AgentNotified.FACT),
        occurred_at=str(call["agent_notification_completed_at"]),
        delivered=delivered,
        webhook=str(call.get("agent_webhook") or ""),
        stream_id=_text(call.get("stream_id")),
        attempts=[
            schema.NotificationAttempt(
                at=str(attempt.get("at")),
                status=_number(attempt.get("status")),
                error=_text(attempt.get("error")),
                milliseconds=int(attempt.get("milliseconds") or 0),
            )
            for attempt in call.get("agent_notification_attempts") or []
        ],
        fallback=None if delivered else "transfer",
    )


def _voicemail_left(call: Mapping[str, Any], common: dict[str, Any], *, via: str) -> schema.VoicemailLeft:
    finished = call.get("voicemail_played_at") or call.get("completed_at")
    return schema.VoicemailLeft(
        **common,
        occurred_at=str(finished),
        via=via,
        started_at=_text(call.get("voicemail_started_at")),
        finished_at=_text(finished),
        trigger=_text(call.get("voicemail_trigger")),
        beep_heard=bool(call.get("beep_heard_at")),
    )


def _answer_time(call: Mapping[str, Any]) -> str | None:
    """When the call was answered: ours (the answer webhook), else Plivo's AnswerTime from the hangup (UTC,
    ``2024-11-24 12:30:08``), as ISO 8601."""
    if call.get("answered_at"):
        return str(call["answered_at"])
    raw = _text(call.get("answer_time"))
    if raw is None:
        return None
    try:
        return iso(parse_iso(raw))
    except ValueError:
        return raw


def _completed(call: Mapping[str, Any], stage: str, call_uuid: str) -> list[schema.Detail]:
    outcome = str(call.get("outcome"))
    common = _common(call, stage, call_uuid, schema.CallCompleted.FACT)
    details: list[schema.Detail] = []
    served = bool(call.get("voicemail_served_at"))
    if outcome == "voicemail_left" and not call.get("voicemail_played_at"):
        # Plivo played our voicemail XML to its end (transfer policy, or a stream lost for good).
        left = _common(call, stage, call_uuid, schema.VoicemailLeft.FACT)
        details.append(_voicemail_left(call, left, via="transfer"))
    if outcome == "voicemail_cut":
        details.append(
            schema.VoicemailCut(
                **_common(call, stage, call_uuid, schema.VoicemailCut.FACT),
                occurred_at=str(call["completed_at"]),
                via="transfer" if served else _stream_via(call),
                started_at=_text(call.get("voicemail_started_at")),
                completed_at=str(call["completed_at"]),
            )
        )
    details.append(
        schema.CallCompleted(
            **common,
            occurred_at=str(call["completed_at"]),
            outcome=outcome,
            hangup_cause=_text(call.get("hangup_cause")),
            hangup_cause_code=_number(call.get("hangup_cause_code")),
            hangup_source=_text(call.get("hangup_source")),
            duration_seconds=_number(call.get("duration_seconds")),
            bill_duration_seconds=_number(call.get("bill_duration_seconds")),
            answered_at=_answer_time(call),
            completed_at=str(call["completed_at"]),
            machine_detected=call.get("machine_detection_result") == "machine" or outcome in MACHINE_OUTCOMES,
            policy=_policy(call.get("policy")),
            to=_text(call.get("to_number")),
            from_=_text(call.get("from_number")),
        )
    )
    return details


# ---------------------------------------------------------------- placements


def _placement_facts(change: Change, stage: str) -> list[schema.Detail]:
    old_state, placement = change.old.get("state"), change.new
    state = placement.get("state")
    if old_state != "placed" or state not in ("requested", "unconfirmed", "failed"):
        return []
    call_uuid = _text(placement.get("call_uuid"))
    detail: type[schema.Detail] = schema.CallNotPlaced if state == "failed" else schema.CallPlaced
    fields: dict[str, Any] = {
        **_common(placement, stage, call_uuid, detail.FACT),
        "occurred_at": str(placement.get("updated_at") or placement.get("placed_at")),
        "placed_at": str(placement.get("placed_at")),
        "to": str(placement.get("to_number")),
        "from_": str(placement.get("from_number")),
        "policy": _policy(placement.get("policy")),
        "attempts": int(placement.get("plivo_attempts") or 0),
    }
    # A placement is known by its own id until Plivo calls back: the event's subject is that id.
    fields["event_id"] = schema.event_id(str(placement.get("placement_id")), detail.FACT)
    if state == "failed":
        return [schema.CallNotPlaced(**fields, error=_text(placement.get("error")))]
    return [schema.CallPlaced(**fields, status=state)]


# ---------------------------------------------------------------- streams


def _stream_facts(event: Mapping[str, Any], call_uuid: str, context: Context) -> list[schema.Detail]:
    call = context.call_record(call_uuid) or {}
    stream_id = str(event.get("stream_id") or "unknown-stream")
    at = str(event.get("at"))
    parameters = {str(key): str(value) for key, value in (event.get("parameters") or {}).items()}
    kind = event.get("kind")

    def common(detail: type[schema.Detail], *qualifiers: str) -> dict[str, Any]:
        return {
            **_common(call, context.stage, call_uuid, detail.FACT, stream_id, *qualifiers),
            "stream_id": stream_id,
            "occurred_at": at,
        }

    if kind == "started":
        return [schema.StreamStarted(**common(schema.StreamStarted), started_at=at)]
    if kind == "stopped":
        duration = parameters.get("Duration")
        return [
            schema.StreamStopped(
                **common(schema.StreamStopped),
                stopped_at=at,
                reason=parameters.get("StatusReason") or parameters.get("Reason"),
                duration_seconds=int(duration) if duration and duration.isdigit() else None,
            )
        ]
    if kind == "dropped":
        error = parameters.get("Error") or parameters.get("StatusReason")
        return [schema.StreamDropped(**common(schema.StreamDropped), dropped_at=at, error=error)]
    if kind == "degraded":
        # Each DegradedStream is its own fact; Plivo's retries of one share its stored key (and this id).
        qualifier = hashlib.sha256(str(event.get(SK)).encode()).hexdigest()[:12]
        return [
            schema.StreamDegraded(
                **common(schema.StreamDegraded, qualifier),
                degraded_at=at,
                level=degradation_level(parameters),
            )
        ]
    return []


def _recovered(recovery: Mapping[str, Any], call_uuid: str, context: Context) -> schema.StreamRecovered:
    call = context.call_record(call_uuid) or {}
    stream_id = str(recovery.get("recovered_stream_id") or "unknown-stream")
    attempt = int(recovery.get("attempt") or 0)
    return schema.StreamRecovered(
        **_common(call, context.stage, call_uuid, schema.StreamRecovered.FACT, stream_id),
        occurred_at=str(recovery["recovered_at"]),
        stream_id=stream_id,
        ended_stream_id=_text(recovery.get("ended_stream_id")),
        attempt=attempt,
        recovered_at=str(recovery["recovered_at"]),
    )
