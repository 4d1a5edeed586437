"""Audio helpers for Plivo's streams: 8 kHz G.711 mu-law, 20 ms (160-byte) frames. Pure Python, stdlib only.

G.711 mu-law compands a 14-bit linear sample into one byte: a sign bit, a 3-bit exponent (segment) and a
4-bit mantissa, all inverted on the wire. Each segment doubles the quantisation step, so quiet sounds keep
their detail and loud ones their range; decoding puts a code at the middle of its interval. Silence is 0xFF
(0x7F, "negative zero", also decodes to 0).

The codec is bit-exact with CPython's ``audioop.ulaw2lin`` / ``audioop.lin2ulaw`` (width 2), i.e. the Sun
reference ``ulaw2linear`` and its 14-bit ``linear2ulaw`` (the 16-bit sample is arithmetically shifted right by
two, clipped at 8159, biased by 0x84 >> 2). ``audioop`` is gone in Python 3.13, hence this module.

Why tables: a call sends ~50 frames a second and Lambda bills per millisecond, so the per-sample work must run
in C. Decoding is two ``bytes.translate`` calls (low and high byte of each sample) interleaved by slice
assignment; encoding is one lookup per sample in a 65536-entry table indexed by the unsigned 16-bit sample;
energy sums a 256-entry table of squared decoded values without decoding the frame.

Endianness: PCM is always 16-bit signed little-endian (what Polly's ``pcm`` output and WAV files carry).
Decoding builds the little-endian bytes explicitly, so it is platform-independent; encoding reads samples in
native order and byte-swaps first when ``sys.byteorder`` is ``"big"``.
"""

from __future__ import annotations

import math
import sys
from array import array
from functools import lru_cache

SAMPLE_RATE = 8000
"""Samples (= mu-law bytes) per second."""

BYTES_PER_MS = SAMPLE_RATE // 1000

SILENCE_BYTE = 0xFF
"""Mu-law code for a zero sample."""

DBFS_FLOOR = -100.0
"""What ``energy_dbfs`` reports for digital silence instead of -inf (keeps comparisons and logs finite)."""

_FULL_SCALE_POWER = 32768.0**2
_BIG_ENDIAN = sys.byteorder == "big"


def _ulaw2linear(code: int) -> int:
    """The Sun/CCITT reference decoder for one code."""
    code = ~code & 0xFF
    magnitude = (((code & 0x0F) << 3) + 0x84) << ((code & 0x70) >> 4)
    return 0x84 - magnitude if code & 0x80 else magnitude - 0x84


def _linear14_to_ulaw(sample14: int) -> int:
    """The Sun reference encoder for one 14-bit sample, as CPython's ``audioop`` runs it."""
    if sample14 < 0:
        magnitude, mask = -sample14, 0x7F
    else:
        magnitude, mask = sample14, 0xFF
    magnitude = min(magnitude, 8159) + (0x84 >> 2)
    segment = magnitude.bit_length() - 6  # magnitude >= 33: segment 0 ends at 0x3F, each next at twice that
    if segment >= 8:
        return 0x7F ^ mask
    return ((segment << 4) | ((magnitude >> (segment + 1)) & 0x0F)) ^ mask


DECODED = tuple(_ulaw2linear(code) for code in range(256))
"""Linear value of each mu-law code."""

_DECODE_LOW = bytes(value & 0xFF for value in DECODED)
_DECODE_HIGH = bytes((value >> 8) & 0xFF for value in DECODED)

_SQUARES = tuple(value * value for value in DECODED)
"""Squared linear value of each mu-law code, for energy without decoding."""


@lru_cache(maxsize=1)
def _encode_table() -> bytes:
    """Mu-law code for every unsigned 16-bit sample (``sample & 0xFFFF``).

    Built on first use (a few milliseconds), so containers that never encode don't pay for it. The encoder
    only sees ``sample >> 2``, so the 14-bit table is computed once and each entry repeated four times.
    """
    codes14 = bytes(_linear14_to_ulaw(index - 0x4000 if index & 0x2000 else index) for index in range(0x4000))
    table = bytearray(0x10000)
    for low_bits in range(4):
        table[low_bits::4] = codes14
    return bytes(table)


def ulaw_to_pcm16(data: bytes) -> bytes:
    """Decode mu-law bytes to 16-bit signed little-endian PCM (twice as long)."""
    pcm = bytearray(2 * len(data))
    pcm[0::2] = data.translate(_DECODE_LOW)
    pcm[1::2] = data.translate(_DECODE_HIGH)
    return bytes(pcm)


def pcm16_to_ulaw(data: bytes) -> bytes:
    """Encode 16-bit signed little-endian PCM to mu-law (half as long); odd lengths raise ValueError."""
    if len(data) % 2:
        raise ValueError(f"16-bit PCM needs an even number of bytes, got {len(data)}")
    if _BIG_ENDIAN:
        samples = array("H", data)
        samples.byteswap()
        return bytes(map(_encode_table().__getitem__, samples))
    return bytes(map(_encode_table().__getitem__, memoryview(data).cast("H")))


def ulaw_energy(data: bytes) -> float:
    """Mean square of the decoded samples of a mu-law frame (0.0 for an empty one)."""
    if not data:
        return 0.0
    return sum(map(_SQUARES.__getitem__, data)) / len(data)


def _dbfs(mean_square: float) -> float:
    if mean_square <= 0.0:
        return DBFS_FLOOR
    return max(DBFS_FLOOR, 10.0 * math.log10(mean_square / _FULL_SCALE_POWER))


def energy_dbfs(data: bytes) -> float:
    """Frame power relative to a full-scale square wave (a full-scale sine is about -3 dBFS).

    Silence gives ``DBFS_FLOOR`` rather than -inf.
    """
    return _dbfs(ulaw_energy(data))
