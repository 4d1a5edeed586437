from __future__ import annotations

from urllib.parse import parse_qs

import pytest

from voiceagent.streams import tokens as stream_token

KEY = b"k" * 32
NOW = 1_800_000_000


def params_of(token: stream_token.StreamToken) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(token.query()).items()}


def test_issued_token_verifies_until_it_expires() -> None:
    token = stream_token.issue(KEY, "call-1", NOW, 300)

    assert stream_token.verify(KEY, params_of(token), NOW) == "call-1"
    assert stream_token.verify(KEY, params_of(token), NOW + 300) == "call-1"
    with pytest.raises(stream_token.StreamTokenError, match="expired"):
        stream_token.verify(KEY, params_of(token), NOW + 301)


@pytest.mark.parametrize(
    "tamper",
    [
        {"call_uuid": "call-2"},  # token reused for another call
        {"expires": str(NOW + 10_000)},  # lifetime extended
        {"token": "A" * 43},  # guessed
    ],
)
def test_tampered_token_is_rejected(tamper: dict[str, str]) -> None:
    params = {**params_of(stream_token.issue(KEY, "call-1", NOW, 300)), **tamper}
    with pytest.raises(stream_token.StreamTokenError, match="does not match"):
        stream_token.verify(KEY, params, NOW)


def test_token_from_another_key_is_rejected() -> None:
    params = params_of(stream_token.issue(b"other", "call-1", NOW, 300))
    with pytest.raises(stream_token.StreamTokenError, match="does not match"):
        stream_token.verify(KEY, params, NOW)


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"call_uuid": "c"},
        {"call_uuid": "c", "token": "t"},
        {"call_uuid": "c", "token": "t", "expires": "-1"},
    ],
)
def test_missing_or_malformed_fields_are_rejected(params: dict[str, str]) -> None:
    with pytest.raises(stream_token.StreamTokenError, match="missing or malformed"):
        stream_token.verify(KEY, params, NOW)


@pytest.mark.parametrize(
    "params",
    [
        {"call_uuid": "c", "token": "t", "expires": "²"},  # a digit to str.isdigit, not to int()
        {"call_uuid": "c", "token": "t", "expires": "9" * 5000},  # beyond int()'s digit limit
        {"call_uuid": "c", "token": "é", "expires": "0"},  # compare_digest refuses non-ASCII text
    ],
    ids=["unicode-digit", "huge-number", "non-ascii-token"],
)
def test_odd_values_found_by_fuzzing_are_malformed_not_crashes(params: dict[str, str]) -> None:
    with pytest.raises(stream_token.StreamTokenError, match="missing or malformed"):
        stream_token.verify(KEY, params, NOW)
