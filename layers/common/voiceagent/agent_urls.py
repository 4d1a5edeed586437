"""What the URLs of a user's own agent may be: the WebSocket the answer XML streams to, and the webhook the
agent policy notifies. One set of rules for the stack's parameters and the per-call fields of ``POST /calls``.

Both must be reachable by their callers over TLS — Plivo connects to the stream, this stack posts to the
webhook — so only ``wss://`` and ``https://``, except plain ``ws://`` / ``http://`` to this machine, which
only the local stack (and an agent running beside it) can use. No credentials in the URL (they would end up in
Plivo's logs and ours), no fragment (never sent), a bounded length, and for the stream URL no query parameter
named like the per-call token's, which the answer XML appends.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

MAX_URL_LENGTH = 1024
"""Characters of an agent URL as given (the stream URL grows by ~150 with the per-call token)."""
TOKEN_PARAMETERS = ("call_uuid", "expires", "jti", "token")
"""The stream token's query parameters (``voiceagent.streams.tokens``): an agent URL must not use them."""
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})

STREAM_URL_WORDS = (
    f"a wss:// URL of your agent's WebSocket (ws:// only to localhost or 127.0.0.1), at most "
    f"{MAX_URL_LENGTH} characters, without credentials, a fragment, or the query parameters "
    f"{', '.join(TOKEN_PARAMETERS)}"
)
WEBHOOK_URL_WORDS = (
    f"an https:// URL of your agent's webhook (http:// only to localhost or 127.0.0.1), at most "
    f"{MAX_URL_LENGTH} characters, without credentials or a fragment"
)


def _problem(url: str, secure: str, plain: str) -> str | None:
    """Why ``url`` is not a ``secure``:// URL (or ``plain``:// to this machine), or None when it is."""
    if len(url) > MAX_URL_LENGTH:
        return f"longer than {MAX_URL_LENGTH} characters"
    if any(char.isspace() or not char.isprintable() for char in url):
        return "contains spaces or control characters"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "not a URL"
    host = (parts.hostname or "").lower()
    if parts.scheme not in (secure, plain) or not host:
        return f"not a {secure}:// URL"
    if parts.scheme == plain and host not in LOCAL_HOSTS:
        return f"{plain}:// is allowed only to localhost or 127.0.0.1 (the local stack); use {secure}://"
    if parts.username is not None or parts.password is not None:
        return "carries credentials"
    if "#" in url:
        return "has a fragment"
    if port == 0:
        return "has port 0"
    return None


def stream_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be an agent's stream URL, or None when it can."""
    problem = _problem(url, "wss", "ws")
    if problem:
        return problem
    taken = sorted({name for name, _ in parse_qsl(urlsplit(url).query)} & set(TOKEN_PARAMETERS))
    if taken:
        return f"uses the stream token's query parameter(s) {', '.join(taken)}"
    return None


def webhook_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be an agent's webhook URL, or None when it can."""
    return _problem(url, "https", "http")


def shown_url(url: str) -> str:
    """The URL without its query (which may carry the agent's own routing or keys), for records and logs."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"
