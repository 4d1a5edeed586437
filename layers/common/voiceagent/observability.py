"""X-Ray tracing through Powertools' Tracer, only when it is switched on.

Creating a ``Tracer`` imports the X-Ray SDK (~180 ms of a cold start) even when tracing is disabled, so the
handlers wrap themselves with ``traced`` instead: with ``POWERTOOLS_TRACE_DISABLED=true`` (the template's
default; Lambda's own active tracing still records every invocation) the SDK is never imported; otherwise a
Tracer is created on the first invocation and captures the handler.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def _enabled() -> bool:
    return os.environ.get("POWERTOOLS_TRACE_DISABLED", "false").strip().lower() not in {"true", "1"}


def traced(handler: Handler) -> Handler:
    @functools.lru_cache(maxsize=1)
    def wrapped() -> Handler:
        if not _enabled():
            return handler
        from aws_lambda_powertools import Tracer

        captured: Handler = Tracer().capture_lambda_handler(handler)
        return captured

    @functools.wraps(handler)
    def invoke(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return wrapped()(event, context)

    return invoke
