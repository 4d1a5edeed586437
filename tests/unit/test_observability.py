"""Every handler flushes the metrics its invocation added, before it returns.

Powertools keeps one metrics buffer per process and only ``log_metrics`` empties it: a handler without it
would leave e.g. ``PlivoApiErrors`` to surface later inside another invocation's output, or only once 100
had piled up. Each case drives one handler down a path that adds a buffered metric and reads the EMF lines
it printed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import responses

from functions.answer import app as answer_app
from functions.calls import app as calls_app
from functions.hangup import app as hangup_app
from functions.machine_detection import app as md_app
from functions.media import app as media_app
from functions.stream_status import app as stream_app
from functions.voicemail import app as voicemail_app
from tests.support import constants as c
from tests.support import plivo_api as api
from tests.support import seed
from tests.support.events import load_event
from voiceagent import observability


def metric_names(output: str) -> set[str]:
    names: set[str] = set()
    for line in output.splitlines():
        if line.startswith('{"_aws"'):
            document = json.loads(line)
            for directive in document["_aws"]["CloudWatchMetrics"]:
                names.update(metric["Name"] for metric in directive["Metrics"])
    return names


def _answer(ctx: Any, plivo: responses.RequestsMock) -> None:
    answer_app.lambda_handler(load_event("answer_outbound"), ctx)


def _calls(ctx: Any, plivo: responses.RequestsMock) -> None:
    plivo.post(api.CREATE_CALL, json=api.created(), status=201)
    calls_app.lambda_handler(load_event("calls_place"), ctx)


def _hangup(ctx: Any, plivo: responses.RequestsMock) -> None:
    hangup_app.lambda_handler(load_event("hangup_human"), ctx)


def _voicemail(ctx: Any, plivo: responses.RequestsMock) -> None:
    voicemail_app.lambda_handler(load_event("voicemail"), ctx)


def _machine_detection(ctx: Any, plivo: responses.RequestsMock) -> None:
    seed.placement("transfer")
    seed.answered(ctx)
    plivo.post(api.call_url(), json={"error": "server error"}, status=500)
    md_app.lambda_handler(load_event("machine_detection_machine"), ctx)


def _stream_status(ctx: Any, plivo: responses.RequestsMock) -> None:
    stream_app.lambda_handler(load_event("stream_status_dropped_stream"), ctx)
    stream_app.lambda_handler(load_event("stream_status_dropped_stream"), ctx)  # a replay


def _media(ctx: Any, plivo: responses.RequestsMock) -> None:
    seed.answered(ctx)
    seed.streaming(ctx)
    plivo.delete(api.call_url(), json={"error": "server error"}, status=500)
    for name in ("media_start", "media_dtmf_end_call", "media_played_goodbye"):
        media_app.lambda_handler(load_event(name), ctx)


CASES: dict[str, tuple[Callable[[Any, responses.RequestsMock], None], str]] = {
    "answer": (_answer, "CallsAnswered"),
    "calls": (_calls, "CallsPlaced"),
    "hangup": (_hangup, "CallsCompleted"),
    "voicemail": (_voicemail, "VoicemailsServed"),
    "machine_detection": (_machine_detection, "PlivoApiErrors"),
    "stream_status": (_stream_status, "WebhookReplays"),
    "media": (_media, "PlivoApiErrors"),
}


@pytest.mark.parametrize("handler", sorted(CASES))
def test_each_handler_flushes_what_it_added(
    handler: str,
    aws_stack: Any,
    plivo_rest: responses.RequestsMock,
    lambda_context: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    drive, metric = CASES[handler]
    capsys.readouterr()  # what seeding printed is not this handler's

    drive(lambda_context, plivo_rest)

    assert metric in metric_names(capsys.readouterr().out)
    assert observability.metrics.metric_set == {}  # nothing left behind for the next invocation


def test_buffered_metrics_carry_the_stage(
    aws_stack: Any, lambda_context: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    answer_app.lambda_handler(load_event("answer_outbound"), lambda_context)

    (line,) = [line for line in capsys.readouterr().out.splitlines() if '"CallsAnswered"' in line]
    document = json.loads(line)
    assert document["stage"] == c.STAGE
    assert ["stage", "service"] in document["_aws"]["CloudWatchMetrics"][0]["Dimensions"]


def test_with_metrics_off_nothing_piles_up_over_warm_invocations(
    aws_stack: Any, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Powertools' flush keeps the buffer when metrics are disabled; left alone, a hundred values later the
    next metric forces a serialisation that fails (found by the attack on the local stack)."""
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")

    for _ in range(3):
        answer_app.lambda_handler(load_event("answer_outbound"), lambda_context)

    assert observability.metrics.metric_set == {}
