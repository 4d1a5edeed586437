from __future__ import annotations

from typing import Any

import pytest
import requests
import responses

from tests.support import constants as c
from tests.support import plivo_api as api
from voiceagent import observability
from voiceagent.plivo.rest import Deadline, PlivoApiError, plivo_gateway
from voiceagent.settings import get_settings


def test_deadline_from_lambda_keeps_a_margin() -> None:
    assert 8.3 < Deadline.from_lambda(10_000).left() <= 8.5
    assert Deadline.from_lambda(500).left() <= 0  # too late to call anyone
    assert 7.5 < Deadline.from_lambda(None).left() <= 8.0


def test_no_retry_once_the_deadline_has_passed(
    aws_stack: Any, plivo_rest: responses.RequestsMock, backoff_sleeps: list[float]
) -> None:
    plivo_rest.delete(api.call_url(), status=503)

    with pytest.raises(PlivoApiError) as raised:
        plivo_gateway().hangup(c.CALL_UUID, deadline=Deadline.after(0))

    assert raised.value.attempts == 1
    assert backoff_sleeps == []


def test_read_timeout_on_hangup_is_retried_because_hanging_up_twice_is_harmless(
    aws_stack: Any, plivo_rest: responses.RequestsMock
) -> None:
    plivo_rest.delete(api.call_url(), body=requests.exceptions.ReadTimeout("slow"))
    plivo_rest.delete(api.call_url(), status=204)

    result = plivo_gateway().hangup(c.CALL_UUID, deadline=Deadline.after(8))

    assert (result.outcome, result.attempts) == ("hung_up", 2)


def test_authentication_errors_are_not_retried(aws_stack: Any, plivo_rest: responses.RequestsMock) -> None:
    plivo_rest.post(api.call_url(), json={"error": "bad credentials"}, status=401)

    with pytest.raises(PlivoApiError) as raised:
        plivo_gateway().transfer(c.CALL_UUID, "https://x/plivo/voicemail", deadline=Deadline.after(8))

    assert raised.value.attempts == 1


def test_transfer_of_an_ended_call_is_already_ended(
    aws_stack: Any, plivo_rest: responses.RequestsMock
) -> None:
    plivo_rest.post(api.call_url(), json={"error": "not found"}, status=404)

    result = plivo_gateway().transfer(c.CALL_UUID, "https://x/plivo/voicemail", deadline=Deadline.after(8))

    assert result.outcome == "already_ended"


def test_api_base_url_can_point_at_a_local_fake_plivo(
    aws_stack: Any, plivo_rest: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from plivo.rest import client as plivo_rest_client

    for name in (
        "PLIVO_API_BASE_URI",
        "API_VOICE_BASE_URI",
        "API_VOICE_BASE_URI_FALLBACK_1",
        "API_VOICE_BASE_URI_FALLBACK_2",
    ):
        monkeypatch.setattr(plivo_rest_client, name, getattr(plivo_rest_client, name))  # restored afterwards
    monkeypatch.setenv("PLIVO_API_BASE_URL", "http://127.0.0.1:3002")
    get_settings.cache_clear()
    local = f"http://127.0.0.1:3002/v1/Account/{c.TEST_AUTH_ID}/Call/{c.CALL_UUID}/"
    plivo_rest.delete(local, status=204)

    assert plivo_gateway().hangup(c.CALL_UUID, deadline=Deadline.after(8)).outcome == "hung_up"
    assert len(api.requests_to(plivo_rest, "DELETE", local)) == 1


def test_a_rotated_auth_token_gets_a_new_client(aws_stack: Any) -> None:
    from aws_lambda_powertools.utilities import parameters

    first = plivo_gateway()._client
    aws_stack["ssm"].put_parameter(
        Name=c.AUTH_TOKEN_PARAM, Value="rotated", Type="SecureString", Overwrite=True
    )
    parameters.clear_caches()  # type: ignore[no-untyped-call]

    assert plivo_gateway()._client is not first


def test_reading_the_account_proves_the_credentials(
    aws_stack: Any, plivo_rest: responses.RequestsMock
) -> None:
    plivo_rest.get(
        f"{api.ACCOUNT}/",
        json={"api_id": "a", "auth_id": c.TEST_AUTH_ID, "name": "Acme", "account_type": "standard"},
    )

    result = plivo_gateway().account(deadline=Deadline.after(8))

    assert (result.outcome, result.attempts) == ("ok", 1)
    assert result.detail == {"name": "Acme", "account_type": "standard"}
    (call,) = plivo_rest.calls
    assert call.request.method == "GET"


def test_reading_the_account_with_a_wrong_token_fails_with_401(
    aws_stack: Any, plivo_rest: responses.RequestsMock
) -> None:
    plivo_rest.get(f"{api.ACCOUNT}/", json={"error": "authentication failed"}, status=401)

    with pytest.raises(PlivoApiError) as raised:
        plivo_gateway().account(deadline=Deadline.after(8))

    assert (raised.value.status, raised.value.attempts) == (401, 1)


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    names: list[str] = []
    monkeypatch.setattr(observability, "add", lambda name, value=1: names.append(name))
    return names


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        ((429, 204), ["PlivoApiRetries"]),  # retried and done: nothing for the alarm
        ((404,), []),  # the call had already ended: an answer, not a failure
        ((401,), ["PlivoApiErrors"]),  # failed for good: the alarm's metric, once
    ],
)
def test_only_a_call_that_failed_for_good_counts_as_a_plivo_api_error(
    answers: tuple[int, ...],
    expected: list[str],
    aws_stack: Any,
    plivo_rest: responses.RequestsMock,
    backoff_sleeps: list[float],
    counted: list[str],
) -> None:
    for status in answers:
        plivo_rest.delete(api.call_url(), status=status, json={} if status != 204 else None)

    try:
        plivo_gateway().hangup(c.CALL_UUID, deadline=Deadline.after(8))
    except PlivoApiError:
        assert expected == ["PlivoApiErrors"]

    assert counted == expected
