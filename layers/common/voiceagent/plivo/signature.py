"""Plivo V3 signature checks for webhooks that arrive through API Gateway.

Plivo signs the URL it called (scheme, host, stage path, query) plus the POST form parameters and a nonce.
Behind API Gateway that URL must be rebuilt from the request context, or taken from the configured public
base URL when a custom domain or a tunnel sits in front. The check itself is Plivo's own function.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping, Sequence
from urllib.parse import urlencode

SIGNATURE_HEADER = "x-plivo-signature-v3"
NONCE_HEADER = "x-plivo-signature-v3-nonce"
MAX_NONCE_LENGTH = 128
"""Plivo's nonces are ~20 digits; a longer one is not Plivo's (and becomes part of a DynamoDB key)."""


class SignatureError(Exception):
    """The request is not provably from Plivo; the caller answers 403 and changes nothing."""


def verify_v3(
    *,
    method: str,
    url: str,
    headers: Mapping[str, str],
    params: Mapping[str, Sequence[str]],
    auth_token: str,
) -> bool:
    """True when one of the request's V3 signatures matches; ``SignatureError`` otherwise (never False).

    ``headers`` must have lower-case names (API Gateway HTTP API v2 lower-cases them). Missing headers are
    answered here, because Plivo's function raises on them instead of returning False.
    """
    # Plivo may send several comma-separated signatures (one per auth token during rotation); any may match.
    signature = ",".join(
        part.strip() for part in headers.get(SIGNATURE_HEADER, "").split(",") if part.strip()
    )
    nonce = headers.get(NONCE_HEADER, "").strip()
    if not signature or not nonce:
        raise SignatureError("missing Plivo V3 signature headers")
    if len(nonce) > MAX_NONCE_LENGTH:
        raise SignatureError("Plivo V3 nonce too long")
    from plivo.utils import validate_v3_signature  # lazily: the plivo package is slow to import

    # The SDK sorts and joins list values itself; pass a copy so it cannot mutate ours.
    signed_params = {key: list(values) for key, values in params.items()} if method.upper() == "POST" else {}
    try:
        valid = validate_v3_signature(method.upper(), url, nonce, auth_token, signature, signed_params)
    except Exception as exc:  # the SDK raises its own validation errors on odd input
        raise SignatureError(f"signature could not be checked: {type(exc).__name__}") from exc
    if not valid:
        raise SignatureError("Plivo V3 signature does not match")
    return True


def matches_any_url(*, urls: Sequence[str], headers: Mapping[str, str], auth_token: str) -> bool | None:
    """For a signed GET whose exact signed URL form is undocumented (the stream's WebSocket upgrade): does the
    signature match any candidate form? None when the request carries no signature at all.

    Uses Plivo's own URL canonicalisation and signing functions (the checked ``validate_v3_signature`` refuses
    ``wss://`` URLs, which is one of the candidates).
    """
    signatures = [part.strip() for part in headers.get(SIGNATURE_HEADER, "").split(",") if part.strip()]
    nonce = headers.get(NONCE_HEADER, "").strip()
    if not signatures and not nonce:
        return None
    if not signatures or not nonce:
        return False
    from plivo.utils.signature_v3 import construct_get_url, get_signature_v3

    for url in urls:
        base = construct_get_url(url, {}).decode()
        expected = get_signature_v3(auth_token.encode(), base, nonce.encode()).decode()
        if any(hmac.compare_digest(expected, signature) for signature in signatures):
            return True
    return False


def upgrade_url_candidates(
    *, configured_url: str, domain_name: str, stage: str, query: Mapping[str, str]
) -> list[str]:
    """Every URL form Plivo might have signed for a stream's WebSocket upgrade (undocumented): the configured
    wss URL's host and path or the API's own domain and stage, each under wss/https/ws/http, with and without
    the query string."""
    encoded = urlencode(sorted(query.items()))
    configured = configured_url.split("://", 1)[-1]
    return [
        f"{scheme}://{where}{suffix}"
        for where in dict.fromkeys((configured, f"{domain_name}/{stage}"))
        for scheme in ("wss", "https", "ws", "http")
        for suffix in ((f"?{encoded}", "") if encoded else ("",))
    ]
