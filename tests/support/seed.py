"""Put calls into known states through the real code paths (placements, answered calls, live streams)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from moto.apigatewaymanagementapi.models import apigatewaymanagementapi_backends

from functions.answer import app as answer_app
from functions.stream_connect import app as connect_app
from tests.support import constants as c
from tests.support.events import load_event
from voiceagent.clock import utcnow
from voiceagent.store import open_store

MOTO_ACCOUNT = "123456789012"


def placement(policy: str, **extra: Any) -> None:
    """A placement Plivo accepted, as ``POST /calls`` leaves it (with its RequestUUID pointer)."""
    placements = open_store().placements
    placements.create(
        c.PLACEMENT_ID,
        {
            "state": "requested",
            "policy": policy,
            "to_number": c.TO_NUMBER,
            "from_number": c.FROM_NUMBER,
            **extra,
        },
        utcnow(),
    )
    placements.update(c.PLACEMENT_ID, utcnow(), request_uuid=c.REQUEST_UUID)


def answered(lambda_context: Any) -> None:
    assert answer_app.lambda_handler(load_event("answer_outbound"), lambda_context)["statusCode"] == 200


def streaming(lambda_context: Any) -> None:
    """The call answered (its answer webhook, once) and its stream connected with the sample token."""
    answered(lambda_context)
    assert connect_app.lambda_handler(load_event("stream_connect"), lambda_context)["statusCode"] == 200


def call_record(call_uuid: str = c.CALL_UUID) -> dict[str, Any]:
    record = open_store().calls.get_call(call_uuid)
    assert record is not None
    return record


def frames_sent(connection_id: str = c.CONNECTION_ID) -> bytes:
    """What the handlers posted to a connection through moto's management API (concatenated)."""
    backend = apigatewaymanagementapi_backends[MOTO_ACCOUNT][c.REGION]
    key = quote(connection_id, safe="")  # moto keys connections by the id as it appears in the URL
    return backend.connections[key].data if key in backend.connections else b""


def frames_posted(connection_id: str = c.CONNECTION_ID) -> list[dict[str, Any]]:
    """The frames posted to a connection, split apart again (moto concatenates them without boundaries)."""
    text = frames_sent(connection_id).decode()
    decoder = json.JSONDecoder()
    frames, offset = [], 0
    while offset < len(text):
        frame, offset = decoder.raw_decode(text, offset)
        frames.append(frame)
    return frames
