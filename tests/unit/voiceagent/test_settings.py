from __future__ import annotations

import pytest

from voiceagent.settings import ConfigurationError, MachinePolicy, get_settings


def test_settings_are_read_from_the_environment_once(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = get_settings()
    assert settings.stage == "dev"
    assert settings.default_machine_policy is MachinePolicy.HANGUP
    assert settings.stream_token_secret_param is None  # "" means unset
    assert settings.public_base is None

    monkeypatch.setenv("STAGE", "prod")
    assert get_settings() is settings  # cached for the container's life


def test_public_base_url_loses_its_trailing_slash(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://voice.example.com/hooks/")
    assert get_settings().public_base == "https://voice.example.com/hooks"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("STREAM_TIMEOUT_SECONDS", "86400"),  # beyond API Gateway's 2-hour connection limit
        ("DEFAULT_MACHINE_POLICY", "voicemail"),
        ("WEBSOCKET_URL", "https://not-a-websocket"),
        ("PLIVO_AUTH_TOKEN_PARAM", "no-leading-slash"),
    ],
)
def test_invalid_values_fail_fast_with_the_variable_name(
    name: str, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError, match=name):
        get_settings()
