"""Sign requests exactly as Plivo does, with the plivo SDK's own V3 functions: `voiceagent doctor` sends
signed test webhooks with them, and the tests and the local Plivo simulator sign with the same code."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence

from plivo.utils.signature_v3 import construct_get_url, construct_post_url, get_signature_v3


def sign_v3(
    *, method: str, url: str, params: Mapping[str, Sequence[str] | str], nonce: str, auth_token: str
) -> str:
    values = {key: list(value) if not isinstance(value, str) else value for key, value in params.items()}
    base = construct_post_url(url, values) if method.upper() == "POST" else construct_get_url(url, {})
    signature: bytes = get_signature_v3(auth_token.encode(), base.decode(), nonce.encode())
    return signature.decode()


def new_nonce() -> str:
    """A fresh nonce for every request, shaped like Plivo's (20 digits)."""
    return f"{secrets.randbelow(10**20):020d}"


def signed_form_headers(*, url: str, form: Mapping[str, str], auth_token: str) -> dict[str, str]:
    """Headers of a form POST signed as Plivo signs its webhooks, with a fresh nonce."""
    nonce = new_nonce()
    signature = sign_v3(method="POST", url=url, params=form, nonce=nonce, auth_token=auth_token)
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Plivo-Signature-V3": signature,
        "X-Plivo-Signature-Ma-V3": signature,
        "X-Plivo-Signature-V3-Nonce": nonce,
    }


def signed_upgrade_headers(*, url: str, auth_token: str) -> dict[str, str]:
    """Headers of a WebSocket upgrade of ``url`` signed as Plivo signs its stream's (a GET of the URL as
    given, with a fresh nonce)."""
    nonce = new_nonce()
    signature = sign_v3(method="GET", url=url, params={}, nonce=nonce, auth_token=auth_token)
    return {"X-Plivo-Signature-V3": signature, "X-Plivo-Signature-V3-Nonce": nonce}
