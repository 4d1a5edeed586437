"""The dialer: a batch from the dial queue becomes calls, each placed once, on its pacing tick.

For each message (a contact's attempt): a campaign cancelled or paused meanwhile, a calling window closed
meanwhile, or a number added to the do-not-call list meanwhile stops it here (the contact is settled or
waits again, and its slot is freed). The others get ticks from the pacer; a campaign whose next tick is far
away sends its messages back to the queue with a delay instead of waiting in a Lambda. Each contact is
claimed (``queued`` → ``dialling`` with its attempt number, conditional: a duplicate message finds it taken),
and its placement recorded as held; then, on its tick, the placement is armed and sent (``send_placement``),
under the placement id of (campaign, row, attempt): a message delivered again after a crash finds the
placement, resumes it while it is held, and never dials twice.
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

from voiceagent.calls.placing import (
    PlaceCallRequest,
    PlacementResult,
    Prepared,
    prepare_placement,
    send_placement,
)
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
ARM_LEAD_SECONDS = 0.1
"""The least time before its tick at which a held placement is armed (the one write between the wait and
the POST). A crash after arming leaves the placement in doubt (it may have been sent), so the lead stays
short: it grows only when the store is slow (``ArmLead``)."""
MAX_ARM_LEAD_SECONDS = 1.0


@dataclass
class ArmLead:
    """How long before a tick to arm: three times the arming write's recent latency in this container (a
    moving average), between ``ARM_LEAD_SECONDS`` and ``MAX_ARM_LEAD_SECONDS``, so a slow store (throttling,
    a loaded machine) does not push the POST past its tick's guard."""

    latency: float = 0.0

    def seconds(self) -> float:
        return min(MAX_ARM_LEAD_SECONDS, max(ARM_LEAD_SECONDS, 3 * self.latency))

    def observe(self, seconds: float) -> None:
        self.latency += (seconds - self.latency) / 8


ARM_LEAD = ArmLead()


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


def _horizon(context: DialContext) -> float:
    """How far ahead a tick may be for this batch to wait for it: never past the function's time (less a
    margin for the last POST and its record), so a batch ends before the queue would deliver it again."""
    return min(MAX_WAIT_SECONDS, context.remaining_seconds() - 10)


def _pace_and_place(
    campaign: CampaignSettings, jobs: list[_Job], context: DialContext, report: DialReport
) -> None:
    repository = context.campaigns.campaigns
    grid = _grid(campaign, context.settings)
    hint = repository.next_tick(campaign.campaign_id)
    wait = grid.start_of(hint) - context.clock() if hint is not None else 0.0
    if wait > _horizon(context):
        # Far behind others of this campaign: come back when its turn nears (the contacts stay queued).
        context.queue.send(
            [
                DialMessage(campaign_id=j.message.campaign_id, row=j.message.row, attempt=j.message.attempt)
                for j in jobs
            ],
            delay_seconds=int(wait - 2),  # DialQueue keeps it within 0..900 s
        )
        report.counts["paced"] += len(jobs)
        return
    with ThreadPoolExecutor(max_workers=len(jobs), thread_name_prefix="dial") as pool:
        prepared = list(pool.map(lambda job: _prepare(campaign, job, context), jobs))
        ready: list[tuple[_Job, Prepared]] = []
        for job, (outcome, placement) in zip(jobs, prepared, strict=True):
            if placement is None:
                report.counts[outcome] += 1
            else:
                ready.append((job, placement))
        if not ready:
            return
        # Ticks only now: the lead before the first covers their claims, not the preparation.
        now = context.clock()
        first = repository.reserve_ticks(
            campaign.campaign_id,
            len(ready),
            grid.stride,
            grid.first_tick(now),
            datetime.fromtimestamp(now, UTC),
        )
        if grid.start_of(first) - now > 1.0 + grid.tick_ms * grid.stride / 1000:
            report.counts["paced"] += len(ready)
        context.gateway()  # the Plivo client (and its token from SSM) before any tick, not inside one
        outcomes = list(
            pool.map(
                lambda entry: _fire(campaign, entry[0][0], entry[0][1], entry[1], grid, context),
                zip(ready, grid.ticks(first, len(ready)), strict=True),
            )
        )
    for (job, _), (outcome, sent_at) in zip(ready, outcomes, strict=True):
        report.counts[outcome] += 1
        if sent_at is not None:
            report.dial_times.append(sent_at)
        if outcome == "late":
            context.queue.send([job.message])  # claimed and held, never sent: the message resumes it


def _prepare(campaign: CampaignSettings, job: _Job, context: DialContext) -> tuple[str, Prepared | None]:
    """Claim the contact and record its placement as held (``not_sent``): before its tick, so only the
    POST is left to do on it, and a crash until then leaves nothing in doubt (the message resumes it).
    The outcome when there is nothing to send."""
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
    prepared = prepare_placement(
        request, placements=placements, settings=context.settings, now=now, held=True
    )
    existing = prepared.existing  # a delivery before this one got that far: held, or armed and maybe sent
    if existing is not None and existing.status != "not_sent":
        return _record(campaign, job, context, existing), None
    return "prepared", prepared


def _fire(
    campaign: CampaignSettings,
    job: _Job,
    prepared: Prepared,
    tick: int,
    grid: PaceGrid,
    context: DialContext,
) -> tuple[str, float | None]:
    """Take the tick, arm the placement just before it (``not_sent`` → ``placed``, one dialer only), and
    send it on it: (what happened, when it was sent). A tick another campaign holds, or one this thread
    reached later than the guard (a slow container), is not used: the placement is held again and sent on
    a new tick, so late calls never crowd the next ones and each is still sent at most once."""
    placements = context.calls.placements
    key = prepared.placement_id
    claimed: int | None = (
        tick
        if context.campaigns.campaigns.claim_tick(tick, key, _now(context))
        else _one_tick(campaign, grid, context, key)
    )
    for _ in range(3):
        if claimed is None:
            break
        start = grid.start_of(claimed)
        context.sleep_until(start - ARM_LEAD.seconds())
        arming = time.monotonic()
        armed = placements.rearm(key, _now(context))
        ARM_LEAD.observe(time.monotonic() - arming)
        if not armed:
            return "duplicates", None  # another delivery armed it: it sends and records it
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
        claimed = _one_tick(campaign, grid, context, key)
    return "late", None


def _one_tick(campaign: CampaignSettings, grid: PaceGrid, context: DialContext, owner: str) -> int | None:
    repository = context.campaigns.campaigns
    for _ in range(3):
        now = context.clock()
        moment = datetime.fromtimestamp(now, UTC)
        tick = repository.reserve_ticks(campaign.campaign_id, 1, grid.stride, grid.first_tick(now), moment)
        if grid.start_of(tick) - now > _horizon(context):
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
