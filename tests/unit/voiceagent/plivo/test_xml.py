"""The XML we give Plivo, built with Plivo's own builder."""

from __future__ import annotations

from dataclasses import replace
from xml.etree import ElementTree

import pytest

from voiceagent.plivo.xml import StreamOptions, hangup_response, stream_response, voicemail_response
from voiceagent.settings import VoicemailWait

OPTIONS = StreamOptions("wss://ws.example.com/dev?call_uuid=c1", "https://h.example.com/dev/s", 3600)
ENDED = "https://h.example.com/dev/plivo/stream-ended#rc=2&rp=5xx,ct,rt"


def test_the_stream_sends_no_extra_headers_by_default() -> None:
    """Per-call context rides in the wss URL's query string (what API Gateway hands to $connect)."""
    stream, _ = ElementTree.fromstring(stream_response(OPTIONS, ENDED))
    assert "extraHeaders" not in stream.attrib


def test_extra_headers_are_rendered_as_plivo_reads_them() -> None:
    options = replace(OPTIONS, extra_headers=(("campaign", "spring24"), ("tier", "gold")))
    stream, _ = ElementTree.fromstring(stream_response(options, ENDED))
    assert stream.attrib["extraHeaders"] == "campaign=spring24,tier=gold"


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ((("k", "v" * 511),), "512 bytes"),
        ((("bad key", "v"),), "alphanumeric"),
        ((("k", "a,b"),), "alphanumeric"),
        ((("k", "é"),), "alphanumeric"),
    ],
)
def test_extra_headers_beyond_plivos_limits_are_refused(
    headers: tuple[tuple[str, str], ...], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        replace(OPTIONS, extra_headers=headers)


@pytest.mark.parametrize(
    ("wait", "attributes"),
    [
        (VoicemailWait.SILENCE, {"length": "30", "silence": "true", "minSilence": "3000"}),
        (VoicemailWait.BEEP, {"length": "30", "beep": "true"}),
    ],
)
def test_voicemail_waits_for_the_greeting_to_end_then_speaks_and_hangs_up(
    wait: VoicemailWait, attributes: dict[str, str]
) -> None:
    xml = voicemail_response(
        message="Hi",
        audio_url=None,
        voice="WOMAN",
        language="en-US",
        wait=wait,
        wait_seconds=30,
        min_silence_ms=3000,
    )
    wait_element, speak, hangup = ElementTree.fromstring(xml)
    assert (wait_element.tag, speak.tag, hangup.tag) == ("Wait", "Speak", "Hangup")
    assert wait_element.attrib == attributes


def test_the_stream_is_followed_by_a_redirect_plivo_fetches_when_it_ends() -> None:
    stream, redirect = ElementTree.fromstring(stream_response(OPTIONS, ENDED))
    assert (stream.tag, stream.attrib["keepCallAlive"]) == ("Stream", "true")
    assert (redirect.tag, redirect.attrib, redirect.text) == ("Redirect", {"method": "POST"}, ENDED)


@pytest.mark.parametrize(("message", "tags"), [("Sorry.", ["Speak", "Hangup"]), (None, ["Hangup"])])
def test_a_hangup_may_say_a_short_message_first(message: str | None, tags: list[str]) -> None:
    xml = hangup_response(message=message, voice="WOMAN", language="en-US")
    assert [element.tag for element in ElementTree.fromstring(xml)] == tags
