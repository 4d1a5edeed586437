"""Plivo's callback retry settings ("Callback Configurations" in its voice docs).

They ride on each URL we give Plivo as a fragment: ``https://host/path?q=1#rc=2&rp=5xx,ct,rt``. ``rc`` is how
many times Plivo tries the same URL again (0-5, default 1) and ``rp`` on what (``4xx``, ``5xx``, ``ct``
connect failure, ``rt`` read timeout, ``all``; default ``ct,rt`` — so by default a 5xx is not retried, and a
webhook answering 503 "so Plivo retries" would be lost). A fragment is never sent over HTTP and Plivo's V3
signature drops it (its SDKs canonicalise scheme, host, path and query only), so the URL we check signatures
against is unchanged.

Our webhooks answer 5xx only when nothing took effect (a dependency was unavailable) or on a bug, and every
one is idempotent (conditional transitions, remembered nonces), so retrying them on 5xx is safe.
"""

from __future__ import annotations

from urllib.parse import urlencode

from voiceagent import routes

RETRY_ON = "5xx,ct,rt"
"""Retry on a server error, a connection failure or a read timeout; never on a 4xx (our answer to a request
that is not Plivo's or not valid, which a retry cannot change)."""


def with_retries(url: str, retries: int) -> str:
    """``url`` with Plivo's retry settings as its fragment (replacing any fragment it had)."""
    if not 0 <= retries <= 5:
        raise ValueError(f"Plivo allows 0-5 callback retries, not {retries}")
    return f"{url.split('#', 1)[0]}#rc={retries}&rp={RETRY_ON}"


def callback_url(base_url: str, path: str, placement_id: str | None, *, retries: int) -> str:
    """A webhook URL we give Plivo: our placement id when the call has one, Plivo's retry settings always."""
    query = f"?{urlencode({routes.PLACEMENT_PARAM: placement_id})}" if placement_id else ""
    return with_retries(f"{base_url}{path}{query}", retries)
