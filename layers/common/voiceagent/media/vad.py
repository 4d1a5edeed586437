"""Voice-activity detection by frame energy, as a pure step over a small persisted state.

A frame is loud when its power reaches the threshold. Speech starts once loud frames have lasted ``start_ms``
without a quiet one (so clicks don't count) and ends once quiet frames have lasted ``end_ms`` without a loud
one (so pauses between words don't count). Once speaking, a frame stays "loud" down to ``sustain_dbfs``, 10 dB
lower: quiet syllables of soft speech do not count as silence (a voicemail greeting read softly must not
look over before it is).

Frames of one call run on any Lambda container, so the detector keeps nothing in memory: ``step`` takes the
state the previous frames left and returns the next one. Durations come from the stream's frame clock (the
frame's sequence, not wall time), and the state changes only at the edges of a run of contradicting frames:
steady silence or steady speech leave it untouched, so most frames write nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from voiceagent.media.audio import ulaw_energy

_FULL_SCALE_POWER = 32768.0**2


class VadEvent(StrEnum):
    SPEECH_STARTED = "speech_started"
    SPEECH_ENDED = "speech_ended"


@dataclass(frozen=True)
class VadState:
    speaking: bool = False
    run_from: int | None = None
    """Frame clock (ms) where the current run of frames contradicting ``speaking`` began."""
    spoke_from: int | None = None
    """Where the current (or last) speech began."""
    quiet_from: int | None = None
    """Where the last speech ended: the start of the quiet run that ended it."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "speaking": self.speaking,
            "run_from": self.run_from,
            "spoke_from": self.spoke_from,
            "quiet_from": self.quiet_from,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> VadState:
        data = data or {}

        def number(key: str) -> int | None:
            value = data.get(key)
            return None if value is None else int(value)

        return cls(bool(data.get("speaking")), number("run_from"), number("spoke_from"), number("quiet_from"))


@dataclass(frozen=True)
class EnergyVad:
    threshold_dbfs: float = -40.0
    start_ms: int = 60
    end_ms: int = 600
    sustain_db: float = 10.0
    """How far under the threshold a frame still counts as speech once speech has started."""

    def __post_init__(self) -> None:
        if self.start_ms < 0 or self.end_ms < 0:
            raise ValueError("start_ms and end_ms must not be negative")

    @property
    def threshold_power(self) -> float:
        # Compare mean squares, not decibels: no logarithm per frame.
        return float(_FULL_SCALE_POWER * 10.0 ** (self.threshold_dbfs / 10.0))

    @property
    def sustain_power(self) -> float:
        return float(_FULL_SCALE_POWER * 10.0 ** ((self.threshold_dbfs - self.sustain_db) / 10.0))

    def loud(self, frame: bytes, speaking: bool = False) -> bool:
        return bool(frame) and ulaw_energy(frame) >= (
            self.sustain_power if speaking else self.threshold_power
        )

    def step(
        self, state: VadState, frame: bytes, clock_ms: int, frame_ms: int = 20
    ) -> tuple[VadState, VadEvent | None]:
        """Account for the frame that covers ``[clock_ms, clock_ms + frame_ms)``; the event it completes."""
        if not frame:
            return state, None
        loud = self.loud(frame, state.speaking)
        if loud == state.speaking:
            return (state if state.run_from is None else replace(state, run_from=None)), None
        run_from = clock_ms if state.run_from is None else state.run_from
        needed = self.end_ms if state.speaking else self.start_ms
        if clock_ms + frame_ms - run_from < needed:
            return (state if state.run_from == run_from else replace(state, run_from=run_from)), None
        if loud:
            return VadState(
                True, None, spoke_from=run_from, quiet_from=state.quiet_from
            ), VadEvent.SPEECH_STARTED
        return VadState(False, None, spoke_from=state.spoke_from, quiet_from=run_from), VadEvent.SPEECH_ENDED
