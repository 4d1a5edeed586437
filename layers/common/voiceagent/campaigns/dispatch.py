"""Dispatch: move a campaign's due contacts into the dial queue, never more than its cap in progress.

A contact is *in progress* from the moment it is queued until its attempt is settled (so the cap also bounds
what waits in the queue: a paused or slow campaign never floods it). Dispatch runs when a campaign starts or
resumes, after every batch of settled attempts (a slot came free) and from the sweeper every minute (retries
and calling windows whose time has come). Contacts whose calling window is closed now get their next opening
as due time instead. Each dispatch is one transaction per 90 contacts, conditional on the campaign running
and staying within its cap, and on each contact still being due as listed: two dispatchers racing never
queue a contact twice or exceed the cap.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from aws_lambda_powertools import Logger

from voiceagent.campaigns.models import CampaignSettings, DialMessage
from voiceagent.campaigns.queue import DialQueue
from voiceagent.campaigns.windows import CallingWindow
from voiceagent.clock import iso
from voiceagent.store.campaigns import STATE_RUNNING, CampaignRepository, DueEntry, Settle, TransactionFailed

logger = Logger(child=True)
QUEUED_CHECK = timedelta(minutes=15)
"""A contact still queued this long after dispatch has lost its message: the sweeper sends it again."""
MAX_TRIES = 5
CHUNK = 25
"""Contacts per dispatch transaction (and so per query of the due ones)."""


@dataclass
class Dispatched:
    queued: int = 0
    window_deferred: int = 0
    rows: list[int] = field(default_factory=list)


def dispatch(
    repository: CampaignRepository,
    queue: DialQueue,
    campaign: CampaignSettings,
    *,
    now: datetime,
    limit: int = 1000,
    sleep: Callable[[float], None] = time.sleep,
) -> Dispatched:
    """Queue up to ``limit`` due contacts (and the room the cap leaves), ``CHUNK`` per transaction."""
    result = Dispatched()
    window = CallingWindow.parse(campaign.window)
    races = 0
    while result.queued + result.window_deferred < limit and races < MAX_TRIES:
        state = repository.get_state(campaign.campaign_id) or {}
        if state.get("status") != STATE_RUNNING:
            return result
        room = int(state.get("max_in_progress", campaign.max_in_progress)) - int(state.get("active", 0))
        wanted = min(room, CHUNK, limit - result.queued)
        if wanted <= 0:
            return result
        entries = repository.due(campaign.campaign_id, now, wanted)
        if not entries:
            return result
        open_now: list[tuple[DueEntry, str]] = []
        closed: list[tuple[DueEntry, str]] = []
        for entry in entries:
            zone = entry_zone(entry, campaign)
            (open_now if window.is_open(now, zone) else closed).append((entry, zone))
        for entry, zone in closed:
            if _defer(repository, campaign.campaign_id, entry, window.next_open(now, zone), now):
                result.window_deferred += 1
        if not open_now:
            continue
        chosen = [entry for entry, _ in open_now]
        try:
            repository.dispatch(
                campaign.campaign_id, chosen, campaign.max_in_progress, iso(now + QUEUED_CHECK), now
            )
        except TransactionFailed as exc:
            races += 1
            logger.info("dispatch raced", extra={"campaign_id": campaign.campaign_id, "failed": exc.failed})
            sleep(random.uniform(0.01, 0.05))  # noqa: S311 - jitter
            continue
        queue.send(
            [DialMessage(campaign_id=campaign.campaign_id, row=e.row, attempt=e.attempts + 1) for e in chosen]
        )
        result.queued += len(chosen)
        result.rows += [entry.row for entry in chosen]
        if len(entries) < wanted:
            return result
    return result


def entry_zone(entry: DueEntry, campaign: CampaignSettings) -> str:
    return entry.timezone or campaign.timezone or "UTC"


def _defer(
    repository: CampaignRepository, campaign_id: str, entry: DueEntry, due: datetime, now: datetime
) -> bool:
    """A due contact whose window is closed waits for its opening (still pending, no slot taken)."""
    try:
        repository.settle(
            campaign_id,
            [
                Settle(
                    row=entry.row,
                    expected="pending",
                    attempt=None,
                    due_at=iso(due),
                    counters={"window_deferred": 1},
                )
            ],
            now,
        )
    except TransactionFailed:
        return False
    return True
