"""moto's server for the local stack, its own process: ``python -m tests.local.moto_server HOST PORT PORT``.

Its own process, so the DynamoDB traffic of every frame does not share one interpreter's lock with the
gateways and the simulated Plivo. Requests are applied one at a time: moto checks a write's condition and
applies it in two steps, and two threads interleaving them could both pass — DynamoDB never lets that happen
to one item, and the media route's correctness rests on it.
"""

from __future__ import annotations

import asyncio
import io
import json
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

STATS_PATH = "/_local/stats"
"""``GET`` here answers the count of requests by operation (``X-Amz-Target``) since the server started: how
the bench counts DynamoDB operations per frame across every container."""
FAULTS_PATH = "/_local/faults"
"""``POST {"throttle": N, "matching": "text"}`` here: the next N DynamoDB requests whose body contains the
text are answered as DynamoDB answers when it throttles (a rehearsed fault; counted as ``Throttled``)."""
THROTTLED = (
    b'{"__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException", '
    b'"message": "The level of configured provisioned throughput for the table was exceeded (rehearsal)"}'
)


@dataclass
class Throttles:
    """DynamoDB requests to answer as throttled: how many more, by what their body must contain."""

    remaining: dict[bytes, int] = field(default_factory=dict)

    def arm(self, body: bytes) -> None:
        order = json.loads(body or b"{}")
        matching = str(order.get("matching", "")).encode()
        self.remaining[matching] = self.remaining.get(matching, 0) + int(order.get("throttle", 0))

    def take(self, body: bytes) -> bool:
        for matching, left in self.remaining.items():
            if left > 0 and matching in body:
                self.remaining[matching] = left - 1
                return True
        return False

    def __bool__(self) -> bool:
        return any(left > 0 for left in self.remaining.values())


class Serialized:
    """A WSGI application that runs one request at a time (each is atomic, as DynamoDB's writes are), and
    counts them by operation."""

    def __init__(
        self,
        app: Callable[..., Iterable[bytes]],
        lock: threading.Lock,
        counts: Counter[str],
        throttles: Throttles,
    ) -> None:
        self._app = app
        self._lock = lock
        self._counts = counts
        self._throttles = throttles

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        if environ.get("PATH_INFO") == STATS_PATH:
            start_response("200 OK", [("Content-Type", "application/json")])
            return [json.dumps(dict(self._counts)).encode()]
        if environ.get("PATH_INFO") == FAULTS_PATH:
            with self._lock:
                self._throttles.arm(environ["wsgi.input"].read())
            start_response("204 No Content", [])
            return []
        target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
        with self._lock:
            if self._throttles and target.startswith("DynamoDB_"):
                body = environ["wsgi.input"].read()
                environ["wsgi.input"] = io.BytesIO(body)
                if self._throttles.take(body):
                    self._counts["Throttled"] += 1
                    start_response("400 Bad Request", [("Content-Type", "application/x-amz-json-1.0")])
                    return [THROTTLED]
            self._counts[target.rpartition(".")[2] or "other"] += 1
            return list(self._app(environ, start_response))


def _environ(request: web.Request, body: bytes) -> dict[str, Any]:
    """The WSGI environment of an aiohttp request (what moto's Flask applications read)."""
    host, _, port = (request.host or "localhost").partition(":")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": request.method,
        "SCRIPT_NAME": "",
        "PATH_INFO": request.path,
        "QUERY_STRING": request.query_string,
        "SERVER_NAME": host,
        "SERVER_PORT": port or "80",
        "SERVER_PROTOCOL": f"HTTP/{request.version.major}.{request.version.minor}",
        "REMOTE_ADDR": request.remote or "127.0.0.1",
        "CONTENT_TYPE": request.headers.get("Content-Type", ""),
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for name, value in request.headers.items():
        key = "HTTP_" + name.upper().replace("-", "_")
        if key not in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
            environ[key] = value
    return environ


def _served(app: Serialized) -> web.Application:
    """moto's WSGI application behind aiohttp: connections stay open between requests (werkzeug's own server
    closes every one, and a TCP connection per request doubled what each frame costs on both sides).
    Requests run on the event loop itself: they are applied one at a time anyway, and handing each to a
    thread pool cost a third of the server's CPU in thread switches and lock waits."""

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        answer: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]], _exc: Any = None) -> None:
            answer["status"], answer["headers"] = int(status.split()[0]), headers

        chunks = app(_environ(request, body), start_response)
        headers = [(name, value) for name, value in answer["headers"] if name.lower() != "content-length"]
        return web.Response(status=answer["status"], headers=headers, body=b"".join(chunks))

    served = web.Application(client_max_size=64 * 1024 * 1024)
    served.router.add_route("*", "/{tail:.*}", handle)
    return served


def _cache_moto_lookups() -> None:
    """moto repeats, on every request, work whose answer never changes while the server runs: listing its
    own package directory to route a request, listing a response class's methods by reflection, and
    building a JSONPath parser (a yacc table) for every event a rule's input transformer reads. Each is
    cached here: the same answers, about a sixth of the server's CPU during a campaign."""
    import functools

    import jsonpath_ng.ext
    from moto import backends
    from moto.core import responses

    modules = tuple(backends.list_of_moto_modules())
    cached = {
        (backends, "list_of_moto_modules"): lambda: modules,
        (responses, "method_names_from_class"): functools.cache(vars(responses)["method_names_from_class"]),
        (jsonpath_ng.ext, "parse"): functools.lru_cache(maxsize=1024)(vars(jsonpath_ng.ext)["parse"]),
    }
    for (module, name), replacement in cached.items():
        setattr(module, name, replacement)


def _cheap_retention_check() -> None:
    """For each message it hands out, moto's SQS builds every attribute of the queue (counting all its
    messages) to read one number, the retention period: a receive cost grew with the square of a queue's
    length, and a 1,000-contact campaign's dial queue made each poll the server's costliest request. The
    same check, reading that one number."""
    from moto.core.utils import unix_time
    from moto.sqs.models import Message, SQSBackend

    def valid(self: SQSBackend, queue_name: str, message: Message) -> bool:
        retention = int(self.get_queue(queue_name).message_retention_period)  # type: ignore[attr-defined]
        return bool(retention + message.sent_timestamp / 1000 > unix_time())  # type: ignore[operator]

    SQSBackend.is_message_valid_based_on_retention_period = valid  # type: ignore[method-assign]


def _cheap_send_check() -> None:
    """Each message sent builds every attribute of its queue (counting all its messages again) to read
    one: whether a FIFO queue deduplicates by content. The same answer, read directly, while a send runs."""
    from moto.sqs.models import Queue, SQSBackend

    full = Queue.attributes
    send = SQSBackend.send_message

    def dedup_only(queue: Queue) -> dict[str, Any]:
        if not queue.fifo_queue:
            return {}
        return {"ContentBasedDeduplication": str(bool(queue.content_based_deduplication)).lower()}  # type: ignore[attr-defined]

    def send_message(self: SQSBackend, *args: Any, **kwargs: Any) -> Any:
        Queue.attributes = property(dedup_only)  # type: ignore[assignment,method-assign]
        try:
            return send(self, *args, **kwargs)
        finally:
            Queue.attributes = full  # type: ignore[method-assign]

    SQSBackend.send_message = send_message  # type: ignore[method-assign]


def _no_table_sort_per_query() -> None:
    """moto answers every query by first sorting the whole table by primary key, then keeping the matches
    and sorting those again by the key the query reads (an index's, or the table's): the first sort is
    thrown away, and with a campaign's thousands of items it was the costliest part of each query. Queries
    skip it; the order of what they return is the second sort's, as before."""
    import types

    from moto.dynamodb.models.table import Table

    query = Table.query

    def unsorted_items(self: Table) -> list[Any]:
        if not self.range_key_attr:
            return list(self.items.values())
        return [item for items in self.items.values() for item in items.values()]

    def query_unsorted(self: Table, *args: Any, **kwargs: Any) -> Any:
        self.all_items = types.MethodType(unsorted_items, self)  # type: ignore[method-assign]
        try:
            return query(self, *args, **kwargs)
        finally:
            del self.all_items

    Table.query = query_unsorted  # type: ignore[method-assign]


def _fast_transactions() -> None:
    """moto backs a transaction up by deep-copying the whole table once per item it writes, so a campaign's
    transactions (a few contacts and the campaign's state) cost seconds once the table holds thousands of
    items, and every other request waits. Back up only the items the transaction touches instead, and put
    them back when it is cancelled: the same all-or-nothing result, in time proportional to the items.
    Safe because this server applies one request at a time."""
    import copy

    from moto.dynamodb import models

    original = models.DynamoDBBackend.transact_write_items

    class _NoTableCopy:
        @staticmethod
        def deepcopy(value: Any, memo: Any = None) -> Any:
            return value

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        try:
            touched = []
            for entry in transact_items:
                op = next(iter(entry.values()))
                table = self.get_table(op["TableName"])
                key = op.get("Key") or {
                    name: op["Item"][name] for name in (table.hash_key_attr, table.range_key_attr) if name
                }
                current = self.get_item(op["TableName"], key)
                touched.append(
                    (
                        op["TableName"],
                        key,
                        copy.deepcopy(current.to_json()["Attributes"]) if current else None,
                    )
                )
        except Exception:  # noqa: BLE001 - a malformed request: moto's own path says what is wrong
            return original(self, transact_items)
        setattr(models, "copy", _NoTableCopy)  # noqa: B010 - the module moto backs tables up with
        try:
            original(self, transact_items)
        except Exception:
            for table_name, key, attributes in reversed(touched):
                if attributes is None:
                    if self.get_item(table_name, key) is not None:
                        self.delete_item(table_name, key)
                else:
                    self.put_item(table_name, attributes)
            raise
        finally:
            setattr(models, "copy", copy)  # noqa: B010

    models.DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def _share_table_streams() -> None:
    """moto backs up every table a transaction touches with a deep copy, stream records included, and
    restores the copy when the transaction fails. With the calls table's stream on, each transaction then
    copied every change ever made (a stream connect took 200 ms after a few calls), and a failed one swapped
    in a new stream that readers' iterators no longer followed. The stream is shared instead of copied, and
    what a failed transaction added to it (its partial writes, and ``_fast_transactions``' restores) is
    taken back, as DynamoDB never streams a write that did not happen."""
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import StreamShard

    def shared(self: StreamShard, _memo: dict[int, Any]) -> StreamShard:
        return self

    StreamShard.__deepcopy__ = shared  # type: ignore[attr-defined]
    transact = DynamoDBBackend.transact_write_items

    def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
        shards = [table.stream_shard for table in self.tables.values() if table.stream_shard is not None]
        lengths = [len(shard.items) for shard in shards]
        try:
            transact(self, transact_items)
        except Exception:
            for shard, length in zip(shards, lengths, strict=True):
                del shard.items[length:]
            raise

    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def _stream_only_what_the_mapping_passes() -> None:
    """The calls table's stream has one reader, the call events mapping, whose filter (the template's
    ``FilterCriteria``) passes only changes that carry call facts. moto builds a stream record (both images,
    serialised) for every write, the media route's per-frame state included, and that CPU is what the local
    stack's real-time calls run short of; so a change the filter would refuse is not streamed here. What the
    reader sees is the same; the filter itself is tested on moto's full stream in the unit tests."""
    from moto.dynamodb.models.table import StreamShard

    from tests.support.event_patterns import matches
    from voiceagent.store.keys import SK, fact_change_filter

    pattern = fact_change_filter()
    add = StreamShard.add

    def add_passing(self: StreamShard, old: Any, new: Any) -> None:
        item = new if new is not None else old
        sort_key = getattr(getattr(item, "range_key", None), "value", None)
        event = "INSERT" if old is None else "REMOVE" if new is None else "MODIFY"
        if isinstance(sort_key, str) and not matches(
            pattern, {"eventName": event, "dynamodb": {"Keys": {SK: {"S": sort_key}}}}
        ):
            return
        add(self, old, new)

    StreamShard.add = add_passing  # type: ignore[method-assign]


def main(host: str, port: int, dynamodb_port: int) -> None:
    """Every service on ``port``; DynamoDB also on ``dynamodb_port``, through its own application: moto's
    dispatcher (which finds the service of each request) doubles the cost of the one call every frame makes.
    One process, so both share moto's state; one lock, so requests stay atomic across both ports."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    _cache_moto_lookups()
    _cheap_retention_check()
    _cheap_send_check()
    _no_table_sort_per_query()
    _fast_transactions()
    _share_table_streams()
    _stream_only_what_the_mapping_passes()
    lock, counts, throttles = threading.Lock(), Counter[str](), Throttles()
    everything = Serialized(DomainDispatcherApplication(create_backend_app), lock, counts, throttles)
    dynamodb = Serialized(create_backend_app("dynamodb"), lock, counts, throttles)

    async def serve() -> None:
        for app, at in ((everything, port), (dynamodb, dynamodb_port)):
            runner = web.AppRunner(_served(app), access_log=None)
            await runner.setup()
            await web.TCPSite(runner, host, at).start()
        await asyncio.Event().wait()

    asyncio.run(serve())


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
