"""moto's server for the local stack, its own process: ``python -m tests.local.moto_server HOST PORT PORT``.

Its own process, so the DynamoDB traffic of every frame does not share one interpreter's lock with the
gateways and the simulated Plivo. Requests are applied one at a time: moto checks a write's condition and
applies it in two steps, and two threads interleaving them could both pass — DynamoDB never lets that happen
to one item, and the media route's correctness rests on it.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

STATS_PATH = "/_local/stats"
"""``GET`` here answers the count of requests by operation (``X-Amz-Target``) since the server started: how
the bench counts DynamoDB operations per frame across every container."""


class Serialized:
    """A WSGI application that runs one request at a time (each is atomic, as DynamoDB's writes are), and
    counts them by operation."""

    def __init__(
        self, app: Callable[..., Iterable[bytes]], lock: threading.Lock, counts: Counter[str]
    ) -> None:
        self._app = app
        self._lock = lock
        self._counts = counts

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        if environ.get("PATH_INFO") == STATS_PATH:
            start_response("200 OK", [("Content-Type", "application/json")])
            return [json.dumps(dict(self._counts)).encode()]
        target = str(environ.get("HTTP_X_AMZ_TARGET", "")).rpartition(".")[2]
        with self._lock:
            self._counts[target or "other"] += 1
            return list(self._app(environ, start_response))


def main(host: str, port: int, dynamodb_port: int) -> None:
    """Every service on ``port``; DynamoDB also on ``dynamodb_port``, through its own application: moto's
    dispatcher (which finds the service of each request) doubles the cost of the one call every frame makes.
    One process, so both share moto's state; one lock, so requests stay atomic across both ports."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # it would log every request
    lock, counts = threading.Lock(), Counter[str]()
    everything = Serialized(DomainDispatcherApplication(create_backend_app), lock, counts)
    dynamodb = Serialized(create_backend_app("dynamodb"), lock, counts)
    fast = make_server(host, dynamodb_port, dynamodb, threaded=True)
    threading.Thread(target=fast.serve_forever, name="dynamodb", daemon=True).start()
    make_server(host, port, everything, threaded=True).serve_forever()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
