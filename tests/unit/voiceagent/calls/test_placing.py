from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from voiceagent.calls.placing import MachineDetectionTuning, PlaceCallRequest

VALID = {"to": "+14155550199", "from": "14155550100"}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"to": "not-a-number"}, "to"),
        ({"from": "sip:bot@x"}, "from"),
        ({"to": "14155550100"}, "from and to must differ"),
        ({"voicemail_message": "hi", "voicemail_audio_url": "https://x/vm.mp3"}, "not both"),
        ({"voicemail_audio_url": "ftp://x/vm.mp3"}, "voicemail_audio_url"),
        ({"machine_detection_time": 1999}, "machine_detection_time"),
        ({"machine_detection_time": 10001}, "machine_detection_time"),
        ({"policy": "voicemail"}, "policy"),
        ({"metadata": {f"k{i}": "v" for i in range(21)}}, "metadata"),
        ({"voicemail_voice": "Joanna"}, "voicemail_voice"),  # Plivo wants Polly.Joanna
        ({"voicemail_language": "english"}, "voicemail_language"),
    ],
)
def test_invalid_requests_name_the_problem(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        PlaceCallRequest.model_validate({**VALID, **changes})


@pytest.mark.parametrize(
    ("name", "low", "high"),
    [
        ("initial_silence", 2000, 10000),
        ("maximum_speech_length", 1000, 6000),
        ("maximum_words", 2, 10),
        ("initial_greeting", 1000, 5000),
        ("silence", 500, 5000),
    ],
)
def test_tuning_ranges_are_plivos(name: str, low: int, high: int) -> None:
    assert MachineDetectionTuning.model_validate({name: low}).api_params() == {
        f"machine_detection_{name}": low
    }
    assert MachineDetectionTuning.model_validate({name: high}).api_params() == {
        f"machine_detection_{name}": high
    }
    for outside in (low - 1, high + 1):
        with pytest.raises(ValidationError, match=name):
            MachineDetectionTuning.model_validate({name: outside})


def test_sip_destinations_are_accepted() -> None:
    assert (
        PlaceCallRequest.model_validate({**VALID, "to": "sip:agent@example.com"}).to
        == "sip:agent@example.com"
    )
