"""Property-based hardening tests: whatever arrives at a webhook or the media WebSocket, the answer is a clear
4xx (on the WebSocket: a logged, dropped frame and status 200), never a 500 or an exception, and bad input
changes nothing: no item in the table, no call to Plivo.

Each test builds its moto world once (the ``aws_stack`` fixture) and runs its examples inside it, so the
examples of one test share that world. The bugs these properties found are fixed; each keeps a minimal
regression test at the end of this file.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import pytest
import responses
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from functions.answer import app as answer_app
from functions.calls import app as calls_app
from functions.hangup import app as hangup_app
from functions.machine_detection import app as machine_detection_app
from functions.media import app as media_app
from functions.stream_connect import app as connect_app
from functions.stream_status import app as stream_status_app
from functions.voicemail import app as voicemail_app
from tests.support import constants as c
from tests.support import make_events as me
from tests.support import plivo_api as api
from tests.support import seed
from voiceagent import routes
from voiceagent.http_api import MAX_BODY_BYTES
from voiceagent.plivo import stream_protocol
from voiceagent.settings import get_settings

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]

HANDLERS: dict[str, Handler] = {
    routes.ANSWER: answer_app.lambda_handler,
    routes.MACHINE_DETECTION: machine_detection_app.lambda_handler,
    routes.VOICEMAIL: voicemail_app.lambda_handler,
    routes.STREAM_STATUS: stream_status_app.lambda_handler,
    routes.HANGUP: hangup_app.lambda_handler,
}
WEBHOOK_PATHS = list(HANDLERS)

BASE_FORMS: dict[str, dict[str, str]] = {
    routes.ANSWER: me.ANSWER_FORM,
    routes.MACHINE_DETECTION: me.MACHINE_FORM,
    routes.VOICEMAIL: {**me.CALL_FORM, "CallStatus": "in-progress"},
    routes.STREAM_STATUS: {**me.STREAM_FORM, "Event": "DroppedStream", "Timestamp": "2024-11-24 12:30:40"},
    routes.HANGUP: me.HANGUP_FORM,
}
"""A valid, signed-as-Plivo-would form per webhook: the starting point the signed properties mutate."""

PLIVO_FIELDS = sorted(
    {name for form in BASE_FORMS.values() for name in form}
    | {"Error", "StatusReason", "Duration", "StreamId", "streamId", "stream_id", "BufferUsagePercentage"}
)
STREAM_EVENTS = [
    "StartStream",
    "StopStream",
    "DroppedStream",
    "DegradedStream",
    "started",
    "stopped",
    "failed",
]
KNOWN_FRAME_EVENTS = ["start", "media", "dtmf", "playedStream", "played", "clearedAudio", "stop"]
OTHER_METHODS = ["GET", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]
WRITES_NOTHING: list[dict[str, Any]] = []


def fuzz(max_examples: int) -> settings:
    """Few examples (moto is slow), no deadline (first calls import the plivo SDK), no example database
    (nothing written into the working tree)."""
    return settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


# ------------------------------------------------------------------------------------------------ strategies

JSON_SCALARS: st.SearchStrategy[Any] = (
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
)
JSON_VALUES: st.SearchStrategy[Any] = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
JSON_OBJECTS: st.SearchStrategy[dict[str, Any]] = st.dictionaries(
    st.sampled_from(PLIVO_FIELDS) | st.text(max_size=12), JSON_VALUES, max_size=8
)
FORM_KEYS = st.sampled_from(PLIVO_FIELDS) | st.text(max_size=20)
FORMS: st.SearchStrategy[dict[str, str]] = st.dictionaries(FORM_KEYS, st.text(max_size=60), max_size=12)
CONTENT_TYPES = st.sampled_from(
    [
        "application/x-www-form-urlencoded",
        "application/json",
        "application/json; charset=utf-8",
        "text/plain",
        "multipart/form-data; boundary=x",
        "application/octet-stream",
        "",
    ]
) | st.text(max_size=30)
ODD_VALUES: st.SearchStrategy[str] = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            *(
                "",
                " ",
                "-1",
                "0",
                "+7",
                "1.5",
                "1e9",
                "NaN",
                "true",
                "FALSE",
                "null",
                "None",
                "[]",
                "{}",
                "\x00",
            ),
            *("../../etc/passwd", "CALL#x", "a" * 64, "a" * 65, "2024-11-24T12:30:09Z", "1732451400000"),
        ]
    ),
    st.integers().map(str),
    st.uuids().map(str),
    st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9\-]{0,70}\Z"),
    st.text(min_size=2040, max_size=2060),  # around the models' 2048-character limit
)


@st.composite
def unsigned_requests(draw: st.DrawFn, path: str) -> tuple[str, dict[str, Any]]:
    """Any method, any body (form, text, bytes, JSON), any content type, any query, with no signature, a
    replayed one or garbage. Returns (method, event)."""
    method = draw(st.sampled_from(["POST", "POST", *OTHER_METHODS]))
    kind = draw(st.sampled_from(["form", "text", "binary", "json"]))
    base64_body = draw(st.booleans())
    content_type = draw(CONTENT_TYPES)
    query = draw(st.dictionaries(st.text(max_size=10), st.text(max_size=10), max_size=3))
    sign = draw(st.sampled_from(["missing", "replayed", "garbage"]))
    common: dict[str, Any] = {
        "method": method,
        "query": query,
        "sign": "missing",
        "content_type": content_type,
        "base64_body": base64_body,
    }
    if kind == "form":
        event = me.http_event(path, form=draw(FORMS), **common)
    elif kind == "text":
        event = me.http_event(path, raw_body=draw(st.text()), **common)
    elif kind == "json":
        event = me.http_event(path, raw_body=json.dumps(draw(JSON_VALUES | JSON_OBJECTS)), **common)
    else:
        event = me.http_event(path, **common)
        data = draw(st.binary())
        if data:
            event["body"] = base64.b64encode(data).decode()
            event["isBase64Encoded"] = True
    if sign == "replayed":  # Plivo's genuine signature of another request to this webhook
        genuine = me.http_event(path, form=BASE_FORMS[path])["headers"]
        event["headers"].update({name: value for name, value in genuine.items() if "signature" in name})
    elif sign == "garbage":
        event["headers"]["x-plivo-signature-v3"] = draw(st.text(max_size=60))
        event["headers"]["x-plivo-signature-v3-nonce"] = draw(st.text(max_size=30))
    return method, event


@st.composite
def odd_forms(draw: st.DrawFn, path: str) -> dict[str, str]:
    """The webhook's valid form with known fields replaced by odd values, some dropped, random ones added."""
    form = dict(BASE_FORMS[path])
    for name in draw(st.lists(st.sampled_from(PLIVO_FIELDS), max_size=5, unique=True)):
        if name == "Event" and path == routes.STREAM_STATUS and draw(st.booleans()):
            form[name] = draw(st.sampled_from(STREAM_EVENTS))
        else:
            form[name] = draw(ODD_VALUES)
    for name in draw(st.lists(st.sampled_from(sorted(form)), max_size=2, unique=True)):
        del form[name]
    # Extra names are never empty: stream-status stores every parameter in a map, and moto 5.2.5 answers reads
    # of a map with an empty key with a malformed response (botocore cannot parse it). Whether DynamoDB
    # itself accepts empty map keys is not checked here.
    form.update(draw(st.dictionaries(st.text(min_size=1, max_size=12), st.text(max_size=30), max_size=3)))
    return form


FRAME_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "sequenceNumber": st.integers() | JSON_VALUES,
    "streamId": st.text(max_size=40) | JSON_VALUES,
    "start": JSON_VALUES
    | st.fixed_dictionaries(
        {"callId": st.text(max_size=40), "streamId": st.text(max_size=40)},
        optional={"accountId": JSON_VALUES, "tracks": JSON_VALUES, "mediaFormat": JSON_VALUES},
    ),
    "media": JSON_VALUES
    | st.fixed_dictionaries(
        {"payload": st.text() | st.binary().map(lambda data: base64.b64encode(data).decode())},
        optional={"track": JSON_VALUES, "timestamp": JSON_VALUES, "chunk": JSON_VALUES},
    ),
    "dtmf": JSON_VALUES
    | st.fixed_dictionaries({"digit": st.text(max_size=2)}, optional={"track": JSON_VALUES}),
    "name": st.text(max_size=20) | JSON_VALUES,
    "reason": JSON_VALUES,
    "extra_headers": st.text(max_size=60) | JSON_VALUES,
}
FRAME_OBJECTS: st.SearchStrategy[dict[str, Any]] = st.fixed_dictionaries(
    {"event": st.sampled_from(KNOWN_FRAME_EVENTS) | st.text(max_size=15)}, optional=FRAME_FIELDS
)
FRAME_TEXTS: st.SearchStrategy[str] = st.one_of(
    st.text(),
    JSON_VALUES.map(json.dumps),
    FRAME_OBJECTS.map(json.dumps),
    st.sampled_from([json.dumps(me.START_FRAME), json.dumps(me.media_frame(b"\xff" * 160, 2))]),
)


# ------------------------------------------------------------------------------------------------ helpers


def error_message(response: dict[str, Any]) -> str:
    body = json.loads(response["body"])
    assert isinstance(body, dict)
    message = body["message"]
    assert isinstance(message, str)
    assert message
    return message


@pytest.fixture
def permissive_plivo(plivo_rest: responses.RequestsMock) -> responses.RequestsMock:
    """Plivo's REST API saying yes to everything (hangup, transfer, start stream, create call)."""
    anything = re.compile(r"https://api\.plivo\.com/.*")
    plivo_rest.add(responses.DELETE, anything, status=204)
    plivo_rest.add(
        responses.POST,
        anything,
        status=202,
        json={**api.created(), "message": "ok", "stream_id": c.STREAM_ID},
    )
    return plivo_rest


# ------------------------------------------------------------------------------------- 1. unsigned webhooks


@pytest.mark.parametrize("path", WEBHOOK_PATHS)
def test_unsigned_garbage_to_any_webhook_gets_a_4xx_and_changes_nothing(
    path: str, aws_stack: Any, lambda_context: Any, table_items: Any, plivo_rest: responses.RequestsMock
) -> None:
    handler = HANDLERS[path]

    @fuzz(40)
    @given(request=unsigned_requests(path))
    def check(request: tuple[str, dict[str, Any]]) -> None:
        method, event = request
        response = handler(event, lambda_context)

        status = response["statusCode"]
        assert isinstance(status, int)
        assert status in ({400, 403, 413} if method == "POST" else {405})
        error_message(response)
        assert table_items() == WRITES_NOTHING

    check()
    assert len(plivo_rest.calls) == 0


@pytest.mark.parametrize("path", WEBHOOK_PATHS)
def test_tampering_with_a_signed_webhook_gets_a_403_and_changes_nothing(
    path: str, aws_stack: Any, lambda_context: Any, table_items: Any, plivo_rest: responses.RequestsMock
) -> None:
    handler = HANDLERS[path]
    form = BASE_FORMS[path]

    @fuzz(25)
    @given(
        tamper=st.sampled_from(["change", "add", "remove", "query"]),
        name=st.sampled_from(sorted(form)),
        new_key=st.text(max_size=12),
        new_value=st.text(max_size=40),
    )
    def check(tamper: str, name: str, new_key: str, new_value: str) -> None:
        event = me.http_event(path, form=form, query=me.PLACEMENT_QUERY)
        tampered = dict(form)
        query = dict(me.PLACEMENT_QUERY)
        if tamper == "change":
            assume(new_value != form[name])
            tampered[name] = new_value
        elif tamper == "add":
            # Plivo's V3 scheme signs "key" + "value" concatenated, so an empty key with an empty value adds
            # nothing to what is signed: that is Plivo's scheme, not this code's.
            assume(new_key not in form and (new_key or new_value))
            tampered[new_key] = new_value
        elif tamper == "remove":
            del tampered[name]
        else:
            assume(new_value != c.PLACEMENT_ID)
            query[routes.PLACEMENT_PARAM] = new_value
        event["body"] = base64.b64encode(urlencode(tampered).encode()).decode()
        event["rawQueryString"] = urlencode(query)
        event["queryStringParameters"] = query

        response = handler(event, lambda_context)

        assert response["statusCode"] == 403
        assert error_message(response) == "forbidden"
        assert table_items() == WRITES_NOTHING

    check()
    assert len(plivo_rest.calls) == 0


def test_unknown_paths_get_a_404_or_405_and_change_nothing(
    aws_stack: Any, lambda_context: Any, table_items: Any
) -> None:
    @fuzz(30)
    @given(
        path=st.text(max_size=30).map(lambda text: "/" + text),
        handler_path=st.sampled_from(WEBHOOK_PATHS),
        method=st.sampled_from(["POST", *OTHER_METHODS]),
    )
    def check(path: str, handler_path: str, method: str) -> None:
        assume(path != handler_path)
        event = me.http_event(path, form=BASE_FORMS[handler_path], method=method, sign="missing")

        response = HANDLERS[handler_path](event, lambda_context)

        assert response["statusCode"] in {404, 405}
        error_message(response)
        assert table_items() == WRITES_NOTHING

    check()


# ---------------------------------------------------------------------------------- 2. signed, odd values


@pytest.mark.parametrize("path", WEBHOOK_PATHS)
def test_signed_webhooks_with_odd_field_values_never_fail_and_reject_without_writing(
    path: str,
    aws_stack: Any,
    lambda_context: Any,
    table_items: Any,
    permissive_plivo: responses.RequestsMock,
) -> None:
    seed.answered(lambda_context)  # a live call, so machine detection and stream recovery reach Plivo
    handler = HANDLERS[path]
    statuses: Counter[int] = Counter()

    @fuzz(40)
    @given(form=odd_forms(path), as_json=st.booleans())
    @example(form=BASE_FORMS[path], as_json=False)
    def check(form: dict[str, str], as_json: bool) -> None:
        event = me.http_event(path, json_body=form) if as_json else me.http_event(path, form=form)
        before = table_items()

        response = handler(event, lambda_context)

        status = response["statusCode"]
        statuses[status] += 1
        assert status in {200, 400}  # signed, so never 403; odd but well-formed input may be accepted
        if status == 200:
            assert "<Response" in response["body"]
        else:
            assert error_message(response)
            assert json.loads(response["body"])["errors"]  # each bad field named, with what is allowed
            assert table_items() == before

    check()
    assert statuses[200] >= 1  # the signatures really pass: the examples reach the webhook's logic


# ------------------------------------------------------------------------------------------ 3. huge bodies


def test_a_body_just_over_64_kib_gets_a_413_even_when_signed_and_stores_nothing(
    aws_stack: Any, lambda_context: Any, table_items: Any
) -> None:
    form = {**me.ANSWER_FORM, "X-PH-Padding": "a" * MAX_BODY_BYTES}
    event = me.http_event(routes.ANSWER, form=form)

    response = answer_app.lambda_handler(event, lambda_context)

    assert response["statusCode"] == 413
    assert "65536" in error_message(response)
    assert table_items() == WRITES_NOTHING


@pytest.mark.parametrize("path", [routes.HANGUP, routes.STREAM_STATUS])
def test_body_size_limit_is_exact_in_bytes_whatever_the_encoding(
    path: str, aws_stack: Any, lambda_context: Any, table_items: Any
) -> None:
    @fuzz(12)
    @given(
        size=st.integers(MAX_BODY_BYTES - 8, MAX_BODY_BYTES + 8),
        filler=st.sampled_from(["a", "é", "€", "😀"]),
        base64_body=st.booleans(),
    )
    def check(size: int, filler: str, base64_body: bool) -> None:
        prefix = "CallUUID="
        width = len(filler.encode())
        wide = (size - len(prefix)) // width
        body = prefix + filler * wide + "a" * (size - len(prefix) - wide * width)
        assert len(body.encode()) == size
        event = me.http_event(path, raw_body=body, sign="missing", base64_body=base64_body)

        response = HANDLERS[path](event, lambda_context)

        assert response["statusCode"] == (413 if size > MAX_BODY_BYTES else 403)
        error_message(response)
        assert table_items() == WRITES_NOTHING

    check()


# ------------------------------------------------------------------------------------------ 4. POST /calls


def _call_requests() -> st.SearchStrategy[str]:
    overrides = st.dictionaries(
        st.sampled_from(
            [*me.PLACE_CALL, "policy", "tuning", "metadata", "ring_timeout", "voicemail_audio_url"]
        )
        | st.text(max_size=10),
        JSON_VALUES,
        max_size=3,
    )
    return st.one_of(
        st.text(),
        JSON_VALUES.map(json.dumps),
        JSON_OBJECTS.map(json.dumps),
        overrides.map(lambda changes: json.dumps({**me.PLACE_CALL, **changes})),
    )


def test_post_calls_with_random_bodies_answers_202_or_400_and_only_202_reaches_plivo(
    aws_stack: Any, lambda_context: Any, table_items: Any, plivo_rest: responses.RequestsMock
) -> None:
    plivo_rest.post(api.CREATE_CALL, json=api.created(), status=201)
    statuses: Counter[int] = Counter()

    def placements() -> int:
        return sum(item["pk"].startswith("PLACEMENT#") for item in table_items())

    @fuzz(50)
    @given(body=_call_requests())
    @example(body=json.dumps(me.PLACE_CALL))
    @example(body="")
    @example(body="[" * 60_000)
    def check(body: str) -> None:
        stored, asked, placed = len(table_items()), len(plivo_rest.calls), placements()

        response = calls_app.lambda_handler(me.calls_event(body), lambda_context)

        status = response["statusCode"]
        statuses[status] += 1
        assert status in {202, 400}
        if status == 202:
            assert json.loads(response["body"])["status"] == "requested"
            assert len(plivo_rest.calls) == asked + 1
            assert placements() == placed + 1  # and the pointer from its RequestUUID
        else:
            error_message(response)
            assert len(plivo_rest.calls) == asked
            assert len(table_items()) == stored

    check()
    assert statuses[202] >= 1


# ------------------------------------------------------------------------------------------ 5. WebSocket


def _parses_or_protocol_error(frame: str | bytes) -> None:
    try:
        message = stream_protocol.parse(frame)
    except stream_protocol.ProtocolError as exc:
        assert str(exc)  # noqa: PT017 - a property over many inputs, where either outcome is allowed
    else:
        assert isinstance(
            message,
            stream_protocol.UnknownMessage
            | stream_protocol.StartMessage
            | stream_protocol.MediaMessage
            | stream_protocol.DtmfMessage
            | stream_protocol.PlayedStreamMessage
            | stream_protocol.ClearedAudioMessage
            | stream_protocol.StopMessage,
        )
        assert isinstance(message.event, str)


@fuzz(300)
@given(frame=st.text() | st.binary())
def test_parse_of_any_text_or_bytes_returns_a_message_or_raises_protocol_error(frame: str | bytes) -> None:
    _parses_or_protocol_error(frame)


@fuzz(300)
@given(document=JSON_VALUES | FRAME_OBJECTS, as_bytes=st.booleans())
def test_parse_of_any_json_and_of_every_event_with_random_fields_returns_a_message_or_raises_protocol_error(
    document: Any, as_bytes: bool
) -> None:
    frame = json.dumps(document)
    _parses_or_protocol_error(frame.encode() if as_bytes else frame)


def test_media_frames_of_any_content_without_a_connection_answer_200_and_write_nothing(
    aws_stack: Any, lambda_context: Any, table_items: Any
) -> None:
    @fuzz(60)
    @given(body=st.none() | FRAME_TEXTS)
    def check(body: str | None) -> None:
        response = media_app.lambda_handler(me.ws_event("$default", body=body), lambda_context)

        assert response == {"statusCode": 200}
        assert table_items() == WRITES_NOTHING
        assert seed.frames_posted() == []

    check()


def test_connect_with_any_query_is_refused_with_403_and_stores_nothing(
    aws_stack: Any, lambda_context: Any, table_items: Any
) -> None:
    token_like = st.fixed_dictionaries(
        {},
        optional={
            "call_uuid": st.text(max_size=40) | st.just(c.CALL_UUID),
            "expires": st.integers(min_value=0).map(str) | st.text(max_size=12),
            "jti": st.text(max_size=30) | st.just("0" * 24),
            "token": st.text(max_size=50) | st.just("A" * 43),
        },
    )

    @fuzz(60)
    @given(query=token_like | st.dictionaries(st.text(max_size=12), st.text(max_size=40), max_size=5))
    def check(query: dict[str, str]) -> None:
        response = connect_app.lambda_handler(me.ws_event("$connect", query=query), lambda_context)

        assert response == {"statusCode": 403}
        assert table_items() == WRITES_NOTHING

    check()


def _live_stream_frames() -> st.SearchStrategy[str]:
    """Frames a live stream can get: Plivo's own, with odd audio, digits and checkpoint names, a repeated
    start, and anything else."""
    audio = st.binary(max_size=400) | st.sampled_from([b"\x00" * 160, b"\xff" * 160, b"\x80\x00" * 80])
    names = st.sampled_from(["greeting", "acknowledge", "goodbye", "voicemail", "x", ""])
    frames = st.one_of(
        st.tuples(audio, st.integers(0, 10**6)).map(lambda args: me.media_frame(*args)),
        st.sampled_from(["#", "5", "*", "A", "", "##", "x"]).map(me.dtmf_frame),
        st.tuples(st.sampled_from(["played", "playedStream"]), names).map(
            lambda args: {"event": args[0], "streamId": c.STREAM_ID, "name": args[1]}
        ),
        st.sampled_from([{"event": "clearedAudio"}, {"event": "stop"}]),
        st.fixed_dictionaries(
            {
                "event": st.just("start"),
                "start": st.fixed_dictionaries(
                    {"callId": st.just(c.CALL_UUID), "streamId": st.text(min_size=1, max_size=40)}
                ),
                "extra_headers": st.text(max_size=80) | JSON_VALUES,
            }
        ),
        FRAME_OBJECTS,
    )
    return frames.map(json.dumps) | FRAME_TEXTS


def test_any_sequence_of_frames_on_a_live_stream_answers_200_and_sends_only_well_formed_frames(
    aws_stack: Any, lambda_context: Any, permissive_plivo: responses.RequestsMock
) -> None:
    seed.answered(lambda_context)
    seed.streaming(lambda_context)
    assert media_app.lambda_handler(me.frame_event(me.START_FRAME), lambda_context) == {"statusCode": 200}

    @fuzz(15)
    @given(bodies=st.lists(_live_stream_frames(), min_size=1, max_size=8))
    def check(bodies: list[str]) -> None:
        for body in bodies:
            response = media_app.lambda_handler(me.ws_event("$default", body=body), lambda_context)
            assert response == {"statusCode": 200}

    check()
    posted = seed.frames_posted()  # raises if any frame sent to Plivo is not JSON
    assert posted
    assert {frame["event"] for frame in posted} <= {"playAudio", "checkpoint", "clearAudio"}


# ------------------------------------------------------------------------------- regressions (found above)


@pytest.mark.parametrize(
    ("path", "field"),
    [(routes.HANGUP, "Duration"), (routes.HANGUP, "HangupCauseCode"), (routes.STREAM_STATUS, "Duration")],
)
def test_regression_numbers_beyond_dynamodb_precision_are_a_400_not_an_exception(
    path: str, field: str, aws_stack: Any, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STREAM_RECOVERY_MAX_ATTEMPTS", "0")
    get_settings.cache_clear()
    form = (
        {**BASE_FORMS[path], "Event": "StopStream", field: "1" * 39}
        if path == routes.STREAM_STATUS
        else {**BASE_FORMS[path], field: "1" * 39}
    )
    response = HANDLERS[path](me.http_event(path, form=form), lambda_context)
    assert response["statusCode"] == 400


@pytest.mark.parametrize(
    ("path", "field"),
    [(routes.HANGUP, "Duration"), (routes.HANGUP, "BillDuration"), (routes.STREAM_STATUS, "Duration")],
)
def test_regression_empty_durations_are_absent_not_an_exception(
    path: str, field: str, aws_stack: Any, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STREAM_RECOVERY_MAX_ATTEMPTS", "0")
    get_settings.cache_clear()
    form = {**BASE_FORMS[path], field: ""}
    assert HANDLERS[path](me.http_event(path, form=form), lambda_context)["statusCode"] == 200


@pytest.mark.parametrize(
    "timestamp", ["²", "9" * 15, "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"]
)
def test_regression_unrepresentable_stream_timestamps_are_kept_with_the_arrival_time(
    timestamp: str, aws_stack: Any, lambda_context: Any, monkeypatch: pytest.MonkeyPatch, table_items: Any
) -> None:
    """Every stream event is stored, even one whose timestamp cannot be a datetime: its raw value is kept."""
    monkeypatch.setenv("STREAM_RECOVERY_MAX_ATTEMPTS", "0")
    get_settings.cache_clear()
    event = me.stream_event("StartStream", timestamp)
    response = stream_status_app.lambda_handler(event, lambda_context)
    assert response["statusCode"] == 200
    (stored,) = [item for item in table_items() if str(item["sk"]).startswith("STREAMEVENT#")]
    assert stored["parameters"]["Timestamp"] == timestamp


def test_regression_unsigned_deeply_nested_json_body_is_a_400_not_an_exception(
    aws_stack: Any, lambda_context: Any
) -> None:
    event = me.http_event(
        routes.ANSWER, raw_body="[" * 50_000, sign="missing", content_type="application/json"
    )
    response = answer_app.lambda_handler(event, lambda_context)
    assert response["statusCode"] == 400


@pytest.mark.parametrize(
    "body",
    ["[" * 30_000, json.dumps({**me.START_FRAME, "extra_headers": '{"a":' + "[" * 30_000})],
    ids=["frame", "extra_headers"],
)
def test_regression_deeply_nested_frame_is_dropped_not_an_exception(
    body: str, aws_stack: Any, lambda_context: Any
) -> None:
    assert media_app.lambda_handler(me.ws_event("$default", body=body), lambda_context) == {"statusCode": 200}


def test_regression_unknown_event_with_a_non_integer_sequence_number_is_dropped_not_an_exception(
    aws_stack: Any, lambda_context: Any
) -> None:
    body = '{"event":"playFailed","sequenceNumber":"x"}'
    assert media_app.lambda_handler(me.ws_event("$default", body=body), lambda_context) == {"statusCode": 200}


@pytest.mark.parametrize("expires", ["²", "9" * 5000], ids=["unicode-digit", "5000-digits"])
def test_regression_connect_with_unconvertible_expires_is_a_403_not_an_exception(
    expires: str, aws_stack: Any, lambda_context: Any
) -> None:
    query = {"call_uuid": c.CALL_UUID, "expires": expires, "token": "x"}
    assert connect_app.lambda_handler(me.ws_event("$connect", query=query), lambda_context) == {
        "statusCode": 403
    }


def test_regression_connect_with_a_non_ascii_token_is_a_403_not_an_exception(
    aws_stack: Any, lambda_context: Any
) -> None:
    query = {"call_uuid": c.CALL_UUID, "expires": "0", "token": "é"}
    assert connect_app.lambda_handler(me.ws_event("$connect", query=query), lambda_context) == {
        "statusCode": 403
    }


def test_regression_parsing_extra_headers_takes_time_linear_in_their_length() -> None:
    frame = json.dumps({**me.START_FRAME, "extra_headers": "a" * 4_000})  # within the frame size limit
    started = time.perf_counter()
    stream_protocol.parse(frame)
    assert time.perf_counter() - started < 0.3  # the old backtracking regex: ~1.4 s on 10 KB
