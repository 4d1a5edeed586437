from __future__ import annotations

from typing import Any

import pytest
from aws_lambda_powertools.utilities import parameters

from tests.support import constants as c
from voiceagent.credentials import (
    SecretNotConfigured,
    SecretUnavailable,
    derive_stream_token_key,
    plivo_auth_token,
    stream_token_key,
)
from voiceagent.settings import get_settings


def ssm_failing(code: str) -> Any:
    """Powertools' get_parameter failing the way it does: GetParameterError raised while handling SSM's."""
    from botocore.exceptions import ClientError

    def fail(*_args: Any, **_kwargs: Any) -> str:
        try:
            raise ClientError({"Error": {"Code": code, "Message": code}}, "GetParameter")
        except ClientError as exc:
            raise parameters.exceptions.GetParameterError(str(exc))  # noqa: B904 - as Powertools does

    return fail


def test_auth_token_comes_from_ssm(aws_stack: Any) -> None:
    assert plivo_auth_token() == c.TEST_AUTH_TOKEN


def test_rotated_token_is_picked_up_once_the_cache_expires(
    aws_stack: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import datetime, timedelta

    from aws_lambda_powertools.utilities.parameters import base

    assert plivo_auth_token() == c.TEST_AUTH_TOKEN
    aws_stack["ssm"].put_parameter(
        Name=c.AUTH_TOKEN_PARAM, Value="rotated", Type="SecureString", Overwrite=True
    )
    assert plivo_auth_token() == c.TEST_AUTH_TOKEN  # still cached: SECRET_MAX_AGE_SECONDS is 300

    class Later(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Later:
            return cls.fromtimestamp((datetime.now(tz) + timedelta(seconds=301)).timestamp(), tz)

    monkeypatch.setattr(base, "datetime", Later)
    assert plivo_auth_token() == "rotated"


def test_stream_key_is_derived_from_the_auth_token_by_default(aws_stack: Any) -> None:
    key = stream_token_key()
    assert key == derive_stream_token_key(c.TEST_AUTH_TOKEN)
    assert c.TEST_AUTH_TOKEN.encode() not in key


def test_stream_key_may_have_its_own_parameter(aws_stack: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    aws_stack["ssm"].put_parameter(Name="/test/stream-key", Value="stream-secret", Type="SecureString")
    monkeypatch.setenv("STREAM_TOKEN_SECRET_PARAM", "/test/stream-key")
    get_settings.cache_clear()
    assert stream_token_key() == b"stream-secret"


def test_a_missing_parameter_is_a_configuration_error_naming_it(aws_stack: Any) -> None:
    aws_stack["ssm"].delete_parameter(Name=c.AUTH_TOKEN_PARAM)
    with pytest.raises(SecretNotConfigured, match=c.AUTH_TOKEN_PARAM) as raised:
        plivo_auth_token()
    assert raised.value.parameter == c.AUTH_TOKEN_PARAM


def test_a_parameter_that_reads_as_empty_is_a_configuration_error(
    aws_stack: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(parameters, "get_parameter", lambda *_args, **_kwargs: "")
    with pytest.raises(SecretNotConfigured, match="is empty"):
        plivo_auth_token()


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("ThrottlingException", SecretUnavailable),
        ("InternalServerError", SecretUnavailable),
        ("ParameterNotFound", SecretNotConfigured),
        ("AccessDeniedException", SecretNotConfigured),
    ],
)
def test_transient_ssm_failures_are_told_apart_from_configuration_errors(
    code: str, error: type[Exception], aws_stack: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(parameters, "get_parameter", ssm_failing(code))
    with pytest.raises(error, match=c.AUTH_TOKEN_PARAM):
        plivo_auth_token()


def test_an_unreachable_ssm_is_transient(aws_stack: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from botocore.exceptions import EndpointConnectionError

    def unreachable(*_args: Any, **_kwargs: Any) -> str:
        try:
            raise EndpointConnectionError(endpoint_url="https://ssm.us-east-1.amazonaws.com")
        except EndpointConnectionError as exc:
            raise parameters.exceptions.GetParameterError(str(exc)) from None

    monkeypatch.setattr(parameters, "get_parameter", unreachable)
    with pytest.raises(SecretUnavailable):
        plivo_auth_token()
