"""Faults on our side of the wire, for the local stack: chosen webhook deliveries answered ``503`` by the HTTP
gateway, the way API Gateway answers when a function cannot run (throttled, or failing) — so the scenarios
show how Plivo's callback retries and fallback URL recover a call — or handled while DynamoDB throttles the
call's records (moto's server answers as DynamoDB does)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qs

from aiohttp import ClientSession, web

from tests.local.moto_server import FAULTS_PATH

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Faults:
    """``fail(path, caller, times)``: the next ``times`` deliveries to ``path`` of calls from ``caller``
    (their ``From``) get a 503."""

    def __init__(self, dynamodb_url: str | None = None) -> None:
        self._pending: Counter[tuple[str, str]] = Counter()
        self._throttles: dict[tuple[str, str], int] = {}
        self._dynamodb_url = dynamodb_url
        self.injected: Counter[str] = Counter()

    def fail(self, path: str, caller: str, times: int = 1) -> None:
        self._pending[(path, caller.lstrip("+"))] += times

    def throttle(self, path: str, caller: str, requests: int) -> None:
        """When ``path`` is next delivered for a call from ``caller``, DynamoDB throttles the next
        ``requests`` requests about that call (its CallUUID in the body) before the handler runs."""
        self._throttles[(path, caller.lstrip("+"))] = requests

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if (self._pending or self._throttles) and request.method == "POST":
            body = (await request.read()).decode(errors="replace")  # aiohttp keeps it for the handler
            form = parse_qs(body)
            caller = (form.get("From") or [""])[0].lstrip("+")
            if self._pending[(request.path, caller)] > 0:
                self._pending[(request.path, caller)] -= 1
                self.injected[request.path] += 1
                return web.json_response({"message": "Service Unavailable"}, status=503)
            requests = self._throttles.pop((request.path, caller), 0)
            call_uuid = (form.get("CallUUID") or [""])[0]
            if requests and call_uuid and self._dynamodb_url:
                self.injected[f"{request.path} dynamodb throttled"] += 1
                order = {"throttle": requests, "matching": call_uuid}
                async with ClientSession() as session:
                    await session.post(f"{self._dynamodb_url}{FAULTS_PATH}", json=order)
        return await handler(request)
