"""The hangup webhook's domain logic: close the call with its cause, durations and outcome (once)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from voiceagent.calls.outcomes import Outcome, derive_outcome
from voiceagent.calls.placement_join import placement_facts
from voiceagent.plivo.webhooks import HangupWebhook
from voiceagent.store import Store
from voiceagent.store.calls import Transition
from voiceagent.store.states import CallState


def complete_call(
    webhook: HangupWebhook, *, placement_id: str | None, store: Store, now: datetime
) -> tuple[Transition, Outcome]:
    """Complete the call with its outcome, derived from the very record the completing write replaces (a
    machine detection landing between a read and the write makes the write derive it again)."""
    inherited = placement_facts(store.placements, placement_id, webhook.call_uuid, now)

    def facts(call: dict[str, Any]) -> dict[str, Any]:
        return {
            **inherited,
            "outcome": derive_outcome({**inherited, **call}, webhook).value,
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
        }

    transition, written = store.calls.transition_derived(webhook.call_uuid, CallState.COMPLETED, now, facts)
    return transition, Outcome(written["outcome"])
