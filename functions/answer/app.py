"""POST /plivo/answer: record the call as answered and return the <Stream> XML that connects its audio."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2
from aws_lambda_powertools.utilities.typing import LambdaContext

from voiceagent import observability, routes
from voiceagent.calls.answering import answer_call
from voiceagent.clock import utcnow
from voiceagent.credentials import stream_token_key
from voiceagent.http_api import http_app, plivo_webhook, public_url, query_param, xml_response
from voiceagent.plivo.webhooks import AnswerWebhook
from voiceagent.settings import get_settings
from voiceagent.store import open_store

logger = Logger()
app = http_app([routes.ANSWER])


@plivo_webhook(app, AnswerWebhook, routes.ANSWER)
def answer(webhook: AnswerWebhook, event: APIGatewayProxyEventV2) -> Response[str]:
    logger.append_keys(call_uuid=webhook.call_uuid)
    settings = get_settings()
    result = answer_call(
        webhook,
        store=open_store(settings),
        token_key=stream_token_key(),
        websocket_url=settings.websocket_url,
        status_callback_url=public_url(event, routes.STREAM_STATUS),
        stream_timeout_seconds=settings.stream_timeout_seconds,
        token_ttl_seconds=settings.stream_token_ttl_seconds,
        placement_id=query_param(event, routes.PLACEMENT_PARAM),
        now=utcnow(),
    )
    if result.transition.applied:
        observability.add("CallsAnswered")
    logger.info(
        "call answered", extra={"applied": result.transition.applied, "state": result.transition.current}
    )
    return xml_response(result.xml)


@observability.instrumented(logger)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
