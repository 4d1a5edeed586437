"""Every minute: dispatch what came due (retries, calling windows), settle attempts nobody reported, complete
finished campaigns (voiceagent.campaigns.sweeper)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from voiceagent import observability
from voiceagent.campaigns.service import campaign_settings, dial_queue
from voiceagent.campaigns.sweeper import sweep
from voiceagent.clock import utcnow
from voiceagent.settings import get_settings
from voiceagent.store import open_campaign_store, open_store

logger = Logger()


@observability.instrumented(logger)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = get_settings()
    counts = sweep(
        calls=open_store(settings),
        campaigns=open_campaign_store(settings),
        queue=dial_queue(),
        settings=settings,
        campaign_settings=campaign_settings,
        now=utcnow(),
    )
    if counts["settled"]:
        observability.add("CampaignAttemptsSwept", counts["settled"])
    if counts["retries"]:
        observability.add("CampaignRetriesScheduled", counts["retries"])
    if counts["resent"]:
        observability.add("CampaignPlacementsResent", counts["resent"])
    if counts["window_deferred"]:
        observability.add("CampaignWindowDeferred", counts["window_deferred"])
    logger.info("sweep", extra={"counts": dict(counts)})
    return {"counts": dict(counts)}
