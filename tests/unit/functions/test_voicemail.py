from __future__ import annotations

from typing import Any
from xml.etree import ElementTree

import pytest

from functions.voicemail import app
from tests.support import constants as c
from tests.support import seed
from tests.support.events import load_event
from voiceagent.store import open_store


def serve(lambda_context: Any, name: str = "voicemail") -> dict[str, Any]:
    response: dict[str, Any] = app.lambda_handler(load_event(name), lambda_context)
    return response


def elements(response: dict[str, Any]) -> list[ElementTree.Element]:
    assert response["statusCode"] == 200
    assert response["headers"]["Content-Type"] == "application/xml"
    return list(ElementTree.fromstring(response["body"]))


def test_waits_for_the_greeting_then_speaks_the_calls_message_and_hangs_up(
    aws_stack: Any, lambda_context: Any
) -> None:
    seed.placement("transfer", voicemail_message="Hi, Acme here.", voicemail_voice="Polly.Joanna")

    wait, speak, hangup = elements(serve(lambda_context))

    assert (wait.tag, wait.attrib) == ("Wait", {"length": "30", "silence": "true", "minSilence": "3000"})
    assert (speak.tag, speak.text) == ("Speak", "Hi, Acme here.")
    assert speak.attrib == {"voice": "Polly.Joanna", "language": "en-US"}
    assert hangup.tag == "Hangup"
    record = open_store().calls.get_call(c.CALL_UUID)
    assert record is not None
    assert "voicemail_served_at" in record
    assert record["voicemail_wait_mode"] == "silence"


def test_beep_mode_waits_for_the_beep_instead_of_silence(
    aws_stack: Any, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from voiceagent.settings import get_settings

    monkeypatch.setenv("VOICEMAIL_WAIT_MODE", "beep")
    monkeypatch.setenv("VOICEMAIL_WAIT_SECONDS", "25")
    get_settings.cache_clear()
    seed.placement("transfer")

    wait, _, _ = elements(serve(lambda_context))

    assert (wait.tag, wait.attrib) == ("Wait", {"length": "25", "beep": "true"})
    record = open_store().calls.get_call(c.CALL_UUID)
    assert record is not None
    assert record["voicemail_wait_mode"] == "beep"


def test_audio_message_is_played(aws_stack: Any, lambda_context: Any) -> None:
    seed.placement("transfer", voicemail_audio_url="https://cdn.example.com/vm.mp3")

    _, play, _ = elements(serve(lambda_context))

    assert (play.tag, play.text) == ("Play", "https://cdn.example.com/vm.mp3")


def test_configured_message_and_voice_are_the_default(
    aws_stack: Any, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from voiceagent.settings import get_settings

    monkeypatch.setenv("VOICEMAIL_MESSAGE", "Configured message.")
    monkeypatch.setenv("VOICEMAIL_VOICE", "MAN")
    get_settings.cache_clear()

    _, speak, _ = elements(serve(lambda_context))  # unknown placement: config only

    assert speak.text == "Configured message."
    assert speak.attrib["voice"] == "MAN"


@pytest.mark.parametrize(
    ("name", "status"), [("voicemail_bad_signature", 403), ("voicemail_missing_call_uuid", 400)]
)
def test_bad_requests_change_nothing(
    name: str, status: int, aws_stack: Any, lambda_context: Any, table_items: Any
) -> None:
    assert serve(lambda_context, name)["statusCode"] == status
    assert table_items() == []
