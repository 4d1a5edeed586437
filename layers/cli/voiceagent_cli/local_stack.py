"""What `make local` runs and where, read from the same environment variables by the stack itself and by
``voiceagent doctor --local``, and the check that refuses settings that mix the simulated Plivo with the
real one.

Two modes (``LOCAL_PLIVO``):

- ``simulated`` (the default): a simulated Plivo places the calls, on this machine; nothing leaves it.
- ``live``: the real Plivo REST API with your credentials, and public URLs from a tunnel in front of the
  HTTP port, which serves the media WebSocket too (at ``/media``), so one tunnel is enough.

Mixing them misbehaves silently (a real call hung up through the simulator is recorded as "already ended"
while it goes on; a simulated call whose webhooks go to a tunnel), so the stack refuses to start instead.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from enum import StrEnum
from urllib.parse import urlsplit

from voiceagent.settings import PLIVO_AUTH_ID_PATTERN

LOCAL_AUTH_ID = "MALOCALSTACK00000000"
LOCAL_AUTH_TOKEN = "local-plivo-auth-token"  # noqa: S105 - the simulator's, not a secret
AUTH_TOKEN_PARAMETER = "/plivo-voice-agent/local/auth-token"  # noqa: S105 - a parameter name
STREAM_TOKEN_KEY_PARAMETER = "/plivo-voice-agent/local/stream-token-key"  # noqa: S105 - a parameter name
"""The local stack keys stream tokens with a dedicated key, as a stack with your own agent must."""
LOCAL_STREAM_TOKEN_KEY = "local-stream-token-key"  # noqa: S105 - moto's, not a secret
AGENT_WEBHOOK_KEY_PARAMETER = "/plivo-voice-agent/local/agent-webhook-key"
LOCAL_AGENT_WEBHOOK_KEY = "local-agent-webhook-key"
AGENT_STREAM_PATH = "/stream"
AGENT_WEBHOOK_PATH = "/voicemail"
"""Where the local stack's example agent (examples/external_agent) takes streams and notifications."""
REGION = "us-east-1"
MEDIA_PATH = "/media"
"""Where the HTTP port also serves the media WebSocket (one port, one tunnel)."""
PORTS = {
    "LOCAL_HTTP_PORT": 3000,
    "LOCAL_WS_PORT": 3001,
    "LOCAL_PLIVO_PORT": 3002,
    "LOCAL_MOTO_PORT": 3003,
    "LOCAL_MOTO_DYNAMODB_PORT": 3004,
    "LOCAL_AGENT_PORT": 3005,
}
_PRIVATE_SUFFIXES = (".localhost", ".local", ".internal", ".lan", ".home", ".localdomain")


class PlivoMode(StrEnum):
    SIMULATED = "simulated"
    LIVE = "live"


class MixedSettings(Exception):
    """The environment mixes the simulated Plivo and the real one, or cannot work: each problem, its fix."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(f"  - {problem}" for problem in problems))


def plivo_mode(environ: Mapping[str, str]) -> PlivoMode:
    raw = environ.get("LOCAL_PLIVO", "").strip().lower() or PlivoMode.SIMULATED.value
    try:
        return PlivoMode(raw)
    except ValueError:
        raise MixedSettings([f"LOCAL_PLIVO={raw!r}: use simulated (the default) or live"]) from None


def public_urls(environ: Mapping[str, str], host: str, http_port: int, ws_port: int) -> tuple[str, str]:
    """The HTTP base URL and the WebSocket URL the functions hand Plivo.

    Unset, they are this machine's ports. Behind a tunnel only ``LOCAL_PUBLIC_BASE_URL`` is needed: the
    WebSocket URL follows it (``wss://<tunnel>/media``, served by the same port)."""
    base = (environ.get("LOCAL_PUBLIC_BASE_URL") or f"http://{host}:{http_port}").rstrip("/")
    websocket = environ.get("LOCAL_WEBSOCKET_URL") or (
        f"wss://{base.removeprefix('https://')}{MEDIA_PATH}"
        if base.startswith("https://")
        else f"ws://{host}:{ws_port}"
    )
    return base, websocket


def _unreachable(url: str, scheme: str) -> str | None:
    """Why Plivo (on the internet) cannot reach ``url``, if it cannot."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme != scheme:
        return f"it is not {scheme}://"
    if not host:
        return "it has no host"
    if host == "localhost" or host.endswith(_PRIVATE_SUFFIXES):
        return f"{host} is a name only this network knows"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if not address.is_global:
        return f"{host} is not an address on the internet"
    return None


def _is_local(url: str) -> bool:
    return _unreachable(url, urlsplit(url).scheme) is not None


def mixed_settings(
    environ: Mapping[str, str], mode: PlivoMode, base_url: str, websocket_url: str
) -> list[str]:
    """What in the environment does not fit ``mode``, each with its fix (empty: nothing)."""
    auth_id = environ.get("PLIVO_AUTH_ID", "")
    token = environ.get("PLIVO_AUTH_TOKEN", "")
    problems = []
    if mode is PlivoMode.SIMULATED:
        real_id = bool(auth_id) and auth_id != LOCAL_AUTH_ID
        if real_id or (token and token != LOCAL_AUTH_TOKEN):
            problems.append(
                "PLIVO_AUTH_ID / PLIVO_AUTH_TOKEN are set to real-looking credentials, but Plivo is "
                "simulated (LOCAL_PLIVO is not live): a real call hung up through the simulator would go "
                "on. Set LOCAL_PLIVO=live to use real Plivo, or unset PLIVO_AUTH_ID and PLIVO_AUTH_TOKEN"
            )
        for name, url in (("LOCAL_PUBLIC_BASE_URL", base_url), ("LOCAL_WEBSOCKET_URL", websocket_url)):
            if environ.get(name) and not _is_local(url):
                problems.append(
                    f"{name}={url} is a public URL, for real Plivo, but Plivo is simulated: set "
                    f"LOCAL_PLIVO=live (README: Call your own phone), or unset {name}"
                )
        return problems
    if not re.fullmatch(PLIVO_AUTH_ID_PATTERN, auth_id) or auth_id == LOCAL_AUTH_ID:
        problems.append(
            "PLIVO_AUTH_ID: set your account's Auth ID (Plivo console, overview page: MA or SA and 18 "
            "upper-case letters or digits)"
        )
    if not token or token == LOCAL_AUTH_TOKEN:
        problems.append("PLIVO_AUTH_TOKEN: set your account's Auth Token (Plivo console, overview page)")
    if not environ.get("LOCAL_PUBLIC_BASE_URL"):
        problems.append(
            "LOCAL_PUBLIC_BASE_URL: start a tunnel to the HTTP port (cloudflared tunnel --url "
            "http://localhost:3000) and set LOCAL_PUBLIC_BASE_URL to the https:// URL it prints"
        )
    else:
        for name, url, scheme in (
            ("LOCAL_PUBLIC_BASE_URL", base_url, "https"),
            ("LOCAL_WEBSOCKET_URL", websocket_url, "wss"),
        ):
            why = _unreachable(url, scheme)
            if why:
                problems.append(
                    f"{name}={url}: Plivo cannot reach it ({why}); use the tunnel's public {scheme}:// URL"
                )
    return problems
