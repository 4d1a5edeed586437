"""A line per call event as calls happen (placed, answered, machine, beep, message, hangup…), printed by
`make local` and `make demo` from what the simulated Plivo sees, and the webhooks Plivo sends in live mode."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from tests.local.plivo_sim import SimCall

QUIET_EVENTS = ("audio cleared",)
"""Frequent and not news (every barge-in clears audio): left out of the live lines."""


class CallLines:
    """Prints ``[  1.2s] label  event`` for each event of each simulated call."""

    def __init__(self, out: TextIO | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self._out = out
        self._clock = clock
        self._started = clock()
        self._labels: dict[str, str] = {}

    def label(self, request_uuid: str, name: str) -> None:
        """Name a call (a demo scenario) once POST /calls has told its RequestUUID."""
        self._labels[request_uuid] = name

    def __call__(self, call: SimCall, what: str) -> None:
        if what in QUIET_EVENTS:
            return
        name = self._labels.get(call.request_uuid) or f"{call.params.get('to')} {call.call_uuid[:8]}"
        self.print(f"{name:<24}  {what}")

    def event(self, envelope: dict[str, Any]) -> None:
        """A call event as the bus delivered it (``make local`` prints each as it arrives)."""
        detail = envelope.get("detail") or {}
        name = (
            self._labels.get(str(detail.get("request_uuid")))
            or str(detail.get("call_uuid") or detail.get("placement_id") or "?")[:8]
        )
        self.print(f"{name:<24}  on the bus: {envelope.get('detail-type')}")

    def print(self, text: str) -> None:
        out = self._out or sys.stdout
        print(f"[{self._clock() - self._started:6.1f}s] {text}", file=out, flush=True)
