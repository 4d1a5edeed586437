"""WebSocket $connect and $disconnect of Plivo audio streams: admit a stream with its single-use per-call
token and Plivo's signature, register it against its live call; forget it on disconnect.

A small function of its own, so a flood of rejected connects never runs the media function (and its 1 GB),
and its reserved concurrency can cap what a flood costs. It imports nothing of the media runtime.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError

from voiceagent import observability
from voiceagent.aws import is_transient
from voiceagent.clock import utcnow
from voiceagent.credentials import SecretUnavailable
from voiceagent.settings import ConfigurationError, get_settings
from voiceagent.store import open_store
from voiceagent.streams.admission import Refused, admit

logger = Logger()
OK = {"statusCode": 200}
BAD_REQUEST = {"statusCode": 400}
FORBIDDEN = {"statusCode": 403}
MISCONFIGURED = {"statusCode": 500}
UNAVAILABLE = {"statusCode": 503}


def _connect(event: dict[str, Any], connection_id: str) -> dict[str, Any]:
    request_context = event["requestContext"]
    try:
        settings = get_settings()
        admit(
            connection_id=connection_id,
            query=event.get("queryStringParameters") or {},
            headers=event.get("headers") or {},
            domain_name=str(request_context.get("domainName")),
            stage=str(request_context.get("stage")),
            settings=settings,
            connections=open_store(settings).connections,
            now=utcnow(),
        )
    except Refused as exc:
        observability.add("StreamConnectsRefused")
        logger.warning("stream connect refused", extra={"reason": str(exc), "connection_id": connection_id})
        return FORBIDDEN
    except ConfigurationError as exc:
        observability.configuration_error(logger, exc, route="$connect")
        return MISCONFIGURED
    except (ClientError, BotoCoreError, SecretUnavailable) as exc:
        if isinstance(exc, ClientError) and not is_transient(exc):
            raise
        # Plivo retries a failed connect twice, then reports DroppedStream and moves on to the <Redirect>.
        logger.error("stream connect: dependency unavailable", extra={"error": type(exc).__name__})
        return UNAVAILABLE
    observability.add("StreamConnects")
    logger.info("stream connected", extra={"connection_id": connection_id})
    return OK


def _disconnect(connection_id: str) -> dict[str, Any]:
    call_uuid = open_store().connections.detach(connection_id, utcnow())
    logger.info("stream disconnected", extra={"connection_id": connection_id, "call_uuid": call_uuid})
    return OK


@observability.instrumented(logger)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request_context = event.get("requestContext") or {}
    connection_id = request_context.get("connectionId")
    route = request_context.get("routeKey")
    if not isinstance(connection_id, str) or route not in ("$connect", "$disconnect"):
        logger.warning("not a $connect or $disconnect event", extra={"route": str(route)[:40]})
        return BAD_REQUEST
    return _connect(event, connection_id) if route == "$connect" else _disconnect(connection_id)
