"""POST /plivo/hangup: close the call with its cause, durations and outcome."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2
from aws_lambda_powertools.utilities.typing import LambdaContext

from voiceagent import observability, routes
from voiceagent.calls.call_end import complete_call
from voiceagent.clock import utcnow
from voiceagent.http_api import EMPTY_XML, http_app, plivo_webhook, query_param, xml_response
from voiceagent.plivo.webhooks import HangupWebhook
from voiceagent.store import open_store

logger = Logger()
app = http_app([routes.HANGUP])


@plivo_webhook(app, HangupWebhook, routes.HANGUP)
def hangup(webhook: HangupWebhook, event: APIGatewayProxyEventV2) -> Response[str]:
    logger.append_keys(call_uuid=webhook.call_uuid)
    transition, outcome = complete_call(
        webhook, placement_id=query_param(event, routes.PLACEMENT_PARAM), store=open_store(), now=utcnow()
    )
    if transition.applied:
        observability.add("CallsCompleted")
        observability.count("CallOutcomes", outcome=outcome.value)
    logger.info(
        "call completed",
        extra={"applied": transition.applied, "outcome": outcome.value, "hangup_cause": webhook.hangup_cause},
    )
    return xml_response(EMPTY_XML)


@observability.instrumented(logger)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
