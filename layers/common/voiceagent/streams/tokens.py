"""Short-lived, single-use per-call tokens that let the media route's ``$connect`` accept only streams we
started.

The answer webhook (and the stream-ended webhook, for a reconnect) puts ``call_uuid``, ``expires``, ``jti``
(a random id of this token) and ``token`` (HMAC-SHA256 of the three, base64url) in the wss URL's query
string; API Gateway hands them to ``$connect``. The key never leaves our side, so a token cannot be forged;
it stops working after ``expires``; and ``$connect`` claims its ``jti`` with a conditional write, so it opens
one connection only, and only while its call is live.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from urllib.parse import urlencode

CALL_PARAM = "call_uuid"
EXPIRES_PARAM = "expires"
TOKEN_ID_PARAM = "jti"  # noqa: S105 - a query parameter name, not a secret
TOKEN_PARAM = "token"  # noqa: S105 - a query parameter name, not a secret
_TOKEN_ID = re.compile(r"[0-9a-f]{16,64}")


class StreamTokenError(Exception):
    """The token is missing, malformed, forged or expired."""


@dataclass(frozen=True)
class StreamToken:
    call_uuid: str
    expires: int
    token_id: str
    token: str

    def query(self) -> str:
        return urlencode(
            {
                CALL_PARAM: self.call_uuid,
                EXPIRES_PARAM: self.expires,
                TOKEN_ID_PARAM: self.token_id,
                TOKEN_PARAM: self.token,
            }
        )


@dataclass(frozen=True)
class VerifiedToken:
    """What a genuine, unexpired token grants: one connection for this call (``token_id`` is claimed)."""

    call_uuid: str
    token_id: str


def stream_url(websocket_url: str, key: bytes, call_uuid: str, now: int, ttl_seconds: int) -> str:
    """The wss URL for one stream of a call, carrying a fresh single-use token (never a secret). Your own
    agent's URL may have a query of its own: the token's parameters follow it."""
    separator = "&" if "?" in websocket_url else "?"
    return f"{websocket_url}{separator}{issue(key, call_uuid, now, ttl_seconds).query()}"


def _mac(key: bytes, call_uuid: str, expires: int, token_id: str) -> str:
    digest = hmac.new(key, f"{call_uuid}|{expires}|{token_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def issue(key: bytes, call_uuid: str, now: int, ttl_seconds: int, token_id: str | None = None) -> StreamToken:
    """A new token; ``token_id`` is random unless given (sample events need a fixed one)."""
    token_id = token_id or secrets.token_hex(12)
    expires = now + ttl_seconds
    return StreamToken(call_uuid, expires, token_id, _mac(key, call_uuid, expires, token_id))


def verify(key: bytes, params: dict[str, str], now: int) -> VerifiedToken:
    """What the token grants, or ``StreamTokenError``. (Whether it was already used is the store's to say.)"""
    call_uuid = params.get(CALL_PARAM) or ""
    token = params.get(TOKEN_PARAM) or ""
    token_id = params.get(TOKEN_ID_PARAM) or ""
    raw_expires = params.get(EXPIRES_PARAM) or ""
    well_formed = (
        raw_expires.isascii()
        and raw_expires.isdigit()
        and len(raw_expires) <= 12
        and token.isascii()
        and _TOKEN_ID.fullmatch(token_id) is not None
    )
    if not call_uuid or not token or not well_formed:
        raise StreamTokenError("missing or malformed stream token")
    expires = int(raw_expires)
    if not hmac.compare_digest(_mac(key, call_uuid, expires, token_id).encode(), token.encode()):
        raise StreamTokenError("stream token does not match")
    if expires < now:
        raise StreamTokenError("stream token expired")
    return VerifiedToken(call_uuid, token_id)
