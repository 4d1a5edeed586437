"""Open a WebSocket the way Plivo's stream does, just far enough to see whether the server accepts it.

Only the opening handshake matters to ``voiceagent doctor`` (101 = the ``$connect`` route admitted the stream;
403 = refused), so this speaks that much of RFC 6455 over the standard library instead of adding a client
library: an HTTP/1.1 upgrade request, the status line, then a close frame when it was accepted.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import os
from collections.abc import Mapping
from urllib.parse import urlsplit

ACCEPTED = 101
_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455's fixed key suffix
_CLOSE_NORMAL = b"\x88\x82"  # FIN + close opcode; masked, 2-byte payload (status 1000)


class ProbeError(Exception):
    """The server could not be reached, or answered with something other than HTTP."""


def upgrade_status(url: str, *, timeout: float = 10.0, headers: Mapping[str, str] | None = None) -> int:
    """The HTTP status the server answers a WebSocket upgrade of ``url`` (ws:// or wss://) with, sent with
    ``headers`` (Plivo's signature) besides the handshake's own."""
    parts = urlsplit(url)
    if parts.scheme not in {"ws", "wss"} or not parts.hostname:
        raise ProbeError(f"not a WebSocket URL: {url}")
    connection_class = http.client.HTTPSConnection if parts.scheme == "wss" else http.client.HTTPConnection
    connection = connection_class(parts.hostname, parts.port, timeout=timeout)
    key = base64.b64encode(os.urandom(16)).decode()
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.putrequest("GET", target, skip_accept_encoding=True)
        for name, value in (
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", key),
            ("Sec-WebSocket-Version", "13"),
            *(headers or {}).items(),
        ):
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        if response.status == ACCEPTED:
            _check_accept(response.getheader("Sec-WebSocket-Accept"), key)
            _close(connection)
        return response.status
    except (OSError, http.client.HTTPException) as exc:
        raise ProbeError(f"{type(exc).__name__}: {exc}") from exc
    finally:
        connection.close()


def _check_accept(accept: str | None, key: str) -> None:
    expected = base64.b64encode(hashlib.sha1((key + _GUID).encode()).digest()).decode()  # noqa: S324 - RFC 6455
    if accept != expected:
        raise ProbeError(
            "the server answered 101 without a valid Sec-WebSocket-Accept: not a WebSocket endpoint"
        )


def _close(connection: http.client.HTTPConnection) -> None:
    """Say goodbye properly, so the server runs ``$disconnect`` at once instead of after an idle timeout."""
    if connection.sock is None:
        return
    mask = os.urandom(4)
    payload = (1000).to_bytes(2, "big")
    masked = bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))
    connection.sock.sendall(_CLOSE_NORMAL + mask + masked)
