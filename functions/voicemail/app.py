"""POST /plivo/voicemail: the XML a transferred call plays: wait for the greeting, the message, hang up."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from voiceagent import routes
from voiceagent.clock import utcnow
from voiceagent.http_api import http_app, query_param, verified_webhook, xml_response
from voiceagent.observability import traced
from voiceagent.repository import call_repository
from voiceagent.settings import get_settings
from voiceagent.voicemail import serve_voicemail
from voiceagent.webhooks import VoicemailWebhook

logger = Logger()
metrics = Metrics()
app = http_app([routes.VOICEMAIL])


@app.post(routes.VOICEMAIL)
def voicemail() -> Response[str]:
    event = app.current_event
    webhook = verified_webhook(event, VoicemailWebhook)
    logger.append_keys(call_uuid=webhook.call_uuid)
    xml = serve_voicemail(
        webhook.call_uuid,
        placement_id=query_param(event, routes.PLACEMENT_PARAM),
        repository=call_repository(),
        settings=get_settings(),
        now=utcnow(),
    )
    metrics.add_metric(name="VoicemailsServed", unit=MetricUnit.Count, value=1)
    logger.info("voicemail served")
    return xml_response(xml)


@logger.inject_lambda_context(clear_state=True)
@traced
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
