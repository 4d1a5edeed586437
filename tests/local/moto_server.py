"""moto's server for the local stack, in its own process: ``python -m tests.local.moto_server HOST PORT``.

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

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        with self._lock:
            return list(self._app(environ, start_response))


def main(host: str, port: int) -> None:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # it would log every request
    app = Serialized(DomainDispatcherApplication(create_backend_app))
    make_server(host, port, app, threaded=True).serve_forever()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
