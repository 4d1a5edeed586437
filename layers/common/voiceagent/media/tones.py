"""Voicemail-beep detection on 8 kHz G.711 mu-law, one 20 ms frame at a time. Pure Python, stdlib only.

A voicemail beep is one steady sine of 400-2100 Hz lasting 100-1500 ms, followed by the silence (or line
noise) of the recording. The detector looks for exactly that.

Per frame (``BeepDetector.analyse``), cheaply: frames under a power floor are dropped after a peak check and
one sum. The frame's *extent* is the longest run of 2.5 ms blocks within 6 dB of its loudest block; where a
tone starts or stops inside the frame, the partly filled edge block places the onset or offset. A coarse
frequency comes from upward zero crossings with hysteresis, found in C (the mu-law bytes are translated to
symbols and a regular expression finds the crossings); noise and most speech give irregular crossings and
stop there. The frequency is refined to ~1 Hz from the phase advance between the two halves of the extent,
and *purity* is the share of the extent's power that a least-squares sinusoid at that frequency explains
(after removing each block's mean, so that pink noise's rumble does not count). Dot products run in C
(``sum(map(operator.mul, ...))``) against cached cos/sin tables. Speech (harmonics under formants), music
(harmonics, chords) and DTMF (two tones) have low purity.

Across frames (``BeepDetector.step``), with a state that changes only when a tone starts or ends: a tone
starts on a frame of purity >= ``min_purity`` that sounds up to its end, and the state keeps its onset,
frequency and level. Every later frame must match that frequency and level (with purity >= ``hold_purity``).
Frames are compared with the start, never with the previous frame, so nothing is updated per frame. The tone
ends on the first frame that does not continue it (placed inside that frame from its block energies). It was
a beep if it lasted ``min_ms``-``max_ms`` and was not cut off by a *different* tone (a melody, a signalling
sequence). A tone longer than ``max_ms`` (dial tone, fax, test tone) is simply not a beep when it ends, so
passing ``max_ms`` needs no state of its own, and a beep is only ever reported once it has ended.

Time is the caller's frame clock (ms from the stream's sequence numbers), never wall time. A frame that never
arrived leaves no trace: the tone on both sides of a gap is one tone, which covers the required tolerance of
gaps up to 60 ms inside a beep (longer gaps too: noticing them would mean storing the clock of every frame).
A gap right after a tone makes its end late by the gap; ``long_slack_ms`` keeps such a beep within bounds.
"""

from __future__ import annotations

import bisect
import cmath
import math
import operator
import re
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from voiceagent.media.audio import DECODED, SAMPLE_RATE, ulaw_to_pcm16

FRAME_SAMPLES = 160
"""Samples in a 20 ms frame."""

BLOCK_SAMPLES = 20
"""2.5 ms: the resolution of a tone's onset and offset in a frame, and one period of the lowest tone."""

BLOCKS = FRAME_SAMPLES // BLOCK_SAMPLES

_SAMPLES_PER_MS = SAMPLE_RATE // 1000
_FULL_SCALE_POWER = 32768.0**2

_TABLE_STEP_HZ = 4
"""Projection tables exist every 4 Hz: at most 2 Hz off, which costs under 1 % of a clean tone's purity."""

_PARTIALS = (0.5, 2.0 / 3.0, 4.0 / 3.0, 1.5, 2.0, 3.0)
"""Where the other harmonics sit, as multiples of ``hz``, if ``hz`` is the fundamental of a note (2, 3) or
the 2nd or 3rd harmonic of a voice (1/2, 3/2 and 2/3, 4/3): a sine has nothing there but noise."""

_PARTIALS_SPAN = 120
"""Partials are measured on 15 ms or more, which resolves them from the tone (and each other)."""

_FULL_BLOCK = 0.75
"""An edge block with less than this share of the tone's block energy is only partly tone."""

_MAGNITUDE_RANK = bytes((~code & 0x7F) for code in range(256))
"""Mu-law code -> 0..127, rising with the decoded magnitude: ``max(frame.translate(...))`` is a peak in C."""

_MAGNITUDES = sorted({abs(value) for value in DECODED})
"""The distinct decoded magnitudes: a hysteresis threshold snaps to one (so 128 symbol tables at most)."""

_UPWARD = re.compile(rb"n[nz]*p")
"""An upward zero crossing with hysteresis in a symbol string: from below -h, through +-h, to above +h."""


@lru_cache(maxsize=128)
def _symbols(threshold: int) -> bytes:
    """Translation table: code -> b"n" below -h, b"p" above +h, b"z" between, h = _MAGNITUDES[threshold]."""
    h = _MAGNITUDES[min(threshold, len(_MAGNITUDES) - 1)]
    return bytes(ord("n") if value < -h else ord("p") if value > h else ord("z") for value in DECODED)


@lru_cache(maxsize=1024)
def _projection(table_hz: int) -> tuple[list[float], list[float]]:
    """Cos and sin of a tone at ``table_hz`` over one frame, built on first use (~60 us, ~10 kB a pair).

    Frequencies are multiples of 4 Hz, so at most 1000 pairs exist (10 MB); a call uses a handful.
    """
    step = 2.0 * math.pi * table_hz / SAMPLE_RATE
    cosines = [math.cos(step * n) for n in range(FRAME_SAMPLES)]
    sines = [math.sin(step * n) for n in range(FRAME_SAMPLES)]
    return cosines, sines


def _dbfs(mean_square: float) -> float:
    """Power relative to a full-scale square wave, as ``g711.energy_dbfs`` (a full-scale sine is -3 dBFS)."""
    return 10.0 * math.log10(mean_square / _FULL_SCALE_POWER) if mean_square > 0.0 else -100.0


def _power(dbfs: float) -> float:
    return _FULL_SCALE_POWER * math.pow(10.0, dbfs / 10.0)


@dataclass(frozen=True, slots=True)
class BeepState:
    """What the detector remembers between frames: the tone in progress, if any.

    Small and JSON-friendly so that it can live in the call's record between Lambda invocations. It changes
    only when a tone starts or ends, so the caller writes it back rarely (compare with ``==`` to know when).
    """

    start_ms: int | None = None
    """Frame clock at the tone's onset; None when no tone is in progress."""
    hz: float = 0.0
    """The tone's frequency as measured on its first frame (0.1 Hz resolution)."""
    tolerance_hz: float = 0.0
    """How far later frames may stray from ``hz``: wider when the first frame held little of the tone."""
    level_dbfs: float = 0.0
    """The tone's power on its first frame (0.1 dB resolution)."""

    @property
    def in_tone(self) -> bool:
        return self.start_ms is not None

    def to_dict(self) -> dict[str, int | float | None]:
        """Plain JSON-ready values (under 100 bytes as JSON)."""
        return {
            "start_ms": self.start_ms,
            "hz": self.hz,
            "tolerance_hz": self.tolerance_hz,
            "level_dbfs": self.level_dbfs,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BeepState:
        """Inverse of ``to_dict``; ValueError on anything else (a corrupt record must not pass silently)."""
        if set(data) != _STATE_KEYS:
            raise ValueError(f"beep state needs exactly {sorted(_STATE_KEYS)}, got {sorted(data)}")
        start = data["start_ms"]
        if start is not None and (isinstance(start, bool) or not isinstance(start, int)):
            raise ValueError(f"start_ms must be an int or None, got {start!r}")
        numbers = {name: data[name] for name in ("hz", "tolerance_hz", "level_dbfs")}
        for name, value in numbers.items():
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number, got {value!r}")
        return cls(
            start_ms=start,
            hz=float(numbers["hz"]),
            tolerance_hz=float(numbers["tolerance_hz"]),
            level_dbfs=float(numbers["level_dbfs"]),
        )


IDLE = BeepState()
"""No tone in progress: the state of a new call."""

_STATE_KEYS = frozenset(IDLE.to_dict())


@dataclass(frozen=True, slots=True)
class Beep:
    """A detected beep, reported on the frame in which it ended (or the first one after)."""

    started_ms: int
    ended_ms: int
    frequency_hz: float
    level_dbfs: float

    @property
    def duration_ms(self) -> int:
        return self.ended_ms - self.started_ms


@dataclass(frozen=True, slots=True)
class Tonal:
    """One frame's steady tone as ``BeepDetector.analyse`` measured it (times in ms from the frame start)."""

    hz: float
    purity: float
    """Share of the measured span's power in one sinusoid at ``hz`` (1.0 for a clean sine)."""
    span: int
    """Samples measured: fewer than 160 where the tone starts or stops inside the frame."""
    partials: float
    """Share of the energy at ``_PARTIALS`` (0.0 if not asked for, or if the span is too short)."""
    power: float
    """Mean square over the span."""
    onset_ms: float
    offset_ms: float
    from_start: bool
    """The tone fills the frame from its first block (it was already sounding when the frame began)."""
    to_end: bool
    """The tone fills the frame up to its last block (it is still sounding when the frame ends)."""


@dataclass(frozen=True)
class BeepDetector:
    """Configuration and the pure ``step`` function; one instance serves every call in a container.

    Thresholds, and why:

    * ``floor_dbfs`` -52: 7 dB under the quietest beep to find (-45 dBFS); quieter frames cost a few us.
    * ``min_purity`` 0.8 to start a tone: a sine in white or pink noise at 10 dB SNR measures ~0.9; notes
      with harmonics and DTMF pairs stay under 0.8, and a voiced speech frame only rarely exceeds it.
    * ``hold_purity`` 0.7 to continue one: a noisy frame may dip under 0.8 (a sine in white noise at 10 dB
      SNR measures 0.83-0.95), and continuing also needs the start's frequency and level.
    * ``max_partials`` 0.07: in the first ``min_ms`` of a tone, at most this share of a frame's energy may
      sit where the tone's companions in a harmonic series would be (``_PARTIALS``). A note's 2nd and 3rd
      harmonics, or a held high vowel's harmonics either side of the one under its first formant, put
      0.055-0.2 there, so five frames in a row all pass only rarely; a sine in noise at 10 dB SNR puts under
      0.05 (pink, near 500 Hz, very rarely up to ~0.08), and checking only the first 100 ms keeps the chance
      of dropping a long beep that way negligible (and the cost off most tone frames).
    * ``hz_tolerance`` 2 % (at least ``hz_tolerance_min`` 10 Hz), widened for frames that hold only part of
      the tone: a steady tone measures within ~0.5 % even at 10 dB SNR, gliding speech moves further.
    * ``level_tolerance_db`` 6: a beep is steady; a note decays, a syllable swells.
    * ``short_slack_ms`` 10: a tone starting in the last 7.5 ms of a frame is first seen on the next frame,
      and onsets and offsets are placed to a few ms; a true 80 ms tone is still outside.
    * ``long_slack_ms`` 60: frames lost right after a tone count as tone (the 60 ms gap allowance); a true
      1600 ms tone is still outside.
    """

    min_hz: float = 400.0
    max_hz: float = 2100.0
    min_ms: int = 100
    max_ms: int = 1500
    floor_dbfs: float = -52.0
    min_purity: float = 0.8
    hold_purity: float = 0.7
    max_partials: float = 0.07
    hz_tolerance: float = 0.02
    hz_tolerance_min: float = 10.0
    level_tolerance_db: float = 6.0
    short_slack_ms: int = 10
    long_slack_ms: int = 60
    block_ratio: float = 0.25
    """A 2.5 ms block belongs to the tone when its power is within 6 dB of the frame's loudest block."""
    min_blocks: int = 3
    """A frame must hold at least 7.5 ms of steady tone (3 periods at 400 Hz) to start or continue one."""
    hysteresis: float = 0.3
    """Zero-crossing hysteresis as a fraction of the extent's RMS (a sine's crest is 1.41 RMS): a crossing
    needs a real swing, yet the sampled crests of a 2.1 kHz tone (3.8 samples a period) clear it in noise."""
    _floor_power: float = field(init=False, repr=False)
    _peak_floor: int = field(init=False, repr=False)
    _min_period: float = field(init=False, repr=False)
    _max_period: float = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not 0 < self.min_hz < self.max_hz < SAMPLE_RATE / 2:
            raise ValueError("need 0 < min_hz < max_hz < 4000")
        if not 0 < self.min_ms < self.max_ms:
            raise ValueError("need 0 < min_ms < max_ms")
        floor_power = _power(self.floor_dbfs)
        # A frame whose every sample is under the floor's RMS cannot reach the floor: rank of that magnitude.
        peak = math.sqrt(floor_power)
        rank = sum(1 for code in range(128, 256) if abs(DECODED[code]) < peak) - 1
        object.__setattr__(self, "_floor_power", floor_power)
        object.__setattr__(self, "_peak_floor", max(0, rank))
        object.__setattr__(self, "_min_period", SAMPLE_RATE / (self.max_hz * (1.0 + self.hz_tolerance)))
        object.__setattr__(self, "_max_period", SAMPLE_RATE / (self.min_hz * (1.0 - self.hz_tolerance)))

    def step(self, state: BeepState, frame: bytes, clock_ms: int) -> tuple[BeepState, Beep | None]:
        """Account for the frame that starts at ``clock_ms``: the new state, and the beep that ended, if any.

        Pure: the result depends only on the arguments. The returned state is ``state`` itself unless a tone
        started or ended in this frame.
        """
        partials = state.start_ms is None or clock_ms - state.start_ms < self.min_ms
        tonal = self.analyse(frame, partials)
        if state.start_ms is None:
            return self._start(state, tonal, clock_ms), None
        if tonal is not None and tonal.from_start and self._same_tone(state, tonal):
            if tonal.partials > self.max_partials:
                return IDLE, None  # a note or a held vowel, not a beep
            if tonal.to_end:
                return state, None
            # The tone stops inside this frame.
            return IDLE, self._finish(state, clock_ms + round(tonal.offset_ms))
        # The tone stopped near the frame boundary (or in frames that never arrived). A different tone right
        # after it makes it part of a melody or a signalling sequence, not a beep.
        if tonal is not None and tonal.purity >= self.min_purity:
            return self._start(IDLE, tonal, clock_ms), None
        return IDLE, self._finish(state, clock_ms + self._tail_ms(state, frame))

    def _start(self, idle: BeepState, tonal: Tonal | None, clock_ms: int) -> BeepState:
        if tonal is None or not tonal.to_end or tonal.purity < self.min_purity:
            return idle
        if tonal.partials > self.max_partials:
            return idle
        return BeepState(
            start_ms=clock_ms + round(tonal.onset_ms),
            hz=round(tonal.hz, 1),
            tolerance_hz=round(self._tolerance(tonal), 1),
            level_dbfs=round(_dbfs(tonal.power), 1),
        )

    def _tolerance(self, tonal: Tonal) -> float:
        """Frequency tolerance for a frame: the estimate's error grows as the measured span shrinks."""
        base = max(self.hz_tolerance_min, self.hz_tolerance * tonal.hz)
        return base * FRAME_SAMPLES / tonal.span

    def _same_tone(self, state: BeepState, tonal: Tonal) -> bool:
        if abs(tonal.hz - state.hz) > max(state.tolerance_hz, self._tolerance(tonal)):
            return False
        return abs(_dbfs(tonal.power) - state.level_dbfs) <= self.level_tolerance_db

    def _tail_ms(self, state: BeepState, frame: bytes) -> int:
        """How far into ``frame`` the tone still sounds when too little is left to analyse (under 7.5 ms).

        Runs only on the frame that ends a tone, so it may decode a few blocks again.
        """
        if len(frame) != FRAME_SAMPLES:
            return 0
        full_block = _power(state.level_dbfs) * BLOCK_SAMPLES
        samples = 0.0
        for start in range(0, self.min_blocks * BLOCK_SAMPLES, BLOCK_SAMPLES):
            block = array("h", ulaw_to_pcm16(frame[start : start + BLOCK_SAMPLES]))
            share = sum(map(operator.mul, block, block)) / full_block
            if share < self.block_ratio:
                break
            samples += BLOCK_SAMPLES * min(1.0, share)
            if share < _FULL_BLOCK:
                break
        return round(samples / _SAMPLES_PER_MS)

    def _finish(self, state: BeepState, ended_ms: int) -> Beep | None:
        """The beep that the ended tone was, if it was one: neither too short nor too long (with slack)."""
        assert state.start_ms is not None
        duration = ended_ms - state.start_ms
        if not self.min_ms - self.short_slack_ms <= duration <= self.max_ms + self.long_slack_ms:
            return None
        return Beep(state.start_ms, ended_ms, state.hz, state.level_dbfs)

    def analyse(self, frame: bytes, partials: bool = True) -> Tonal | None:
        """The frame's steady in-range tone of purity >= ``hold_purity``, or None. Public for diagnostics.

        ``partials`` asks for ``Tonal.partials`` (about 50 us more on a tonal frame).
        """
        if len(frame) != FRAME_SAMPLES or max(frame.translate(_MAGNITUDE_RANK)) <= self._peak_floor:
            return None
        samples = array("h", ulaw_to_pcm16(frame))
        squares = list(map(operator.mul, samples, samples))
        blocks = [sum(squares[i : i + BLOCK_SAMPLES]) for i in range(0, FRAME_SAMPLES, BLOCK_SAMPLES)]
        if sum(blocks) < self._floor_power * FRAME_SAMPLES:
            return None
        # The longest run of blocks within 6 dB of the loudest: where the tone is, if there is one.
        threshold = max(blocks) * self.block_ratio
        first, last, run_first = 0, -1, -1
        for index, energy in enumerate(blocks):
            if energy < threshold:
                run_first = -1
                continue
            if run_first < 0:
                run_first = index
            if index - run_first > last - first:
                first, last = run_first, index
        if last - first + 1 < self.min_blocks:
            return None
        lo, hi = first * BLOCK_SAMPLES, (last + 1) * BLOCK_SAMPLES
        coarse = self._coarse_hz(frame[lo:hi], math.sqrt(sum(blocks[first : last + 1]) / (hi - lo)))
        if coarse <= 0.0:
            return None
        # Where the tone starts or stops inside the frame, the edge block is partly filled: its share of a
        # full block places the onset or offset, and the fit leaves it out so that the silence or noise beside
        # the tone does not count against the tone's purity.
        interior = blocks[first + 1 : last] or blocks[first : last + 1]
        reference = sum(interior) / len(interior)
        head, tail = min(1.0, blocks[first] / reference), min(1.0, blocks[last] / reference)
        fit_first = first + 1 if head < _FULL_BLOCK and last - first >= 2 else first
        fit_last = last - 1 if tail < _FULL_BLOCK and last - fit_first >= 2 else last
        fit_lo, fit_hi = fit_first * BLOCK_SAMPLES, (fit_last + 1) * BLOCK_SAMPLES
        # Measure after removing each block's mean: a crude high-pass (a 400 Hz tone has one whole period per
        # block and loses nothing) that takes out the rumble below ~150 Hz where pink and brown noise keep
        # much of their power, which would otherwise count against the tone in single frames.
        means = [
            sum(samples[i : i + BLOCK_SAMPLES]) / BLOCK_SAMPLES for i in range(fit_lo, fit_hi, BLOCK_SAMPLES)
        ]
        offsets = [mean for mean in means for _ in range(BLOCK_SAMPLES)]
        span = list(map(operator.sub, samples[fit_lo:fit_hi], offsets))
        hz, purity, energy = _refine(span, fit_lo, coarse)
        low, high = self.min_hz * (1.0 - self.hz_tolerance), self.max_hz * (1.0 + self.hz_tolerance)
        if purity < self.hold_purity or not low <= hz <= high:
            return None
        # A note whose fundamental dominates, or a high voice holding its pitch with one harmonic under its
        # first formant, can be nearly as pure as a sine; the rest of its harmonic series is still there.
        share = 0.0
        if partials and fit_hi - fit_lo >= _PARTIALS_SPAN:
            for ratio in _PARTIALS:
                if hz * ratio < SAMPLE_RATE / 2 - 50:
                    share += _fitted(span, fit_lo, round(hz * ratio / _TABLE_STEP_HZ) * _TABLE_STEP_HZ)
            share /= energy
        return Tonal(
            hz=hz,
            purity=purity,
            span=fit_hi - fit_lo,
            partials=share,
            power=sum(blocks[fit_first : fit_last + 1]) / (fit_hi - fit_lo),
            onset_ms=(lo + BLOCK_SAMPLES * (1.0 - head)) / _SAMPLES_PER_MS,
            offset_ms=(hi - BLOCK_SAMPLES * (1.0 - tail)) / _SAMPLES_PER_MS,
            from_start=first == 0,
            to_end=last == BLOCKS - 1,
        )

    def _coarse_hz(self, extent: bytes, rms: float) -> float:
        """A first frequency estimate (within ~1 %) from upward zero crossings with hysteresis; 0.0 if none.

        The crossings are found in C: the extent is translated to one symbol per sample (below -h, within
        +-h, above +h) and a regular expression finds each climb from below -h to above +h, so a tone cut off
        in its negative half does not end with a crossing into the silence after it. Counting periods against
        the median interval makes a crossing lost to (or added by) noise harmless; irregular crossings (noise,
        most speech) give up here, before any dot product.
        """
        symbols = extent.translate(_symbols(bisect.bisect_left(_MAGNITUDES, self.hysteresis * rms)))
        ends = [match.end() for match in _UPWARD.finditer(symbols)]
        if len(ends) < 3:
            return 0.0
        intervals = list(map(operator.sub, ends[1:], ends[:-1]))
        period = sorted(intervals)[len(intervals) // 2]
        # Loose bounds: noise moves single crossings by a sample or two; the refined frequency is checked.
        if not 0.85 * self._min_period - 1.0 <= period <= 1.15 * self._max_period + 1.0:
            return 0.0
        # Each interval is a whole number of periods (more than one where noise hid a crossing), give or take
        # a sample of quantisation; a crossing that comes far too soon is noise and merges into the next. The
        # median of whole samples is a coarse period (4 for 2.1 kHz's 3.8), so count twice: the second time
        # against the mean period the first count gives.
        estimate = float(period)
        for _ in range(2):
            periods = irregular = pending = 0
            slack = max(1.5, 0.25 * estimate)
            for interval in intervals:
                pending += interval
                if pending < 0.6 * estimate:
                    continue
                count = round(pending / estimate)
                periods += count
                if abs(pending - count * estimate) > slack:
                    irregular += 1
                pending = 0
            if irregular * 4 > len(intervals) or periods == 0:
                return 0.0
            estimate = (ends[-1] - ends[0] - pending) / periods
        return SAMPLE_RATE / estimate


def _refine(span: Sequence[float], lo: int, coarse_hz: float) -> tuple[float, float, float]:
    """Frequency (to ~1 Hz), purity and energy of ``span`` (frame samples from ``lo``) near ``coarse_hz``.

    Frequency: the phase advance between the two halves' projections onto a tone at ``coarse_hz`` (four dot
    products; unambiguous within 8000 / len(span) Hz, 50 Hz for a whole frame). Purity: the share of the
    span's energy that a least-squares sinusoid at that frequency explains.
    """
    length = len(span)
    hi, half = lo + length, length // 2
    table_hz = round(coarse_hz / _TABLE_STEP_HZ) * _TABLE_STEP_HZ
    cosines, sines = _projection(table_hz)
    first, second = span[:half], span[half:]
    c1 = sum(map(operator.mul, first, cosines[lo : lo + half]))
    s1 = sum(map(operator.mul, first, sines[lo : lo + half]))
    c2 = sum(map(operator.mul, second, cosines[lo + half : hi]))
    s2 = sum(map(operator.mul, second, sines[lo + half : hi]))
    # X = sum x e^{-iwn} = c - i s; the phase of X2 * conj(X1) is the extra rotation over half the span.
    advance = math.atan2(c2 * s1 - s2 * c1, c2 * c1 + s2 * s1)
    hz = table_hz + advance / (math.pi * length) * SAMPLE_RATE
    energy = sum(map(operator.mul, span, span))
    if energy <= 0.0:
        return hz, 0.0, 0.0
    fit_hz = round(hz / _TABLE_STEP_HZ) * _TABLE_STEP_HZ
    projections = (c1 + c2, s1 + s2) if fit_hz == table_hz else None
    return hz, _fitted(span, lo, fit_hz, projections) / energy, energy


def _fitted(
    span: Sequence[float], lo: int, table_hz: int, projections: tuple[float, float] | None = None
) -> float:
    """Energy of the least-squares sinusoid at ``table_hz`` through ``span`` (frame samples from ``lo``).

    Cos and sin over a span are not orthogonal, so their 2x2 Gram matrix, known in closed form from the
    geometric sum of e^{2iwn}, is inverted. ``projections`` are the span's dot products with the cos and sin
    tables when the caller has them already.
    """
    length = len(span)
    if projections is None:
        cosines, sines = _projection(table_hz)
        projections = (
            sum(map(operator.mul, span, cosines[lo : lo + length])),
            sum(map(operator.mul, span, sines[lo : lo + length])),
        )
    in_phase, quadrature = projections
    rotation = cmath.exp(4j * math.pi * table_hz / SAMPLE_RATE)
    double = rotation**lo * (1.0 - rotation**length) / (1.0 - rotation)
    cc, ss, cs = 0.5 * (length + double.real), 0.5 * (length - double.real), 0.5 * double.imag
    determinant = cc * ss - cs * cs
    if determinant <= 1e-9 * length * length:
        return 0.0
    return (
        ss * in_phase * in_phase - 2.0 * cs * in_phase * quadrature + cc * quadrature * quadrature
    ) / determinant
