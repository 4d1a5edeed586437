"""POST /plivo/voicemail: the XML a transferred call plays: wait for the greeting, the message, hang up."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2
from aws_lambda_powertools.utilities.typing import LambdaContext

from voiceagent import observability, routes
from voiceagent.calls.voicemail import serve_voicemail
from voiceagent.clock import utcnow
from voiceagent.http_api import http_app, plivo_webhook, query_param, xml_response
from voiceagent.plivo.webhooks import VoicemailWebhook
from voiceagent.settings import get_settings
from voiceagent.store import open_store

logger = Logger()
app = http_app([routes.VOICEMAIL])


@plivo_webhook(app, VoicemailWebhook, routes.VOICEMAIL)
def voicemail(webhook: VoicemailWebhook, event: APIGatewayProxyEventV2) -> Response[str]:
    logger.append_keys(call_uuid=webhook.call_uuid)
    settings = get_settings()
    xml = serve_voicemail(
        webhook.call_uuid,
        placement_id=query_param(event, routes.PLACEMENT_PARAM),
        store=open_store(settings),
        settings=settings,
        now=utcnow(),
    )
    observability.add("VoicemailsServed")
    logger.info("voicemail served")
    return xml_response(xml)


@observability.instrumented(logger)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
