"""Refused values are explained in words: the field, the value (shortened, printable), what is allowed."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ConfigDict, Field

from voiceagent.calls.placing import PlaceCallRequest
from voiceagent.validation import MAX_SHOWN, InvalidRequest, shown, validate
from voiceagent_cli.main import OPTION_NAMES


def messages(data: object, *, json_text: bool = False) -> list[str]:
    with pytest.raises(InvalidRequest) as raised:
        validate(PlaceCallRequest, data, json_text=json_text, names=OPTION_NAMES)
    return [problem.message() for problem in raised.value.problems]


def test_each_bad_field_is_named_with_its_value_and_what_is_allowed() -> None:
    found = messages(
        {
            "to": "12",
            "from": "x",
            "policy": "nope",
            "voicemail_voice": "Bob",
            "voicemail_audio_url": "ftp://x",
            "ring_timeout": "abc",
            "tuning": {"maximum_words": 99, "bogus": 1},
        }
    )

    assert found == [
        "--to: '12' is not allowed; a phone number in E.164 form, 7 to 15 digits with an optional + "
        "(+14155550123), or a sip: URI",
        "--from: 'x' is not allowed; a number of your Plivo account, 4 to 15 digits with an optional + "
        "(+14155550100)",
        "--policy: 'nope' is not allowed; one of: hangup, transfer, agent",
        "--audio-url: 'ftp://x' is not allowed; an http(s) URL such as https://host/path, without a query or "
        "a fragment",
        "--voice: 'Bob' is not allowed; WOMAN, MAN, or an Amazon Polly voice such as Polly.Joanna (or "
        "Polly.Joanna-Neural)",
        "--tuning maximum_words: 99 is not allowed; a whole number from 2 to 10",
        "--tuning bogus: 1 is not allowed; not a field of this request; the fields are: initial_silence, "
        "maximum_speech_length, maximum_words, initial_greeting, silence",
        "--ring-timeout: 'abc' is not allowed; a whole number from 5 to 120",
    ]
    assert not any("^" in message or "\\d" in message for message in found)  # no regular expressions


def test_missing_fields_rules_across_fields_and_bodies_that_are_not_json() -> None:
    assert messages({}) == [
        "--to: missing; required: a phone number in E.164 form, 7 to 15 digits with an optional + "
        "(+14155550123), or a sip: URI",
        "--from: missing; required: a number of your Plivo account, 4 to 15 digits with an optional + "
        "(+14155550100)",
    ]
    assert messages({"to": "+14155550100", "from": "+14155550100"}) == ["the call: from and to must differ"]
    assert messages('{"to": ', json_text=True) == ["body: not JSON: send a JSON object"]


def test_lengths_and_the_api_names_when_no_options_are_given() -> None:
    with pytest.raises(InvalidRequest) as raised:
        validate(
            PlaceCallRequest, {"to": "+14155550199", "from": "+14155550100", "voicemail_message": "a" * 4000}
        )
    (problem,) = raised.value.problems
    assert problem.field == "voicemail_message"
    assert problem.allowed == "at most 3000 characters"
    assert str(raised.value) == problem.message()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("short", "'short'"),
        ("x" * 100, "'" + "x" * MAX_SHOWN + "…'"),
        ("bell\x07and\nnewline", "'bell\\x07and\\x0anewline'"),
        (42, "42"),
        (True, "true"),
        (None, "null"),
        ({"a": 1}, "an object"),
        ([1, 2], "a list"),
        (b"raw", "a bytes"),
    ],
)
def test_values_are_shown_short_and_printable(value: object, expected: str) -> None:
    assert shown(value) == expected


class _Every(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ratio: float = Field(default=0.5, ge=0, le=1)
    name: str = Field(default="x", min_length=2)
    on: bool = False
    count: int = Field(default=1, ge=1)
    top: int = Field(default=1, le=9)
    tags: list[str] = Field(default_factory=list, max_length=1)


@pytest.mark.parametrize(
    ("data", "allowed"),
    [
        ({"ratio": "half"}, "a number from 0 to 1"),
        ({"ratio": 2}, "a number from 0 to 1"),
        ({"name": "a"}, "at least 2 characters"),
        ({"name": 3}, "text"),
        ({"on": "perhaps"}, "true or false"),
        ({"count": 0}, "a whole number, at least 1"),
        ({"top": 10}, "a whole number, at most 9"),
        ({"tags": ["a", "b"]}, "at most 1 entries"),
        ([1], "an object with the fields ratio, name, on, count, top, tags"),
    ],
)
def test_every_kind_of_refusal_says_what_is_allowed(data: object, allowed: str) -> None:
    with pytest.raises(InvalidRequest) as raised:
        validate(_Every, data)
    assert raised.value.problems[0].allowed == allowed
