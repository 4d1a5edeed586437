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


@pytest.mark.parametrize(("wait", "silence"), [("3", "3000"), ("2", "4000")])
def test_a_voicemail_wait_no_longer_than_its_silence_is_refused_naming_both(
    wait: str, silence: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Plivo requires ``length`` > ``minSilence``; otherwise the wait ends before silence could be heard."""
    monkeypatch.setenv("VOICEMAIL_WAIT_SECONDS", wait)
    monkeypatch.setenv("VOICEMAIL_MIN_SILENCE_MS", silence)
    with pytest.raises(ConfigurationError, match=r"VOICEMAIL_WAIT_SECONDS.*VOICEMAIL_MIN_SILENCE_MS"):
        get_settings()


def test_the_default_voicemail_wait_outlasts_real_greetings() -> None:
    settings = get_settings()
    assert settings.voicemail_wait_seconds >= 30  # personal greetings run 10-30 s; carriers' up to ~25 s
    assert 2000 <= settings.voicemail_min_silence_ms <= 4000
    assert settings.voicemail_wait_seconds * 1000 > settings.voicemail_min_silence_ms
