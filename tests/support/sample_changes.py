"""Changes to the calls table as its DynamoDB stream delivers them to ``functions/call_events``: the life of a
voicemail call that streams to your own agent (placed, answered, its stream dropped and recovered, the
machine detected and the agent notified, the message left, completed), a placement Plivo refused, a message
cut short, and a machine detected after the hangup — between them, every detail-type.

The sample events in ``events/`` (the function's inputs, and ``events/eventbridge/``: what it publishes)
are made from these, through the code that derives the events, so a sample cannot show what the code does
not do.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from tests.support import constants as c
from voiceagent.store import keys
from voiceagent.store.dynamo import to_item

STREAM_ARN = f"arn:aws:dynamodb:{c.REGION}:123456789012:table/{c.TABLE_NAME}/stream/2024-11-24T12:00:00.000"
SECOND_STREAM_ID = "c3d4e5f6-a7b8-4c9d-8e0f-2a3b4c5d6e7f"
CUT_CALL_UUID = "7a2c3d4e-5f60-4b7c-8d9e-0f1a2b3c4d5e"
LATE_CALL_UUID = "8b3d4e5f-6071-4c8d-9eaf-1a2b3c4d5e6f"
REFUSED_PLACEMENT_ID = "pl-9c0d1e2f3a4b5c6d"
METADATA = {"campaign": "spring-renewals", "contact": "0007"}

PLACEMENT = {
    "placement_id": c.PLACEMENT_ID,
    "state": "placed",
    "to_number": c.TO_NUMBER,
    "from_number": c.FROM_NUMBER,
    "policy": "agent",
    "metadata": METADATA,
    "stream_url": c.AGENT_STREAM_URL,
    "agent_webhook_url": c.AGENT_WEBHOOK_URL,
    "placed_at": "2024-11-24T12:30:00.120Z",
    "updated_at": "2024-11-24T12:30:00.120Z",
}
ANSWERED = {
    "call_uuid": c.CALL_UUID,
    "state": "answered",
    "version": 3,
    "placement_id": c.PLACEMENT_ID,
    "request_uuid": c.REQUEST_UUID,
    "to_number": c.TO_NUMBER,
    "from_number": c.FROM_NUMBER,
    "direction": "outbound",
    "policy": "agent",
    "metadata": METADATA,
    "stream_url": c.AGENT_STREAM_URL,
    "agent_webhook_url": c.AGENT_WEBHOOK_URL,
    "stream_to": "external_agent",
    "placed_at": "2024-11-24T12:30:00.120Z",
    "answered_at": "2024-11-24T12:30:08.210Z",
    "updated_at": "2024-11-24T12:30:08.210Z",
}
STREAMING = {**ANSWERED, "version": 6, "stream_id": SECOND_STREAM_ID, "stream_end_count": 1}
DETECTED = {
    **STREAMING,
    "version": 9,
    "state": "machine_detected",
    "machine_detected_at": "2024-11-24T12:30:11.600Z",
    "machine_detection_result": "machine",
    "if_machine": "continue",
    "detection_ms": 3390,
    "agent_mode": "voicemail",
}
NOTIFIED = {
    **DETECTED,
    "version": 11,
    "policy_status": "done",
    "policy_applied": "agent",
    "policy_result": "agent_notified",
    "policy_attempts": 2,
    "policy_completed_at": "2024-11-24T12:30:11.600Z",
    "agent_webhook": c.AGENT_WEBHOOK_URL,
    "agent_notification_status": "delivered",
    "agent_notification_result": "delivered after 2 attempt(s): 503, 200",
    "agent_notification_completed_at": "2024-11-24T12:30:11.600Z",
    "agent_notification_attempts": [
        {"at": "2024-11-24T12:30:11.612Z", "status": 503, "milliseconds": 41},
        {"at": "2024-11-24T12:30:11.902Z", "status": 200, "milliseconds": 38},
    ],
}
LEFT = {
    **NOTIFIED,
    "version": 12,
    "voicemail_played_at": "2024-11-24T12:30:31.050Z",
    "voicemail_reported_by": "arn:aws:iam::123456789012:role/voice-agent",
    "hangup_requested_at": "2024-11-24T12:30:31.050Z",
}
HANGUP = {
    "state": "completed",
    "outcome": "voicemail_left",
    "hangup_cause": "NORMAL_CLEARING",
    "hangup_cause_name": "Normal Hangup",
    "hangup_cause_code": 4000,
    "hangup_source": "API",
    "duration_seconds": 23,
    "bill_duration_seconds": 23,
    "answer_time": "2024-11-24 12:30:08",
    "end_time": "2024-11-24 12:30:31",
    "completed_at": "2024-11-24T12:30:31.400Z",
}
COMPLETED = {**LEFT, **HANGUP, "version": 13}
CUT_BEFORE = {
    **DETECTED,
    "call_uuid": CUT_CALL_UUID,
    "stream_to": "media_route",
    "stream_url": None,
    "agent_webhook_url": None,
    "voicemail_started_at": "2024-11-24T12:30:14.020Z",
    "voicemail_trigger": "beep",
    "beep_heard_at": "2024-11-24T12:30:14.000Z",
}
CUT = {**CUT_BEFORE, **HANGUP, "outcome": "voicemail_cut", "hangup_source": "Callee", "version": 12}
LATE_HUMAN = {
    **ANSWERED,
    **HANGUP,
    "call_uuid": LATE_CALL_UUID,
    "stream_to": "media_route",
    "outcome": "human",
    "hangup_source": "Callee",
    "version": 8,
}
LATE_CORRECTED = {
    **LATE_HUMAN,
    "version": 10,
    "machine_detection_result": "machine",
    "machine_detected_after_hangup": "2024-11-24T12:30:32.100Z",
    "outcome": "voicemail_hangup",
}


def _sequence(number: int) -> str:
    return f"1200000000{number:012d}"


def record(
    event_name: str,
    key: Mapping[str, Any],
    *,
    new: Mapping[str, Any] | None = None,
    old: Mapping[str, Any] | None = None,
    number: int,
) -> dict[str, Any]:
    """One stream record as Lambda delivers it (NEW_AND_OLD_IMAGES; images carry the keys)."""
    body: dict[str, Any] = {
        "ApproximateCreationDateTime": 1732451400 + number,
        "Keys": dict(key),
        "SequenceNumber": _sequence(number),
        "SizeBytes": 1024,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    if new is not None:
        body["NewImage"] = {**key, **to_item(new)}
    if old is not None:
        body["OldImage"] = {**key, **to_item(old)}
    return {
        "eventID": hashlib.md5(f"{number}".encode(), usedforsecurity=False).hexdigest(),
        "eventName": event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": c.REGION,
        "eventSourceARN": STREAM_ARN,
        "dynamodb": body,
    }


def _stream_event(
    stream_id: str, plivo_event: str, kind: str, at: str, timestamp: str, number: int, **parameters: str
) -> dict[str, Any]:
    idempotency_key = f"{stream_id}#{plivo_event}#{timestamp}"
    item = {
        "kind": kind,
        "plivo_event": plivo_event,
        "stream_id": stream_id,
        "at": at,
        "received_at": at,
        "parameters": {
            "CallUUID": c.CALL_UUID,
            "StreamID": stream_id,
            "Event": plivo_event,
            "Timestamp": timestamp,
            **parameters,
        },
    }
    return record("INSERT", keys.stream_event_key(c.CALL_UUID, idempotency_key), new=item, number=number)


PLACEMENT_KEY = keys.placement_key(c.PLACEMENT_ID)
CALL_KEY = keys.call_key(c.CALL_UUID)

PLACED = record(
    "MODIFY",
    PLACEMENT_KEY,
    old=PLACEMENT,
    new={
        **PLACEMENT,
        "state": "requested",
        "request_uuid": c.REQUEST_UUID,
        "plivo_attempts": 1,
        "updated_at": "2024-11-24T12:30:00.480Z",
    },
    number=1,
)
NOT_PLACED = record(
    "MODIFY",
    keys.placement_key(REFUSED_PLACEMENT_ID),
    old={**PLACEMENT, "placement_id": REFUSED_PLACEMENT_ID, "to_number": "+14155550123"},
    new={
        **PLACEMENT,
        "placement_id": REFUSED_PLACEMENT_ID,
        "to_number": "+14155550123",
        "state": "failed",
        "error": "create_call failed after 1 attempt(s): Received status code 400: invalid number",
        "plivo_attempts": 1,
        "updated_at": "2024-11-24T12:30:00.530Z",
    },
    number=2,
)
ANSWERED_INSERT = record("INSERT", CALL_KEY, new=ANSWERED, number=3)
STREAM_STARTED = _stream_event(
    c.STREAM_ID, "StartStream", "started", "2024-11-24T12:30:09.000Z", "2024-11-24 12:30:09", 4
)
STREAM_DEGRADED = _stream_event(
    c.STREAM_ID,
    "DegradedStream",
    "degraded",
    "2024-11-24T12:30:09.800Z",
    "2024-11-24 12:30:09",
    5,
    BufferUsagePercentage="30",
)
STREAM_DROPPED = _stream_event(
    c.STREAM_ID,
    "DroppedStream",
    "dropped",
    "2024-11-24T12:30:10.000Z",
    "2024-11-24 12:30:10",
    6,
    Error="websocket connection closed unexpectedly",
)
RECOVERY = {
    "action": "reconnect",
    "reason": "stream lost; reconnecting (1 of 1)",
    "reconnect_attempt": 1,
    "ended_stream_id": c.STREAM_ID,
    "attempt": 1,
    "at": "2024-11-24T12:30:10.300Z",
}
RECOVERED = record(
    "MODIFY",
    keys.recovery_key(c.CALL_UUID, 1),
    old=RECOVERY,
    new={**RECOVERY, "recovered_at": "2024-11-24T12:30:10.900Z", "recovered_stream_id": SECOND_STREAM_ID},
    number=7,
)
NOTIFIED_MODIFY = record("MODIFY", CALL_KEY, old=DETECTED, new=NOTIFIED, number=8)
LEFT_MODIFY = record("MODIFY", CALL_KEY, old=NOTIFIED, new=LEFT, number=9)
SECOND_STREAM_STOPPED = _stream_event(
    SECOND_STREAM_ID,
    "StopStream",
    "stopped",
    "2024-11-24T12:30:31.300Z",
    "2024-11-24 12:30:31",
    10,
    StatusReason="Call hangup",
    Duration="21",
)
COMPLETED_MODIFY = record("MODIFY", CALL_KEY, old=LEFT, new=COMPLETED, number=11)
CUT_MODIFY = record("MODIFY", keys.call_key(CUT_CALL_UUID), old=CUT_BEFORE, new=CUT, number=12)
CORRECTED_MODIFY = record(
    "MODIFY", keys.call_key(LATE_CALL_UUID), old=LATE_HUMAN, new=LATE_CORRECTED, number=13
)
NO_FACT_MODIFY = record(
    "MODIFY",
    CALL_KEY,
    old=STREAMING,
    new={
        **STREAMING,
        "version": 7,
        "connection_id": "Zx1YcdAbIAMCLdQ=",
        "updated_at": "2024-11-24T12:30:10.950Z",
    },
    number=14,
)
MALFORMED = {**NO_FACT_MODIFY, "dynamodb": {"SequenceNumber": _sequence(15), "NewImage": {}}}

LIFE = (
    PLACED,
    NOT_PLACED,
    ANSWERED_INSERT,
    STREAM_STARTED,
    STREAM_DEGRADED,
    STREAM_DROPPED,
    RECOVERED,
    NO_FACT_MODIFY,
    NOTIFIED_MODIFY,
    LEFT_MODIFY,
    SECOND_STREAM_STOPPED,
    COMPLETED_MODIFY,
    CUT_MODIFY,
    CORRECTED_MODIFY,
)
"""In stream order: between them, every detail-type once."""


def call_record(call_uuid: str) -> Mapping[str, Any] | None:
    """The call records these changes' stream events and recoveries are enriched with."""
    return {c.CALL_UUID: STREAMING}.get(call_uuid)
