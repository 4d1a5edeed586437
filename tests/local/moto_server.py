"""moto's server for the local stack, its own process: ``python -m tests.local.moto_server HOST PORT PORT``.

Its own process, so the DynamoDB traffic of every frame does not share one interpreter's lock with the
gateways and the simulated Plivo. Requests are applied one at a time: moto checks a write's condition and
applies it in two steps, and two threads interleaving them could both pass — DynamoDB never lets that happen
to one item, and the media route's correctness rests on it.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any


class Serialized:
    """A WSGI application that runs one request at a time (each is atomic, as DynamoDB's writes are)."""

    def __init__(self, app: Callable[..., Iterable[bytes]], lock: threading.Lock) -> None:
        self._app = app
        self._lock = lock

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        with self._lock:
            return list(self._app(environ, start_response))


def main(host: str, port: int, dynamodb_port: int) -> None:
    """Every service on ``port``; DynamoDB also on ``dynamodb_port``, through its own application: moto's
    dispatcher (which finds the service of each request) doubles the cost of the one call every frame makes.
    One process, so both share moto's state; one lock, so requests stay atomic across both ports."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # it would log every request
    lock = threading.Lock()
    everything = Serialized(DomainDispatcherApplication(create_backend_app), lock)
    dynamodb = Serialized(create_backend_app("dynamodb"), lock)
    fast = make_server(host, dynamodb_port, dynamodb, threaded=True)
    threading.Thread(target=fast.serve_forever, name="dynamodb", daemon=True).start()
    make_server(host, port, everything, threaded=True).serve_forever()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
