"""Faults on our side of the wire, for the local stack: chosen webhook deliveries answered ``503`` by the HTTP
gateway, the way API Gateway answers when a function cannot run (throttled, or failing) — so the scenarios
show how Plivo's callback retries and fallback URL recover a call."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qs

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Faults:
    """``fail(path, caller, times)``: the next ``times`` deliveries to ``path`` of calls from ``caller``
    (their ``From``) get a 503."""

    def __init__(self) -> None:
        self._pending: Counter[tuple[str, str]] = Counter()
        self.injected: Counter[str] = Counter()

    def fail(self, path: str, caller: str, times: int = 1) -> None:
        self._pending[(path, caller.lstrip("+"))] += times

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if self._pending and request.method == "POST":
            body = (await request.read()).decode(errors="replace")  # aiohttp keeps it for the handler
            caller = (parse_qs(body).get("From") or [""])[0].lstrip("+")
            if self._pending[(request.path, caller)] > 0:
                self._pending[(request.path, caller)] -= 1
                self.injected[request.path] += 1
                return web.json_response({"message": "Service Unavailable"}, status=503)
        return await handler(request)
