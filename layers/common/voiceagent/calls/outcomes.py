"""The final outcome of a call, from its record and Plivo's hangup callback."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from voiceagent.plivo.webhooks import HangupWebhook


class Outcome(StrEnum):
    HUMAN = "human"
    VOICEMAIL_LEFT = "voicemail_left"
    VOICEMAIL_HANGUP = "voicemail_hangup"
    MACHINE_HANGUP = "machine_hangup"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    FAILED = "failed"


MACHINE_DETECTED_CAUSE = 9100
NO_ANSWER_CAUSES = frozenset({3000})
BUSY_CAUSES = frozenset({3010})


def derive_outcome(call: dict[str, Any], hangup: HangupWebhook) -> Outcome:
    """Classify a finished call. Plivo's cause names are checked before codes: both vary across its docs."""
    name = f"{hangup.hangup_cause or ''} {hangup.hangup_cause_name or ''}".lower()
    if hangup.hangup_cause_code == MACHINE_DETECTED_CAUSE or "machine detected" in name:
        return Outcome.MACHINE_HANGUP
    if call.get("machine_detection_result") == "machine":
        left = (call.get("policy_result") == "transferred" and call.get("voicemail_served_at")) or (
            call.get("agent_mode") == "voicemail" and call.get("voicemail_played_at")
        )
        return Outcome.VOICEMAIL_LEFT if left else Outcome.VOICEMAIL_HANGUP
    if call.get("answered_at") or hangup.answer_time or (hangup.bill_duration or 0) > 0:
        return Outcome.HUMAN
    if "busy" in name or hangup.hangup_cause_code in BUSY_CAUSES:
        return Outcome.BUSY
    if (
        "no answer" in name
        or "no_answer" in name
        or "timeout" in name
        or hangup.hangup_cause_code in NO_ANSWER_CAUSES
    ):
        return Outcome.NO_ANSWER
    return Outcome.FAILED
