"""Pacing: no one-second window — sliding, not only calendar seconds — holds more calls than the account's
calls-per-second limit or a campaign's pace, whatever the number of dialer Lambdas, campaigns or retries.

Time is cut into **ticks** of ``(1 s + guard) / account cps``, numbered from the epoch. A call owns one
tick and starts on it: the dialer claims the tick with a conditional put (``TICK#<n>``: one call per tick for
the whole account), so the account's calls are at least a tick apart, and any ``cps + 1`` of them span more
than a second. A campaign slower than the account dials on every ``stride``-th tick at most
(``stride = ceil(account cps / pace)``): its allocator (a conditional counter in DynamoDB, ``PACER``)
hands each dialer a block of ticks ``stride`` apart that nobody else of the campaign gets. A tick another
campaign took is lost to this one (it dials on a later one: gaps only grow). A call that cannot start within
the guard of its tick (a slow container) is not sent on it, so late calls never crowd the next ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

LEAD_MS = 300
"""How far ahead the first tick of a block is: time to claim it, the contact and check the list."""


@dataclass(frozen=True)
class PaceGrid:
    tick_ms: float
    stride: int
    guard_ms: int

    @classmethod
    def of(cls, account_cps: float, campaign_cps: float, guard_ms: int) -> PaceGrid:
        tick_ms = (1000 + guard_ms) / account_cps
        stride = max(1, math.ceil(account_cps / campaign_cps - 1e-9))
        return cls(tick_ms, stride, guard_ms)

    @property
    def calls_per_second(self) -> float:
        """The pace a campaign actually gets (at most its own and the account's)."""
        return 1000 / (self.tick_ms * self.stride)

    def first_tick(self, epoch_seconds: float, lead_ms: float = LEAD_MS) -> int:
        return math.ceil((epoch_seconds * 1000 + lead_ms) / self.tick_ms)

    def start_of(self, tick: int) -> float:
        """Epoch seconds at which ``tick`` starts."""
        return tick * self.tick_ms / 1000

    def ticks(self, first: int, count: int) -> list[int]:
        return [first + index * self.stride for index in range(count)]
