"""POST /plivo/machine-detection: on Machine=true apply the call's voicemail policy, exactly once."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2
from aws_lambda_powertools.utilities.typing import LambdaContext

from voiceagent import observability, routes
from voiceagent.agents.notification import Notifier
from voiceagent.calls.machine_detection import ExternalAgent, PolicyContext, handle_machine_detection
from voiceagent.clock import utcnow
from voiceagent.credentials import agent_webhook_key
from voiceagent.http_api import EMPTY_XML, http_app, plivo_webhook, public_base_url, query_param, xml_response
from voiceagent.media.connections import stream_connections
from voiceagent.plivo.callbacks import callback_url
from voiceagent.plivo.rest import Deadline, plivo_gateway
from voiceagent.plivo.webhooks import MachineDetectionWebhook
from voiceagent.settings import Settings, get_settings
from voiceagent.store import open_store

logger = Logger()
app = http_app([routes.MACHINE_DETECTION])


def external_agent(settings: Settings, deadline: Deadline) -> ExternalAgent:
    """How the agent policy tells your own agent (calls streaming to it) that a machine answered."""
    return ExternalAgent(
        notifier=Notifier(
            key=agent_webhook_key,
            timeout_seconds=settings.agent_webhook_timeout_seconds,
            max_attempts=settings.agent_webhook_max_attempts,
            deadline=deadline,
        ),
        webhook_url=settings.agent_webhook_url,
        stage=settings.stage,
        voicemail_message=settings.voicemail_message,
        voicemail_voice=settings.voicemail_voice,
        voicemail_language=settings.voicemail_language,
    )


@plivo_webhook(app, MachineDetectionWebhook, routes.MACHINE_DETECTION)
def machine_detection(webhook: MachineDetectionWebhook, event: APIGatewayProxyEventV2) -> Response[str]:
    logger.append_keys(call_uuid=webhook.call_uuid)
    settings = get_settings()
    store = open_store(settings)
    placement_id = query_param(event, routes.PLACEMENT_PARAM)
    deadline = Deadline.from_lambda(app.lambda_context.get_remaining_time_in_millis())
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
            deadline=deadline,
            agent=external_agent(settings, deadline),
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
