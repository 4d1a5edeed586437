"""Call Completed events of campaign calls (call-events bus → rule → SQS): settle each attempt once, schedule
the retry its rule asks for, free its slot (voiceagent.campaigns.outcomes)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from voiceagent import observability
from voiceagent.campaigns.models import CallCompletedEvent
from voiceagent.campaigns.outcomes import apply_outcomes
from voiceagent.campaigns.service import campaign_settings, dial_queue
from voiceagent.clock import utcnow
from voiceagent.store import open_campaign_store

logger = Logger()


@observability.instrumented(logger)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    events: list[tuple[str, CallCompletedEvent]] = []
    for record in event.get("Records", []):
        try:
            events.append((record["messageId"], CallCompletedEvent.model_validate_json(record["body"])))
        except (ValidationError, KeyError):
            observability.add("CampaignOutcomesMalformed")
            logger.error("malformed outcome event dropped", extra={"message_id": record.get("messageId")})
    counts, failed = apply_outcomes(
        events,
        store=open_campaign_store(),
        queue=dial_queue(),
        campaign_settings=campaign_settings,
        now=utcnow(),
    )
    if counts["settled"]:
        observability.add("CampaignAttemptsSettled", counts["settled"])
    if counts["retries"]:
        observability.add("CampaignRetriesScheduled", counts["retries"])
    if counts["duplicates"]:
        observability.add("CampaignOutcomeDuplicates", counts["duplicates"])
    if counts["window_deferred"]:
        observability.add("CampaignWindowDeferred", counts["window_deferred"])
    logger.info("outcomes", extra={"counts": dict(counts), "failed": len(failed)})
    return {"batchItemFailures": [{"itemIdentifier": record_id} for record_id in failed]}
