"""``Call Completed`` events of campaign calls (from the call-events bus, through an SQS queue): each settles
its attempt once, then the campaign dispatches what its freed slots allow and completes when nothing is left.

The bus may deliver an event twice (issue #17: rare duplicates): the second finds the attempt settled. An
event of a call no campaign placed (no campaign metadata) is not ours and is dropped.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime

from aws_lambda_powertools import Logger

from voiceagent.campaigns.attempts import AttemptEnd, settle_attempts
from voiceagent.campaigns.dispatch import dispatch
from voiceagent.campaigns.models import CallCompletedEvent, CampaignSettings
from voiceagent.campaigns.queue import DialQueue
from voiceagent.campaigns.rules import AttemptResult
from voiceagent.clock import parse_iso
from voiceagent.store import CampaignStore

logger = Logger(child=True)


def attempt_end(event: CallCompletedEvent, now: datetime) -> tuple[str, AttemptEnd] | None:
    """(campaign id, how the attempt ended) of a campaign call's event; None for a call of no campaign."""
    detail = event.detail
    found = detail.campaign_attempt()
    if found is None:
        return None
    campaign_id, row, attempt = found
    values = {result.value for result in AttemptResult}
    result = AttemptResult(detail.outcome) if detail.outcome in values else AttemptResult.UNKNOWN
    completed = parse_iso(detail.completed_at) if detail.completed_at else now
    return campaign_id, AttemptEnd(
        row,
        attempt,
        result,
        completed,
        "event",
        call_uuid=detail.call_uuid,
        hangup_cause=detail.hangup_cause,
        duration_seconds=detail.duration_seconds,
    )


def apply_outcomes(
    events: Sequence[tuple[str, CallCompletedEvent]],
    *,
    store: CampaignStore,
    queue: DialQueue,
    campaign_settings: Callable[[str], CampaignSettings | None],
    now: datetime,
) -> tuple[Counter[str], list[str]]:
    """Settle every event's attempt; (counts, the record ids to be delivered again)."""
    counts: Counter[str] = Counter()
    by_campaign: dict[str, list[tuple[str, AttemptEnd]]] = {}
    for record_id, event in events:
        found = attempt_end(event, now)
        if found is None:
            counts["not_ours"] += 1
            continue
        by_campaign.setdefault(found[0], []).append((record_id, found[1]))
    failed: list[str] = []
    for campaign_id, ends in by_campaign.items():
        try:
            counts += _apply(campaign_id, [end for _, end in ends], store, queue, campaign_settings, now)
        except Exception:
            logger.exception("settling a campaign's outcomes failed", extra={"campaign_id": campaign_id})
            failed += [record_id for record_id, _ in ends]
    return counts, failed


def _apply(
    campaign_id: str,
    ends: list[AttemptEnd],
    store: CampaignStore,
    queue: DialQueue,
    campaign_settings: Callable[[str], CampaignSettings | None],
    now: datetime,
) -> Counter[str]:
    counts: Counter[str] = Counter()
    campaign = campaign_settings(campaign_id)
    state = store.campaigns.get_state(campaign_id)
    if campaign is None or state is None:
        logger.warning("outcome of an unknown campaign dropped", extra={"campaign_id": campaign_id})
        counts["unknown_campaign"] += len(ends)
        return counts
    settled = settle_attempts(
        store.campaigns, campaign_id, ends, rules=campaign.retry, status=str(state.get("status")), now=now
    )
    counts["settled"] += len(settled.applied)
    counts["duplicates"] += len(settled.duplicates)
    counts["retries"] += settled.retries
    if settled.applied:
        dispatched = dispatch(store.campaigns, queue, campaign, now=now)
        counts["dispatched"] += dispatched.queued
        counts["window_deferred"] += dispatched.window_deferred
        if store.campaigns.complete_if_done(campaign_id, now):
            counts["completed"] += 1
            logger.info("campaign completed", extra={"campaign_id": campaign_id})
    return counts
