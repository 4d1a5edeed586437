"""WebSocket media route: $connect checks the per-call stream token, $disconnect cleans up, and frames are
routed by their ``event`` field. (The stream protocol and the agent arrive with the media-route work; until
then frames are logged by type and acknowledged without a reply.)
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from voiceagent import stream_token
from voiceagent.clock import utcnow
from voiceagent.credentials import stream_token_key
from voiceagent.repository import connection_repository

logger = Logger()

OK = {"statusCode": 200}
FORBIDDEN = {"statusCode": 403}


def _connect(event: dict[str, Any]) -> dict[str, Any]:
    connection_id = event["requestContext"]["connectionId"]
    now = utcnow()
    try:
        call_uuid = stream_token.verify(
            stream_token_key(), event.get("queryStringParameters") or {}, int(now.timestamp())
        )
    except stream_token.StreamTokenError as exc:
        logger.warning("stream connect rejected", extra={"reason": str(exc), "connection_id": connection_id})
        return FORBIDDEN
    logger.append_keys(call_uuid=call_uuid)
    connection_repository().attach(connection_id, call_uuid, now)
    logger.info("stream connected", extra={"connection_id": connection_id})
    return OK


def _disconnect(event: dict[str, Any]) -> dict[str, Any]:
    connection_id = event["requestContext"]["connectionId"]
    call_uuid = connection_repository().detach(connection_id, utcnow())
    logger.info("stream disconnected", extra={"connection_id": connection_id, "call_uuid": call_uuid})
    return OK


def _frame(event: dict[str, Any]) -> dict[str, Any]:
    try:
        message = json.loads(event.get("body") or "")
        kind = message.get("event") if isinstance(message, dict) else None
    except ValueError:
        kind = None
    if not isinstance(kind, str):
        logger.warning("dropped malformed frame")
    else:
        logger.debug("frame received", extra={"frame_event": kind})
    return OK


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    route = event.get("requestContext", {}).get("routeKey")
    if route == "$connect":
        return _connect(event)
    if route == "$disconnect":
        return _disconnect(event)
    return _frame(event)
