"""The hangup webhook's domain logic: close the call with its cause, durations and outcome (once)."""

from __future__ import annotations

from datetime import datetime

from voiceagent.calls.outcomes import Outcome, derive_outcome
from voiceagent.calls.placement_join import placement_facts
from voiceagent.plivo.webhooks import HangupWebhook
from voiceagent.store import Store
from voiceagent.store.calls import Transition
from voiceagent.store.states import CallState


def complete_call(
    webhook: HangupWebhook, *, placement_id: str | None, store: Store, now: datetime
) -> tuple[Transition, Outcome]:
    inherited = placement_facts(store.placements, placement_id, webhook.call_uuid, now)
    call = {**inherited, **(store.calls.get_call(webhook.call_uuid) or {})}
    outcome = derive_outcome(call, webhook)
    transition = store.calls.transition(
        webhook.call_uuid,
        CallState.COMPLETED,
        now,
        facts={
            **inherited,
            "outcome": outcome.value,
            "hangup_cause": webhook.hangup_cause,
            "hangup_cause_name": webhook.hangup_cause_name,
            "hangup_cause_code": webhook.hangup_cause_code,
            "hangup_source": webhook.hangup_source,
            "duration_seconds": webhook.duration,
            "bill_duration_seconds": webhook.bill_duration,
            "start_time": webhook.start_time,
            "answer_time": webhook.answer_time or None,
            "end_time": webhook.end_time,
            "from_number": webhook.from_ or None,
            "to_number": webhook.to or None,
            "request_uuid": webhook.request_uuid,
        },
    )
    return transition, outcome
