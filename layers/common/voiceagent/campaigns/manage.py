"""Creating a campaign, reading its progress and results, and pausing, resuming or cancelling it.

Creation is idempotent: an ``Idempotency-Key`` (or ``idempotency_key``) always names the same campaign, so
a client that retries after a timeout finds the first one (``repeated``) and nobody is dialled twice; the
same key with another request is a conflict. The settings are stored once (``META``), then the contacts,
then the live ``STATE``: only writing ``STATE`` starts the campaign, so a creation that died half-way is
finished by its retry.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from voiceagent.campaigns import contacts as contact_lists
from voiceagent.campaigns.dispatch import Dispatched, dispatch
from voiceagent.campaigns.models import CampaignSettings, CreateCampaignRequest, campaign_id_for
from voiceagent.campaigns.pacing import PaceGrid
from voiceagent.campaigns.queue import DialQueue
from voiceagent.campaigns.rules import AttemptResult, ContactResult
from voiceagent.campaigns.windows import UnknownTimeZone, zone
from voiceagent.clock import iso, parse_iso
from voiceagent.settings import Settings
from voiceagent.store import CampaignStore, keys
from voiceagent.store.campaigns import STATE_CANCELLED, STATE_COMPLETED, STATE_PAUSED, STATE_RUNNING
from voiceagent.store.placements import AlreadyExists
from voiceagent.validation import InvalidRequest, Problem, shown

API_DISPATCH = 100
"""Contacts the API queues itself when a campaign starts or resumes (the answer stays quick); the dialer
keeps the queue fed from there, and outcomes and the sweeper do too."""
RESULTS = [*(result.value for result in AttemptResult), *(result.value for result in ContactResult)]


class CampaignConflict(Exception):
    """The idempotency key names a campaign created from another request (409)."""


class CampaignNotFound(Exception):
    """No campaign has this id (404)."""


class StatusConflict(Exception):
    """The campaign's status does not allow that (409): e.g. resuming a cancelled campaign."""


@dataclass(frozen=True)
class Created:
    campaign_id: str
    repeated: bool
    contacts: int
    rejected: list[dict[str, Any]]
    duplicates: list[dict[str, Any]]
    do_not_call: int
    effective_pace: float
    dispatched: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "campaign_id": self.campaign_id,
            "status": STATE_RUNNING,
            "repeated": self.repeated,
            "contacts": self.contacts,
            "rejected_rows": self.rejected,
            "duplicate_rows": self.duplicates,
            "do_not_call": self.do_not_call,
            "effective_pace": round(self.effective_pace, 3),
        }


def _problem(field: str, value: object, allowed: str) -> InvalidRequest:
    return InvalidRequest([Problem(field, shown(value) if value is not None else None, allowed)])


def create_campaign(
    request: CreateCampaignRequest,
    *,
    store: CampaignStore,
    queue: DialQueue,
    settings: Settings,
    now: datetime,
) -> Created:
    if request.timezone:
        try:
            zone(request.timezone)
        except UnknownTimeZone as exc:
            raise _problem("timezone", request.timezone, str(exc)) from None
    if request.pace > settings.account_calls_per_second:
        raise _problem(
            "pace",
            request.pace,
            f"at most the account's {settings.account_calls_per_second:g} calls per second "
            "(AccountCallsPerSecond, Plivo's limit for the account)",
        )
    try:
        if request.contacts_csv is not None:
            parsed = contact_lists.from_csv(
                request.contacts_csv,
                default_timezone=request.timezone,
                country_code=request.default_country_code,
            )
        else:
            parsed = contact_lists.from_json(
                request.contacts or [],
                default_timezone=request.timezone,
                country_code=request.default_country_code,
            )
    except contact_lists.CsvProblem as exc:
        raise _problem("contacts_csv", None, str(exc)) from None
    if parsed.rejected and not request.skip_invalid:
        raise InvalidRequest(
            [Problem(f"row {row.row}", shown(row.value), row.reason) for row in parsed.rejected[:200]]
        )
    if not parsed.contacts:
        raise _problem("contacts", None, "at least one valid contact")
    if len(parsed.contacts) > settings.campaign_max_contacts:
        raise _problem(
            "contacts",
            len(parsed.contacts),
            f"at most {settings.campaign_max_contacts} (CampaignMaxContacts) per campaign",
        )
    campaign_id = campaign_id_for(request.idempotency_key)
    window = request.window or settings.campaign_calling_window
    grid = PaceGrid.of(settings.account_calls_per_second, request.pace, settings.pacing_guard_ms)
    meta = {
        **request.model_dump(
            mode="json",
            by_alias=True,
            exclude={"contacts", "contacts_csv", "idempotency_key", "skip_invalid"},
        ),
        "campaign_id": campaign_id,
        "window": window,
        "created_at": iso(now),
        "fingerprint": request.fingerprint(),
        "contacts_total": len(parsed.contacts),
        "rejected_rows": [row.as_dict() for row in parsed.rejected[:200]],
        "duplicate_rows": [row.as_dict() for row in parsed.duplicates[:200]],
    }
    repository = store.campaigns
    repeated = False
    try:
        repository.create_meta(campaign_id, meta, now)
    except AlreadyExists:
        first = repository.get_meta(campaign_id) or {}
        if first.get("fingerprint") != meta["fingerprint"]:
            raise CampaignConflict(
                f"idempotency_key names campaign {campaign_id}, made from another request"
            ) from None
        repeated = True
        meta = first
        if repository.get_state(campaign_id) is not None:
            state = repository.get_state(campaign_id) or {}
            return Created(
                campaign_id,
                True,
                len(parsed.contacts),
                meta.get("rejected_rows", []),
                meta.get("duplicate_rows", []),
                int(state.get("result_do_not_call", 0)),
                grid.calls_per_second,
                0,
            )
    listed = store.dnc.listed(contact.number for contact in parsed.contacts)
    due = iso(now)
    items = []
    for contact in parsed.contacts:
        item: dict[str, Any] = {
            "row": contact.row,
            "number": contact.number,
            "name": contact.name,
            "timezone": contact.timezone,
            "fields": contact.fields or None,
            "attempts": 0,
        }
        if contact.number in listed:
            item |= {"state": "done", "result": ContactResult.DO_NOT_CALL.value, "done_at": due}
        else:
            item |= {
                "state": "pending",
                "due_at": due,
                keys.SWEEP_PK: keys.due_partition(campaign_id),
                keys.SWEEP_SK: keys.sweep_sort_key(due, contact.row),
            }
        items.append(item)
    repository.put_contacts(campaign_id, items, now)
    started = repository.start(
        campaign_id,
        {
            "status": STATE_RUNNING,
            "campaign_id": campaign_id,
            "max_in_progress": request.max_in_progress,
            "active": 0,
            "remaining": len(parsed.contacts) - len(listed),
            "contacts": len(parsed.contacts),
            f"result_{ContactResult.DO_NOT_CALL.value}": len(listed),
            "created_at": meta["created_at"],
        },
        now,
    )
    dispatched = Dispatched()
    if started:
        dispatched = dispatch(repository, queue, settings_of(meta), now=now, limit=API_DISPATCH)
    return Created(
        campaign_id,
        repeated or not started,
        len(parsed.contacts),
        [row.as_dict() for row in parsed.rejected],
        [row.as_dict() for row in parsed.duplicates],
        len(listed),
        grid.calls_per_second,
        dispatched.queued,
    )


def settings_of(meta: dict[str, Any]) -> CampaignSettings:
    return CampaignSettings.model_validate(meta)


def load_settings(store: CampaignStore, campaign_id: str) -> CampaignSettings | None:
    meta = store.campaigns.get_meta(campaign_id)
    return settings_of(meta) if meta else None


def status(store: CampaignStore, campaign_id: str, settings: Settings, now: datetime) -> dict[str, Any]:
    meta = store.campaigns.get_meta(campaign_id)
    state = store.campaigns.get_state(campaign_id)
    if meta is None or state is None:
        raise CampaignNotFound(campaign_id)
    campaign = settings_of(meta)
    grid = PaceGrid.of(settings.account_calls_per_second, campaign.pace, settings.pacing_guard_ms)

    def count(name: str) -> int:
        return int(state.get(name) or 0)

    results = {name: count(f"result_{name}") for name in RESULTS if count(f"result_{name}")}
    outcomes = {name: count(f"outcome_{name}") for name in RESULTS if count(f"outcome_{name}")}
    total, remaining, active = count("contacts"), count("remaining"), count("active")
    waiting = max(0, remaining - active)
    done = total - remaining
    started_at = state.get("started_at")
    eta = None
    if state.get("status") == STATE_RUNNING and remaining:
        eta = iso(now + timedelta(seconds=waiting / grid.calls_per_second))
    rate = None
    if started_at and done:
        elapsed = (
            parse_iso(str(state.get("completed_at") or iso(now))) - parse_iso(str(started_at))
        ).total_seconds()
        rate = round(sum(outcomes.values()) / elapsed, 3) if elapsed > 0 else None
    return {
        "campaign_id": campaign_id,
        "name": campaign.name,
        "status": state.get("status"),
        "created_at": campaign.created_at,
        "started_at": started_at,
        "completed_at": state.get("completed_at"),
        "cancelled_at": state.get("cancelled_at"),
        "pace": campaign.pace,
        "effective_pace": round(grid.calls_per_second, 3),
        "calls_per_second_so_far": rate,
        "max_in_progress": campaign.max_in_progress,
        "window": campaign.window,
        "timezone": campaign.timezone,
        "retry": campaign.retry.model_dump(),
        "counts": {
            "contacts": total,
            "waiting": waiting,
            "in_progress": active,
            "done": done,
            "retries_waiting": count("retries_waiting"),
            "retries_scheduled": count("retries_scheduled"),
            "attempts": sum(outcomes.values()) + active,
            "window_deferred": count("window_deferred"),
        },
        "results": results,
        "outcomes": outcomes,
        "rejected_rows": len(meta.get("rejected_rows") or []),
        "duplicate_rows": len(meta.get("duplicate_rows") or []),
        "eta": eta,
    }


def change_status(
    store: CampaignStore, queue: DialQueue, campaign_id: str, action: str, now: datetime
) -> dict[str, Any]:
    """``pause``, ``resume`` or ``cancel`` (final); contacts already in a call finish it."""
    transitions = {
        "pause": ((STATE_RUNNING,), STATE_PAUSED),
        "resume": ((STATE_PAUSED,), STATE_RUNNING),
        "cancel": ((STATE_RUNNING, STATE_PAUSED), STATE_CANCELLED),
    }
    allowed, target = transitions[action]
    meta = store.campaigns.get_meta(campaign_id)
    current = store.campaigns.get_state(campaign_id)
    if meta is None or current is None:
        raise CampaignNotFound(campaign_id)
    if current.get("status") == target:
        return {"campaign_id": campaign_id, "status": target, "changed": False}
    state = store.campaigns.set_status(campaign_id, allowed, target, now)
    if state is None:
        raise StatusConflict(f"campaign {campaign_id} is {current.get('status')}: it cannot {action}")
    if target == STATE_RUNNING:
        dispatch(store.campaigns, queue, settings_of(meta), now=now, limit=API_DISPATCH)
        store.campaigns.complete_if_done(campaign_id, now)
    return {"campaign_id": campaign_id, "status": target, "changed": True}


RESULT_COLUMNS = [
    "row",
    "number",
    "name",
    "timezone",
    "state",
    "result",
    "attempts",
    "last_result",
    "last_call_uuid",
    "history",
    "done_at",
]


def results_csv(store: CampaignStore, campaign_id: str) -> Iterator[str]:
    """Every contact as a CSV row (with its own fields after the fixed columns), a few rows at a time."""
    state = store.campaigns.get_state(campaign_id)
    if state is None:
        raise CampaignNotFound(campaign_id)
    cancelled = state.get("status") == STATE_CANCELLED
    rows = list(store.campaigns.contacts(campaign_id))
    field_names = sorted({name for row in rows for name in (row.get("fields") or {})})
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([*RESULT_COLUMNS, *field_names])
    for row in rows:
        state_name = str(row.get("state"))
        result = row.get("result")
        if cancelled and state_name in ("pending", "queued"):
            state_name, result = "done", ContactResult.CANCELLED.value
        history = ";".join(
            f"{entry.get('attempt')}:{entry.get('result')}" for entry in row.get("history") or []
        )
        writer.writerow(
            [
                row.get("row"),
                row.get("number"),
                row.get("name") or "",
                row.get("timezone") or "",
                state_name,
                result or "",
                row.get("attempts") or 0,
                row.get("last_result") or "",
                row.get("last_call_uuid") or "",
                history,
                row.get("done_at") or "",
                *((row.get("fields") or {}).get(name, "") for name in field_names),
            ]
        )
        if out.tell() > 64 * 1024:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    yield out.getvalue()


def is_finished(state: dict[str, Any]) -> bool:
    return state.get("status") in (STATE_CANCELLED, STATE_COMPLETED)
