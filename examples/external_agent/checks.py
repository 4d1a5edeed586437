"""What your agent checks, in a few lines each (README, Use your own agent, shows the same code).

- The stream token: the answer XML's ``<Stream>`` URL carries ``call_uuid``, ``expires``, ``jti`` and
  ``token`` = base64url(HMAC-SHA256(key, "<call_uuid>|<expires>|<jti>")), unpadded. The key is the value of
  the SSM SecureString ``StreamTokenSecretParameterName`` names, as UTF-8 bytes. Accept a token once (keep its
  ``jti`` until it expires) and only for the call whose ``start`` frame names it.
- The voicemail notification: ``X-Voiceagent-Signature: t=<unix time>,v1=<hex HMAC-SHA256(key, "<t>.<raw
  body>")>``, keyed with the value of ``AgentWebhookSecretParameterName``; refuse it when older than a few
  minutes, and drop a ``notification_id`` already handled.

Only the standard library: an agent in any language does the same.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Mapping


def token_ok(key: bytes, query: Mapping[str, str], now: float | None = None) -> bool:
    """The stream URL's token is ours and has not expired (its single use and call are checked apart)."""
    try:
        message = f"{query['call_uuid']}|{query['expires']}|{query['jti']}".encode()
        expires = int(query["expires"])
    except (KeyError, ValueError):
        return False
    mac = base64.urlsafe_b64encode(hmac.new(key, message, hashlib.sha256).digest()).rstrip(b"=").decode()
    fresh = expires >= (time.time() if now is None else now)
    return hmac.compare_digest(mac.encode(), query.get("token", "").encode()) and fresh  # bytes: any input


def verified(key: bytes, body: bytes, header: str, tolerance: int = 300, now: float | None = None) -> bool:
    """Check X-Voiceagent-Signature ("t=<unix time>,v1=<hex>") on a notification's raw body."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    timestamp = fields.get("t", "")
    if not timestamp.isdigit() or abs((time.time() if now is None else now) - int(timestamp)) > tolerance:
        return False
    expected = hmac.new(key, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), fields.get("v1", "").encode())
