"""Local stand-ins for API Gateway: an HTTP API and a WebSocket API with its @connections management API.

They turn real HTTP requests and WebSocket traffic into the same events API Gateway sends (HTTP API v2,
WebSocket $connect / $default / $disconnect) and invoke the real, unchanged Lambda handlers in Lambda-like
containers (``lambda_pool``): separate processes, any idle one per invocation. A handler posting back
through @connections reaches this event loop over real HTTP while it runs.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from tests.local.lambda_pool import ContainerCrashed, FunctionError, Lambdas
from voiceagent_cli.local_stack import MEDIA_PATH

log = logging.getLogger("local.gateway")

HTTP_ROUTES: tuple[tuple[str, str], ...] = (
    ("/plivo/answer", "answer"),
    ("/plivo/answer-fallback", "answer"),
    ("/plivo/machine-detection", "machine_detection"),
    ("/plivo/voicemail", "voicemail"),
    ("/plivo/stream-status", "stream_status"),
    ("/plivo/stream-ended", "answer"),
    ("/plivo/hangup", "hangup"),
    ("/calls", "calls"),
    ("/campaigns", "campaigns"),
    ("/dnc", "campaigns"),
)
"""Path (or path prefix, for /calls/{call_id}…) → function, as template.yaml wires them."""

WEBSOCKET_FUNCTION = "media"
"""Every frame ($default)."""
CONNECT_FUNCTION = "stream_connect"
"""$connect and $disconnect."""
EVENT_FUNCTIONS = ("campaign_dialer", "campaign_outcomes", "campaign_sweeper", "call_events")
"""Functions invoked by event sources (queues, schedules), not by a gateway."""
FUNCTIONS = {
    name: f"functions.{name}.app"
    for name in dict.fromkeys(
        (
            *(function for _path, function in HTTP_ROUTES),
            WEBSOCKET_FUNCTION,
            CONNECT_FUNCTION,
            *EVENT_FUNCTIONS,
        )
    )
}
"""Every function the gateways invoke → its handler module."""

INTERNAL_ERROR = {"statusCode": 502, "body": '{"message":"Internal Server Error"}'}
"""What API Gateway answers when the Lambda function failed or its container died."""


@dataclass
class Invocations:
    """Counts of handler invocations, for the benchmark and the load reports."""

    counts: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def record(self, name: str, elapsed: float) -> None:
        self.counts[name] = self.counts.get(name, 0) + 1
        self.seconds[name] = self.seconds.get(name, 0.0) + elapsed


class Gateway:
    """Both APIs on one event loop: ``http_app`` (webhooks, /calls) and ``ws_app`` (streams, @connections)."""

    def __init__(self, *, ws_domain: str, lambdas: Lambdas) -> None:
        self._lambdas = lambdas
        self._ws_domain = ws_domain
        self._sockets: dict[str, web.WebSocketResponse] = {}
        self._ids = itertools.count(1)
        self.invocations = Invocations()
        self.frame_latencies: list[float] = []
        self.failed_invocations = 0
        self.access_log: Callable[[str], None] | None = None
        """Told of each HTTP request and its answer (live mode: Plivo's webhooks through the tunnel)."""

    def priming_events(self) -> dict[str, dict[str, Any]]:
        """An invocation for each function that does what a first real one does (reach DynamoDB, read the
        auth token) and changes nothing: a frame and a disconnect of a connection nobody has, and an unsigned
        webhook (refused)."""
        http = {
            "version": "2.0",
            "rawPath": "/plivo/answer",
            "rawQueryString": "",
            "headers": {"content-type": "application/x-www-form-urlencoded"},
            "requestContext": {
                "domainName": "localhost",
                "http": {"method": "POST", "path": "/plivo/answer", "sourceIp": "127.0.0.1"},
                "stage": "$default",
            },
            "body": "CallUUID=warm-up",
            "isBase64Encoded": False,
        }
        events = {function: http for _path, function in HTTP_ROUTES}
        events[WEBSOCKET_FUNCTION] = self._ws_event("$default", "warm-up", body='{"event":"stop"}')
        events[CONNECT_FUNCTION] = self._ws_event("$disconnect", "warm-up")
        events.update({function: {"Records": []} for function in EVENT_FUNCTIONS})
        events["campaign_sweeper"] = {"source": "aws.events", "detail-type": "Warm Up", "detail": {}}
        return events

    async def invoke(self, function: str, event: dict[str, Any]) -> dict[str, Any]:
        """Invoke a function as an event source would (a failed invocation answers 502, as here)."""
        return await self._invoke(function, event)

    async def _invoke(self, function: str, event: dict[str, Any]) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            return await self._lambdas.invoke(function, event)
        except (FunctionError, ContainerCrashed) as exc:
            self.failed_invocations += 1
            log.error("%s invocation failed: %s", function, exc)
            return dict(INTERNAL_ERROR)
        finally:
            self.invocations.record(function, time.perf_counter() - started)

    # ------------------------------------------------------------------ HTTP API

    def http_app(self) -> web.Application:
        app = web.Application(client_max_size=1024 * 1024)
        # The media WebSocket on the HTTP port too: one port (one tunnel) serves Plivo everything.
        app.router.add_get(MEDIA_PATH, self._websocket)
        app.router.add_route("*", "/{tail:.*}", self._http)
        return app

    async def _http(self, request: web.Request) -> web.StreamResponse:
        function = next(
            (
                function
                for path, function in HTTP_ROUTES
                if request.path == path or request.path.startswith(path + "/")
            ),
            None,
        )
        if function is None:
            return web.json_response({"message": "Not Found"}, status=404)
        body = await request.read()
        event = {
            "version": "2.0",
            "routeKey": f"{request.method} {request.path}",
            "rawPath": request.path,
            "rawQueryString": request.query_string,
            "headers": {key.lower(): value for key, value in request.headers.items()},
            "requestContext": {
                "accountId": "000000000000",
                "apiId": "local",
                "domainName": request.host,
                "domainPrefix": "local",
                "http": {
                    "method": request.method,
                    "path": request.path,
                    "protocol": "HTTP/1.1",
                    "sourceIp": request.remote or "127.0.0.1",
                    "userAgent": request.headers.get("User-Agent", ""),
                },
                "requestId": secrets.token_hex(8),
                "routeKey": f"{request.method} {request.path}",
                "stage": "$default",
                "timeEpoch": int(time.time() * 1000),
            },
            "isBase64Encoded": True,
        }
        if request.query:
            event["queryStringParameters"] = dict(request.query)
        if body:
            event["body"] = base64.b64encode(body).decode()
        result = await self._invoke(function, event)
        response_body = result.get("body") or ""
        if result.get("isBase64Encoded"):
            response_body = base64.b64decode(response_body).decode()
        headers = dict(result.get("headers") or {})
        status = int(result.get("statusCode", 200))
        if self.access_log is not None:
            self.access_log(f"{request.method} {request.path} -> {status}")
        return web.Response(status=status, text=response_body, headers=headers)

    # ------------------------------------------------------------------ WebSocket API

    def ws_app(self) -> web.Application:
        app = web.Application()
        app.router.add_route(
            "POST", "/{stage_prefix:.*}@connections/{connection_id}", self._post_to_connection
        )
        app.router.add_route("GET", "/{stage_prefix:.*}@connections/{connection_id}", self._get_connection)
        app.router.add_route(
            "DELETE", "/{stage_prefix:.*}@connections/{connection_id}", self._delete_connection
        )
        app.router.add_route("GET", "/{tail:.*}", self._websocket)
        return app

    def _ws_event(self, route: str, connection_id: str, **extra: Any) -> dict[str, Any]:
        event_type = {"$connect": "CONNECT", "$disconnect": "DISCONNECT"}.get(route, "MESSAGE")
        return {
            "requestContext": {
                "routeKey": route,
                "eventType": event_type,
                "connectionId": connection_id,
                "domainName": self._ws_domain,
                "stage": "local",
                "apiId": "local",
                "requestId": secrets.token_hex(8),
                "requestTimeEpoch": int(time.time() * 1000),
                "messageDirection": "IN",
            },
            "isBase64Encoded": False,
            **extra,
        }

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        connection_id = base64.b64encode(f"local-{next(self._ids)}-{secrets.token_hex(4)}".encode()).decode()
        connect = self._ws_event(
            "$connect",
            connection_id,
            headers=dict(request.headers.items()),
            queryStringParameters=dict(request.query),
        )
        result = await self._invoke(CONNECT_FUNCTION, connect)
        if result.get("statusCode") != 200:
            return web.Response(status=int(result.get("statusCode", 500)), text="Forbidden")
        socket = web.WebSocketResponse(max_msg_size=128 * 1024)
        await socket.prepare(request)
        self._sockets[connection_id] = socket
        in_flight: set[asyncio.Task[None]] = set()
        try:
            async for message in socket:
                if message.type is not WSMsgType.TEXT:
                    continue
                # API Gateway invokes the integration for each message without waiting for the previous one:
                # one call's frames can be in flight at once, on different containers.
                task = asyncio.create_task(self._frame(connection_id, message.data))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
        finally:
            self._sockets.pop(connection_id, None)
            if in_flight:
                await asyncio.gather(*in_flight, return_exceptions=True)
            await self._invoke(CONNECT_FUNCTION, self._ws_event("$disconnect", connection_id))
        return socket

    async def _frame(self, connection_id: str, body: str) -> None:
        started = time.perf_counter()
        await self._invoke(WEBSOCKET_FUNCTION, self._ws_event("$default", connection_id, body=body))
        self.frame_latencies.append(time.perf_counter() - started)

    async def _post_to_connection(self, request: web.Request) -> web.Response:
        socket = self._sockets.get(request.match_info["connection_id"])
        if socket is None or socket.closed:
            return web.json_response(
                {"message": "Gone"}, status=410, headers={"x-amzn-ErrorType": "GoneException"}
            )
        await socket.send_str((await request.read()).decode())
        return web.Response(status=200)

    async def _get_connection(self, request: web.Request) -> web.Response:
        if request.match_info["connection_id"] not in self._sockets:
            return web.json_response(
                {"message": "Gone"}, status=410, headers={"x-amzn-ErrorType": "GoneException"}
            )
        return web.json_response({"connectedAt": "", "identity": {"sourceIp": "127.0.0.1"}})

    async def _delete_connection(self, request: web.Request) -> web.Response:
        socket = self._sockets.pop(request.match_info["connection_id"], None)
        if socket is None:
            return web.json_response(
                {"message": "Gone"}, status=410, headers={"x-amzn-ErrorType": "GoneException"}
            )
        await socket.close()
        return web.Response(status=204)

    async def close_all(self) -> None:
        for socket in list(self._sockets.values()):
            await socket.close()
