"""POST /plivo/machine-detection: on Machine=true apply the call's voicemail policy, exactly once."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.typing import LambdaContext

from voiceagent import routes
from voiceagent.clock import utcnow
from voiceagent.connections import stream_connections
from voiceagent.http_api import http_app, public_url, query_param, verified_webhook, xml_response
from voiceagent.machine_detection import PolicyContext, handle_machine_detection
from voiceagent.observability import traced
from voiceagent.plivo_api import Deadline, plivo_gateway
from voiceagent.repository import call_repository
from voiceagent.settings import get_settings
from voiceagent.webhooks import MachineDetectionWebhook

logger = Logger()
metrics = Metrics()
app = http_app([routes.MACHINE_DETECTION])


@app.post(routes.MACHINE_DETECTION)
def machine_detection() -> Response[str]:
    event = app.current_event
    webhook = verified_webhook(event, MachineDetectionWebhook)
    logger.append_keys(call_uuid=webhook.call_uuid)
    placement_id = query_param(event, routes.PLACEMENT_PARAM)
    voicemail_query = urlencode({routes.PLACEMENT_PARAM: placement_id} if placement_id else {})
    outcome = handle_machine_detection(
        webhook,
        placement_id=placement_id,
        repository=call_repository(),
        context=PolicyContext(
            call_uuid=webhook.call_uuid,
            voicemail_url=public_url(event, routes.VOICEMAIL, voicemail_query),
            gateway=plivo_gateway(),
            connections=stream_connections(),
            deadline=Deadline.from_lambda(app.lambda_context.get_remaining_time_in_millis()),
        ),
        default_policy=get_settings().default_machine_policy,
        now=utcnow(),
    )
    logger.info(
        "machine detection handled",
        extra={"acted": outcome.acted, "policy": outcome.policy, "result": outcome.result},
    )
    # Plivo ignores the body of this callback; an empty document keeps its logs clean.
    return xml_response("<Response></Response>")


@logger.inject_lambda_context(clear_state=True)
@traced
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
