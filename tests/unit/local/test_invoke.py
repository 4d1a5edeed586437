"""`make invoke`: one handler on one event, without Docker, in the environment the events were signed for.
Run on every file in events/, it proves the files and events/env/sam-local-invoke.json agree."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.local import invoke
from tests.support import make_events
from tests.support.events import EVENTS_DIR

REFUSED_ON_PURPOSE = (
    "bad_signature",
    "missing_signature",
    "forged_token",
    "forged_token_id",
    "expired_token",
    "missing_token",
    "unsigned",
    "nonce_too_long",
)
FUNCTION_OF = {
    "campaign_dialer": "campaign_dialer",
    "campaign_outcomes": "campaign_outcomes",
    "campaign_sweeper": "campaign_sweeper",
    "campaigns": "campaigns",
    "dnc": "campaigns",
    "call_events": "call_events",
    "stream_connect": "stream_connect",
    "stream_disconnect": "stream_connect",
    "stream_ended": "answer",
    "answer": "answer",
    "unknown": "answer",
    "calls": "calls",
    "hangup": "hangup",
    "machine": "machine_detection",
    "media": "media",
    "stream": "stream_status",
    "voicemail": "voicemail",
}


@pytest.fixture
def own_environment() -> Iterator[None]:
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.mark.parametrize("name", sorted(make_events.CASES))
def test_every_sample_event_gets_the_answer_it_was_made_for(name: str, own_environment: None) -> None:
    overrides = make_events.EVENT_ENVIRONMENT.get(name)
    function = next(FUNCTION_OF[prefix] for prefix in FUNCTION_OF if name.startswith(prefix))
    first = make_events.EVENT_PREREQUISITES.get(name, ())
    published: list[dict[str, Any]] = []
    response, _ = invoke.invoke(function, invoke.read_event(name), overrides, first, published)

    if function == "call_events":
        failed = [item["itemIdentifier"] for item in response["batchItemFailures"]]
        assert bool(failed) is name.endswith("malformed_record"), failed
        assert bool(published) is not name.endswith("no_facts"), published
        return
    if "statusCode" not in response:  # a queue's or a schedule's function: nothing to deliver again
        assert response.get("batchItemFailures", []) == [], response
        return
    status = int(response["statusCode"])
    assert status < 500, invoke.render(response)
    if name.endswith(REFUSED_ON_PURPOSE):
        assert status == 403
    else:
        assert status != 403, f"{name} was signed for another environment: run `make events`"


def test_the_command_prints_the_response_and_the_plivo_requests(
    own_environment: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert invoke.main(["CallsFunction", str(EVENTS_DIR / "calls_place.json")]) == 0

    out = capsys.readouterr().out
    assert out.startswith("statusCode: 202\n")
    assert '"request_uuid": "invoke-request"' in out
    assert "Plivo REST API (stubbed): POST https://api.plivo.com/v1/Account/" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["nothing", "answer_outbound"],
            "FUNCTION='nothing' is not a function; one of: answer, call_events, calls",
        ),
        (["answer", "no_such_event"], "EVENT='no_such_event' is neither a file nor a name in events/"),
    ],
)
def test_a_function_or_event_that_does_not_exist_is_named(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert invoke.main(argv) == 2
    assert message in capsys.readouterr().err


def test_the_command_prints_the_call_events_a_change_publishes(
    own_environment: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert invoke.main(["call_events", "call_events_call_completed"]) == 0

    out = capsys.readouterr().out
    assert out.startswith('{\n  "batchItemFailures": []\n}')
    assert "call events published (1):" in out
    assert "Call Completed" in out
