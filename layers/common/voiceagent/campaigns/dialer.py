"""The dialer: a batch from the dial queue becomes calls, each placed once, on its pacing tick.

For each message (a contact's attempt): a campaign cancelled or paused meanwhile, a calling window closed
meanwhile, or a number added to the do-not-call list meanwhile stops it here (the contact is settled or
waits again, and its slot is freed). The others get ticks from the pacer; a campaign whose next tick is far
away sends its messages back to the queue with a delay instead of waiting in a Lambda. Each contact is
claimed (``queued`` → ``dialling`` with its attempt number, conditional: a duplicate message finds it taken),
then placed on its tick through ``place_call`` in this process, under the placement id of (campaign, row,
attempt): a message delivered again after a crash finds the placement and never dials twice.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools import Logger
from pydantic import ValidationError

from voiceagent.calls.placing import PlaceCallRequest, PlacementResult, prepare_placement, send_placement
from voiceagent.campaigns.attempts import AttemptEnd, settle_attempts
from voiceagent.campaigns.dispatch import dispatch
from voiceagent.campaigns.models import CampaignSettings, DialMessage, placement_id
from voiceagent.campaigns.pacing import PaceGrid
from voiceagent.campaigns.queue import DialQueue
from voiceagent.campaigns.rules import AttemptResult, ContactResult
from voiceagent.campaigns.windows import CallingWindow
from voiceagent.clock import iso
from voiceagent.plivo.rest import Deadline, PlivoGateway
from voiceagent.settings import Settings
from voiceagent.store import CampaignStore, Store
from voiceagent.store.campaigns import STATE_CANCELLED, STATE_RUNNING, Settle, TransactionFailed

logger = Logger(child=True)
CHECK_EVERY = timedelta(seconds=60)
"""When the sweeper first checks a claimed attempt against the stored call (voiceagent.campaigns.sweeper)."""
FEED = 20
"""Contacts a dialer batch queues after it (when the cap leaves room), so a campaign never waits for the
sweeper to be fed."""
MAX_WAIT_SECONDS = 20.0
"""A campaign whose next tick is further away sends its messages back with a delay instead of sleeping."""


@dataclass
class DialReport:
    """What a batch did, for metrics and the response."""

    counts: Counter[str] = field(default_factory=Counter)
    failed_message_ids: list[str] = field(default_factory=list)
    dial_times: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class DialContext:
    calls: Store
    campaigns: CampaignStore
    settings: Settings
    queue: DialQueue
    gateway: Callable[[], PlivoGateway]
    base_url: str
    campaign_settings: Callable[[str], CampaignSettings | None]
    remaining_seconds: Callable[[], float]
    clock: Callable[[], float] = time.time
    sleep_until: Callable[[float], None] = lambda moment: time.sleep(max(0.0, moment - time.time()))


@dataclass
class _Job:
    message_id: str
    message: DialMessage
    contact: dict[str, Any]
    resume: bool
    tick: int | None = None


def _now(context: DialContext) -> datetime:
    return datetime.fromtimestamp(context.clock(), UTC)


def dial_batch(batch: Sequence[tuple[str, DialMessage]], context: DialContext) -> DialReport:
    report = DialReport()
    by_campaign: dict[str, list[tuple[str, DialMessage]]] = {}
    for message_id, message in batch:
        by_campaign.setdefault(message.campaign_id, []).append((message_id, message))
    for campaign_id, messages in by_campaign.items():
        try:
            _dial_campaign(campaign_id, messages, context, report)
        except Exception:
            logger.exception("dialling a campaign's batch failed", extra={"campaign_id": campaign_id})
            report.failed_message_ids += [message_id for message_id, _ in messages]
            continue
        campaign = context.campaign_settings(campaign_id)
        if campaign is not None:  # keep the queue fed while the cap leaves room (a batch's worth or so)
            fed = dispatch(
                context.campaigns.campaigns, context.queue, campaign, now=_now(context), limit=FEED
            )
            report.counts["dispatched"] += fed.queued
            report.counts["window_deferred"] += fed.window_deferred
    return report


def _dial_campaign(
    campaign_id: str, messages: list[tuple[str, DialMessage]], context: DialContext, report: DialReport
) -> None:
    repository = context.campaigns.campaigns
    campaign = context.campaign_settings(campaign_id)
    state = repository.get_state(campaign_id)
    if campaign is None or state is None:
        logger.warning("dial message for an unknown campaign dropped", extra={"campaign_id": campaign_id})
        report.counts["unknown_campaign"] += len(messages)
        return
    jobs: list[_Job] = []
    for message_id, message in messages:
        contact = repository.get_contact(campaign_id, message.row) or {}
        attempts, status = int(contact.get("attempts") or 0), contact.get("state")
        if status == "queued" and attempts == message.attempt - 1:
            jobs.append(_Job(message_id, message, contact, resume=False))
        elif status == "dialling" and attempts == message.attempt and not contact.get("placement_status"):
            jobs.append(_Job(message_id, message, contact, resume=True))  # claimed, never placed: a crash
        else:
            report.counts["duplicates"] += 1
    if not jobs:
        return
    now = _now(context)
    if state.get("status") != STATE_RUNNING:
        _stop(campaign, jobs, state, context, report, now)
        return
    window = CallingWindow.parse(campaign.window)
    dialable: list[_Job] = []
    for job in jobs:
        zone = str(job.contact.get("timezone") or campaign.timezone or "UTC")
        if window.is_open(now, zone):
            dialable.append(job)
        else:
            _release(context, campaign, job, now, due=window.next_open(now, zone), counter="window_deferred")
            report.counts["window_deferred"] += 1
    listed = (
        context.campaigns.dnc.listed(str(job.contact["number"]) for job in dialable) if dialable else set()
    )
    for job in [job for job in dialable if job.contact["number"] in listed]:
        _release(context, campaign, job, now, result=ContactResult.DO_NOT_CALL.value, counter="do_not_call")
        report.counts["do_not_call"] += 1
    dialable = [job for job in dialable if job.contact["number"] not in listed]
    if dialable:
        _pace_and_place(campaign, dialable, context, report)


def _stop(
    campaign: CampaignSettings,
    jobs: list[_Job],
    state: dict[str, Any],
    context: DialContext,
    report: DialReport,
    now: datetime,
) -> None:
    """The campaign is cancelled (the contact's result) or paused (it waits again, due at once)."""
    for job in jobs:
        if state.get("status") == STATE_CANCELLED:
            _release(context, campaign, job, now, result=ContactResult.CANCELLED.value, counter="cancelled")
            report.counts["cancelled"] += 1
        else:
            _release(context, campaign, job, now, due=now, counter="paused")
            report.counts["paused"] += 1


def _release(
    context: DialContext,
    campaign: CampaignSettings,
    job: _Job,
    now: datetime,
    *,
    due: datetime | None = None,
    result: str | None = None,
    counter: str,
) -> None:
    """Free the contact's slot: it waits again (``due``) or is done (``result``) without a call."""
    counters = {"active": -1, counter: 1}
    if result is not None:
        counters |= {"remaining": -1, f"result_{result}": 1}
    facts = {"attempts": job.message.attempt - 1} if job.resume else None
    move = Settle(
        row=job.message.row,
        expected="dialling" if job.resume else "queued",
        attempt=job.message.attempt if job.resume else None,
        due_at=iso(due) if due else None,
        result=result,
        facts=facts,
        counters=counters,
    )
    try:
        context.campaigns.campaigns.settle(campaign.campaign_id, [move], now)
    except TransactionFailed as exc:
        if exc.failed:
            return  # another delivery already moved it
        raise


def _grid(campaign: CampaignSettings, settings: Settings) -> PaceGrid:
    return PaceGrid.of(settings.account_calls_per_second, campaign.pace, settings.pacing_guard_ms)


def _pace_and_place(
    campaign: CampaignSettings, jobs: list[_Job], context: DialContext, report: DialReport
) -> None:
    repository = context.campaigns.campaigns
    grid = _grid(campaign, context.settings)
    now = context.clock()
    hint = repository.next_tick(campaign.campaign_id)
    wait = grid.start_of(hint) - now if hint is not None else 0.0
    if wait > min(MAX_WAIT_SECONDS, context.remaining_seconds() - 10):
        # Far behind others of this campaign: come back when its turn nears (the contacts stay queued).
        context.queue.send(
            [
                DialMessage(campaign_id=j.message.campaign_id, row=j.message.row, attempt=j.message.attempt)
                for j in jobs
            ],
            delay_seconds=int(wait - 2),
        )
        report.counts["paced"] += len(jobs)
        return
    first = repository.reserve_ticks(
        campaign.campaign_id, len(jobs), grid.stride, grid.first_tick(now), datetime.fromtimestamp(now, UTC)
    )
    if grid.start_of(first) - now > 1.0 + grid.tick_ms * grid.stride / 1000:
        report.counts["paced"] += len(jobs)
    owned: list[_Job] = []
    lost: list[_Job] = []
    for job, tick in zip(jobs, grid.ticks(first, len(jobs)), strict=True):
        owner = placement_id(campaign.campaign_id, job.message.row, job.message.attempt)
        if repository.claim_tick(tick, owner, datetime.fromtimestamp(now, UTC)):
            job.tick = tick
            owned.append(job)
        else:
            lost.append(job)
    if lost:  # another campaign holds those ticks: try again at once, on fresh ones
        report.counts["ticks_lost"] += len(lost)
        context.queue.send([job.message for job in lost])
    if not owned:
        return
    context.gateway()  # the Plivo client (and its token from SSM) before any tick, not inside one
    with ThreadPoolExecutor(max_workers=len(owned), thread_name_prefix="dial") as pool:
        outcomes = list(pool.map(lambda job: _place(campaign, job, grid, context), owned))
    for job, outcome in zip(owned, outcomes, strict=True):
        report.counts[outcome[0]] += 1
        if outcome[1] is not None:
            report.dial_times.append(outcome[1])
        if outcome[0] == "late":
            context.queue.send([job.message])  # claimed, never placed: the message resumes it


def _place(
    campaign: CampaignSettings, job: _Job, grid: PaceGrid, context: DialContext
) -> tuple[str, float | None]:
    """Claim the contact, prepare the placement, wait for the tick, send it: (what happened, when it was
    sent). A tick missed by more than the guard is not used: the placement is held and sent on a new tick
    (``hold``/``rearm``, so it is still sent at most once)."""
    repository, placements = context.campaigns.campaigns, context.calls.placements
    message = job.message
    key = placement_id(campaign.campaign_id, message.row, message.attempt)
    now = _now(context)
    claimed = job.resume or repository.claim(
        campaign.campaign_id, message.row, message.attempt, key, iso(now + CHECK_EVERY), now
    )
    if not claimed:
        return "duplicates", None
    try:
        request = _request(campaign, job, key)
    except ValidationError as exc:  # e.g. the caller id itself: this contact cannot be called
        _not_placed(campaign, job, context, str(exc)[:200])
        return "not_placed", None
    prepared = prepare_placement(request, placements=placements, settings=context.settings, now=now)
    existing = prepared.existing  # a delivery before this one got that far: held, or maybe sent
    if existing is not None and (existing.status != "not_sent" or not placements.rearm(key, now)):
        return _record(campaign, job, context, existing), None
    assert job.tick is not None
    tick = job.tick
    for _ in range(3):
        start = grid.start_of(tick)
        context.sleep_until(start)
        sent_at = context.clock()
        if sent_at - start <= grid.guard_ms / 1000:
            result = send_placement(
                prepared,
                placements=placements,
                gateway=context.gateway,
                settings=context.settings,
                base_url=context.base_url,
                now=_now(context),
                deadline=Deadline.after(max(1.0, min(10.0, context.remaining_seconds() - 3))),
            )
            return _record(campaign, job, context, result), sent_at
        placements.hold(key, _now(context))  # late: not sent on this tick
        fresh = _one_tick(campaign, grid, context, key)
        if fresh is None or not placements.rearm(key, _now(context)):
            break
        tick = fresh
    return "late", None


def _one_tick(campaign: CampaignSettings, grid: PaceGrid, context: DialContext, owner: str) -> int | None:
    repository = context.campaigns.campaigns
    for _ in range(3):
        now = context.clock()
        moment = datetime.fromtimestamp(now, UTC)
        tick = repository.reserve_ticks(campaign.campaign_id, 1, grid.stride, grid.first_tick(now), moment)
        if grid.start_of(tick) - now > MAX_WAIT_SECONDS:
            return None
        if repository.claim_tick(tick, owner, moment):
            return tick
    return None


def _record(campaign: CampaignSettings, job: _Job, context: DialContext, result: PlacementResult) -> str:
    """Put what the placement gave on the contact (a refused one settles the attempt at once)."""
    if result.status == "failed":
        _not_placed(campaign, job, context, result.error)
        return "not_placed"
    now = _now(context)
    # "placed": a delivery before this one prepared it and may have sent it (we cannot know): unconfirmed.
    status = "unconfirmed" if result.status in ("placed", "not_sent") else result.status
    context.campaigns.campaigns.record_placement(
        campaign.campaign_id,
        job.message.row,
        job.message.attempt,
        {"placement_status": status, "request_uuid": result.request_uuid, "placed_at": iso(now)},
        now,
    )
    return "repeated" if result.repeated else "dialled"


def _not_placed(campaign: CampaignSettings, job: _Job, context: DialContext, error: str | None) -> None:
    now = _now(context)
    end = AttemptEnd(
        job.message.row, job.message.attempt, AttemptResult.NOT_PLACED, now, "dialer", hangup_cause=error
    )
    settle_attempts(
        context.campaigns.campaigns,
        campaign.campaign_id,
        [end],
        rules=campaign.retry,
        status=STATE_RUNNING,
        now=now,
    )


def _request(campaign: CampaignSettings, job: _Job, key: str) -> PlaceCallRequest:
    return PlaceCallRequest.model_validate(
        {
            "to": job.contact["number"],
            "from": campaign.from_,
            "policy": campaign.policy,
            "voicemail_message": campaign.voicemail_message,
            "voicemail_audio_url": campaign.voicemail_audio_url,
            "voicemail_voice": campaign.voicemail_voice,
            "voicemail_language": campaign.voicemail_language,
            "machine_detection_time": campaign.machine_detection_time,
            "ring_timeout": campaign.ring_timeout,
            "metadata": call_metadata(campaign.campaign_id, job.contact, job.message.attempt),
            "placement_id": key,
        }
    )


def call_metadata(campaign_id: str, contact: dict[str, Any], attempt: int) -> dict[str, str]:
    """What the call carries (to the agent, and back on the bus): the contact's fields, its name, and
    which campaign, row and attempt it is."""
    fields = {str(key): str(value) for key, value in (contact.get("fields") or {}).items()}
    if contact.get("name"):
        fields["name"] = str(contact["name"])
    return {
        **fields,
        "campaign_id": campaign_id,
        "campaign_row": str(int(contact["row"])),
        "campaign_attempt": str(attempt),
    }
