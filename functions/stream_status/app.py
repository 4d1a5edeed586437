"""POST /plivo/stream-status: record stream events once and count them."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2
from aws_lambda_powertools.utilities.typing import LambdaContext

from voiceagent import observability, routes
from voiceagent.clock import utcnow
from voiceagent.http_api import EMPTY_XML, http_app, plivo_webhook, xml_response
from voiceagent.plivo.webhooks import StreamStatusWebhook
from voiceagent.store import open_store
from voiceagent.streams.callbacks import record_stream_status

logger = Logger()
app = http_app([routes.STREAM_STATUS])


@plivo_webhook(app, StreamStatusWebhook, routes.STREAM_STATUS)
def stream_status(webhook: StreamStatusWebhook, event: APIGatewayProxyEventV2) -> Response[str]:
    logger.append_keys(call_uuid=webhook.call_uuid, stream_id=webhook.stream_id)
    result = record_stream_status(webhook, store=open_store(), now=utcnow())
    logger.info(
        "stream status recorded",
        extra={"kind": result.event.kind.value, "plivo_event": result.event.plivo_event, "new": result.new},
    )
    return xml_response(EMPTY_XML)


@observability.instrumented(logger)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
