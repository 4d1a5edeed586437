from __future__ import annotations

import pytest

from tests.support.plivo_signing import sign_v3
from voiceagent.plivo.signature import SignatureError, verify_v3

URL = "https://api.example.com/dev/plivo/answer?placement=p1"
TOKEN = "token-1"
PARAMS = {"CallUUID": ["abc"], "From": ["1415"], "Empty": [""]}


def headers(signature: str, nonce: str = "12345") -> dict[str, str]:
    return {"x-plivo-signature-v3": signature, "x-plivo-signature-v3-nonce": nonce}


def good_signature(url: str = URL, params: dict[str, list[str]] = PARAMS, method: str = "POST") -> str:
    return sign_v3(method=method, url=url, params=params, nonce="12345", auth_token=TOKEN)


def flipped(signature: str) -> str:
    """The same signature with its first character changed: must never pass."""
    return ("A" if signature[0] != "A" else "B") + signature[1:]


def test_valid_post_signature_passes_and_a_flipped_one_does_not() -> None:
    signature = good_signature()
    assert verify_v3(method="POST", url=URL, headers=headers(signature), params=PARAMS, auth_token=TOKEN)
    with pytest.raises(SignatureError, match="does not match"):
        verify_v3(
            method="POST", url=URL, headers=headers(flipped(signature)), params=PARAMS, auth_token=TOKEN
        )


def test_valid_get_signature_passes_and_ignores_the_body() -> None:
    signature = good_signature(method="GET", params={})
    assert verify_v3(
        method="GET", url=URL, headers=headers(signature), params={"ignored": ["x"]}, auth_token=TOKEN
    )
    with pytest.raises(SignatureError, match="does not match"):  # the URL is what a GET signs
        verify_v3(method="GET", url=URL + "x", headers=headers(signature), params={}, auth_token=TOKEN)


def test_one_of_several_comma_separated_signatures_may_match() -> None:
    signature = good_signature()
    several = f"bm90LWl0, {signature} ,"
    assert verify_v3(method="POST", url=URL, headers=headers(several), params=PARAMS, auth_token=TOKEN)
    with pytest.raises(SignatureError, match="does not match"):
        verify_v3(
            method="POST",
            url=URL,
            headers=headers(f"bm90LWl0, {flipped(signature)}"),
            params=PARAMS,
            auth_token=TOKEN,
        )


@pytest.mark.parametrize(
    ("url", "params", "token"),
    [
        ("https://api.example.com/prod/plivo/answer?placement=p1", PARAMS, TOKEN),  # other stage
        (URL, {**PARAMS, "From": ["1416"]}, TOKEN),  # tampered field
        (URL, PARAMS, "another-token"),  # other account
    ],
)
def test_mismatch_is_rejected(url: str, params: dict[str, list[str]], token: str) -> None:
    with pytest.raises(SignatureError, match="does not match"):
        verify_v3(method="POST", url=url, headers=headers(good_signature()), params=params, auth_token=token)


@pytest.mark.parametrize(
    "bad_headers",
    [{}, {"x-plivo-signature-v3": "abc"}, {"x-plivo-signature-v3-nonce": "1"}, headers("  ", "  ")],
)
def test_missing_headers_are_rejected_without_calling_plivo(bad_headers: dict[str, str]) -> None:
    with pytest.raises(SignatureError, match="missing"):
        verify_v3(method="POST", url=URL, headers=bad_headers, params=PARAMS, auth_token=TOKEN)


def test_sdk_errors_become_signature_errors() -> None:
    # The SDK validates the URL and raises on anything but http(s).
    with pytest.raises(SignatureError, match="could not be checked"):
        verify_v3(method="POST", url="wss://x/y", headers=headers("abc"), params={}, auth_token=TOKEN)


def test_any_url_form_may_carry_the_signature() -> None:
    from voiceagent.plivo.signature import matches_any_url

    signed = sign_v3(
        method="GET", url="wss://ws.example.com/dev?token=t", params={}, nonce="n1", auth_token=TOKEN
    )
    candidates = ["https://ws.example.com/dev?token=t", "wss://ws.example.com/dev?token=t"]
    good = {"x-plivo-signature-v3": f"x, {signed}", "x-plivo-signature-v3-nonce": "n1"}

    assert matches_any_url(urls=candidates, headers=good, auth_token=TOKEN) is True
    assert matches_any_url(urls=candidates[:1], headers=good, auth_token=TOKEN) is False
    assert matches_any_url(urls=candidates, headers={}, auth_token=TOKEN) is None
    assert (
        matches_any_url(urls=candidates, headers={"x-plivo-signature-v3": signed}, auth_token=TOKEN) is False
    )


@pytest.mark.parametrize("query", ["", "?placement=pl-3b8d1f0e6a2c4b7d"])
def test_plivos_retry_fragment_does_not_change_what_is_signed(query: str) -> None:
    """Plivo signs the URL we gave it, retry fragment and all; the request carries no fragment, so we check
    against the URL without it. Plivo's own SDK functions give the same signature for both."""
    from plivo.utils.signature_v3 import construct_post_url

    from voiceagent.plivo.callbacks import with_retries

    given_to_plivo = with_retries(f"https://h.example.com/dev/plivo/answer{query}", 2)
    received = f"https://h.example.com/dev/plivo/answer{query}"
    form = {"CallUUID": ["c1"], "From": ["14155550100"]}
    assert "#rc=2&rp=5xx,ct,rt" in given_to_plivo

    assert construct_post_url(given_to_plivo, form) == construct_post_url(received, form)
    signature = sign_v3(method="POST", url=given_to_plivo, params=form, nonce="12345", auth_token="token")
    assert signature == sign_v3(method="POST", url=received, params=form, nonce="12345", auth_token="token")
    headers = {"x-plivo-signature-v3": signature, "x-plivo-signature-v3-nonce": "12345"}
    assert verify_v3(method="POST", url=received, headers=headers, params=form, auth_token="token")


def test_retry_settings_replace_a_fragment_and_stay_within_plivos_range() -> None:
    from voiceagent.plivo.callbacks import with_retries

    assert with_retries("https://h/p?q=1#old", 5) == "https://h/p?q=1#rc=5&rp=5xx,ct,rt"
    with pytest.raises(ValueError, match="0-5"):
        with_retries("https://h/p", 6)
