"""The sweeper (a scheduled function, every minute): what no event moves on its own.

For each running campaign: dispatch what came due (retries, calling windows that opened); then check every
contact whose check time passed —

- still ``queued``: its dial message was lost (a crash between dispatch and send): send it again (the
  dialer ignores a duplicate);
- ``dialling`` but never placed: the dialer died before placing it: send its message again (it resumes);
- ``dialling`` and placed: read the placement and the call. A completed call settles the attempt with its
  outcome (its event was lost). A call still live waits (checked again later), up to the stream timeout.
  No call at all after the attempt timeout means Plivo never called back about it and, its ring timeout long
  past, is surely not calling: ``lost``, retried under the ``failed`` rule. A refused placement is
  ``not_placed``. A placement in doubt (armed when its dialer died, or unconfirmed) is first checked with
  Plivo: if Plivo lists no such call, it was never sent, and is sent now, once. Nothing is ever dialled
  again while Plivo might still be calling;
- and a campaign with nothing left is completed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

from aws_lambda_powertools import Logger

from voiceagent.campaigns.attempts import AttemptEnd, settle_attempts
from voiceagent.campaigns.dispatch import QUEUED_CHECK, dispatch
from voiceagent.campaigns.models import CampaignSettings, DialMessage
from voiceagent.campaigns.queue import DialQueue
from voiceagent.campaigns.rules import AttemptResult
from voiceagent.clock import iso, parse_iso
from voiceagent.plivo.rest import Deadline, PlivoApiError, PlivoGateway, plivo_gateway
from voiceagent.settings import Settings
from voiceagent.store import CampaignStore, Store
from voiceagent.store.states import CallState

logger = Logger(child=True)
LOOKUP_SLACK = timedelta(minutes=1)
"""How far before an attempt's claim Plivo's records are read (clocks differ; a wider window only makes
the check more careful)."""
CHECK_EVERY = timedelta(seconds=60)
"""How often an attempt in flight is checked against the stored call (its event may have been lost): a
completed call is settled at its first check, a missing one only after the attempt timeout."""


def sweep(
    *,
    calls: Store,
    campaigns: CampaignStore,
    queue: DialQueue,
    settings: Settings,
    campaign_settings: Callable[[str], CampaignSettings | None],
    now: datetime,
    gateway: Callable[[], PlivoGateway] = plivo_gateway,
) -> Counter[str]:
    counts: Counter[str] = Counter()
    for campaign_id in campaigns.campaigns.active_campaigns():
        campaign = campaign_settings(campaign_id)
        if campaign is None:
            continue
        try:
            counts += sweep_campaign(
                campaign,
                calls=calls,
                campaigns=campaigns,
                queue=queue,
                settings=settings,
                now=now,
                gateway=gateway,
            )
        except Exception:
            logger.exception("sweeping a campaign failed", extra={"campaign_id": campaign_id})
            counts["failed"] += 1
    return counts


def sweep_campaign(
    campaign: CampaignSettings,
    *,
    calls: Store,
    campaigns: CampaignStore,
    queue: DialQueue,
    settings: Settings,
    now: datetime,
    gateway: Callable[[], PlivoGateway] = plivo_gateway,
) -> Counter[str]:
    counts: Counter[str] = Counter()
    repository = campaigns.campaigns
    dispatched = dispatch(repository, queue, campaign, now=now)
    counts["dispatched"] += dispatched.queued
    counts["window_deferred"] += dispatched.window_deferred
    timeout = timedelta(seconds=settings.campaign_attempt_timeout_seconds)
    longest_call = timedelta(seconds=settings.stream_timeout_seconds) + timeout
    ends: list[AttemptEnd] = []
    for entry in repository.to_check(campaign.campaign_id, now, 90):
        contact = repository.get_contact(campaign.campaign_id, entry.row) or {}
        state, attempt = contact.get("state"), int(contact.get("attempts") or 0)
        if state == "queued":
            queue.send([DialMessage(campaign_id=campaign.campaign_id, row=entry.row, attempt=attempt + 1)])
            repository.recheck(campaign.campaign_id, entry.row, "queued", iso(now + QUEUED_CHECK), now)
            counts["requeued"] += 1
            continue
        if state != "dialling":
            continue
        if not contact.get("placement_status"):
            queue.send([DialMessage(campaign_id=campaign.campaign_id, row=entry.row, attempt=attempt)])
            repository.recheck(campaign.campaign_id, entry.row, "dialling", iso(now + CHECK_EVERY), now)
            counts["resumed"] += 1
            continue
        end = _attempt_end(contact, calls, now=now, timeout=timeout, longest_call=longest_call)
        if end is not None and end.result is AttemptResult.LOST and _never_sent(contact, calls, gateway, now):
            # Unplaced first, so the message finds it resumable (a crash between: the next sweep sends it).
            repository.unplace(campaign.campaign_id, entry.row, attempt, iso(now + CHECK_EVERY), now)
            queue.send([DialMessage(campaign_id=campaign.campaign_id, row=entry.row, attempt=attempt)])
            counts["resent"] += 1
            continue
        if end is None:
            repository.recheck(campaign.campaign_id, entry.row, "dialling", iso(now + CHECK_EVERY), now)
            counts["still_live"] += 1
        else:
            ends.append(end)
    if ends:
        state = repository.get_state(campaign.campaign_id) or {}
        settled = settle_attempts(
            repository,
            campaign.campaign_id,
            ends,
            rules=campaign.retry,
            status=str(state.get("status")),
            now=now,
        )
        counts["settled"] += len(settled.applied)
        counts["retries"] += settled.retries
    if repository.complete_if_done(campaign.campaign_id, now):
        counts["completed"] += 1
    return counts


def _never_sent(
    contact: dict[str, object], calls: Store, gateway: Callable[[], PlivoGateway], now: datetime
) -> bool:
    """A placement in doubt (its dialer died after arming it, or Plivo's answer was lost) with no word
    from Plivo: when Plivo lists no call to the number from the caller id since the attempt began (ended,
    live or queued), it was never sent, and is released to be sent once after all (True). Any call listed,
    or a failed lookup, leaves it ``lost``: nobody is dialled twice."""
    placement_id = str(contact.get("placement_id"))
    placement = calls.placements.get(placement_id) or {}
    if placement.get("state") not in ("placed", "unconfirmed"):
        return False
    claimed = parse_iso(str(contact.get("claimed_at") or iso(now)))
    try:
        listed = gateway().calls_to(
            str(placement["to_number"]),
            str(placement["from_number"]),
            claimed - LOOKUP_SLACK,
            deadline=Deadline.after(10.0),
        )
    except (PlivoApiError, KeyError):
        logger.warning(
            "a placement in doubt could not be checked with Plivo", extra={"placement_id": placement_id}
        )
        return False
    return listed == 0 and calls.placements.release(placement_id, now)


def _attempt_end(
    contact: dict[str, object], calls: Store, *, now: datetime, timeout: timedelta, longest_call: timedelta
) -> AttemptEnd | None:
    """How a placed attempt ended, from what is stored (None: it may still be going on)."""
    row, attempt = int(str(contact["row"])), int(str(contact["attempts"]))
    placement = calls.placements.get(str(contact.get("placement_id"))) or {}
    claimed = parse_iso(str(contact.get("claimed_at") or iso(now)))
    call_uuid = placement.get("call_uuid")
    call = calls.calls.get_call(str(call_uuid)) if call_uuid else None
    if call and call.get("state") == CallState.COMPLETED and call.get("outcome"):
        outcome = str(call["outcome"])
        result = (
            AttemptResult(outcome) if outcome in AttemptResult.__members__.values() else AttemptResult.UNKNOWN
        )
        return AttemptEnd(
            row,
            attempt,
            result,
            now,
            "sweeper",
            call_uuid=str(call_uuid),
            hangup_cause=call.get("hangup_cause"),
        )
    if call:  # live (answered): leave it, unless it has outlived any call we allow
        return (
            AttemptEnd(row, attempt, AttemptResult.UNKNOWN, now, "sweeper", call_uuid=str(call_uuid))
            if now - claimed > longest_call
            else None
        )
    if placement.get("state") == "failed":
        return AttemptEnd(
            row, attempt, AttemptResult.NOT_PLACED, now, "sweeper", hangup_cause=placement.get("error")
        )
    if now - claimed > timeout:
        return AttemptEnd(row, attempt, AttemptResult.LOST, now, "sweeper")
    return None
