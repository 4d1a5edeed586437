"""WebSocket media route for Plivo audio streams: $connect checks the per-call token, $disconnect cleans up,
and every frame goes to the media runtime, which runs the agent. One function serves all three routes.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from voiceagent import stream_token
from voiceagent.clock import utcnow
from voiceagent.connections import StreamConnections, management_client
from voiceagent.credentials import plivo_auth_token, stream_token_key
from voiceagent.media_runtime import MediaRuntime, SessionCache
from voiceagent.plivo_api import Deadline, plivo_gateway
from voiceagent.reference_agent import ReferenceAgent
from voiceagent.repository import call_repository, connection_repository
from voiceagent.settings import SignatureCheck, get_settings
from voiceagent.signature import matches_any_url
from voiceagent.tts import speech_for

logger = Logger()
OK = {"statusCode": 200}
FORBIDDEN = {"statusCode": 403}
# Live sessions of this container: an optimisation with bounded size; DynamoDB holds what matters.
SESSIONS = SessionCache()


def _connect(event: dict[str, Any], connection_id: str) -> dict[str, Any]:
    now = utcnow()
    try:
        call_uuid = stream_token.verify(
            stream_token_key(), event.get("queryStringParameters") or {}, int(now.timestamp())
        )
    except stream_token.StreamTokenError as exc:
        logger.warning("stream connect rejected", extra={"reason": str(exc), "connection_id": connection_id})
        return FORBIDDEN
    logger.append_keys(call_uuid=call_uuid)
    if not _signature_acceptable(event):
        return FORBIDDEN
    connection_repository().attach(connection_id, call_uuid, now)
    logger.info("stream connected", extra={"connection_id": connection_id})
    return OK


def _signature_acceptable(event: dict[str, Any]) -> bool:
    """Check Plivo's signature on the upgrade where present. The signed URL form is undocumented, so every
    plausible form is tried; ``STREAM_SIGNATURE_CHECK=warn`` keeps the token as the only gate."""
    settings = get_settings()
    if settings.stream_signature_check is SignatureCheck.OFF:
        return True
    request_context = event["requestContext"]
    headers = {key.lower(): value for key, value in (event.get("headers") or {}).items()}
    query = urlencode(sorted((event.get("queryStringParameters") or {}).items()))
    host_path = f"{request_context.get('domainName')}/{request_context.get('stage')}"
    configured = settings.websocket_url.split("://", 1)[1]
    urls = [
        f"{scheme}://{where}{suffix}"
        for where in dict.fromkeys((configured, host_path))
        for scheme in ("wss", "https", "ws", "http")
        for suffix in ((f"?{query}", "") if query else ("",))
    ]
    verdict = matches_any_url(urls=urls, headers=headers, auth_token=plivo_auth_token())
    if verdict is False:
        logger.warning(
            "stream connect signature matches no URL form", extra={"mode": settings.stream_signature_check}
        )
        return settings.stream_signature_check is not SignatureCheck.ENFORCE
    return True


def _management_endpoint(request_context: dict[str, Any]) -> str:
    """The @connections endpoint of the API this event came through (configurable for the local stack)."""
    settings = get_settings()
    if settings.websocket_management_endpoint:
        return settings.management_endpoint
    return f"https://{request_context['domainName']}/{request_context['stage']}"


def _runtime(request_context: dict[str, Any]) -> MediaRuntime:
    settings = get_settings()
    connections = connection_repository()
    return MediaRuntime(
        agent=ReferenceAgent(speech_for(settings)),
        calls=call_repository(),
        connections=connections,
        sender=StreamConnections(management_client(_management_endpoint(request_context)), connections),
        gateway=plivo_gateway,
        sessions=SESSIONS,
        vad_threshold_dbfs=settings.agent_vad_threshold_dbfs,
    )


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request_context = event.get("requestContext") or {}
    connection_id = request_context.get("connectionId")
    if not isinstance(connection_id, str):
        logger.warning("event without a connection id")
        return {"statusCode": 400}
    route = request_context.get("routeKey")
    if route == "$connect":
        return _connect(event, connection_id)
    if route == "$disconnect":
        SESSIONS.drop(connection_id)
        call_uuid = connection_repository().detach(connection_id, utcnow())
        logger.info("stream disconnected", extra={"connection_id": connection_id, "call_uuid": call_uuid})
        return OK
    outcome = _runtime(request_context).on_frame(
        connection_id, event.get("body"), Deadline.from_lambda(context.get_remaining_time_in_millis())
    )
    logger.debug("frame handled", extra={"outcome": outcome})
    return OK
