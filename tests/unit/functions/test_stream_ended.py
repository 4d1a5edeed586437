"""The <Redirect> after the <Stream>: when a stream ends and the call goes on, reconnect a drop with a fresh
single-use token (a bounded number of times), else fall back (voicemail for a machine, an apology for a
person); hang up when the call is over or the stream ended normally. Each decision is on the report."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit
from xml.etree import ElementTree

import pytest

from functions.answer import app
from functions.calls import app as calls_app
from functions.hangup import app as hangup_app
from functions.stream_connect import app as connect_app
from functions.stream_status import app as stream_status_app
from tests.support import constants as c
from tests.support import make_events as me
from tests.support import seed
from tests.support.events import load_event
from voiceagent.clock import utcnow
from voiceagent.settings import get_settings
from voiceagent.store import open_store


def ended(lambda_context: Any, *, nonce: str | None = None, name: str = "stream_ended") -> dict[str, Any]:
    """Plivo fetching the <Redirect>; each fetch is its own request (its own nonce) unless replayed."""
    event = load_event(name)
    if nonce is not None:
        form = dict(me.STREAM_ENDED_FORM)
        event = me.http_event("/plivo/stream-ended", form=form, query=me.PLACEMENT_QUERY, nonce=nonce)
    response: dict[str, Any] = app.lambda_handler(event, lambda_context)
    assert response["statusCode"] == 200
    return response


def tags(response: dict[str, Any]) -> list[str]:
    return [element.tag for element in ElementTree.fromstring(response["body"])]


def recoveries(table_items: Any) -> list[dict[str, Any]]:
    return sorted(
        (item for item in table_items() if str(item["sk"]).startswith("RECOVERY#")),
        key=lambda item: item["sk"],
    )


def dropped(lambda_context: Any) -> None:
    assert (
        stream_status_app.lambda_handler(load_event("stream_status_dropped_stream"), lambda_context)[
            "statusCode"
        ]
        == 200
    )


@pytest.fixture
def live_stream(aws_stack: Any, lambda_context: Any) -> None:
    """An answered call whose stream connected and started a moment ago."""
    seed.placement("agent")
    seed.streaming(lambda_context)
    started = me.stream_event("StartStream", utcnow().strftime("%Y-%m-%d %H:%M:%S"))
    assert stream_status_app.lambda_handler(started, lambda_context)["statusCode"] == 200


def test_the_answer_xml_ends_its_stream_with_a_redirect_here(aws_stack: Any, lambda_context: Any) -> None:
    response = app.lambda_handler(load_event("answer_outbound"), lambda_context)

    stream, redirect = ElementTree.fromstring(response["body"])
    assert (stream.tag, redirect.tag, redirect.attrib) == ("Stream", "Redirect", {"method": "POST"})
    assert redirect.text == (
        f"https://{c.HTTP_API_DOMAIN}/{c.STAGE}/plivo/stream-ended?placement={c.PLACEMENT_ID}#rc=2&rp=5xx,ct,rt"
    )


def test_a_dropped_stream_reconnects_with_a_fresh_single_use_token(
    live_stream: None, lambda_context: Any, table_items: Any
) -> None:
    dropped(lambda_context)

    response = ended(lambda_context)

    assert tags(response) == ["Stream", "Redirect"]
    (stream,) = [e for e in ElementTree.fromstring(response["body"]) if e.tag == "Stream"]
    query = {key: values[0] for key, values in parse_qs(urlsplit(stream.text or "").query).items()}
    assert query["jti"] != me.TOKEN_ID  # not the token that already opened the first connection
    reconnect = me.signed_connect(query=query)
    reconnect["requestContext"]["connectionId"] = "Reconnected00="
    assert connect_app.lambda_handler(reconnect, lambda_context) == {"statusCode": 200}
    (recovery,) = recoveries(table_items)
    assert (recovery["action"], recovery["reconnect_attempt"]) == ("reconnect", 1)
    assert recovery["ended_stream_id"] == c.STREAM_ID


def test_a_redirect_fetched_before_the_drop_is_reported_is_a_drop_too(
    live_stream: None, lambda_context: Any
) -> None:
    """Plivo posts DroppedStream and fetches the <Redirect> at once: either may arrive first."""
    assert tags(ended(lambda_context)) == ["Stream", "Redirect"]


def test_after_the_last_reconnect_a_person_gets_an_apology_then_a_hangup(
    live_stream: None, lambda_context: Any, table_items: Any
) -> None:
    dropped(lambda_context)
    ended(lambda_context)  # attempt 1 of 1

    response = ended(lambda_context, nonce="2" * 20)  # the reconnected stream dropped too

    assert tags(response) == ["Speak", "Hangup"]
    assert "technical difficulties" in response["body"]
    assert [item["action"] for item in recoveries(table_items)] == ["reconnect", "apology"]


def test_without_an_apology_the_fallback_is_a_plain_hangup(
    live_stream: None, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STREAM_RECOVERY_MAX_ATTEMPTS", "0")
    monkeypatch.setenv("STREAM_RECOVERY_APOLOGY", "")
    get_settings.cache_clear()

    assert tags(ended(lambda_context)) == ["Hangup"]


def test_a_machine_whose_stream_is_lost_gets_the_voicemail_and_the_call_ends_voicemail_left(
    live_stream: None, lambda_context: Any, table_items: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STREAM_RECOVERY_MAX_ATTEMPTS", "0")
    get_settings.cache_clear()
    open_store().calls.update_call(
        c.CALL_UUID,
        utcnow(),
        facts={"machine_detection_result": "machine", "policy_result": "transferred"},
    )

    response = ended(lambda_context)

    assert tags(response) == ["Wait", "Speak", "Hangup"]
    assert recoveries(table_items)[0]["action"] == "voicemail"
    hangup_app.lambda_handler(load_event("hangup_end_of_xml"), lambda_context)  # the voicemail XML ended
    assert seed.call_record()["outcome"] == "voicemail_left"


@pytest.mark.parametrize("how", ["hangup_webhook", "call_status"])
def test_once_the_call_is_over_the_answer_is_a_hangup(
    how: str, live_stream: None, lambda_context: Any, table_items: Any
) -> None:
    if how == "hangup_webhook":
        hangup_app.lambda_handler(load_event("hangup_human"), lambda_context)
        response = ended(lambda_context)
    else:
        response = ended(lambda_context, name="stream_ended_call_completed")

    assert tags(response) == ["Hangup"]
    (recovery,) = recoveries(table_items)
    assert (recovery["action"], recovery["reason"]) == ("hangup", "the call is over")


def test_when_the_agent_ended_the_call_there_is_no_reconnect(live_stream: None, lambda_context: Any) -> None:
    open_store().calls.update_call(c.CALL_UUID, utcnow(), facts={"agent_hangup": "agent said goodbye"})
    assert tags(ended(lambda_context)) == ["Hangup"]


def test_a_stream_stopped_normally_is_not_reconnected(
    live_stream: None, lambda_context: Any, table_items: Any
) -> None:
    stream_status_app.lambda_handler(load_event("stream_status_stop_stream"), lambda_context)

    assert tags(ended(lambda_context)) == ["Hangup"]
    assert recoveries(table_items)[0]["reason"].startswith("the stream stopped")


def test_a_stream_that_ran_into_its_timeout_is_not_reconnected(
    aws_stack: Any, lambda_context: Any, table_items: Any
) -> None:
    """The StopStream of a timeout may come after the <Redirect>: the stream's age says it."""
    seed.streaming(lambda_context)
    stream_status_app.lambda_handler(load_event("stream_status_start_stream"), lambda_context)  # 2024: old

    assert tags(ended(lambda_context)) == ["Hangup"]
    assert recoveries(table_items)[0]["reason"] == "the stream timed out"


def test_an_unknown_call_gets_a_hangup_and_nothing_is_stored(
    aws_stack: Any, lambda_context: Any, table_items: Any
) -> None:
    assert tags(ended(lambda_context)) == ["Hangup"]
    assert table_items() == []


def test_a_replayed_redirect_gets_the_same_xml_and_reconnects_nothing_more(
    live_stream: None, lambda_context: Any, table_items: Any
) -> None:
    first = ended(lambda_context)

    assert ended(lambda_context)["body"] == first["body"]  # the same token: it opens one connection
    assert len(recoveries(table_items)) == 1


def test_a_bad_signature_is_403_and_changes_nothing(
    live_stream: None, lambda_context: Any, table_items: Any
) -> None:
    before = table_items()
    response = app.lambda_handler(load_event("stream_ended_bad_signature"), lambda_context)
    assert response["statusCode"] == 403
    assert table_items() == before


def test_each_stream_end_is_on_the_report(live_stream: None, lambda_context: Any) -> None:
    dropped(lambda_context)
    ended(lambda_context)
    ended(lambda_context, nonce="2" * 20)

    response = calls_app.lambda_handler(load_event("calls_report"), lambda_context)

    timeline = json.loads(response["body"])["timeline"]
    ends = [
        (entry["event"], entry["detail"]) for entry in timeline if entry["event"].startswith("stream ended")
    ]
    assert ends == [
        ("stream ended #1: reconnect", "stream lost; reconnecting (1 of 1)"),
        ("stream ended #2: apology", "stream lost for good"),
    ]


def test_a_drop_on_your_agents_stream_reconnects_to_your_agent(
    agent_keys: dict[str, bytes], lambda_context: Any
) -> None:
    """Recovery works as on our route: the <Redirect> answers a new <Stream> to the same agent URL with a
    fresh token of the agent's key."""
    from voiceagent.streams import tokens

    seed.placement("agent", stream_url=c.AGENT_STREAM_URL, agent_webhook_url=c.AGENT_WEBHOOK_URL)
    seed.answered(lambda_context)
    dropped(lambda_context)

    response = ended(lambda_context)

    (stream, _redirect) = ElementTree.fromstring(response["body"])
    url = urlsplit((stream.text or "").strip())
    assert f"{url.scheme}://{url.netloc}{url.path}?" + url.query.split("&")[0] == c.AGENT_STREAM_URL
    query = {key: values[0] for key, values in parse_qs(url.query).items()}
    token = {name: query[name] for name in ("call_uuid", "expires", "jti", "token")}
    assert tokens.verify(agent_keys["stream"], token, int(query["expires"]) - 1).call_uuid == c.CALL_UUID
