"""POST /plivo/machine-detection: on Machine=true apply the call's voicemail policy, exactly once."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2
from aws_lambda_powertools.utilities.typing import LambdaContext

from voiceagent import observability, routes
from voiceagent.calls.machine_detection import PolicyContext, handle_machine_detection
from voiceagent.clock import utcnow
from voiceagent.http_api import EMPTY_XML, http_app, plivo_webhook, public_base_url, query_param, xml_response
from voiceagent.media.connections import stream_connections
from voiceagent.plivo.callbacks import callback_url
from voiceagent.plivo.rest import Deadline, plivo_gateway
from voiceagent.plivo.webhooks import MachineDetectionWebhook
from voiceagent.settings import get_settings
from voiceagent.store import open_store

logger = Logger()
app = http_app([routes.MACHINE_DETECTION])


@plivo_webhook(app, MachineDetectionWebhook, routes.MACHINE_DETECTION)
def machine_detection(webhook: MachineDetectionWebhook, event: APIGatewayProxyEventV2) -> Response[str]:
    logger.append_keys(call_uuid=webhook.call_uuid)
    settings = get_settings()
    store = open_store(settings)
    placement_id = query_param(event, routes.PLACEMENT_PARAM)
    outcome = handle_machine_detection(
        webhook,
        placement_id=placement_id,
        store=store,
        context=PolicyContext(
            call_uuid=webhook.call_uuid,
            voicemail_url=callback_url(
                public_base_url(event),
                routes.VOICEMAIL,
                placement_id,
                retries=settings.plivo_callback_retries,
            ),
            gateway=plivo_gateway,
            connections=stream_connections(settings, store.connections),
            deadline=Deadline.from_lambda(app.lambda_context.get_remaining_time_in_millis()),
        ),
        default_policy=settings.default_machine_policy,
        now=utcnow(),
    )
    logger.info(
        "machine detection handled",
        extra={"acted": outcome.acted, "policy": outcome.policy, "result": outcome.result},
    )
    # Plivo ignores the body of this callback; an empty document keeps its logs clean.
    return xml_response(EMPTY_XML)


@observability.instrumented(logger)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
