"""POST /plivo/stream-status: record stream events once, count them, and restart a dropped stream."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.typing import LambdaContext

from voiceagent import routes
from voiceagent.answering import stream_url
from voiceagent.clock import utcnow
from voiceagent.credentials import stream_token_key
from voiceagent.http_api import http_app, public_url, verified_webhook, xml_response
from voiceagent.observability import traced
from voiceagent.plivo_api import Deadline, plivo_gateway
from voiceagent.plivo_xml import STREAM_CONTENT_TYPE
from voiceagent.repository import call_repository
from voiceagent.settings import get_settings
from voiceagent.stream_status import StreamRestarter, record_stream_status
from voiceagent.webhooks import StreamStatusWebhook

logger = Logger()
app = http_app([routes.STREAM_STATUS])


@app.post(routes.STREAM_STATUS)
def stream_status() -> Response[str]:
    event = app.current_event
    webhook = verified_webhook(event, StreamStatusWebhook)
    logger.append_keys(call_uuid=webhook.call_uuid, stream_id=webhook.stream_id)
    settings = get_settings()
    now = utcnow()
    restarter = None
    if settings.stream_recovery_max_attempts:
        restarter = StreamRestarter(
            gateway=plivo_gateway(),
            service_url=stream_url(
                settings.websocket_url,
                stream_token_key(),
                webhook.call_uuid,
                now,
                settings.stream_token_ttl_seconds,
            ),
            status_callback_url=public_url(event, routes.STREAM_STATUS),
            stream_timeout_seconds=settings.stream_timeout_seconds,
            content_type=STREAM_CONTENT_TYPE,
            max_attempts=settings.stream_recovery_max_attempts,
            deadline=Deadline.from_lambda(app.lambda_context.get_remaining_time_in_millis()),
        )
    result = record_stream_status(
        webhook, repository=call_repository(), stage=settings.stage, now=now, restarter=restarter
    )
    logger.info(
        "stream status recorded",
        extra={"kind": result.event.kind.value, "plivo_event": result.event.plivo_event, "new": result.new},
    )
    return xml_response("<Response></Response>")


@logger.inject_lambda_context(clear_state=True)
@traced
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
