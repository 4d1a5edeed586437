"""The mu-law codec against independent reference implementations (and ``audioop`` where it exists), energy,
and the VAD's hysteresis."""

from __future__ import annotations

import struct
import warnings
from typing import Any

import pytest

from tests.support.audio import silence, tone
from voiceagent.media.audio import (
    DBFS_FLOOR,
    energy_dbfs,
    pcm16_to_ulaw,
    ulaw_energy,
    ulaw_to_pcm16,
)

ALL_CODES = bytes(range(256))
ALL_SAMPLES = range(-32768, 32768)
MAX_DECODED = 32124
FRAME_BYTES = 160  # 20 ms at 8 kHz


def reference_ulaw2linear(code: int) -> int:
    """The classic Sun/CCITT ``ulaw2linear``, written out bit by bit."""
    code = ~code & 0xFF
    negative = code & 0x80
    exponent = (code >> 4) & 0x07
    mantissa = code & 0x0F
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return -magnitude if negative else magnitude


SEGMENT_ENDS_14BIT = (0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF)


def reference_linear2ulaw(sample: int) -> int:
    """CPython ``audioop.lin2ulaw(width=2)``: the Sun ``linear2ulaw`` fed ``sample >> 2`` (14 bits)."""
    value = sample >> 2
    if value < 0:
        value, mask = -value, 0x7F
    else:
        mask = 0xFF
    value = min(value, 8159) + (0x84 >> 2)
    segment = next((i for i, end in enumerate(SEGMENT_ENDS_14BIT) if value <= end), 8)
    if segment == 8:
        return 0x7F ^ mask
    return ((segment << 4) | ((value >> (segment + 1)) & 0x0F)) ^ mask


def sixteen_bit_linear2ulaw(sample: int) -> int:
    """The other classic encoder (16-bit magnitude, CLIP 32635), found in SoX and many codecs."""
    sign = 0x80 if sample < 0 else 0
    value = min(abs(sample), 32635) + 0x84
    exponent = value.bit_length() - 8
    mantissa = (value >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def pcm(samples: range | list[int]) -> bytes:
    return struct.pack(f"<{len(samples)}h", *samples)


def samples_of(data: bytes) -> list[int]:
    return list(struct.unpack(f"<{len(data) // 2}h", data))


def stdlib_audioop() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return pytest.importorskip("audioop")


def frames(audio: bytes) -> list[bytes]:
    return [audio[i : i + FRAME_BYTES] for i in range(0, len(audio), FRAME_BYTES)]


# --- decoding


def test_decode_matches_reference_for_every_code() -> None:
    assert samples_of(ulaw_to_pcm16(ALL_CODES)) == [reference_ulaw2linear(code) for code in ALL_CODES]


@pytest.mark.parametrize(
    ("code", "sample"),
    [
        (0xFF, 0),
        (0x7F, 0),
        (0x00, -32124),
        (0x80, 32124),
        (0x0F, -16764),
        (0x20, -7932),
        (0xFE, 8),
        (0x7E, -8),
    ],
)
def test_decode_known_values(code: int, sample: int) -> None:
    assert ulaw_to_pcm16(bytes([code])) == struct.pack("<h", sample)


def test_decode_matches_audioop_for_every_code() -> None:
    audioop = stdlib_audioop()
    assert ulaw_to_pcm16(ALL_CODES) == audioop.ulaw2lin(ALL_CODES, 2)


def test_decode_output_is_little_endian() -> None:
    assert ulaw_to_pcm16(b"\x80\xfe") == b"\x7c\x7d\x08\x00"


# --- encoding


def test_encode_matches_reference_for_every_sample() -> None:
    assert pcm16_to_ulaw(pcm(ALL_SAMPLES)) == bytes(reference_linear2ulaw(s) for s in ALL_SAMPLES)


def test_encode_matches_audioop_for_every_sample() -> None:
    audioop = stdlib_audioop()
    data = pcm(ALL_SAMPLES)
    assert pcm16_to_ulaw(data) == audioop.lin2ulaw(data, 2)


def test_encode_differs_from_the_16_bit_variant_only_in_rounding_of_some_negative_samples() -> None:
    # audioop shifts, then negates (-1 >> 2 == -1: magnitude 1); the 16-bit variant negates, then shifts (0).
    encoded = pcm16_to_ulaw(pcm(ALL_SAMPLES))
    differing = [
        (s, code) for s, code in zip(ALL_SAMPLES, encoded, strict=True) if code != sixteen_bit_linear2ulaw(s)
    ]
    assert differing
    assert all(s < 0 and s % 4 != 0 for s, _ in differing)
    assert all(abs(code - sixteen_bit_linear2ulaw(s)) == 1 for s, code in differing)


def test_encode_odd_length_raises() -> None:
    with pytest.raises(ValueError, match="even number of bytes"):
        pcm16_to_ulaw(b"\x00\x01\x02")


def test_empty_input_gives_empty_output() -> None:
    assert ulaw_to_pcm16(b"") == b""
    assert pcm16_to_ulaw(b"") == b""


# --- round trips


def test_decode_of_encode_stays_within_one_quantisation_step() -> None:
    encoded = pcm16_to_ulaw(pcm(ALL_SAMPLES))
    decoded = samples_of(ulaw_to_pcm16(encoded))
    for sample, code, back in zip(ALL_SAMPLES, encoded, decoded, strict=True):
        step = 1 << (((~code >> 4) & 0x07) + 3)  # the code's segment: 8, 16, ... 1024
        clipped = max(-MAX_DECODED, min(MAX_DECODED, sample))
        assert abs(back - clipped) <= step, (sample, code, back)


def test_encode_of_decode_gives_back_every_code_but_negative_zero() -> None:
    back = pcm16_to_ulaw(ulaw_to_pcm16(ALL_CODES))
    assert [code for code in ALL_CODES if back[code] != code] == [0x7F]
    assert back[0x7F] == 0xFF  # 0x7F ("negative zero") decodes to 0, which encodes as 0xFF like the reference
    assert reference_linear2ulaw(reference_ulaw2linear(0x7F)) == 0xFF


# --- generators


def test_silence_is_0xff_at_8_khz() -> None:
    assert silence(20) == b"\xff" * FRAME_BYTES
    assert silence(0) == b""


def test_tone_has_8_samples_per_ms() -> None:
    assert len(tone(440, 20)) == FRAME_BYTES


# --- energy


def test_silence_energy_is_the_floor() -> None:
    assert ulaw_energy(silence(20)) == 0.0
    assert energy_dbfs(silence(20)) == DBFS_FLOOR
    assert energy_dbfs(b"") == DBFS_FLOOR


def test_loud_tone_is_above_minus_20_dbfs() -> None:
    assert energy_dbfs(tone(440, 20, amplitude=0.5)) > -20.0


def test_half_scale_sine_is_about_minus_9_dbfs() -> None:
    # A sine's mean square is peak**2 / 2: -3 dBFS at full scale, 6 dB less at half (mu-law costs < 0.1 dB).
    assert energy_dbfs(tone(1000, 20, amplitude=0.5)) == pytest.approx(-9.03, abs=0.1)


def test_energy_is_the_mean_square_of_the_decoded_samples() -> None:
    for audio in (ALL_CODES, tone(440, 20), tone(1200, 7, amplitude=0.05)):
        samples = samples_of(ulaw_to_pcm16(audio))
        assert ulaw_energy(audio) == sum(s * s for s in samples) / len(samples)
