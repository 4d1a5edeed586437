"""The dial queue's consumer: each campaign call placed once, on its pacing tick (campaigns.dialer).

Partial batch failures: a message whose campaign could not be dialled comes back (ReportBatchItemFailures);
a malformed one never becomes valid, so it is logged and dropped.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from voiceagent import observability
from voiceagent.campaigns.dialer import DialContext, dial_batch
from voiceagent.campaigns.models import DialMessage
from voiceagent.campaigns.service import campaign_settings, dial_queue
from voiceagent.plivo.rest import plivo_gateway
from voiceagent.settings import get_settings
from voiceagent.store import open_campaign_store, open_store

logger = Logger()


@observability.instrumented(logger)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = get_settings()
    batch: list[tuple[str, DialMessage]] = []
    for record in event.get("Records", []):
        try:
            batch.append((record["messageId"], DialMessage.model_validate_json(record["body"])))
        except (ValidationError, KeyError):
            logger.error("malformed dial message dropped", extra={"message_id": record.get("messageId")})
    report = dial_batch(
        batch,
        DialContext(
            calls=open_store(settings),
            campaigns=open_campaign_store(settings),
            settings=settings,
            queue=dial_queue(),
            gateway=plivo_gateway,
            base_url=settings.callback_base,
            campaign_settings=campaign_settings,
            remaining_seconds=lambda: context.get_remaining_time_in_millis() / 1000,
        ),
    )
    counts = report.counts
    if counts["dialled"]:
        observability.add("CampaignCallsDialled", counts["dialled"])
    if counts["paced"]:
        observability.add("CampaignCallsPaced", counts["paced"])
    if counts["do_not_call"]:
        observability.add("CampaignDncSkipped", counts["do_not_call"])
    if counts["window_deferred"]:
        observability.add("CampaignWindowDeferred", counts["window_deferred"])
    if counts["late"]:
        observability.add("CampaignTicksMissed", counts["late"])
    if counts["not_placed"]:
        observability.add("CampaignCallsNotPlaced", counts["not_placed"])
    logger.info("dial batch", extra={"counts": dict(report.counts), "failed": len(report.failed_message_ids)})
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in report.failed_message_ids]}
