"""Generate events/*.json: API Gateway HTTP API v2 and WebSocket events, signed like Plivo signs them.

Run ``make events`` after changing a case. A unit test regenerates them in memory and compares, so the files
and their signatures cannot drift from this generator or from the plivo SDK.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from tests.support import constants as c
from tests.support import sample_changes as changes
from tests.support.audio import silence, tone
from tests.support.events import EVENTS_DIR
from tests.support.plivo_signing import sign_v3
from voiceagent.credentials import derive_stream_token_key
from voiceagent.streams import tokens as stream_token

NONCE = "31415926535897932384"
TIME_EPOCH_MS = 1732451400000


def nonce_for(method: str, url: str, form: Mapping[str, str] | None) -> str:
    """A nonce like Plivo's (20 digits), one per distinct request: loading the same event twice is a replay
    (or a Plivo retry reusing its nonce), two different events are two requests."""
    digest = hashlib.sha256(json.dumps([method, url, sorted((form or {}).items())]).encode()).hexdigest()
    return str(int(digest, 16))[:20]


def http_event(
    path: str,
    *,
    form: Mapping[str, str] | None = None,
    raw_body: str | None = None,
    query: Mapping[str, str] | None = None,
    method: str = "POST",
    sign: str = "valid",
    base_url: str | None = None,
    domain: str = c.HTTP_API_DOMAIN,
    stage: str = c.STAGE,
    base64_body: bool = True,
    content_type: str = "application/x-www-form-urlencoded",
    json_body: Mapping[str, Any] | None = None,
    nonce: str | None = None,
) -> dict[str, Any]:
    """An HTTP API v2 event for a Plivo webhook. ``sign``: valid, wrong, missing, or several. The nonce is
    derived from the request (``nonce_for``) unless given.

    With ``json_body`` the body is JSON and the signature covers its top-level values as strings (the form
    Plivo signs; how Plivo signs a JSON callback is undocumented).
    """
    query = dict(query or {})
    raw_query = urlencode(query)
    if json_body is not None:
        form = {key: str(value) for key, value in json_body.items()}
        raw_body = json.dumps(json_body)
        content_type = "application/json"
    body = raw_body if raw_body is not None else urlencode(form or {})
    stage_prefix = f"/{stage}" if stage != "$default" else ""
    public = (base_url or f"https://{domain}{stage_prefix}") + path + (f"?{raw_query}" if raw_query else "")
    headers = {
        "content-type": content_type,
        "host": domain,
        "user-agent": "PlivoHTTP",
        "x-forwarded-proto": "https",
    }
    if sign != "missing":
        nonce = nonce or nonce_for(method, public, form)
        params = {key: [value] for key, value in (form or {}).items()}
        good = sign_v3(method=method, url=public, params=params, nonce=nonce, auth_token=c.TEST_AUTH_TOKEN)
        wrong = sign_v3(method=method, url=public, params=params, nonce=nonce, auth_token="not-the-token")
        headers["x-plivo-signature-v3-nonce"] = nonce
        headers["x-plivo-signature-v3"] = {"valid": good, "wrong": wrong, "several": f"{wrong}, {good}"}[sign]
        headers["x-plivo-signature-ma-v3"] = headers["x-plivo-signature-v3"]
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": f"{stage_prefix}{path}",
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": domain.split(".")[0],
            "domainName": domain,
            "domainPrefix": domain.split(".")[0],
            "http": {
                "method": method,
                "path": f"{stage_prefix}{path}",
                "protocol": "HTTP/1.1",
                "sourceIp": "18.215.163.158",
                "userAgent": "PlivoHTTP",
            },
            "requestId": "KJ0e1gR4IAMEJ3Q=",
            "routeKey": f"{method} {path}",
            "stage": stage,
            "time": "24/Nov/2024:12:30:00 +0000",
            "timeEpoch": TIME_EPOCH_MS,
        },
        "isBase64Encoded": base64_body,
    }
    if query:
        event["queryStringParameters"] = query
    if body:
        event["body"] = base64.b64encode(body.encode()).decode() if base64_body else body
    return event


def ws_event(
    route: str, *, query: Mapping[str, str] | None = None, body: str | None = None
) -> dict[str, Any]:
    """An API Gateway WebSocket event for the media route."""
    event_type = {"$connect": "CONNECT", "$disconnect": "DISCONNECT"}.get(route, "MESSAGE")
    event: dict[str, Any] = {
        "requestContext": {
            "routeKey": route,
            "eventType": event_type,
            "messageDirection": "IN",
            "connectionId": c.CONNECTION_ID,
            "domainName": c.WS_API_DOMAIN,
            "stage": c.STAGE,
            "apiId": c.WS_API_DOMAIN.split(".")[0],
            "requestId": "KJ0fAH7yIAMFa5w=",
            "connectedAt": TIME_EPOCH_MS,
            "requestTimeEpoch": TIME_EPOCH_MS,
        },
        "isBase64Encoded": False,
    }
    if route == "$connect":
        event["headers"] = {"Host": c.WS_API_DOMAIN, "User-Agent": "Plivo-Stream"}
        event["queryStringParameters"] = dict(query or {})
    if route == "$disconnect":
        event["requestContext"]["disconnectStatusCode"] = 1000
        event["requestContext"]["disconnectReason"] = "Client-side close frame status code 1000"
    if body is not None:
        event["body"] = body
    return event


def signed_connect(
    auth_token: str = c.TEST_AUTH_TOKEN, query: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """A $connect as Plivo may sign it: here over the https form of the stream URL with its query."""
    event = ws_event("$connect", query=query if query is not None else token_query(c.FAR_FUTURE))
    url = f"https://{c.WS_API_DOMAIN}/{c.STAGE}?{urlencode(sorted(event['queryStringParameters'].items()))}"
    signature = sign_v3(method="GET", url=url, params={}, nonce=NONCE, auth_token=auth_token)
    event["headers"].update({"X-Plivo-Signature-V3": signature, "X-Plivo-Signature-V3-Nonce": NONCE})
    return event


ANSWER_FORM = {
    "CallUUID": c.CALL_UUID,
    "From": c.FROM_NUMBER,
    "To": c.TO_NUMBER,
    "CallStatus": "in-progress",
    "Direction": "outbound",
    "RequestUUID": c.REQUEST_UUID,
    "ALegUUID": c.CALL_UUID,
    "ALegRequestUUID": c.REQUEST_UUID,
    "Event": "StartApp",
    "X-PH-Campaign": "spring-renewals",
}
PLACEMENT_QUERY = {"placement": c.PLACEMENT_ID}
CALL_FORM = {
    "CallUUID": c.CALL_UUID,
    "From": c.FROM_NUMBER,
    "To": c.TO_NUMBER,
    "Direction": "outbound",
    "RequestUUID": c.REQUEST_UUID,
}
MACHINE_FORM = {
    **CALL_FORM,
    "Machine": "true",
    "IfMachine": "continue",
    "Event": "MachineDetection",
    "CallStatus": "in-progress",
}
STREAM_ENDED_FORM = {**CALL_FORM, "CallStatus": "in-progress", "Event": "Redirect"}
HANGUP_FORM = {
    **CALL_FORM,
    "CallStatus": "completed",
    "Event": "Hangup",
    "HangupCause": "NORMAL_CLEARING",
    "HangupCauseName": "Normal Hangup",
    "HangupCauseCode": "4000",
    "HangupSource": "Callee",
    "Duration": "62",
    "BillDuration": "62",
    "StartTime": "2024-11-24 12:30:00",
    "AnswerTime": "2024-11-24 12:30:08",
    "EndTime": "2024-11-24 12:31:10",
}
UNANSWERED = {"AnswerTime": "", "Duration": "0", "BillDuration": "0"}


def calls_event(
    body: str,
    *,
    method: str = "POST",
    path: str = "/calls",
    headers: Mapping[str, str] | None = None,
    query: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A /calls request as HTTP API delivers it after IAM authorisation (the caller's identity in context)."""
    event = http_event(
        path,
        raw_body=body,
        sign="missing",
        base64_body=False,
        content_type="application/json",
        method=method,
        query=query,
    )
    event["headers"].update(headers or {})
    event["requestContext"]["authorizer"] = {
        "iam": {
            "accessKey": "AKIAIOSFODNN7EXAMPLE",
            "accountId": "123456789012",
            "callerId": "AIDACKCEVSQ6C2EXAMPLE",
            "principalOrgId": None,
            "userArn": "arn:aws:iam::123456789012:user/campaign-runner",
            "userId": "AIDACKCEVSQ6C2EXAMPLE",
        }
    }
    if not body:
        event.pop("body", None)
    return event


def campaigns_event(
    path: str, *, method: str = "GET", body: Any = None, route: str | None = None, **parameters: str
) -> dict[str, Any]:
    """A /campaigns or /dnc request as HTTP API delivers it after IAM authorisation."""
    text = json.dumps(body) if body is not None and not isinstance(body, str) else body or ""
    event = calls_event(text, method=method, path=path)
    event["routeKey"] = event["requestContext"]["routeKey"] = f"{method} {route or path}"
    if parameters:
        event["pathParameters"] = parameters
    return event


def sqs_event(*bodies: str, queue: str = "campaign-dial") -> dict[str, Any]:
    """An SQS event as Lambda's event source mapping delivers it."""
    return {
        "Records": [
            {
                "messageId": f"0000000{index}-1111-4222-8333-444444444444",
                "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a",
                "body": body,
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": str(TIME_EPOCH_MS),
                    "ApproximateFirstReceiveTimestamp": str(TIME_EPOCH_MS),
                },
                "messageAttributes": {},
                "md5OfBody": hashlib.md5(body.encode()).hexdigest(),  # noqa: S324 - SQS's own checksum
                "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:{c.REGION}:123456789012:{queue}",
                "awsRegion": c.REGION,
            }
            for index, body in enumerate(bodies)
        ]
    }


def _campaign_id() -> str:
    from voiceagent.campaigns.models import campaign_id_for

    return campaign_id_for(c.CAMPAIGN_KEY)


CAMPAIGN = {
    "name": "spring renewals",
    "from": c.FROM_NUMBER,
    "timezone": "UTC",
    "default_country_code": "1",
    "window": "00:00-23:59",
    "pace": 1,
    "max_in_progress": 2,
    "retry": {"no_answer": {"delay_seconds": 3600, "attempts": 2}},
    "policy": "transfer",
    "voicemail_message": "Hi, this is Acme about your renewal. Please call us back.",
    "idempotency_key": c.CAMPAIGN_KEY,
    "contacts_csv": "number,name,plan\n+1 415 555 0142,Ada,gold\n(415) 555-0143,Alan,silver\n",
}


def call_completed(outcome: str, metadata: dict[str, str]) -> str:
    """A Call Completed event of the call-events bus (issue #17's contract) as its SQS target delivers it."""
    return json.dumps(
        {
            "version": "0",
            "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
            "detail-type": "Call Completed",
            "source": "plivo-voice-agent",
            "account": "123456789012",
            "time": "2024-11-24T12:31:10Z",
            "region": c.REGION,
            "resources": [],
            "detail": {
                "schema_version": 1,
                "event_id": f"{c.CALL_UUID}#completed",
                "occurred_at": "2024-11-24T12:31:10.000Z",
                "call_uuid": c.CALL_UUID,
                "placement_id": f"{_campaign_id()}-0000002-1",
                "request_uuid": c.REQUEST_UUID,
                "stage": c.STAGE,
                "metadata": metadata,
                "outcome": outcome,
                "hangup_cause": "NO_ANSWER",
                "hangup_cause_code": 3000,
                "hangup_source": "Plivo",
                "duration_seconds": 0,
                "bill_duration_seconds": 0,
                "answered_at": None,
                "completed_at": "2024-11-24T12:31:10.000Z",
                "machine_detected": False,
                "policy": "transfer",
                "to": "+14155550142",
                "from": c.FROM_NUMBER,
            },
        }
    )


def report_event(call_id: str, *, method: str = "GET", suffix: str = "") -> dict[str, Any]:
    """GET /calls/{call_id} (or, with ``suffix="/hangup"``, POST /calls/{call_id}/hangup)."""
    event = calls_event("", method=method, path=f"/calls/{call_id}{suffix}")
    event["routeKey"] = event["requestContext"]["routeKey"] = f"{method} /calls/{{call_id}}{suffix}"
    event["pathParameters"] = {"call_id": call_id}
    return event


def list_event(**query: str) -> dict[str, Any]:
    """GET /calls with a query string."""
    event = calls_event("", method="GET", query=query)
    event["routeKey"] = event["requestContext"]["routeKey"] = "GET /calls"
    return event


STREAM_FORM = {
    "CallUUID": c.CALL_UUID,
    "StreamID": c.STREAM_ID,
    "From": c.FROM_NUMBER,
    "To": c.TO_NUMBER,
    "ParentAuthID": c.TEST_AUTH_ID,
    "ServiceURL": f"{c.WEBSOCKET_URL}?call_uuid={c.CALL_UUID}",
}


def stream_event(event: str, timestamp: str, **extra: str) -> dict[str, Any]:
    return http_event(
        "/plivo/stream-status", form={**STREAM_FORM, "Event": event, "Timestamp": timestamp, **extra}
    )


def stream_json(event: str, timestamp: str, **extra: Any) -> dict[str, Any]:
    return http_event(
        "/plivo/stream-status",
        json_body={
            "CallUUID": c.CALL_UUID,
            "StreamID": c.STREAM_ID,
            "Event": event,
            "Timestamp": timestamp,
            **extra,
        },
    )


PLACE_CALL = {
    "to": c.TO_NUMBER,
    "from": c.FROM_NUMBER,
    "policy": "transfer",
    "voicemail_message": "Hi, this is Acme about your renewal. Please call us back.",
}


TOKEN_ID = "5eb63bbbe01eeed093cb22bb"
SECOND_TOKEN_ID = "8f434346648f6b96df89dda9"


def token_query(expires: int, *, forged: bool = False, token_id: str = TOKEN_ID) -> dict[str, str]:
    key = derive_stream_token_key("forged-key" if forged else c.TEST_AUTH_TOKEN)
    token = stream_token.issue(key, c.CALL_UUID, expires, 0, token_id=token_id)
    return {
        "call_uuid": token.call_uuid,
        "expires": str(token.expires),
        "jti": token_id,
        "token": token.token,
    }


START_FRAME: dict[str, Any] = {
    "event": "start",
    "sequenceNumber": 1,
    "start": {
        "callId": c.CALL_UUID,
        "streamId": c.STREAM_ID,
        "accountId": c.TEST_AUTH_ID,
        "tracks": ["inbound"],
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000},
    },
    "extra_headers": "X-PH-Campaign=spring-renewals",
}


def media_frame(audio: bytes, sequence: int) -> dict[str, Any]:
    return {
        "event": "media",
        "sequenceNumber": sequence,
        "streamId": c.STREAM_ID,
        "media": {
            "track": "inbound",
            "timestamp": str(TIME_EPOCH_MS + 20 * sequence),
            "chunk": sequence - 1,
            "payload": base64.b64encode(audio).decode(),
        },
        "extra_headers": "",
    }


def dtmf_frame(digit: str) -> dict[str, Any]:
    return {
        "event": "dtmf",
        "sequenceNumber": 10,
        "streamId": c.STREAM_ID,
        "dtmf": {"track": "inbound", "digit": digit, "timestamp": str(TIME_EPOCH_MS + 200)},
    }


def frame_event(frame: dict[str, Any]) -> dict[str, Any]:
    return ws_event("$default", body=json.dumps(frame, separators=(",", ":")))


def stream_batch(*records: dict[str, Any]) -> dict[str, Any]:
    """What the DynamoDB event source mapping hands ``functions/call_events``."""
    return {"Records": list(records)}


EXTERNAL_AGENT_CALL = {
    **PLACE_CALL,
    "policy": "agent",
    "stream_url": c.AGENT_STREAM_URL,
    "agent_webhook_url": c.AGENT_WEBHOOK_URL,
    "metadata": changes.METADATA,
}
AGENT_KEYS = {
    "STREAM_TOKEN_SECRET_PARAM": c.STREAM_TOKEN_SECRET_PARAM,
    "AGENT_WEBHOOK_SECRET_PARAM": c.AGENT_WEBHOOK_SECRET_PARAM,
}
"""The settings of a stack with keys for your own agent (the secrets are in the tests' and invoke's SSM)."""


CASES: dict[str, Callable[[], dict[str, Any]]] = {
    "answer_outbound": lambda: http_event("/plivo/answer", form=ANSWER_FORM, query=PLACEMENT_QUERY),
    "answer_fallback": lambda: http_event("/plivo/answer-fallback", form=ANSWER_FORM, query=PLACEMENT_QUERY),
    "answer_inbound_plain_body": lambda: http_event(
        "/plivo/answer",
        form={**ANSWER_FORM, "Direction": "inbound", "RequestUUID": "", "ALegRequestUUID": ""},
        base64_body=False,
    ),
    "answer_several_signatures": lambda: http_event("/plivo/answer", form=ANSWER_FORM, sign="several"),
    "answer_custom_domain": lambda: http_event(
        "/plivo/answer", form=ANSWER_FORM, base_url=c.CUSTOM_DOMAIN_BASE, domain="voice.example.com"
    ),
    "answer_bad_signature": lambda: http_event("/plivo/answer", form=ANSWER_FORM, sign="wrong"),
    "answer_nonce_too_long": lambda: http_event("/plivo/answer", form=ANSWER_FORM, nonce="7" * 129),
    "answer_missing_signature": lambda: http_event("/plivo/answer", form=ANSWER_FORM, sign="missing"),
    "answer_missing_call_uuid": lambda: http_event(
        "/plivo/answer", form={k: v for k, v in ANSWER_FORM.items() if k != "CallUUID"}
    ),
    "answer_invalid_call_uuid": lambda: http_event(
        "/plivo/answer", form={**ANSWER_FORM, "CallUUID": "../../etc/passwd"}
    ),
    "answer_malformed_base64": lambda: {
        **http_event("/plivo/answer", form=ANSWER_FORM),
        "body": "%%% not base64 %%%",
    },
    "answer_not_utf8": lambda: {
        **http_event("/plivo/answer", form=ANSWER_FORM),
        "body": base64.b64encode(b"CallUUID=\xff\xfe").decode(),
    },
    "answer_oversized_body": lambda: http_event(
        "/plivo/answer", raw_body="CallUUID=" + "a" * (70 * 1024), sign="missing"
    ),
    "answer_wrong_method": lambda: http_event("/plivo/answer", method="GET", form={}),
    "unknown_path": lambda: http_event("/plivo/nowhere", form=ANSWER_FORM),
    "machine_detection_machine": lambda: http_event(
        "/plivo/machine-detection", form=MACHINE_FORM, query=PLACEMENT_QUERY
    ),
    "machine_detection_no_placement": lambda: http_event("/plivo/machine-detection", form=MACHINE_FORM),
    "machine_detection_human": lambda: http_event(
        "/plivo/machine-detection", form={**MACHINE_FORM, "Machine": "false"}, query=PLACEMENT_QUERY
    ),
    "machine_detection_bad_signature": lambda: http_event(
        "/plivo/machine-detection", form=MACHINE_FORM, query=PLACEMENT_QUERY, sign="wrong"
    ),
    "machine_detection_missing_call_uuid": lambda: http_event(
        "/plivo/machine-detection", form={k: v for k, v in MACHINE_FORM.items() if k != "CallUUID"}
    ),
    "voicemail": lambda: http_event(
        "/plivo/voicemail", form={**CALL_FORM, "CallStatus": "in-progress"}, query=PLACEMENT_QUERY
    ),
    "voicemail_bad_signature": lambda: http_event("/plivo/voicemail", form=CALL_FORM, sign="wrong"),
    "voicemail_missing_call_uuid": lambda: http_event(
        "/plivo/voicemail", form={k: v for k, v in CALL_FORM.items() if k != "CallUUID"}
    ),
    "stream_ended": lambda: http_event("/plivo/stream-ended", form=STREAM_ENDED_FORM, query=PLACEMENT_QUERY),
    "stream_ended_call_completed": lambda: http_event(
        "/plivo/stream-ended", form={**STREAM_ENDED_FORM, "CallStatus": "completed"}, query=PLACEMENT_QUERY
    ),
    "stream_ended_bad_signature": lambda: http_event(
        "/plivo/stream-ended", form=STREAM_ENDED_FORM, query=PLACEMENT_QUERY, sign="wrong"
    ),
    "hangup_human": lambda: http_event("/plivo/hangup", form=HANGUP_FORM, query=PLACEMENT_QUERY),
    "hangup_machine_detected": lambda: http_event(
        "/plivo/hangup",
        form={
            **HANGUP_FORM,
            "HangupCause": "MACHINE_DETECTED",
            "HangupCauseName": "Machine Detected",
            "HangupCauseCode": "9100",
            "HangupSource": "Plivo",
            "Duration": "6",
            "BillDuration": "6",
        },
        query=PLACEMENT_QUERY,
    ),
    "hangup_end_of_xml": lambda: http_event(
        "/plivo/hangup",
        form={
            **HANGUP_FORM,
            "HangupCause": "NORMAL_CLEARING",
            "HangupCauseName": "End Of XML Instructions",
            "HangupCauseCode": "4010",
            "HangupSource": "Plivo",
        },
        query=PLACEMENT_QUERY,
    ),
    "hangup_no_answer": lambda: http_event(
        "/plivo/hangup",
        form={
            **HANGUP_FORM,
            **UNANSWERED,
            "HangupCause": "NO_ANSWER",
            "HangupCauseName": "No Answer",
            "HangupCauseCode": "3000",
            "HangupSource": "Plivo",
            "CallStatus": "no-answer",
        },
        query=PLACEMENT_QUERY,
    ),
    "hangup_busy": lambda: http_event(
        "/plivo/hangup",
        form={
            **HANGUP_FORM,
            **UNANSWERED,
            "HangupCause": "USER_BUSY",
            "HangupCauseName": "Busy Line",
            "HangupCauseCode": "3010",
            "HangupSource": "Callee",
            "CallStatus": "busy",
        },
        query=PLACEMENT_QUERY,
    ),
    "hangup_failed": lambda: http_event(
        "/plivo/hangup",
        form={
            **HANGUP_FORM,
            **UNANSWERED,
            "HangupCause": "INVALID_NUMBER_FORMAT",
            "HangupCauseName": "Invalid Destination Address",
            "HangupCauseCode": "2000",
            "HangupSource": "Plivo",
            "CallStatus": "failed",
        },
        query=PLACEMENT_QUERY,
    ),
    "hangup_bad_signature": lambda: http_event("/plivo/hangup", form=HANGUP_FORM, sign="wrong"),
    "hangup_invalid_duration": lambda: http_event("/plivo/hangup", form={**HANGUP_FORM, "Duration": "sixty"}),
    "calls_place": lambda: calls_event(json.dumps(PLACE_CALL)),
    "calls_place_with_tuning": lambda: calls_event(
        json.dumps(
            {
                **PLACE_CALL,
                "policy": "agent",
                "machine_detection_time": 3500,
                "tuning": {
                    "initial_silence": 3000,
                    "maximum_speech_length": 4000,
                    "maximum_words": 4,
                    "initial_greeting": 2000,
                },
            }
        )
    ),
    "calls_place_idempotent": lambda: calls_event(
        json.dumps({**PLACE_CALL, "placement_id": c.IDEMPOTENCY_KEY})
    ),
    "calls_place_idempotent_other_request": lambda: calls_event(
        json.dumps({**PLACE_CALL, "to": "+14155550123", "placement_id": c.IDEMPOTENCY_KEY})
    ),
    "calls_place_idempotency_header": lambda: calls_event(
        json.dumps(PLACE_CALL), headers={"idempotency-key": c.IDEMPOTENCY_KEY}
    ),
    "calls_place_bad_idempotency_key": lambda: calls_event(
        json.dumps(PLACE_CALL), headers={"idempotency-key": "no spaces/or slashes"}
    ),
    "calls_place_idempotency_keys_differ": lambda: calls_event(
        json.dumps({**PLACE_CALL, "placement_id": c.IDEMPOTENCY_KEY}),
        headers={"idempotency-key": "campaign-42-row-0008"},
    ),
    "calls_place_tuning_out_of_range": lambda: calls_event(
        json.dumps({**PLACE_CALL, "tuning": {"maximum_words": 50}})
    ),
    "calls_place_unknown_field": lambda: calls_event(json.dumps({**PLACE_CALL, "callback": "https://x"})),
    "calls_place_not_json": lambda: calls_event("to=1415&from=1416"),
    "calls_place_empty": lambda: calls_event(""),
    "stream_status_start_stream": lambda: stream_event("StartStream", "2024-11-24 12:30:09"),
    "stream_status_stop_stream": lambda: stream_event("StopStream", "2024-11-24 12:31:10"),
    "stream_status_dropped_stream": lambda: stream_event(
        "DroppedStream", "2024-11-24 12:30:40", Error="websocket connection closed unexpectedly"
    ),
    "stream_status_degraded_stream": lambda: stream_event(
        "DegradedStream", "2024-11-24 12:30:30", BufferUsagePercentage="60"
    ),
    "stream_status_started_json": lambda: stream_json("started", "2024-11-24T12:30:09.120Z"),
    "stream_status_stopped_json": lambda: stream_json(
        "stopped", "2024-11-24T12:31:10.500Z", StatusReason="Stream timeout", Duration=61
    ),
    "stream_status_failed_json": lambda: stream_json(
        "failed", "2024-11-24T12:30:40.000Z", StatusReason="Connection error: peer closed"
    ),
    "stream_status_unknown_event": lambda: stream_event("PausedStream", "2024-11-24 12:30:20", Paused="true"),
    "stream_status_bad_signature": lambda: {
        **stream_event("StartStream", "2024-11-24 12:30:09"),
        "headers": {
            **stream_event("StartStream", "2024-11-24 12:30:09")["headers"],
            "x-plivo-signature-v3": "Zm9yZ2Vk",
        },
    },
    "stream_status_missing_event": lambda: http_event("/plivo/stream-status", form=STREAM_FORM),
    "calls_report": lambda: report_event(c.CALL_UUID),
    "calls_report_by_placement": lambda: report_event(c.PLACEMENT_ID),
    "calls_report_by_request": lambda: report_event(c.REQUEST_UUID),
    "calls_report_invalid_uuid": lambda: report_event("no$such*id"),
    "calls_hangup": lambda: report_event(c.CALL_UUID, method="POST", suffix="/hangup"),
    "calls_hangup_by_placement": lambda: report_event(c.PLACEMENT_ID, method="POST", suffix="/hangup"),
    "calls_list": lambda: list_event(limit="10"),
    "calls_list_filtered": lambda: list_event(
        since="2024-11-24T00:00:00Z", until="2024-11-25T00:00:00Z", number=c.TO_NUMBER, outcome="human"
    ),
    "calls_list_invalid": lambda: list_event(outcome="maybe", limit="1000", since="yesterday", colour="red"),
    "stream_connect": lambda: signed_connect(),
    "stream_connect_second_token": lambda: {
        **signed_connect(query=token_query(c.FAR_FUTURE, token_id=SECOND_TOKEN_ID)),
        "requestContext": {**ws_event("$connect")["requestContext"], "connectionId": "NewerConn0000="},
    },
    "stream_connect_expired_token": lambda: signed_connect(query=token_query(1_600_000_000)),
    "stream_connect_forged_token": lambda: signed_connect(query=token_query(c.FAR_FUTURE, forged=True)),
    "stream_connect_forged_token_id": lambda: signed_connect(
        query={**token_query(c.FAR_FUTURE), "jti": SECOND_TOKEN_ID}
    ),
    "stream_connect_missing_token": lambda: signed_connect(query={}),
    "stream_connect_unsigned": lambda: ws_event("$connect", query=token_query(c.FAR_FUTURE)),
    "stream_connect_bad_signature": lambda: signed_connect("not-the-token"),
    "stream_connect_wrong_route": lambda: {**ws_event("$default", body="{}")},
    "stream_disconnect": lambda: ws_event("$disconnect"),
    "media_start": lambda: frame_event(START_FRAME),
    "media_start_other_call": lambda: frame_event(
        {**START_FRAME, "start": {**START_FRAME["start"], "callId": "00000000-0000-4000-8000-000000000000"}}
    ),
    "media_speech": lambda: frame_event(media_frame(tone(440, 20, 0.5), 2)),
    "media_silence": lambda: frame_event(media_frame(silence(20), 3)),
    "media_bad_payload": lambda: frame_event({**media_frame(b"", 4), "media": {"payload": "%%%not-base64"}}),
    "media_dtmf": lambda: frame_event(dtmf_frame("5")),
    "media_dtmf_end_call": lambda: frame_event(dtmf_frame("#")),
    "media_played_greeting": lambda: frame_event(
        {"event": "playedStream", "sequenceNumber": 20, "streamId": c.STREAM_ID, "name": "greeting"}
    ),
    "media_played_voicemail": lambda: frame_event(
        {"event": "played", "sequenceNumber": 40, "streamId": c.STREAM_ID, "name": "voicemail"}
    ),
    "media_played_goodbye": lambda: frame_event(
        {"event": "playedStream", "sequenceNumber": 41, "streamId": c.STREAM_ID, "name": "goodbye"}
    ),
    "media_cleared_audio": lambda: frame_event(
        {"event": "clearedAudio", "sequenceNumber": 30, "streamId": c.STREAM_ID}
    ),
    "media_stop": lambda: frame_event({"event": "stop", "sequenceNumber": 50, "streamId": c.STREAM_ID}),
    "media_unknown_event": lambda: frame_event(
        {"event": "playFailed", "streamId": c.STREAM_ID, "error": "x"}
    ),
    "media_frame_malformed": lambda: ws_event("$default", body="{not json"),
    "media_frame_oversized": lambda: frame_event(media_frame(tone(440, 20, 0.5) * 60, 5)),
    "campaigns_create": lambda: campaigns_event("/campaigns", method="POST", body=CAMPAIGN),
    "campaigns_create_json": lambda: campaigns_event(
        "/campaigns",
        method="POST",
        body={
            **{k: v for k, v in CAMPAIGN.items() if k not in ("contacts_csv", "idempotency_key")},
            "contacts": [
                {
                    "number": "+14155550142",
                    "name": "Ada",
                    "timezone": "America/New_York",
                    "fields": {"plan": "gold"},
                },
                {"number": "+442079460000", "timezone": "Europe/London"},
            ],
        },
    ),
    "campaigns_create_invalid_rows": lambda: campaigns_event(
        "/campaigns",
        method="POST",
        body={
            **CAMPAIGN,
            "idempotency_key": None,
            "contacts_csv": "number,timezone\n12,UTC\n+14155550142,Mars/Base\n",
        },
    ),
    "campaigns_create_pace_too_high": lambda: campaigns_event(
        "/campaigns", method="POST", body={**CAMPAIGN, "idempotency_key": None, "pace": 500}
    ),
    "campaigns_create_not_json": lambda: campaigns_event(
        "/campaigns", method="POST", body="number\n+14155550142"
    ),
    "campaigns_status": lambda: campaigns_event(
        f"/campaigns/{_campaign_id()}", route="/campaigns/{campaign_id}", campaign_id=_campaign_id()
    ),
    "campaigns_status_unknown": lambda: campaigns_event(
        "/campaigns/cmp-0000000000000000",
        route="/campaigns/{campaign_id}",
        campaign_id="cmp-0000000000000000",
    ),
    "campaigns_status_invalid_id": lambda: campaigns_event(
        "/campaigns/nope", route="/campaigns/{campaign_id}", campaign_id="nope"
    ),
    "campaigns_results": lambda: campaigns_event(
        f"/campaigns/{_campaign_id()}/results.csv",
        route="/campaigns/{campaign_id}/results.csv",
        campaign_id=_campaign_id(),
    ),
    "campaigns_pause": lambda: campaigns_event(
        f"/campaigns/{_campaign_id()}/pause",
        method="POST",
        route="/campaigns/{campaign_id}/{action}",
        campaign_id=_campaign_id(),
        action="pause",
    ),
    "campaigns_cancel": lambda: campaigns_event(
        f"/campaigns/{_campaign_id()}/cancel",
        method="POST",
        route="/campaigns/{campaign_id}/{action}",
        campaign_id=_campaign_id(),
        action="cancel",
    ),
    "campaigns_unknown_action": lambda: campaigns_event(
        f"/campaigns/{_campaign_id()}/restart",
        method="POST",
        route="/campaigns/{campaign_id}/{action}",
        campaign_id=_campaign_id(),
        action="restart",
    ),
    "dnc_add": lambda: campaigns_event(
        "/dnc",
        method="POST",
        body={"numbers": ["+1 415 555 0142", "4155550143"], "default_country_code": "1", "reason": "asked"},
    ),
    "dnc_add_invalid": lambda: campaigns_event(
        "/dnc", method="POST", body={"numbers": ["12", "+14155550142"]}
    ),
    "dnc_list": lambda: campaigns_event("/dnc"),
    "dnc_remove": lambda: campaigns_event(
        "/dnc/%2B14155550142", method="DELETE", route="/dnc/{number}", number="%2B14155550142"
    ),
    "campaign_dialer_batch": lambda: sqs_event(
        json.dumps({"campaign_id": _campaign_id(), "row": 2, "attempt": 1}),
        json.dumps({"campaign_id": _campaign_id(), "row": 3, "attempt": 1}),
    ),
    "campaign_dialer_malformed": lambda: sqs_event("not a dial message"),
    "campaign_outcomes_call_completed": lambda: sqs_event(
        call_completed(
            "no_answer",
            {"campaign_id": _campaign_id(), "campaign_row": "2", "campaign_attempt": "1", "plan": "gold"},
        ),
        queue="campaign-outcomes",
    ),
    "campaign_outcomes_not_ours": lambda: sqs_event(
        call_completed("human", {"ticket": "42"}), queue="campaign-outcomes"
    ),
    "campaign_outcomes_malformed": lambda: sqs_event(
        '{"detail-type": "Call Completed"}', queue="campaign-outcomes"
    ),
    "campaign_sweeper_scheduled": lambda: {
        "version": "0",
        "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2024-11-24T12:32:00Z",
        "region": c.REGION,
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/campaign-sweeper"],
        "detail": {},
    },
    "calls_place_external_agent": lambda: calls_event(json.dumps(EXTERNAL_AGENT_CALL)),
    "calls_place_external_agent_without_keys": lambda: calls_event(
        json.dumps({**EXTERNAL_AGENT_CALL, "metadata": {"case": "no keys"}})
    ),
    "calls_place_stream_url_invalid": lambda: calls_event(
        json.dumps({**EXTERNAL_AGENT_CALL, "stream_url": "https://agent.example.com/plivo?token=mine"})
    ),
    "calls_hangup_voicemail_left": lambda: {
        **report_event(c.CALL_UUID, method="POST", suffix="/hangup"),
        "body": json.dumps({"voicemail_left": True}),
    },
    "calls_hangup_voicemail_left_no_machine": lambda: {
        **report_event(c.CALL_UUID, method="POST", suffix="/hangup"),
        "body": json.dumps({"voicemail_left": True}),
    },
    "machine_detection_external_agent": lambda: http_event(
        "/plivo/machine-detection",
        form={**MACHINE_FORM, "X-PH-Agent": "external"},
        query=PLACEMENT_QUERY,
    ),
    "call_events_call_life": lambda: stream_batch(*changes.LIFE),
    "call_events_call_completed": lambda: stream_batch(changes.COMPLETED_MODIFY),
    "call_events_stream_events": lambda: stream_batch(
        changes.STREAM_STARTED, changes.STREAM_DEGRADED, changes.STREAM_DROPPED, changes.RECOVERED
    ),
    "call_events_placements": lambda: stream_batch(changes.PLACED, changes.NOT_PLACED),
    "call_events_no_facts": lambda: stream_batch(changes.NO_FACT_MODIFY),
    "call_events_malformed_record": lambda: stream_batch(
        changes.STREAM_STARTED, changes.MALFORMED, changes.COMPLETED_MODIFY
    ),
}


def render(name: str) -> str:
    return json.dumps(CASES[name](), indent=2, sort_keys=True) + "\n"


# ------------------------------------------------------------- what the stack sends: events, notifications


def published_details() -> list[Any]:
    """The details ``functions/call_events`` derives from the sample changes (every detail-type)."""
    from voiceagent.call_events.facts import Context, derive
    from voiceagent.store.changes import decode

    context = Context(stage=c.STAGE, call_record=changes.call_record)
    return [detail for record in changes.LIFE for detail in derive(decode(record), context)]


def eventbridge_event(detail: Any) -> dict[str, Any]:
    """The event as EventBridge delivers it to a rule's target (its ``id`` is EventBridge's own: random in
    reality, made from ``event_id`` here so the sample is stable; deduplicate on ``detail.event_id``)."""
    import uuid

    from voiceagent.call_events.publisher import detail_json
    from voiceagent.call_events.schema import SOURCE

    return {
        "version": "0",
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, detail.event_id)),
        "detail-type": detail.DETAIL_TYPE,
        "source": SOURCE,
        "account": "123456789012",
        "time": detail.occurred_at[:19] + "Z",
        "region": c.REGION,
        "resources": [],
        "detail": detail_json(detail),
    }


NOTIFICATION_TIME = TIME_EPOCH_MS // 1000 + 11


def agent_notification() -> dict[str, Any]:
    """The agent policy's notification to your agent, as sent: method, URL, signed headers, exact body."""
    from voiceagent.agents.notification import (
        NOTIFICATION_ID_HEADER,
        SIGNATURE_HEADER,
        AgentNotification,
        Voicemail,
        sign,
    )
    from voiceagent.call_events.facts import machine_detected
    from voiceagent.call_events.schema import AgentNotified, event_id
    from voiceagent.settings import Settings

    detected = machine_detected({**changes.DETECTED, "policy_applied": "agent"}, c.STAGE, c.CALL_UUID)
    defaults = Settings.model_fields
    notification = AgentNotification(
        **detected.model_dump(),
        notification_id=event_id(c.CALL_UUID, AgentNotified.FACT),
        stream_id=changes.SECOND_STREAM_ID,
        voicemail=Voicemail(
            message=str(defaults["voicemail_message"].default),
            audio_url=None,
            voice=str(defaults["voicemail_voice"].default),
            language=str(defaults["voicemail_language"].default),
        ),
    )
    body = notification.model_dump_json(by_alias=True)
    return {
        "method": "POST",
        "url": c.AGENT_WEBHOOK_URL,
        "headers": {
            "Content-Type": "application/json",
            "User-Agent": "plivo-voice-agent",
            SIGNATURE_HEADER: sign(c.AGENT_WEBHOOK_SECRET.encode(), body.encode(), NOTIFICATION_TIME),
            NOTIFICATION_ID_HEADER: notification.notification_id,
        },
        "body": body,
        "key": f"the value of {c.AGENT_WEBHOOK_SECRET_PARAM}: {c.AGENT_WEBHOOK_SECRET}",
    }


def _json(document: Any) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def _open(schema: Any) -> Any:
    """A published JSON Schema lets fields be added (schema_version 1 may grow; consumers ignore what they do
    not know): the models' own ``extra="forbid"`` guards this code, not its consumers."""
    if isinstance(schema, dict):
        return {key: _open(value) for key, value in schema.items() if key != "additionalProperties"}
    if isinstance(schema, list):
        return [_open(item) for item in schema]
    return schema


def artifacts() -> dict[str, Callable[[], str]]:
    """Files under events/ that are not function inputs: one sample and one JSON Schema per detail-type of
    the call events (``eventbridge/``), the agent notification and its schema (``agent/``)."""
    from voiceagent.agents.notification import AgentNotification
    from voiceagent.call_events import schema

    samples = {detail.FACT: detail for detail in reversed(published_details())}  # first of each type
    files: dict[str, Callable[[], str]] = {}
    for model in schema.DETAILS:
        files[f"eventbridge/{model.FACT}.json"] = functools.partial(
            lambda detail: _json(eventbridge_event(detail)), samples[model.FACT]
        )
        files[f"eventbridge/schemas/{model.FACT}.json"] = functools.partial(
            lambda detail_type: _json(_open(detail_type.model_json_schema(by_alias=True))), model
        )
    files["agent/notification.json"] = lambda: _json(agent_notification())
    files["agent/notification.schema.json"] = lambda: _json(
        _open(AgentNotification.model_json_schema(by_alias=True))
    )
    return files


ENV_FILE = EVENTS_DIR / "env" / "sam-local-invoke.json"
"""The functions' environment for these events (``sam local invoke --env-vars``; ``make invoke``)."""
DOCKER_HOST = "http://host.docker.internal"
"""This machine seen from a `sam local invoke` container (on Linux: ``--add-host
host.docker.internal:host-gateway``): `make local`'s moto (3003) and simulated Plivo (3002)."""


def function_environment() -> dict[str, str]:
    """What template.yaml's Globals give the functions, with the values the events were made for: the test
    auth token in SSM (`make local`'s moto keeps it too), the test table, the test API domains and stage."""
    return {
        **c.FUNCTION_SETTINGS,
        "POWERTOOLS_SERVICE_NAME": "plivo-voice-agent",
        "POWERTOOLS_METRICS_NAMESPACE": "PlivoVoiceAgentLocal",
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "AWS_ENDPOINT_URL_DYNAMODB": f"{DOCKER_HOST}:3003",
        "AWS_ENDPOINT_URL_SSM": f"{DOCKER_HOST}:3003",
        "AWS_ENDPOINT_URL_SQS": f"{DOCKER_HOST}:3003",
        "WEBSOCKET_MANAGEMENT_ENDPOINT": f"{DOCKER_HOST}:3001",
        "PLIVO_API_BASE_URL": f"{DOCKER_HOST}:3002",
        "AWS_ENDPOINT_URL_EVENTBRIDGE": f"{DOCKER_HOST}:3003",
        "EVENT_BUS_NAME": c.EVENT_BUS_NAME,
    }


EVENT_ENVIRONMENT = {
    "answer_custom_domain": {"PUBLIC_BASE_URL": c.CUSTOM_DOMAIN_BASE},
    "calls_place_external_agent": AGENT_KEYS,
    "calls_place_stream_url_invalid": AGENT_KEYS,
    "machine_detection_external_agent": {
        **AGENT_KEYS,
        "AGENT_STREAM_URL": c.AGENT_STREAM_URL,
        "AGENT_WEBHOOK_URL": c.AGENT_WEBHOOK_URL,
        "DEFAULT_MACHINE_POLICY": "agent",
    },
}
"""Events made for a stack configured otherwise (``sam local invoke``: put these in the env-vars file)."""
EVENT_PREREQUISITES = {
    **dict.fromkeys(("stream_connect", "stream_connect_second_token"), (("answer", "answer_outbound"),)),
    **dict.fromkeys(
        (
            "campaigns_status",
            "campaigns_results",
            "campaigns_pause",
            "campaigns_cancel",
            "campaign_dialer_batch",
            "campaign_sweeper_scheduled",
        ),
        (("campaigns", "campaigns_create"),),
    ),
    "campaign_outcomes_call_completed": (
        ("campaigns", "campaigns_create"),
        ("campaign_dialer", "campaign_dialer_batch"),
    ),
    "dnc_remove": (("campaigns", "dnc_add"),),
    "calls_hangup_voicemail_left": (
        ("answer", "answer_outbound"),
        ("machine_detection", "machine_detection_machine"),
    ),
    "calls_hangup_voicemail_left_no_machine": (("answer", "answer_outbound"),),
    "machine_detection_external_agent": (("answer", "answer_outbound"),),
}
"""Events that act only on a call in a given state, and the (function, event) pairs that put it there: a
stream connects only to an answered call."""


def render_environment() -> str:
    return json.dumps({"Parameters": function_environment()}, indent=2, sort_keys=True) + "\n"


def main(out_dir: Path = EVENTS_DIR) -> int:
    out_dir.mkdir(exist_ok=True)
    for name in CASES:
        (out_dir / f"{name}.json").write_text(render(name))
    env_file = out_dir / ENV_FILE.relative_to(EVENTS_DIR)
    env_file.parent.mkdir(exist_ok=True)
    env_file.write_text(render_environment())
    made = artifacts()
    for relative, render_file in made.items():
        path = out_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render_file())
    print(f"wrote {len(CASES)} events to {out_dir}, and their functions' environment to {env_file}")
    print(f"wrote {len(made)} samples and schemas of what the stack sends (eventbridge/, agent/)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
