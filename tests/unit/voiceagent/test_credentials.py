from __future__ import annotations

from typing import Any

import pytest
from aws_lambda_powertools.utilities import parameters

from tests.support import constants as c
from voiceagent.credentials import (
    SecretUnavailable,
    derive_stream_token_key,
    plivo_auth_token,
    stream_token_key,
)
from voiceagent.settings import get_settings


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


def test_missing_parameter_raises(aws_stack: Any) -> None:
    aws_stack["ssm"].delete_parameter(Name=c.AUTH_TOKEN_PARAM)
    with pytest.raises(SecretUnavailable, match=c.AUTH_TOKEN_PARAM):
        plivo_auth_token()


def test_a_parameter_that_reads_as_empty_raises(aws_stack: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parameters, "get_parameter", lambda *_args, **_kwargs: "")
    with pytest.raises(SecretUnavailable, match="is empty"):
        plivo_auth_token()
