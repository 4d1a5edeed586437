"""Sign requests exactly as Plivo does, with the plivo SDK's own V3 functions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from plivo.utils.signature_v3 import construct_get_url, construct_post_url, get_signature_v3


def sign_v3(
    *, method: str, url: str, params: Mapping[str, Sequence[str] | str], nonce: str, auth_token: str
) -> str:
    values = {key: list(value) if not isinstance(value, str) else value for key, value in params.items()}
    base = construct_post_url(url, values) if method.upper() == "POST" else construct_get_url(url, {})
    signature: bytes = get_signature_v3(auth_token.encode(), base.decode(), nonce.encode())
    return signature.decode()
