"""One call in a few words, the same in its report and in the list of calls: the ids the user was given, where
the call stands, how it ended, who answered and who hung up.

A call is known by up to three records' worth of facts: the placement (``POST /calls``: our placement id,
Plivo's RequestUUID, and the CallUUID once a webhook linked them) and the call record (every webhook). A
call Plivo refused, or one still ringing, has only the placement.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from voiceagent.calls.outcomes import Outcome
from voiceagent.store.states import CallState

NOT_PLACED = "not_placed"
"""The outcome of a placement Plivo refused (or never answered): no call was made."""
IN_PROGRESS = "in_progress"
"""What the list's outcome filter calls a call that has not ended."""
OUTCOMES = (*(outcome.value for outcome in Outcome), NOT_PLACED, IN_PROGRESS)

_PLACEMENT_STATES = {"placed": "placing", "failed": NOT_PLACED}
"""A placement without a call, in the call's vocabulary (anything else Plivo accepted: ``placed``)."""
_MACHINE_OUTCOMES = frozenset(
    {Outcome.VOICEMAIL_LEFT, Outcome.VOICEMAIL_CUT, Outcome.VOICEMAIL_HANGUP, Outcome.MACHINE_HANGUP}
)
_NOBODY_OUTCOMES = frozenset({Outcome.NO_ANSWER, Outcome.BUSY, Outcome.FAILED, NOT_PLACED})

HANGUP_SOURCES = {
    "callee": "the callee",
    "caller": "the caller (our side of the call)",
    "plivo": "Plivo (end of the XML, machine detection, or a timeout)",
    "api": "us, through Plivo's REST API",
    "error": "an error at Plivo",
}
"""Plivo's ``HangupSource`` in words."""


def _state(placement: Mapping[str, Any], call: Mapping[str, Any]) -> str | None:
    if call.get("state"):
        return str(call["state"])
    if not placement:
        return None
    raw = str(placement.get("state") or "")
    return _PLACEMENT_STATES.get(raw, CallState.PLACED.value)


def _outcome(placement: Mapping[str, Any], call: Mapping[str, Any]) -> str | None:
    if call.get("outcome"):
        return str(call["outcome"])
    return NOT_PLACED if not call and placement.get("state") == "failed" else None


def answered_by(call: Mapping[str, Any], outcome: str | None) -> str:
    """``machine``, ``human``, ``nobody`` or, while the call goes on, ``unknown``."""
    if call.get("machine_detection_result") == "machine" or outcome in _MACHINE_OUTCOMES:
        return "machine"
    if outcome == Outcome.HUMAN:
        return "human"
    if outcome in _NOBODY_OUTCOMES:
        return "nobody"
    return "unknown"


def _who_hung_up(call: Mapping[str, Any]) -> str | None:
    source = str(call.get("hangup_source") or "")
    if not source:
        return None
    words = HANGUP_SOURCES.get(source.strip().lower(), source)
    if source.strip().lower() == "api":
        if call.get("hangup_requested_at"):
            return f"{words}: POST /calls/{{id}}/hangup"
        if call.get("agent_hangup"):
            return f"{words}: the agent ({call['agent_hangup']})"
        if call.get("policy_applied") == "hangup":
            return f"{words}: the voicemail policy hangup"
    return words


def _hangup(call: Mapping[str, Any]) -> dict[str, Any] | None:
    if not (call.get("hangup_source") or call.get("hangup_cause")):
        return None
    return {
        "source": call.get("hangup_source"),
        "by": _who_hung_up(call),
        "cause": call.get("hangup_cause"),
        "cause_code": call.get("hangup_cause_code"),
        "cause_name": call.get("hangup_cause_name"),
    }


def summarize(placement: Mapping[str, Any] | None, call: Mapping[str, Any] | None) -> dict[str, Any]:
    """The call's ids, state, outcome, who answered and hung up, and its times."""
    placement, call = placement or {}, call or {}

    def either(call_name: str, placement_name: str | None = None) -> Any:
        return call.get(call_name) or placement.get(placement_name or call_name)

    state = _state(placement, call)
    outcome = _outcome(placement, call)
    return {
        "placement_id": either("placement_id"),
        "request_uuid": either("request_uuid"),
        "call_uuid": either("call_uuid"),
        "from": either("from_number"),
        "to": either("to_number"),
        "policy": either("policy"),
        "state": state,
        "outcome": outcome,
        "in_progress": state not in (CallState.COMPLETED.value, NOT_PLACED, None),
        "answered_by": answered_by(call, outcome),
        "placed_at": either("placed_at"),
        "answered_at": call.get("answered_at") or call.get("answer_time") or None,
        "ended_at": call.get("completed_at"),
        "duration_seconds": call.get("duration_seconds"),
        "hangup": _hangup(call),
        "error": placement.get("error") if not call else None,
    }


def list_outcome(summary: Mapping[str, Any]) -> str:
    """The outcome as the list filters it: a call not over yet is ``in_progress``."""
    return str(summary["outcome"]) if summary["outcome"] else IN_PROGRESS
