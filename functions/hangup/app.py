"""POST /plivo/hangup: close the call with its cause, durations and outcome."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from voiceagent import routes
from voiceagent.call_end import complete_call
from voiceagent.clock import utcnow
from voiceagent.http_api import http_app, query_param, verified_webhook, xml_response
from voiceagent.metrics import count
from voiceagent.observability import traced
from voiceagent.repository import call_repository
from voiceagent.settings import get_settings
from voiceagent.webhooks import HangupWebhook

logger = Logger()
metrics = Metrics()
app = http_app([routes.HANGUP])


@app.post(routes.HANGUP)
def hangup() -> Response[str]:
    event = app.current_event
    webhook = verified_webhook(event, HangupWebhook)
    logger.append_keys(call_uuid=webhook.call_uuid)
    transition, outcome = complete_call(
        webhook,
        placement_id=query_param(event, routes.PLACEMENT_PARAM),
        repository=call_repository(),
        now=utcnow(),
    )
    if transition.applied:
        metrics.add_metric(name="CallsCompleted", unit=MetricUnit.Count, value=1)
        count("CallOutcomes", get_settings().stage, outcome=outcome.value)
    logger.info(
        "call completed",
        extra={"applied": transition.applied, "outcome": outcome.value, "hangup_cause": webhook.hangup_cause},
    )
    return xml_response("<Response></Response>")


@logger.inject_lambda_context(clear_state=True)
@traced
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
