"""The final outcome of a call, from its record and Plivo's hangup callback."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from voiceagent.plivo.webhooks import HangupWebhook


class Outcome(StrEnum):
    HUMAN = "human"
    VOICEMAIL_LEFT = "voicemail_left"
    """A machine answered and the whole message was played."""
    VOICEMAIL_CUT = "voicemail_cut"
    """The message started but the call ended before it was over."""
    VOICEMAIL_HANGUP = "voicemail_hangup"
    """A machine answered and no message was started (policy hangup, or the call ended first)."""
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
        return _voicemail_outcome(call, hangup)
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


def _voicemail_outcome(call: dict[str, Any], hangup: HangupWebhook) -> Outcome:
    """Left (the whole message), cut (it started, the call ended first) or no message at all.

    On the stream, the message is whole once Plivo confirmed its checkpoint played. In the transfer policy,
    Plivo played our voicemail XML to its end unless the machine hung up while it ran."""
    if call.get("voicemail_played_at"):
        return Outcome.VOICEMAIL_LEFT
    if call.get("voicemail_started_at"):
        return Outcome.VOICEMAIL_CUT
    if call.get("voicemail_served_at"):
        cut = (hangup.hangup_source or "").strip().lower() == "callee"
        return Outcome.VOICEMAIL_CUT if cut else Outcome.VOICEMAIL_LEFT
    return Outcome.VOICEMAIL_HANGUP
