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

    granted = stream_token.VerifiedToken("call-1", token.token_id)
    assert stream_token.verify(KEY, params_of(token), NOW) == granted
    assert stream_token.verify(KEY, params_of(token), NOW + 300) == granted
    with pytest.raises(stream_token.StreamTokenError, match="expired"):
        stream_token.verify(KEY, params_of(token), NOW + 301)


@pytest.mark.parametrize(
    "tamper",
    [
        {"call_uuid": "call-2"},  # token reused for another call
        {"expires": str(NOW + 10_000)},  # lifetime extended
        {"token": "A" * 43},  # guessed
        {"jti": "0" * 24},  # another token id, to get a second connection out of one token
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
        {"call_uuid": "c", "token": "t", "expires": "1"},  # no token id
        {"call_uuid": "c", "token": "t", "expires": "1", "jti": "not-hex-at-all!"},
    ],
)
def test_missing_or_malformed_fields_are_rejected(params: dict[str, str]) -> None:
    with pytest.raises(stream_token.StreamTokenError, match="missing or malformed"):
        stream_token.verify(KEY, params, NOW)


@pytest.mark.parametrize(
    "params",
    [
        {"call_uuid": "c", "token": "t", "expires": "²", "jti": "0" * 24},  # a digit to isdigit, not int()
        {"call_uuid": "c", "token": "t", "expires": "9" * 5000, "jti": "0" * 24},  # beyond int()'s limit
        {"call_uuid": "c", "token": "é", "expires": "0", "jti": "0" * 24},  # compare_digest refuses it
    ],
    ids=["unicode-digit", "huge-number", "non-ascii-token"],
)
def test_odd_values_found_by_fuzzing_are_malformed_not_crashes(params: dict[str, str]) -> None:
    with pytest.raises(stream_token.StreamTokenError, match="missing or malformed"):
        stream_token.verify(KEY, params, NOW)


def test_every_token_has_its_own_id() -> None:
    first, second = (stream_token.issue(KEY, "call-1", NOW, 300) for _ in range(2))
    assert first.token_id != second.token_id
    assert first.token != second.token
