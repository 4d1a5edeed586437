"""POST /plivo/answer (and Plivo's fallback URL): record the call as answered and return the <Stream> XML
that connects its audio. POST /plivo/stream-ended: the <Redirect> after that <Stream>, which Plivo fetches
when the stream ends: reconnect, fall back, or hang up."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2
from aws_lambda_powertools.utilities.typing import LambdaContext

from voiceagent import observability, routes
from voiceagent.calls.answering import StreamPlan, answer_call
from voiceagent.calls.stream_ended import StreamEndContext
from voiceagent.calls.stream_ended import stream_ended as after_stream
from voiceagent.clock import utcnow
from voiceagent.credentials import stream_token_key
from voiceagent.http_api import (
    http_app,
    plivo_webhook,
    public_base_url,
    query_param,
    route_path,
    xml_response,
)
from voiceagent.plivo.webhooks import AnswerWebhook, StreamEndedWebhook
from voiceagent.settings import get_settings
from voiceagent.store import open_store

logger = Logger()
app = http_app([routes.ANSWER, routes.ANSWER_FALLBACK, routes.STREAM_ENDED])


def stream_plan(event: APIGatewayProxyEventV2) -> StreamPlan:
    settings = get_settings()
    return StreamPlan(
        websocket_url=settings.websocket_url,
        token_key=stream_token_key(),
        token_ttl_seconds=settings.stream_token_ttl_seconds,
        timeout_seconds=settings.stream_timeout_seconds,
        base_url=public_base_url(event),
        callback_retries=settings.plivo_callback_retries,
        agent_stream_url=settings.agent_stream_url,
    )


@plivo_webhook(app, AnswerWebhook, routes.ANSWER, routes.ANSWER_FALLBACK)
def answer(webhook: AnswerWebhook, event: APIGatewayProxyEventV2) -> Response[str]:
    """The answer URL, and Plivo's fallback URL (the same XML) when the answer URL kept failing."""
    logger.append_keys(call_uuid=webhook.call_uuid)
    result = answer_call(
        webhook,
        store=open_store(),
        plan=stream_plan(event),
        placement_id=query_param(event, routes.PLACEMENT_PARAM),
        now=utcnow(),
    )
    if result.transition.applied:
        observability.add("CallsAnswered")
    fallback = route_path(event) == routes.ANSWER_FALLBACK
    if fallback:
        observability.add("AnswersByFallbackUrl")
    logger.info(
        "call answered",
        extra={
            "applied": result.transition.applied,
            "state": result.transition.current,
            "fallback_url": fallback,
        },
    )
    return xml_response(result.xml)


@plivo_webhook(app, StreamEndedWebhook, routes.STREAM_ENDED)
def stream_ended(webhook: StreamEndedWebhook, event: APIGatewayProxyEventV2) -> Response[str]:
    logger.append_keys(call_uuid=webhook.call_uuid)
    settings = get_settings()
    end = after_stream(
        webhook,
        StreamEndContext(
            store=open_store(settings),
            plan=stream_plan(event),
            settings=settings,
            placement_id=query_param(event, routes.PLACEMENT_PARAM),
            now=utcnow(),
        ),
    )
    observability.count("StreamRecoveries", result=end.action.value)
    logger.info(
        "stream ended", extra={"action": end.action.value, "reason": end.reason, "attempt": end.attempt}
    )
    return xml_response(end.xml)


@observability.instrumented(logger)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
