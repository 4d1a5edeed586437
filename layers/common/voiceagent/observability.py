"""Logs, metrics and traces, set up in one place for every handler.

- ``metrics``: the one Powertools ``Metrics`` (namespace and service from the environment, ``stage`` as a
  default dimension). Powertools keeps one buffer for all ``Metrics`` objects and only ``log_metrics``
  flushes it, so every handler is wrapped by ``instrumented``, which flushes what its invocation added.
- ``count``: one metric with dimensions of its own (policy, outcome, level…), emitted at once.
- X-Ray through Powertools' Tracer only when switched on: creating a ``Tracer`` imports the X-Ray SDK (~180 ms
  of a cold start) even when tracing is disabled, so with ``POWERTOOLS_TRACE_DISABLED=true`` (the template's
  default; Lambda's active tracing still records every invocation) the SDK is never imported.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]

metrics = Metrics()


def _stage() -> str:
    # The environment variable, not the validated settings: a handler whose settings are invalid must still
    # be able to flush the metric that says so.
    return os.environ.get("STAGE", "") or "unknown"


def add(name: str, value: float = 1) -> None:
    """Add to a count flushed when the handler returns (dimensions: service, stage)."""
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def count(name: str, **dimensions: str) -> None:
    """One metric dimensioned by stage and ``dimensions``, emitted at once. Respects
    POWERTOOLS_METRICS_DISABLED, which ``single_metric`` itself ignores."""
    if is_metrics_disabled():
        return
    with single_metric(
        name=name, unit=MetricUnit.Count, value=1, default_dimensions={"stage": _stage()}
    ) as metric:
        for key, value in dimensions.items():
            metric.add_dimension(name=key, value=value)


def configuration_error(logger: Logger, exc: Exception, **context: str) -> None:
    """One log line and one metric (``ConfigurationErrors``) for a deployment mistake (a missing SSM
    parameter, an invalid variable), naming what to fix: no retry can help, so it must be loud."""
    logger.error(
        "configuration error",
        extra={"error": str(exc), "parameter": getattr(exc, "parameter", None), **context},
    )
    add("ConfigurationErrors")


def _tracing_enabled() -> bool:
    return os.environ.get("POWERTOOLS_TRACE_DISABLED", "false").strip().lower() not in {"true", "1"}


def traced(handler: Handler) -> Handler:
    """Capture the handler with Powertools' Tracer, created on first use and only when tracing is on."""

    @functools.lru_cache(maxsize=1)
    def wrapped() -> Handler:
        if not _tracing_enabled():
            return handler
        from aws_lambda_powertools import Tracer

        captured: Handler = Tracer().capture_lambda_handler(handler)
        return captured

    @functools.wraps(handler)
    def invoke(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return wrapped()(event, context)

    return invoke


def instrumented(logger: Logger) -> Callable[[Handler], Handler]:
    """Wrap a Lambda handler: Lambda context in every log line, tracing when on, metrics flushed on return."""

    def decorate(handler: Handler) -> Handler:
        run = traced(handler)

        @functools.wraps(handler)
        def invoke(event: dict[str, Any], context: Any) -> dict[str, Any]:
            metrics.set_default_dimensions(stage=_stage())
            try:
                return run(event, context)
            finally:
                if is_metrics_disabled():
                    # Powertools' flush keeps the buffer when metrics are off: it would grow over warm
                    # invocations until a hundred values force a serialisation, which then fails.
                    metrics.clear_metrics()
                elif metrics.metric_set:
                    # Only what there is: Powertools' log_metrics would also print a warning for every
                    # invocation that added nothing, ~50 lines a second per call on the media route.
                    metrics.flush_metrics()

        wrapped: Handler = logger.inject_lambda_context(clear_state=True)(invoke)
        return wrapped

    return decorate
