"""Tests for the beep detector (``tones``) and the synthetic corpus (``corpus``)."""

from __future__ import annotations

import cmath
import json
import math
import random
from collections.abc import Iterable, Sequence

import pytest

from tests.support import corpus
from tests.support.audio import silence, tone
from voiceagent.media.audio import SAMPLE_RATE, energy_dbfs
from voiceagent.media.tones import IDLE, Beep, BeepDetector, BeepState

DETECTOR = BeepDetector()
MS = SAMPLE_RATE // 1000


def _run(frames: Iterable[bytes | None], detector: BeepDetector = DETECTOR) -> tuple[list[Beep], int]:
    """Feed frames at 20 ms clock steps (None: a frame that never arrived); the beeps and state changes."""
    state = IDLE
    beeps: list[Beep] = []
    changes = 0
    for index, frame in enumerate(frames):
        if frame is None:
            continue
        new_state, beep = detector.step(state, frame, index * 20)
        changes += new_state != state
        state = new_state
        if beep is not None:
            beeps.append(beep)
    return beeps, changes


def _beep_audio(
    hz: float,
    ms: float,
    dbfs: float = -20.0,
    lead_ms: float = 207.5,
    noise: str | None = None,
    snr_db: float = 10.0,
    seed: int = 0,
) -> tuple[corpus.Case, float, float]:
    """Frames of silence (or noise), a beep, and 300 ms after it; with the beep's true start and end in ms."""
    rng = random.Random(seed)
    lead = round(lead_ms * MS)
    count = round(ms * MS)
    samples = [0.0] * lead + corpus.sine(hz, count, dbfs, rng.uniform(0.0, 2.0 * math.pi)) + [0.0] * 300 * MS
    if noise is not None:
        floor = corpus.noise(rng, len(samples), noise, dbfs - snr_db)
        samples = [a + b for a, b in zip(samples, floor, strict=True)]
    case = corpus.Case("test", 0, corpus.encode(samples), ())
    return case, lead / MS, (lead + count) / MS


def _frames(samples: Sequence[float]) -> tuple[bytes, ...]:
    return corpus.encode(samples)


# --- the detector -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("hz", [400.0, 2100.0, 1000.0])
def test_pure_tone_at_the_edges_of_the_range_is_a_beep(hz: float) -> None:
    case, start, end = _beep_audio(hz, 300)
    beeps, changes = _run(case.frames)
    assert len(beeps) == 1
    beep = beeps[0]
    assert abs(beep.started_ms - start) <= 3
    assert abs(beep.ended_ms - end) <= 3
    assert beep.frequency_hz == pytest.approx(hz, abs=3)
    assert beep.level_dbfs == pytest.approx(-20.0, abs=1)
    assert changes == 2  # the tone started, the tone ended: nothing in between


def test_tones_outside_the_range_are_ignored() -> None:
    for hz in (300.0, 2500.0):
        case, _, _ = _beep_audio(hz, 300)
        assert _run(case.frames) == ([], 0)


@pytest.mark.parametrize("lead_ms", [200.0, 205.0, 211.0, 218.0])
def test_too_short_80_ms_is_not_a_beep(lead_ms: float) -> None:
    case, _, _ = _beep_audio(1000, 80, lead_ms=lead_ms)
    assert _run(case.frames)[0] == []


@pytest.mark.parametrize("lead_ms", [200.0, 205.0, 211.0, 218.0])
def test_shortest_beep_100_ms_is_found_at_any_offset_in_the_frame(lead_ms: float) -> None:
    case, _, end = _beep_audio(1000, 100, lead_ms=lead_ms)
    beeps = _run(case.frames)[0]
    assert len(beeps) == 1
    assert abs(beeps[0].ended_ms - end) <= 3


def test_too_long_1600_ms_is_not_a_beep_but_1500_ms_is() -> None:
    assert _run(_beep_audio(800, 1600)[0].frames)[0] == []
    assert len(_run(_beep_audio(800, 1500)[0].frames)[0]) == 1


@pytest.mark.parametrize("dbfs", [-45.0, -3.0])
def test_quiet_and_loud_beeps(dbfs: float) -> None:
    case, _, end = _beep_audio(1500, 200, dbfs=dbfs)
    beeps = _run(case.frames)[0]
    assert len(beeps) == 1
    assert abs(beeps[0].ended_ms - end) <= 3
    assert beeps[0].level_dbfs == pytest.approx(dbfs, abs=1)


@pytest.mark.parametrize("noise", ["white", "pink"])
@pytest.mark.parametrize("hz", [400.0, 1200.0, 2100.0])
@pytest.mark.parametrize("dbfs", [-45.0, -20.0])
def test_beep_in_noise_at_10_db_snr(noise: str, hz: float, dbfs: float) -> None:
    case, _, end = _beep_audio(hz, 150, dbfs=dbfs, noise=noise, snr_db=10.0, seed=int(hz))
    beeps = _run(case.frames)[0]
    assert len(beeps) == 1
    assert abs(beeps[0].ended_ms - end) <= 10
    assert beeps[0].frequency_hz == pytest.approx(hz, abs=10)


def test_one_missing_frame_inside_the_beep_is_still_one_beep() -> None:
    case, _, end = _beep_audio(900, 400)
    for lost in ([15], [14, 15, 16]):  # one frame, and the full 60 ms allowance
        frames: list[bytes | None] = list(case.frames)
        for index in lost:
            frames[index] = None
        beeps = _run(frames)[0]
        assert len(beeps) == 1
        assert abs(beeps[0].ended_ms - end) <= 3


def test_tone_ending_into_noise_is_a_beep_and_into_another_tone_is_not() -> None:
    rng = random.Random(5)
    beep = corpus.sine(1000, 200 * MS, -20.0)
    into_noise = [0.0] * 1600 + beep + corpus.noise(rng, 4000, "white", -45.0)
    assert len(_run(_frames(into_noise))[0]) == 1
    # A melody: the first note is cut off by the second, and the second ends in silence after 400 ms.
    melody = [0.0] * 1600 + beep + corpus.sine(1300, 400 * MS, -20.0) + [0.0] * 2400
    beeps = _run(_frames(melody))[0]
    assert [round(b.frequency_hz, -2) for b in beeps] == [1300]


def test_dtmf_is_not_a_beep() -> None:
    rng = random.Random(7)
    for _ in range(5):
        samples, _ = corpus.dtmf(rng, 12)
        assert _run(_frames(samples))[0] == []
    # A single long digit: two tones for 200 ms.
    pair = [a + b for a, b in zip(corpus.sine(770, 1600, -15), corpus.sine(1336, 1600, -13), strict=True)]
    assert _run(_frames([0.0] * 800 + pair + [0.0] * 2400)) == ([], 0)


def test_speech_is_not_a_beep_and_leaves_the_state_alone() -> None:
    rng = random.Random(3)
    utterance = corpus.speech(rng, corpus.Speaker.random(rng), 4.0, (0.8,), -18.0)
    frames = _frames(utterance.samples)
    state = IDLE
    for index, frame in enumerate(frames):
        new_state, beep = DETECTOR.step(state, frame, index * 20)
        assert beep is None
        assert new_state is state
    # Over a minute of conversation the state still changes only rarely (a voiced frame can look like a sine).
    changes = 0
    for index in range(5):
        beeps, case_changes = _run(corpus.case(11, "speech", index).frames)
        assert beeps == []
        changes += case_changes
    assert changes <= 10


def test_speech_with_a_dead_level_pitch_is_not_a_beep(monkeypatch: pytest.MonkeyPatch) -> None:
    # Clipping the pitch contour at 250 Hz (as an early corpus did) holds a high voice dead level; in this
    # greeting its 2nd harmonic then sits under the first formant at 500 Hz with a purity of 0.7-0.8 for
    # 160 ms, and only the check for the rest of the harmonic series (f/2, 3f/2) tells it from a beep.
    monkeypatch.setattr(
        corpus, "_fit_pitch", lambda contour, low, high: [min(250.0, max(90.0, v)) for v in contour]
    )
    frames = corpus.case(2, "greeting_no_beep", 31).frames
    assert _run(frames)[0] == []
    assert len(_run(frames, BeepDetector(max_partials=1.0))[0]) == 1


def test_music_is_not_a_beep() -> None:
    for index in range(3):
        assert _run(corpus.case(11, "music", index).frames)[0] == []


def test_state_is_unchanged_across_silence_and_quiet_noise() -> None:
    rng = random.Random(1)
    frames = [silence(20)] * 5 + list(_frames(corpus.noise(rng, 8000, "white", -60.0)))
    for index, frame in enumerate(frames):
        state, beep = DETECTOR.step(IDLE, frame, index * 20)
        assert state is IDLE
        assert beep is None


def test_state_round_trips_through_a_dict_of_plain_values() -> None:
    case, _, _ = _beep_audio(1234, 300)
    state = IDLE
    seen = [IDLE]
    for index, frame in enumerate(case.frames):
        state, _ = DETECTOR.step(state, frame, index * 20)
        seen.append(state)
    in_tone = next(s for s in seen if s.in_tone)
    for each in (IDLE, in_tone):
        data = each.to_dict()
        assert all(v is None or type(v) in (str, int, float, bool) for v in data.values())
        assert len(json.dumps(data)) < 300
        assert BeepState.from_dict(json.loads(json.dumps(data))) == each
    # Detection continues across a round trip mid-tone, as across Lambda containers.
    state = IDLE
    beeps = []
    for index, frame in enumerate(case.frames):
        state, beep = DETECTOR.step(
            BeepState.from_dict(json.loads(json.dumps(state.to_dict()))), frame, index * 20
        )
        if beep:
            beeps.append(beep)
    assert len(beeps) == 1


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"start_ms": "5", "hz": 1.0, "tolerance_hz": 1.0, "level_dbfs": 1.0},
        {"start_ms": True, "hz": 1.0, "tolerance_hz": 1.0, "level_dbfs": 1.0},
        {"start_ms": 5, "hz": None, "tolerance_hz": 1.0, "level_dbfs": 1.0},
        {"start_ms": 5, "hz": float("nan"), "tolerance_hz": 1.0, "level_dbfs": 1.0},
        {"start_ms": 5, "hz": 1.0, "tolerance_hz": 1.0, "level_dbfs": 1.0, "extra": 1},
    ],
)
def test_corrupt_state_is_rejected(data: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"beep state|must be"):
        BeepState.from_dict(data)


def test_g711_helper_tone_is_detected() -> None:
    frames = silence(100) + tone(700, 250, amplitude=0.1) + silence(200)
    beeps = _run(frames[i : i + 160] for i in range(0, len(frames), 160))[0]
    assert len(beeps) == 1
    assert beeps[0].duration_ms == pytest.approx(250, abs=3)


def test_short_and_odd_frames_are_not_analysed() -> None:
    assert DETECTOR.analyse(b"") is None
    assert DETECTOR.analyse(tone(1000, 10)) is None
    assert DETECTOR.step(IDLE, b"\x00" * 80, 0) == (IDLE, None)


def test_bad_configuration_is_rejected() -> None:
    with pytest.raises(ValueError, match="min_hz"):
        BeepDetector(min_hz=2000, max_hz=1000)
    with pytest.raises(ValueError, match="min_ms"):
        BeepDetector(min_ms=0)


# --- the corpus ---------------------------------------------------------------------------------------------


def test_corpus_is_deterministic_for_a_seed() -> None:
    kinds = ("greeting_beep", "dtmf", "music")
    first = corpus.cases(42, 1, kinds)
    assert first == corpus.cases(42, 1, kinds)
    assert first != corpus.cases(43, 1, kinds)


def test_beep_cases_have_consistent_ground_truth() -> None:
    for kind in corpus.BEEP_KINDS:
        for index in range(3):
            case = corpus.case(5, kind, index)
            assert all(len(frame) == 160 for frame in case.frames)
            assert case.greeting_end_ms is not None
            assert case.beep_start_ms is not None
            assert case.beep_end_ms is not None
            assert case.beep_hz is not None
            assert case.beep_dbfs is not None
            assert 100 <= case.beep_start_ms - case.greeting_end_ms <= 1000
            assert 100 <= case.beep_end_ms - case.beep_start_ms <= 1500
            assert 400 <= case.beep_hz <= 2100
            assert -40 <= case.beep_dbfs <= -6
            assert case.duration_ms >= case.beep_end_ms + 2000 - 20
            assert case.label_at(case.beep_start_ms + 50) == "beep"
            if kind == "greeting_noisy_beep":
                assert case.snr_db is not None
                assert 10 <= case.snr_db <= 30
            # The beep's frames measure the level the truth claims.
            middle = round((case.beep_start_ms + case.beep_end_ms) / 2) // 20
            assert energy_dbfs(case.frames[middle]) == pytest.approx(case.beep_dbfs, abs=1.5)


def test_negative_cases_have_no_beep() -> None:
    for kind in corpus.NEGATIVE_KINDS:
        case = corpus.case(5, kind, 0)
        assert case.beep_start_ms is None
        assert case.beep_end_ms is None
        assert len(case.frames) > 10


def test_synthetic_speech_has_pauses_an_energy_vad_can_see() -> None:
    rng = random.Random(9)
    utterance = corpus.speech(rng, corpus.Speaker.random(rng), 6.0, (1.0,), -20.0)
    loud = [energy_dbfs(frame) >= -40.0 for frame in _frames(utterance.samples)]
    # Several separate bursts of speech (words), with quiet frames between them, and a long phrase pause.
    bursts = sum(1 for before, now in zip([False, *loud[:-1]], loud, strict=True) if now and not before)
    assert bursts >= 5
    longest_quiet = max(len(run) for run in "".join("x" if v else "." for v in loud).split("x"))
    assert longest_quiet * 20 >= 900


def _magnitude(samples: Sequence[float], hz: float) -> float:
    """|DFT| of ``samples`` at ``hz`` with a Hann window."""
    count = len(samples)
    total = sum(
        value
        * (0.5 - 0.5 * math.cos(2 * math.pi * n / count))
        * cmath.exp(-2j * math.pi * hz * n / SAMPLE_RATE)
        for n, value in enumerate(samples)
    )
    return abs(total)


def test_synthetic_vowel_has_harmonics_under_formant_peaks() -> None:
    f0 = 125.0
    blocks = 60  # 300 ms
    formants = (730.0, 1090.0, 2440.0)  # /a/
    controls = corpus._Controls(
        f0=[f0] * blocks,
        voice=[1.0] * blocks,
        frication=[0.0] * blocks,
        fric_hz=[3000.0] * blocks,
        formants=[formants] * blocks,
    )
    samples = corpus._render(random.Random(1), controls, 0.0)[800:2400]  # 200 ms, after the onset transient
    harmonics = [_magnitude(samples, k * f0) for k in range(1, 25)]
    between = [_magnitude(samples, (k + 0.5) * f0) for k in range(1, 24)]
    # A comb: each harmonic of the strong region stands well above the spectrum between harmonics.
    for k in range(1, 12):
        assert harmonics[k - 1] > 3 * between[k - 1]
    # Spectral envelope: a peak near F1 (harmonics 5-7) and near F2 (8-10), falling overall towards 3 kHz.
    assert max(harmonics[4:7]) > harmonics[2]
    assert max(harmonics[4:7]) > harmonics[10]
    assert max(harmonics[7:10]) > harmonics[12]
    assert max(harmonics[19:24]) < max(harmonics[4:7]) / 10
