"""The energy VAD as a pure step over a persisted state (defaults: -40 dBFS, start after 60 ms, end after
600 ms): the events it gives, and that its state only changes at the edges of runs."""

from __future__ import annotations

import pytest

from tests.support.audio import silence, tone
from voiceagent.media.vad import EnergyVad, VadEvent, VadState

FRAME_MS = 20
FRAME_BYTES = 160


class Stream:
    """Feeds a VAD 20 ms frames on a frame clock, keeping the state between them as the runtime does."""

    def __init__(self, vad: EnergyVad | None = None) -> None:
        self.vad = vad or EnergyVad()
        self.state = VadState()
        self.clock = 0
        self.changes = 0

    def feed(self, audio: bytes) -> list[VadEvent | None]:
        results = []
        for offset in range(0, len(audio), FRAME_BYTES):
            state, event = self.vad.step(self.state, audio[offset : offset + FRAME_BYTES], self.clock)
            self.changes += state != self.state
            self.state, self.clock = state, self.clock + FRAME_MS
            results.append(event)
        return results

    def events(self, audio: bytes) -> list[VadEvent]:
        return [event for event in self.feed(audio) if event is not None]


def test_silence_only_gives_no_events_and_changes_nothing() -> None:
    stream = Stream()
    assert stream.events(silence(2000)) == []
    assert stream.state == VadState()
    assert stream.changes == 0


def test_a_quiet_tone_below_the_threshold_gives_no_events() -> None:
    assert Stream().events(tone(440, 1000, amplitude=0.001)) == []


def test_speech_starts_once_after_start_ms_and_steady_speech_writes_nothing() -> None:
    stream = Stream()
    results = stream.feed(tone(440, 1000))
    assert results[:3] == [None, None, VadEvent.SPEECH_STARTED]  # the third 20 ms frame reaches 60 ms
    assert results.count(VadEvent.SPEECH_STARTED) == 1
    assert stream.state.speaking
    assert stream.state.spoke_from == 0
    assert stream.changes == 2  # the run begins, speech starts: then 47 frames change nothing


def test_a_click_shorter_than_start_ms_gives_no_event() -> None:
    stream = Stream()
    assert stream.events(silence(200) + tone(440, 40) + silence(1000)) == []
    assert not stream.state.speaking


def test_separate_clicks_do_not_add_up() -> None:
    assert Stream().events((tone(440, 40) + silence(20)) * 10) == []


def test_speech_ends_once_after_end_ms_of_silence_and_remembers_where() -> None:
    stream = Stream()
    stream.feed(tone(440, 200))
    results = stream.feed(silence(2000))
    assert results.index(VadEvent.SPEECH_ENDED) == 29  # the 30th 20 ms frame reaches 600 ms
    assert [event for event in results if event is not None] == [VadEvent.SPEECH_ENDED]
    assert not stream.state.speaking
    assert stream.state.quiet_from == 200  # where the speech really ended, not where it was noticed


def test_a_pause_shorter_than_end_ms_does_not_end_speech() -> None:
    stream = Stream()
    audio = tone(440, 300) + silence(400) + tone(440, 300) + silence(580) + tone(440, 100)
    assert stream.events(audio) == [VadEvent.SPEECH_STARTED]
    assert stream.state.speaking


def test_speech_can_start_again_after_it_ended() -> None:
    audio = (tone(440, 300) + silence(800)) * 2
    assert Stream().events(audio) == [VadEvent.SPEECH_STARTED, VadEvent.SPEECH_ENDED] * 2


def test_a_missing_frame_counts_on_the_clock() -> None:
    vad = EnergyVad()
    state, first = vad.step(VadState(), tone(440, 20), 0)
    state, second = vad.step(state, tone(440, 20), 40)  # the frame at 20 ms never arrived
    assert (first, second) == (None, VadEvent.SPEECH_STARTED)


def test_an_empty_frame_changes_nothing() -> None:
    assert EnergyVad().step(VadState(), b"", 0) == (VadState(), None)


def test_thresholds_are_configurable() -> None:
    stream = Stream(EnergyVad(threshold_dbfs=-10.0, start_ms=20, end_ms=40))
    assert stream.feed(tone(440, 20, amplitude=0.1)) == [None]  # about -23 dBFS: below this threshold
    assert stream.feed(tone(440, 20, amplitude=0.9)) == [VadEvent.SPEECH_STARTED]
    assert stream.feed(silence(40)) == [None, VadEvent.SPEECH_ENDED]


def test_the_state_round_trips_through_a_plain_dict() -> None:
    state = VadState(True, 120, 40, None)
    assert VadState.from_dict(state.to_dict()) == state
    assert VadState.from_dict(None) == VadState()


def test_negative_durations_are_refused() -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        EnergyVad(end_ms=-1)


def test_soft_syllables_do_not_end_speech_once_it_started() -> None:
    stream = Stream()
    loud, soft = tone(440, 100, amplitude=0.05), tone(440, 700, amplitude=0.008)  # about -29 and -45 dBFS
    assert stream.events(loud + soft) == [VadEvent.SPEECH_STARTED]  # soft: under -40 but above -50
    assert stream.events(silence(700)) == [VadEvent.SPEECH_ENDED]
    assert Stream().events(soft) == []  # the same softness does not start speech
