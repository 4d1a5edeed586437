"""Synthetic audio for tests and the simulator: silence and sine tones as 8 kHz mu-law."""

from __future__ import annotations

import math
from array import array

from voiceagent.media.audio import _BIG_ENDIAN, BYTES_PER_MS, SAMPLE_RATE, SILENCE_BYTE, pcm16_to_ulaw


def silence(ms: int) -> bytes:
    """``ms`` milliseconds of mu-law silence at 8 kHz."""
    if ms < 0:
        raise ValueError(f"duration must not be negative, got {ms}")
    return bytes([SILENCE_BYTE]) * (ms * BYTES_PER_MS)


def tone(freq_hz: float, ms: int, amplitude: float = 0.3) -> bytes:
    """``ms`` milliseconds of a sine at 8 kHz as mu-law; ``amplitude`` is a fraction of full scale.

    Stands in for speech in tests and the simulator: energy is all the VAD looks at.
    """
    if ms < 0:
        raise ValueError(f"duration must not be negative, got {ms}")
    if not 0.0 <= amplitude <= 1.0:
        raise ValueError(f"amplitude must be within [0, 1], got {amplitude}")
    step = 2.0 * math.pi * freq_hz / SAMPLE_RATE
    peak = amplitude * 32767.0
    samples = array("h", (round(peak * math.sin(step * n)) for n in range(ms * BYTES_PER_MS)))
    if _BIG_ENDIAN:
        samples.byteswap()
    return pcm16_to_ulaw(samples.tobytes())
