"""Settling attempts: an attempt's end (from the call-events bus, the dialer, or the sweeper) moves its
contact exactly once — to a retry the rule asks for, or to its result — and releases its in-progress slot.

Every settle is conditional on the contact still dialling that very attempt, in one transaction with the
campaign's counters: whichever source comes first settles it, the others find it moved on (duplicates).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from aws_lambda_powertools import Logger

from voiceagent.campaigns.rules import AttemptResult, RetryRules, next_attempt_at
from voiceagent.clock import iso
from voiceagent.store.campaigns import STATE_CANCELLED, CampaignRepository, Settle, TransactionFailed

logger = Logger(child=True)
MAX_TRIES = 6


@dataclass(frozen=True)
class AttemptEnd:
    row: int
    attempt: int
    result: AttemptResult
    completed_at: datetime
    settled_by: str
    """``event`` (the bus), ``dialer`` (Plivo refused the call) or ``sweeper`` (nobody called back)."""
    call_uuid: str | None = None
    hangup_cause: str | None = None
    duration_seconds: int | None = None
    expected_state: str = "dialling"


@dataclass(frozen=True)
class Settled:
    applied: list[AttemptEnd]
    duplicates: list[AttemptEnd]
    retries: int


def _move(end: AttemptEnd, rules: RetryRules, cancelled: bool) -> tuple[Settle, bool]:
    retry_at = None if cancelled else next_attempt_at(rules, end.result, end.attempt, end.completed_at)
    counters = {"active": -1, f"outcome_{end.result.value}": 1}
    if retry_at is None:
        counters |= {"remaining": -1, f"result_{end.result.value}": 1}
    else:
        counters |= {"retries_waiting": 1, "retries_scheduled": 1}
    history = {
        "attempt": end.attempt,
        "result": end.result.value,
        "call_uuid": end.call_uuid,
        "hangup_cause": end.hangup_cause,
        "duration_seconds": end.duration_seconds,
        "completed_at": iso(end.completed_at),
        "settled_by": end.settled_by,
    }
    move = Settle(
        row=end.row,
        expected=end.expected_state,
        attempt=end.attempt,
        due_at=iso(retry_at) if retry_at else None,
        result=None if retry_at else end.result.value,
        history={key: value for key, value in history.items() if value is not None},
        facts={"last_result": end.result.value, "last_call_uuid": end.call_uuid},
        counters=counters,
    )
    return move, retry_at is not None


def settle_attempts(
    repository: CampaignRepository,
    campaign_id: str,
    ends: Sequence[AttemptEnd],
    *,
    rules: RetryRules,
    status: str,
    now: datetime,
    sleep: Callable[[float], None] = time.sleep,
) -> Settled:
    """Apply each end once (in transactions of up to 90); the ones whose contact had moved on are
    duplicates. Conflicts with other transactions on the campaign's counters are tried again."""
    pending = list({end.row: end for end in ends}.values())
    applied: list[AttemptEnd] = []
    duplicates: list[AttemptEnd] = []
    retries = 0
    while pending:
        chunk, pending = pending[:90], pending[90:]
        for attempt in range(MAX_TRIES):
            moves = [_move(end, rules, status == STATE_CANCELLED) for end in chunk]
            try:
                repository.settle(campaign_id, [move for move, _ in moves], now)
            except TransactionFailed as exc:
                if exc.failed:
                    gone = {chunk[index].row for index in exc.failed if index < len(chunk)}
                    duplicates += [end for end in chunk if end.row in gone]
                    chunk = [end for end in chunk if end.row not in gone]
                    if not chunk:
                        break
                    continue
                if attempt == MAX_TRIES - 1:
                    raise
                sleep(random.uniform(0.02, 0.1 * 2**attempt))  # noqa: S311 - jitter
                continue
            applied += chunk
            retries += sum(1 for _, retried in moves if retried)
            break
    for end in duplicates:
        logger.info("attempt already settled", extra={"campaign_id": campaign_id, "row": end.row})
    return Settled(applied, duplicates, retries)
