"""Retry rules: what an attempt's outcome leads to — another attempt after a delay, or the contact's result.

A rule per kind of outcome: ``no_answer``, ``busy``, ``failed`` (also a call Plivo refused to place, and an
attempt nobody heard of again) and ``machine`` (every voicemail outcome). ``attempts`` is the most calls a
contact gets while its latest outcome is of that kind (the first call included): ``{"attempts": 3}`` means
up to two retries. A person who answered (``human``) is never called again, nor is a call whose end is
unknown while it may have been answered.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from voiceagent.calls.outcomes import Outcome


class AttemptResult(StrEnum):
    """How one attempt ended: a call outcome, or what happened instead of a call."""

    HUMAN = "human"
    VOICEMAIL_LEFT = "voicemail_left"
    VOICEMAIL_CUT = "voicemail_cut"
    VOICEMAIL_HANGUP = "voicemail_hangup"
    MACHINE_HANGUP = "machine_hangup"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    FAILED = "failed"
    NOT_PLACED = "not_placed"
    """Plivo refused to place the call (it surely did not dial)."""
    LOST = "lost"
    """Plivo never called back about it and surely is not calling: the sweeper settled it."""
    UNKNOWN = "unknown"
    """The call was answered but its end never reported: settled by the sweeper, never retried."""


class ContactResult(StrEnum):
    """A contact's final result besides its last attempt's: why it was never (or no longer) called."""

    DO_NOT_CALL = "do_not_call"
    CANCELLED = "cancelled"


class RetryKind(StrEnum):
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    FAILED = "failed"
    MACHINE = "machine"


KIND_OF: dict[AttemptResult, RetryKind | None] = {
    AttemptResult.HUMAN: None,
    AttemptResult.UNKNOWN: None,
    AttemptResult.VOICEMAIL_LEFT: RetryKind.MACHINE,
    AttemptResult.VOICEMAIL_CUT: RetryKind.MACHINE,
    AttemptResult.VOICEMAIL_HANGUP: RetryKind.MACHINE,
    AttemptResult.MACHINE_HANGUP: RetryKind.MACHINE,
    AttemptResult.NO_ANSWER: RetryKind.NO_ANSWER,
    AttemptResult.BUSY: RetryKind.BUSY,
    AttemptResult.FAILED: RetryKind.FAILED,
    AttemptResult.NOT_PLACED: RetryKind.FAILED,
    AttemptResult.LOST: RetryKind.FAILED,
}
assert {result.value for result in AttemptResult} >= {outcome.value for outcome in Outcome}


class RetryRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    delay_seconds: int = Field(default=3600, ge=1, le=7 * 86400, description="a whole number of seconds")
    attempts: int = Field(default=1, ge=1, le=10, description="calls in all, the first included (1 to 10)")


class RetryRules(BaseModel):
    """Per kind of outcome; a kind left out keeps its default below (``attempts=1``: never retried)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    no_answer: RetryRule = RetryRule(delay_seconds=3600, attempts=3)
    busy: RetryRule = RetryRule(delay_seconds=600, attempts=3)
    failed: RetryRule = RetryRule(delay_seconds=1800, attempts=2)
    machine: RetryRule = RetryRule(delay_seconds=14400, attempts=1)

    def rule(self, kind: RetryKind) -> RetryRule:
        rule: RetryRule = getattr(self, kind.value)
        return rule


def next_attempt_at(
    rules: RetryRules, result: AttemptResult, attempts_made: int, completed_at: datetime
) -> datetime | None:
    """When to call again after an attempt that ended so (None: the contact is done)."""
    kind = KIND_OF[result]
    if kind is None:
        return None
    rule = rules.rule(kind)
    if attempts_made >= rule.attempts:
        return None
    return completed_at + timedelta(seconds=rule.delay_seconds)
