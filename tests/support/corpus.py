"""Seeded synthetic corpus for the beep detector: voicemail greetings with and without beeps, and negatives.

Everything is synthesised with the standard library from ``random.Random``, so a seed names a corpus (each
case draws from its own stream, seeded by (seed, kind, index), so cases do not depend on each other). Audio
is built as float samples at 8 kHz (full scale 32768) and encoded to 20 ms mu-law frames as Plivo sends them.
Levels are dBFS as ``voiceagent.media.audio.energy_dbfs`` measures them: RMS against a full-scale square
wave, so a full-scale sine is -3 dBFS.

Speech comes from a Klatt-style source-filter synthesiser, because a tone detector is only tested by speech
that is hard for it: a glottal pulse train whose pitch glides within 90-250 Hz (phrase declination, accents,
slow wander, jitter), a two-pole glottal low-pass and lip radiation (harmonics falling ~6 dB/octave), four
cascaded formant resonators moving between vowel targets, aspiration and fricative noise, and syllable
envelopes with pauses between words. An energy VAD sees words and pauses; a spectrum shows a harmonic comb
under 2-3 formant peaks, where a single harmonic under the first formant can look like a sine for a frame.

Music uses harmonic timbres (five or more partials falling as 1/k^a, a in 0.4-1.6: from bright to
flute-like, whose 2nd harmonic is 11 dB down), melodies (legato and staccato), chords and vibrato. DTMF uses
the standard pairs with up to 4 dB twist. Noise is white, pink (Kellet's filter, which at 8 kHz also has more
rumble than ideal pink noise) or brown, steady or swelling.
"""

from __future__ import annotations

import math
import random
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field

from voiceagent.media.audio import SAMPLE_RATE, pcm16_to_ulaw

FRAME_SAMPLES = 160
FRAME_MS = 20
_MS = SAMPLE_RATE // 1000
_FULL_SCALE = 32768.0

BEEP_KINDS = ("greeting_beep", "greeting_noisy_beep")
"""Kinds whose cases contain exactly one beep."""

NEGATIVE_KINDS = ("greeting_no_beep", "speech", "music", "dtmf", "noise")
"""Kinds whose cases contain no beep: any detection there is a false alarm."""

KINDS = BEEP_KINDS + NEGATIVE_KINDS


@dataclass(frozen=True, slots=True)
class Segment:
    """A labelled stretch of a case: ``speech``, ``noise``, ``beep``, ``music`` or ``dtmf``."""

    start_ms: float
    end_ms: float
    label: str


@dataclass(frozen=True, slots=True)
class Case:
    """One labelled recording: its mu-law frames and the ground truth (times in ms from the first frame)."""

    kind: str
    index: int
    frames: tuple[bytes, ...]
    segments: tuple[Segment, ...]
    greeting_end_ms: float | None = None
    beep_start_ms: float | None = None
    beep_end_ms: float | None = None
    beep_hz: float | None = None
    beep_dbfs: float | None = None
    snr_db: float | None = None
    """For noisy greetings: how far the noise is below the quieter of the speech and the beep."""

    @property
    def name(self) -> str:
        return f"{self.kind}-{self.index}"

    @property
    def duration_ms(self) -> int:
        return len(self.frames) * FRAME_MS

    def label_at(self, ms: float) -> str:
        """The label at ``ms``: ``silence`` outside all segments; later segments win (noise comes first)."""
        found = "silence"
        for segment in self.segments:
            if segment.start_ms <= ms < segment.end_ms:
                found = segment.label
        return found


def _amplitude(dbfs: float) -> float:
    """RMS amplitude (in samples) of a signal at ``dbfs``."""
    return _FULL_SCALE * math.pow(10.0, dbfs / 20.0)


def _rms(samples: Sequence[float]) -> float:
    return math.sqrt(math.fsum(value * value for value in samples) / len(samples)) if samples else 0.0


def _scale(samples: list[float], dbfs: float, reference: Sequence[float] | None = None) -> list[float]:
    """``samples`` scaled so that ``reference`` (by default the samples) has an RMS of ``dbfs``."""
    rms = _rms(samples if reference is None else reference)
    if rms == 0.0:
        return samples
    gain = _amplitude(dbfs) / rms
    return [value * gain for value in samples]


def _mix(into: list[float], samples: Sequence[float], at: int = 0) -> None:
    """Add ``samples`` into ``into`` from index ``at``, growing it as needed."""
    end = at + len(samples)
    if end > len(into):
        into.extend([0.0] * (end - len(into)))
    for offset, value in enumerate(samples):
        into[at + offset] += value


def _silence(seconds: float) -> list[float]:
    return [0.0] * round(seconds * SAMPLE_RATE)


def encode(samples: Sequence[float]) -> tuple[bytes, ...]:
    """Float samples to 20 ms mu-law frames (clipped to 16 bits, the last frame padded with silence)."""
    padded = list(samples) + [0.0] * (-len(samples) % FRAME_SAMPLES)
    pcm = array("h", (max(-32768, min(32767, round(value))) for value in padded))
    data = pcm16_to_ulaw(pcm.tobytes())
    return tuple(data[i : i + FRAME_SAMPLES] for i in range(0, len(data), FRAME_SAMPLES))


# --- noise and tones ----------------------------------------------------------------------------------------


def noise(rng: random.Random, count: int, colour: str, dbfs: float, modulated: bool = False) -> list[float]:
    """White, pink or brown noise at ``dbfs`` (RMS over the whole), optionally swelling slowly."""
    gauss = rng.gauss
    out = [0.0] * count
    if colour == "white":
        out = [gauss(0.0, 1.0) for _ in range(count)]
    elif colour == "pink":  # Paul Kellet's economy filter
        b0 = b1 = b2 = 0.0
        for n in range(count):
            white = gauss(0.0, 1.0)
            b0 = 0.99765 * b0 + white * 0.0990460
            b1 = 0.96300 * b1 + white * 0.2965164
            b2 = 0.57000 * b2 + white * 1.0526913
            out[n] = b0 + b1 + b2 + white * 0.1848
    elif colour == "brown":  # a leaky integral, so it does not drift away
        level = 0.0
        for n in range(count):
            level = 0.995 * level + gauss(0.0, 1.0)
            out[n] = level
    else:
        raise ValueError(f"unknown noise colour {colour!r}")
    if modulated:
        rate, depth, phase = rng.uniform(0.2, 2.0), rng.uniform(0.3, 0.8), rng.uniform(0.0, 2.0 * math.pi)
        step = 2.0 * math.pi * rate / SAMPLE_RATE
        out = [
            value * (1.0 - depth * 0.5 * (1.0 + math.sin(phase + step * n))) for n, value in enumerate(out)
        ]
    return _scale(out, dbfs)


def sine(hz: float, count: int, dbfs: float, phase: float = 0.0, ramp: int = 0) -> list[float]:
    """A sine at ``dbfs`` (RMS) with raised-cosine ramps of ``ramp`` samples at both ends."""
    peak = _amplitude(dbfs) * math.sqrt(2.0)
    step = 2.0 * math.pi * hz / SAMPLE_RATE
    out = [peak * math.sin(phase + step * n) for n in range(count)]
    for n in range(min(ramp, count // 2)):
        gain = 0.5 * (1.0 - math.cos(math.pi * (n + 0.5) / ramp))
        out[n] *= gain
        out[count - 1 - n] *= gain
    return out


# --- speech -------------------------------------------------------------------------------------------------

Formants = tuple[float, float, float]

_VOWELS: tuple[Formants, ...] = (
    (730.0, 1090.0, 2440.0),  # a (father)
    (270.0, 2290.0, 3010.0),  # i (beet)
    (300.0, 870.0, 2240.0),  # u (boot)
    (530.0, 1840.0, 2480.0),  # e (bet)
    (570.0, 840.0, 2410.0),  # o (bought)
    (660.0, 1720.0, 2410.0),  # ae (bat)
    (490.0, 1350.0, 1690.0),  # er (bird)
    (390.0, 1990.0, 2550.0),  # ih (bit)
    (520.0, 1190.0, 2390.0),  # uh (but)
    (440.0, 1020.0, 2240.0),  # oo (book)
)
"""Peterson-Barney formant averages (F1, F2, F3) of adult male speakers; other voices scale them."""

_BLOCK = 40
"""Synthesis control rate: parameters are constant for 5 ms."""


def _between(start: Formants, end: Formants, x: float, scale: float) -> Formants:
    return (
        scale * (start[0] + (end[0] - start[0]) * x),
        scale * (start[1] + (end[1] - start[1]) * x),
        scale * (start[2] + (end[2] - start[2]) * x),
    )


@dataclass(frozen=True, slots=True)
class Speaker:
    """A voice: its pitch range, formant scale (vocal tract length) and breathiness."""

    f0_low: float
    f0_high: float
    formant_scale: float
    breathiness: float

    @classmethod
    def random(cls, rng: random.Random) -> Speaker:
        if rng.random() < 0.5:  # a lower voice
            low = rng.uniform(90.0, 110.0)
            high = min(250.0, low * rng.uniform(1.5, 1.9))
            return cls(low, high, rng.uniform(0.95, 1.05), rng.uniform(0.02, 0.06))
        low = rng.uniform(150.0, 180.0)
        high = min(250.0, low * rng.uniform(1.35, 1.6))
        return cls(low, high, rng.uniform(1.1, 1.2), rng.uniform(0.03, 0.1))


@dataclass(slots=True)
class _Controls:
    """Synthesis parameters, one entry per 5 ms."""

    f0: list[float] = field(default_factory=list)
    voice: list[float] = field(default_factory=list)
    frication: list[float] = field(default_factory=list)
    fric_hz: list[float] = field(default_factory=list)
    formants: list[Formants] = field(default_factory=list)

    def add(
        self,
        count: int,
        voice: Sequence[float] | float,
        start: Formants,
        target: Formants,
        scale: float,
        frication: float = 0.0,
        fric_hz: float = 3000.0,
    ) -> None:
        """``count`` blocks; formants move from ``start`` to ``target`` over the first half (a transition)."""
        for i in range(count):
            x = (i + 0.5) / count
            self.voice.append(voice if isinstance(voice, float) else voice[i])
            self.frication.append(frication * math.sin(math.pi * x))
            self.fric_hz.append(fric_hz)
            self.formants.append(_between(start, target, min(1.0, 2.0 * x), scale))


def _envelope(count: int, rise: float, fall: float, peak: float) -> list[float]:
    """A syllable's loudness: a sin^2 rise over ``rise`` of it, a plateau, a sin^2 fall over ``fall``."""
    out = []
    for i in range(count):
        x = (i + 0.5) / count
        if x < rise:
            out.append(peak * math.sin(0.5 * math.pi * x / rise) ** 2)
        elif x > 1.0 - fall:
            out.append(peak * math.sin(0.5 * math.pi * (1.0 - x) / fall) ** 2)
        else:
            out.append(peak)
    return out


def _fit_pitch(contour: list[float], low: float, high: float) -> list[float]:
    """The contour moved and, if need be, compressed (on a log scale) into ``low``-``high``.

    Scaling the whole phrase keeps every glide; clipping would hold the pitch dead level wherever the contour
    overshoots, which speech does not do (and which would hand a tone detector a steady harmonic).
    """
    bottom, top = min(contour), max(contour)
    power = min(1.0, math.log(high / low) / math.log(top / bottom)) if top > bottom else 1.0
    fitted = [bottom * math.pow(value / bottom, power) for value in contour]
    shift = min(1.0, high / max(fitted)) * max(1.0, low / min(fitted))
    return [value * shift for value in fitted]


def _plan_phrase(
    rng: random.Random, speaker: Speaker, blocks: int
) -> tuple[_Controls, list[tuple[int, int]]]:
    """Syllables, words and pitch for one phrase of about ``blocks`` x 5 ms.

    Returns the control track and the (first, end) block of every word, for the ground truth.
    """
    track = _Controls()
    words: list[tuple[int, int]] = []
    scale = speaker.formant_scale
    vowel = rng.choice(_VOWELS)
    while len(track.voice) < blocks:
        word_start = len(track.voice)
        for syllable in range(rng.choice((1, 1, 2, 2, 3))):
            if syllable:  # a dip in loudness between the syllables of a word
                track.add(rng.randint(4, 10), rng.uniform(0.03, 0.2), vowel, vowel, scale)
            onset = rng.random()
            if onset < 0.3:  # fricative
                hiss = rng.uniform(2200.0, 3600.0)
                track.add(rng.randint(8, 20), 0.0, vowel, vowel, scale, rng.uniform(0.15, 0.4), hiss)
            elif onset < 0.5:  # stop: closure, then a burst
                track.add(rng.randint(6, 12), 0.0, vowel, vowel, scale)
                burst = rng.uniform(1500.0, 3500.0)
                track.add(rng.randint(2, 4), 0.0, vowel, vowel, scale, rng.uniform(0.3, 0.6), burst)
            elif onset < 0.7:  # nasal or liquid: weak, with a low first formant
                nasal = (250.0, rng.uniform(900.0, 1800.0), 2400.0)
                track.add(rng.randint(8, 16), 0.3, nasal, nasal, scale)
            target = rng.choice(_VOWELS)
            count = rng.randint(16, 52)
            loudness = _envelope(count, rng.uniform(0.1, 0.3), rng.uniform(0.2, 0.45), rng.uniform(0.6, 1.0))
            start = len(track.voice)
            track.add(count, loudness, vowel, target, scale)
            vowel = target
            if rng.random() < 0.3:  # a diphthong: glide to a second vowel over the second half
                end = rng.choice(_VOWELS)
                half = count // 2
                for i in range(half):
                    track.formants[start + count - half + i] = _between(target, end, (i + 1) / half, scale)
                vowel = end
        words.append((word_start, len(track.voice)))
        if rng.random() < 0.75:  # most words are followed by a short pause
            track.add(rng.randint(12, 60), 0.0, vowel, vowel, scale)

    # Pitch: declination over the phrase, accents, a slow wander, and a final fall (or a question's rise).
    total = len(track.voice)
    base_hi = speaker.f0_low + 0.75 * (speaker.f0_high - speaker.f0_low)
    base_lo = speaker.f0_low * 1.05
    accents = [
        (rng.uniform(0.0, 1.0), rng.uniform(0.1, 0.35), rng.uniform(0.03, 0.08))
        for _ in range(total // 80 + 1)
    ]
    wander = [(rng.uniform(0.5, 3.0), rng.uniform(0.0, 6.3), rng.uniform(0.02, 0.05)) for _ in range(2)]
    question = rng.random() < 0.25
    for i in range(total):
        x = i / total
        value = base_hi + (base_lo - base_hi) * x
        for centre, height, width in accents:
            value *= 1.0 + height * math.exp(-(((x - centre) / width) ** 2))
        for rate, phase, depth in wander:
            value *= 1.0 + depth * math.sin(phase + 2.0 * math.pi * rate * i * _BLOCK / SAMPLE_RATE)
        if x > 0.85:
            value *= 1.0 + (0.4 if question else -0.15) * (x - 0.85) / 0.15
        track.f0.append(value)
    track.f0 = _fit_pitch(track.f0, max(90.0, speaker.f0_low * 0.9), min(250.0, speaker.f0_high * 1.1))
    return track, words


def _resonator(hz: float, bandwidth: float) -> tuple[float, float, float]:
    """Klatt's digital resonator (A, B, C) for y = A x + B y1 + C y2, with unity gain at DC."""
    c = -math.exp(-2.0 * math.pi * bandwidth / SAMPLE_RATE)
    b = 2.0 * math.exp(-math.pi * bandwidth / SAMPLE_RATE) * math.cos(2.0 * math.pi * hz / SAMPLE_RATE)
    return 1.0 - b - c, b, c


def _render(rng: random.Random, controls: _Controls, breathiness: float) -> list[float]:
    """Run the source-filter synthesiser over a control track."""
    gauss = rng.gauss
    out: list[float] = []
    phase = 0.0
    jitter = 1.0
    pole = math.exp(-2.0 * math.pi * 120.0 / SAMPLE_RATE)  # glottal low-pass: -12 dB/octave above 120 Hz
    g1 = g2 = 0.0
    memory = [0.0] * 8  # y1, y2 of each of the four resonators
    fric1 = fric2 = 0.0
    last = 0.0
    f4 = _resonator(3300.0, 250.0)
    previous_f0 = controls.f0[0]
    for block, f0 in enumerate(controls.f0):
        voice = controls.voice[block]
        fric = controls.frication[block]
        f1, f2, f3 = controls.formants[block]
        resonators = (
            _resonator(f1, 60.0 + 0.05 * f1),
            _resonator(f2, 70.0 + 0.03 * f2),
            _resonator(f3, 110.0 + 0.02 * f3),
            f4,
        )
        fa, fb, fc = _resonator(controls.fric_hz[block], 900.0)
        for n in range(_BLOCK):
            # The pitch glides within the block; each glottal period gets a little jitter and shimmer.
            phase += (previous_f0 + (f0 - previous_f0) * n / _BLOCK) * jitter / SAMPLE_RATE
            pulse = 0.0
            if phase >= 1.0:
                phase -= 1.0
                jitter = 1.0 + gauss(0.0, 0.005)
                pulse = voice * (1.0 + gauss(0.0, 0.04))
            glottal = pulse + 2.0 * pole * g1 - pole * pole * g2
            g2, g1 = g1, glottal
            value = glottal * (1.0 - pole) ** 2 + voice * breathiness * gauss(0.0, 0.05)
            for r, (a, b, c) in enumerate(resonators):
                y = a * value + b * memory[2 * r] + c * memory[2 * r + 1]
                memory[2 * r + 1] = memory[2 * r]
                memory[2 * r] = y
                value = y
            radiated = value - last  # lip radiation: +6 dB/octave
            last = value
            hiss = 0.0
            if fric:
                hiss = fa * fric * gauss(0.0, 0.05) + fb * fric1 + fc * fric2
                fric2, fric1 = fric1, hiss
            out.append(radiated + hiss)
        previous_f0 = f0
    return out


@dataclass(frozen=True, slots=True)
class Utterance:
    """Synthetic speech and where its words are (sample indices, end exclusive)."""

    samples: list[float]
    words: list[tuple[int, int]]


def speech(
    rng: random.Random, speaker: Speaker, seconds: float, pauses: Sequence[float] = (), dbfs: float = -20.0
) -> Utterance:
    """About ``seconds`` of speech in len(pauses) + 1 phrases separated by ``pauses`` (seconds each).

    The level is the RMS over the words, so that pauses do not dilute it.
    """
    speaking = max(0.5, seconds - sum(pauses))
    shares = [rng.uniform(0.6, 1.4) for _ in range(len(pauses) + 1)]
    samples: list[float] = []
    words: list[tuple[int, int]] = []
    for index, share in enumerate(shares):
        blocks = max(20, round(speaking * share / sum(shares) * SAMPLE_RATE / _BLOCK))
        controls, phrase_words = _plan_phrase(rng, speaker, blocks)
        offset = len(samples)
        samples.extend(_render(rng, controls, speaker.breathiness))
        words.extend((offset + a * _BLOCK, offset + b * _BLOCK) for a, b in phrase_words)
        if index < len(pauses):
            samples.extend(_silence(pauses[index]))
    voiced = [value for first, end in words for value in samples[first:end]]
    return Utterance(_scale(samples, dbfs, voiced), words)


# --- music --------------------------------------------------------------------------------------------------


def _midi_hz(note: float) -> float:
    return 440.0 * math.pow(2.0, (note - 69.0) / 12.0)


@dataclass(frozen=True, slots=True)
class Timbre:
    """A harmonic instrument: partials 1/k^rolloff (jittered), attack, decay and vibrato."""

    rolloff: float
    jitter: tuple[float, ...]
    decay_per_s: float
    attack_s: float
    vibrato_hz: float
    vibrato_depth: float

    @classmethod
    def random(cls, rng: random.Random) -> Timbre:
        vibrato = rng.random() < 0.4
        return cls(
            rolloff=rng.uniform(0.4, 1.6),
            jitter=tuple(rng.uniform(0.8, 1.0) for _ in range(24)),
            decay_per_s=rng.choice((0.0, rng.uniform(2.0, 8.0))),
            attack_s=rng.uniform(0.005, 0.06),
            vibrato_hz=rng.uniform(4.5, 6.5) if vibrato else 0.0,
            vibrato_depth=rng.uniform(0.004, 0.012) if vibrato else 0.0,
        )

    def note(self, hz: float, count: int, amplitude: float) -> list[float]:
        """One note from a wavetable: five partials or more (as many as fit under 3.8 kHz, up to 24)."""
        size = 2048
        table = [0.0] * size
        for k in range(1, max(5, min(24, int(3800.0 // hz))) + 1):
            if k * hz >= SAMPLE_RATE / 2:
                break
            weight = (1.0 if k == 1 else self.jitter[k - 1]) / math.pow(k, self.rolloff)
            for i in range(size):
                table[i] += weight * math.sin(2.0 * math.pi * k * i / size)
        out = [0.0] * count
        phase = 0.0
        attack = max(1, round(self.attack_s * SAMPLE_RATE))
        release = max(1, min(count // 3, round(0.03 * SAMPLE_RATE)))
        decay = self.decay_per_s / SAMPLE_RATE
        vibrato = 2.0 * math.pi * self.vibrato_hz / SAMPLE_RATE
        for n in range(count):
            phase += hz * (1.0 + self.vibrato_depth * math.sin(vibrato * n)) / SAMPLE_RATE
            phase -= int(phase)
            gain = min(1.0, n / attack) * math.exp(-decay * n)
            if n > count - release:
                gain *= (count - n) / release
            out[n] = amplitude * gain * table[int(phase * size)]
        return out


def _melody(rng: random.Random, timbre: Timbre, count: int, legato: bool) -> list[float]:
    """Notes of 120-600 ms stepping through a major scale from G3 up to C6; rests unless ``legato``."""
    low, high = 55, 84
    steps = (0, 2, 4, 5, 7, 9, 11)
    out: list[float] = []
    degree = rng.randint(0, 17)
    while len(out) < count:
        degree = max(0, min(17, degree + rng.choice((-4, -3, -2, -1, 1, 2, 3, 4))))
        note = min(high, low + steps[degree % 7] + 12 * (degree // 7))
        out.extend(timbre.note(_midi_hz(note), round(rng.uniform(0.12, 0.6) * SAMPLE_RATE), 1.0))
        if not legato or rng.random() < 0.2:
            out.extend(_silence(rng.uniform(0.03, 0.25)))
    return out[:count]


def _chords(rng: random.Random, timbre: Timbre, count: int) -> list[float]:
    """Triads and sevenths from C3 to E4, 0.4-2 s each."""
    out: list[float] = []
    while len(out) < count:
        root = rng.randint(48, 64)
        notes = [root, root + rng.choice((3, 4)), root + 7]
        if rng.random() < 0.5:
            notes.append(root + rng.choice((10, 11, 12)))
        chord = _silence(rng.uniform(0.4, 2.0))
        for note in notes:
            _mix(chord, timbre.note(_midi_hz(note), len(chord), rng.uniform(0.6, 1.0)))
        out.extend(chord)
    return out[:count]


def music(rng: random.Random, seconds: float, dbfs: float) -> list[float]:
    """A melody, a chord progression, or a melody over chords, with random harmonic timbres."""
    count = round(seconds * SAMPLE_RATE)
    style = rng.choice(("melody", "chords", "both"))
    if style == "chords":
        return _scale(_chords(rng, Timbre.random(rng), count), dbfs)
    melody = _melody(rng, Timbre.random(rng), count, legato=rng.random() < 0.5)
    if style == "both":
        accompaniment = _chords(rng, Timbre.random(rng), count)
        gain = (
            _amplitude(rng.uniform(-12.0, -3.0)) / _FULL_SCALE * _rms(melody) / max(_rms(accompaniment), 1e-9)
        )
        _mix(melody, [value * gain for value in accompaniment])
    return _scale(melody, dbfs)


# --- DTMF ---------------------------------------------------------------------------------------------------

_DTMF_LOW = (697.0, 770.0, 852.0, 941.0)
_DTMF_HIGH = (1209.0, 1336.0, 1477.0, 1633.0)


def dtmf(rng: random.Random, digits: int) -> tuple[list[float], list[tuple[int, int]]]:
    """A digit sequence (tones and gaps of 40-200 ms, -25 to -5 dBFS, twist within +-4 dB) and its spans."""
    out = _silence(rng.uniform(0.1, 0.5))
    spans: list[tuple[int, int]] = []
    for _ in range(digits):
        length = round(rng.uniform(0.04, 0.2) * SAMPLE_RATE)
        level = rng.uniform(-25.0, -5.0) - 3.0  # each of the two tones carries half the power
        twist = rng.uniform(-4.0, 4.0)
        low = sine(rng.choice(_DTMF_LOW), length, level - twist / 2, rng.uniform(0.0, 6.3), ramp=16)
        high = sine(rng.choice(_DTMF_HIGH), length, level + twist / 2, rng.uniform(0.0, 6.3), ramp=16)
        spans.append((len(out), len(out) + length))
        out.extend(a + b for a, b in zip(low, high, strict=True))
        out.extend(_silence(rng.uniform(0.04, 0.2)))
    return out, spans


# --- cases --------------------------------------------------------------------------------------------------


def _ms(samples: int) -> float:
    return samples / _MS


def _greeting(rng: random.Random, kind: str, index: int) -> Case:
    """A voicemail greeting of 3-12 s with 1-3 pauses, then 0.1-1 s of quiet, a beep (unless
    ``greeting_no_beep``) and 2 s of quiet; ``greeting_noisy_beep`` lays noise under all of it."""
    speech_dbfs = rng.uniform(-32.0, -14.0)
    pauses = [rng.uniform(0.6, 1.5) for _ in range(rng.randint(1, 3))]
    utterance = speech(rng, Speaker.random(rng), rng.uniform(3.0, 12.0), pauses, speech_dbfs)
    lead = round(rng.uniform(0.0, 0.5) * SAMPLE_RATE)
    greeting_end = lead + utterance.words[-1][1]
    samples = ([0.0] * lead + utterance.samples)[:greeting_end]
    segments = [Segment(_ms(lead + a), _ms(lead + b), "speech") for a, b in utterance.words]
    samples.extend(_silence(rng.uniform(0.1, 1.0)))
    beep_start = beep_end = None
    hz = beep_dbfs = snr = None
    if kind != "greeting_no_beep":
        hz = rng.uniform(400.0, 2100.0)
        length = round(rng.uniform(100.0, 1500.0) * _MS)
        beep_dbfs = rng.uniform(-40.0, -6.0)
        ramp = rng.choice((0, rng.randint(8, 40)))  # none, or 1-5 ms
        beep_start = len(samples)
        samples.extend(sine(hz, length, beep_dbfs, rng.uniform(0.0, 2.0 * math.pi), ramp))
        beep_end = len(samples)
        segments.append(Segment(_ms(beep_start), _ms(beep_end), "beep"))
    samples.extend(_silence(2.0))
    colour = rng.choice(("white", "pink"))
    if kind == "greeting_noisy_beep":
        snr = rng.uniform(10.0, 30.0)
        level = min(speech_dbfs, speech_dbfs if beep_dbfs is None else beep_dbfs) - snr
        _mix(samples, noise(rng, len(samples), colour, level))
        segments.insert(0, Segment(0.0, _ms(len(samples)), "noise"))
    elif rng.random() < 0.5:  # a quiet line: comfort noise far under the speech
        _mix(samples, noise(rng, len(samples), colour, rng.uniform(-65.0, -50.0)))
    return Case(
        kind=kind,
        index=index,
        frames=encode(samples),
        segments=tuple(segments),
        greeting_end_ms=_ms(greeting_end),
        beep_start_ms=None if beep_start is None else _ms(beep_start),
        beep_end_ms=None if beep_end is None else _ms(beep_end),
        beep_hz=hz,
        beep_dbfs=beep_dbfs,
        snr_db=snr,
    )


def _conversation(rng: random.Random, index: int) -> Case:
    """Two people taking turns of 1-4 s with 0.2-1 s gaps: a human answering, not a machine."""
    speakers = (Speaker.random(rng), Speaker.random(rng))
    levels = (rng.uniform(-30.0, -12.0), rng.uniform(-30.0, -12.0))
    samples = _silence(rng.uniform(0.0, 0.5))
    segments: list[Segment] = []
    total = rng.uniform(6.0, 14.0) * SAMPLE_RATE
    turn = 0
    while len(samples) < total:
        seconds = rng.uniform(1.0, 4.0)
        pauses = [rng.uniform(0.3, 0.8)] if seconds > 2.5 and rng.random() < 0.5 else []
        utterance = speech(rng, speakers[turn], seconds, pauses, levels[turn])
        offset = len(samples)
        samples.extend(utterance.samples)
        segments.extend(Segment(_ms(offset + a), _ms(offset + b), "speech") for a, b in utterance.words)
        samples.extend(_silence(rng.uniform(0.2, 1.0)))
        turn = 1 - turn
    if rng.random() < 0.5:
        _mix(samples, noise(rng, len(samples), rng.choice(("white", "pink")), rng.uniform(-65.0, -45.0)))
    return Case("speech", index, encode(samples), tuple(segments))


def _music_case(rng: random.Random, index: int) -> Case:
    samples = music(rng, rng.uniform(4.0, 10.0), rng.uniform(-30.0, -8.0))
    end = len(samples)
    samples.extend(_silence(rng.uniform(0.2, 1.0)))
    return Case("music", index, encode(samples), (Segment(0.0, _ms(end), "music"),))


def _dtmf_case(rng: random.Random, index: int) -> Case:
    samples, spans = dtmf(rng, rng.randint(3, 12))
    if rng.random() < 0.5:
        _mix(samples, noise(rng, len(samples), rng.choice(("white", "pink")), rng.uniform(-60.0, -40.0)))
    return Case("dtmf", index, encode(samples), tuple(Segment(_ms(a), _ms(b), "dtmf") for a, b in spans))


def _noise_case(rng: random.Random, index: int) -> Case:
    count = round(rng.uniform(3.0, 10.0) * SAMPLE_RATE)
    colour = rng.choice(("white", "pink", "brown"))
    samples = noise(rng, count, colour, rng.uniform(-50.0, -12.0), modulated=rng.random() < 0.5)
    return Case("noise", index, encode(samples), (Segment(0.0, _ms(count), "noise"),))


def case(seed: int, kind: str, index: int) -> Case:
    """Case ``index`` of ``kind``, from its own random stream (so that cases do not depend on each other)."""
    rng = random.Random(f"{seed}/{kind}/{index}")
    if kind in ("greeting_beep", "greeting_noisy_beep", "greeting_no_beep"):
        return _greeting(rng, kind, index)
    if kind == "speech":
        return _conversation(rng, index)
    if kind == "music":
        return _music_case(rng, index)
    if kind == "dtmf":
        return _dtmf_case(rng, index)
    if kind == "noise":
        return _noise_case(rng, index)
    raise ValueError(f"unknown kind {kind!r}; expected one of {KINDS}")


def cases(seed: int, count_per_kind: int, kinds: Sequence[str] = KINDS) -> list[Case]:
    """``count_per_kind`` cases of every kind, in kind order; the same seed always gives the same corpus."""
    return [case(seed, kind, index) for kind in kinds for index in range(count_per_kind)]
