"""Short-lived per-call tokens that let the media route's ``$connect`` accept only streams we started.

The answer webhook puts ``call_uuid``, ``expires`` and ``token`` (HMAC-SHA256 of both, base64url) in the wss
URL's query string; API Gateway hands them to ``$connect``. The key never leaves our side, so a token cannot
be forged, and it stops working after ``expires`` (only the connect must happen in time, not the call).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from urllib.parse import urlencode

CALL_PARAM = "call_uuid"
EXPIRES_PARAM = "expires"
TOKEN_PARAM = "token"  # noqa: S105 - a query parameter name, not a secret


def stream_url(websocket_url: str, key: bytes, call_uuid: str, now: int, ttl_seconds: int) -> str:
    """The wss URL for one call's stream, carrying its short-lived token (never a secret)."""
    return f"{websocket_url}?{issue(key, call_uuid, now, ttl_seconds).query()}"


class StreamTokenError(Exception):
    """The token is missing, malformed, forged or expired."""


@dataclass(frozen=True)
class StreamToken:
    call_uuid: str
    expires: int
    token: str

    def query(self) -> str:
        return urlencode({CALL_PARAM: self.call_uuid, EXPIRES_PARAM: self.expires, TOKEN_PARAM: self.token})


def _mac(key: bytes, call_uuid: str, expires: int) -> str:
    digest = hmac.new(key, f"{call_uuid}|{expires}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def issue(key: bytes, call_uuid: str, now: int, ttl_seconds: int) -> StreamToken:
    expires = now + ttl_seconds
    return StreamToken(call_uuid=call_uuid, expires=expires, token=_mac(key, call_uuid, expires))


def verify(key: bytes, params: dict[str, str], now: int) -> str:
    """Return the call UUID the token was issued for, or raise ``StreamTokenError``."""
    call_uuid = params.get(CALL_PARAM) or ""
    token = params.get(TOKEN_PARAM) or ""
    raw_expires = params.get(EXPIRES_PARAM) or ""
    well_formed = (
        raw_expires.isascii() and raw_expires.isdigit() and len(raw_expires) <= 12 and token.isascii()
    )
    if not call_uuid or not token or not well_formed:
        raise StreamTokenError("missing or malformed stream token")
    expires = int(raw_expires)
    if not hmac.compare_digest(_mac(key, call_uuid, expires).encode(), token.encode()):
        raise StreamTokenError("stream token does not match")
    if expires < now:
        raise StreamTokenError("stream token expired")
    return call_uuid
