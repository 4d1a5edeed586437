from __future__ import annotations

import pytest

from voiceagent.settings import (
    ConfigurationError,
    MachinePolicy,
    VoicemailWait,
    get_plivo_account,
    get_settings,
)


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
        # Values Plivo or AWS would refuse later fail here, at the container's start:
        ("PLIVO_AUTH_TOKEN_PARAM", "/aws/reserved"),  # SSM reserves names prefixed with aws or ssm
        ("PLIVO_AUTH_TOKEN_PARAM", "/SSM-token"),
        ("PLIVO_AUTH_TOKEN_PARAM", "/plivo//token"),  # an empty level
        ("PLIVO_AUTH_TOKEN_PARAM", "/plivo/token/"),
        ("PLIVO_AUTH_TOKEN_PARAM", "/plivo token"),
        ("PLIVO_AUTH_TOKEN_PARAM", "/" + "/".join(["level"] * 16)),  # SSM allows 15 levels
        ("PLIVO_AUTH_TOKEN_PARAM", "/" + "a" * 1011),
        ("STREAM_TOKEN_SECRET_PARAM", "stream-key"),
        ("VOICEMAIL_VOICE", "Joanna"),  # a Polly voice needs its Polly. namespace on Plivo
        ("VOICEMAIL_VOICE", "woman"),
        ("VOICEMAIL_LANGUAGE", "english"),
        ("VOICEMAIL_LANGUAGE", "en_US"),
        ("AGENT_POLLY_VOICE", "Polly.Joanna"),
    ],
)
def test_invalid_values_fail_fast_with_the_variable_name(
    name: str, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError, match=name):
        get_settings()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PLIVO_AUTH_TOKEN_PARAM", "/plivo-voice-agent/prod/auth-token"),
        ("PLIVO_AUTH_TOKEN_PARAM", "/team.voice/Plivo_Token"),
        ("PLIVO_AUTH_TOKEN_PARAM", "/plivo/aws/token"),  # aws below the first level is fine
        ("STREAM_TOKEN_SECRET_PARAM", "/plivo-voice-agent/prod/stream-key"),
        ("VOICEMAIL_VOICE", "MAN"),
        ("VOICEMAIL_VOICE", "Polly.Joanna"),
        ("VOICEMAIL_VOICE", "Polly.Matthew-Neural"),
        ("VOICEMAIL_LANGUAGE", "es-ES"),
        ("VOICEMAIL_LANGUAGE", "arb"),
        ("VOICEMAIL_LANGUAGE", "en-GB-WLS"),
        ("AGENT_POLLY_VOICE", "Matthew"),
    ],
)
def test_values_plivo_and_aws_accept_are_accepted(
    name: str, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(name, value)
    get_settings()


@pytest.mark.parametrize("auth_id", ["MA123", "ma" + "A" * 18, "MAabc-_ !@#$%^&*()12", "MA" + "A" * 19, ""])
def test_a_wrong_plivo_auth_id_fails_only_where_plivo_is_called_and_names_the_variable(
    auth_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLIVO_AUTH_ID", auth_id)

    get_settings()  # everything that does not call Plivo keeps working
    with pytest.raises(ConfigurationError, match=r"PLIVO_AUTH_ID: .*MA or SA followed by 18"):
        get_plivo_account()


def test_a_missing_plivo_auth_id_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PLIVO_AUTH_ID")
    with pytest.raises(ConfigurationError, match="PLIVO_AUTH_ID: Field required"):
        get_plivo_account()


@pytest.mark.parametrize("auth_id", ["MAAAAAAAAAAAAAAAAAAA", "SA0123456789ABCDEFGH"])
def test_account_and_subaccount_ids_are_accepted_once_per_container(
    auth_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLIVO_AUTH_ID", auth_id)
    account = get_plivo_account()
    assert account.auth_id == auth_id
    monkeypatch.setenv("PLIVO_AUTH_ID", "MA123")
    assert get_plivo_account() is account


@pytest.mark.parametrize(("wait", "silence"), [("3", "3000"), ("2", "4000")])
def test_a_voicemail_wait_no_longer_than_its_silence_is_refused_naming_both(
    wait: str, silence: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Plivo requires ``length`` > ``minSilence``; otherwise the wait ends before silence could be heard."""
    monkeypatch.setenv("VOICEMAIL_WAIT_SECONDS", wait)
    monkeypatch.setenv("VOICEMAIL_MIN_SILENCE_MS", silence)
    with pytest.raises(ConfigurationError, match=r"VOICEMAIL_WAIT_SECONDS.*VOICEMAIL_MIN_SILENCE_MS"):
        get_settings()


def test_a_beep_wait_has_no_silence_to_outlast(monkeypatch: pytest.MonkeyPatch) -> None:
    """``beep`` excludes ``minSilence`` in Plivo's ``<Wait>``, so a short cap is fine in beep mode."""
    monkeypatch.setenv("VOICEMAIL_WAIT_MODE", "beep")
    monkeypatch.setenv("VOICEMAIL_WAIT_SECONDS", "3")
    assert get_settings().voicemail_wait_mode is VoicemailWait.BEEP


def test_an_unknown_voicemail_wait_mode_is_refused_naming_the_modes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOICEMAIL_WAIT_MODE", "tone")
    with pytest.raises(ConfigurationError, match=r"VOICEMAIL_WAIT_MODE.*'silence' or 'beep'"):
        get_settings()


def test_the_default_voicemail_wait_outlasts_real_greetings() -> None:
    settings = get_settings()
    assert settings.voicemail_wait_seconds >= 30  # personal greetings run 10-30 s; carriers' up to ~25 s
    assert 2000 <= settings.voicemail_min_silence_ms <= 4000
    assert settings.voicemail_wait_seconds * 1000 > settings.voicemail_min_silence_ms


def test_no_bus_and_no_agent_by_default() -> None:
    settings = get_settings()
    assert settings.event_bus_name is None
    assert settings.agent_stream_url is None
    assert settings.agent_webhook_url is None
    assert settings.agent_webhook_secret_param is None


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"AGENT_STREAM_URL": "wss://agent.example.com/plivo"}, "STREAM_TOKEN_SECRET_PARAM"),
        (
            {
                "AGENT_STREAM_URL": "wss://agent.example.com/plivo",
                "STREAM_TOKEN_SECRET_PARAM": "/stream/key",
                "AGENT_WEBHOOK_URL": "https://agent.example.com/hook",
            },
            "AGENT_WEBHOOK_SECRET_PARAM",
        ),
        ({"AGENT_STREAM_URL": "https://agent.example.com/plivo"}, "AGENT_STREAM_URL"),
        ({"AGENT_STREAM_URL": "wss://agent.example.com/?token=x"}, "AGENT_STREAM_URL"),
        ({"AGENT_WEBHOOK_URL": "http://agent.example.com/hook"}, "AGENT_WEBHOOK_URL"),
        ({"AGENT_WEBHOOK_MAX_ATTEMPTS": "9"}, "AGENT_WEBHOOK_MAX_ATTEMPTS"),
        ({"EVENT_BUS_NAME": "no spaces allowed"}, "EVENT_BUS_NAME"),
    ],
)
def test_an_external_agent_needs_keys_of_its_own_and_valid_urls(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], named: str
) -> None:
    """Never a key derived from the Plivo auth token for an agent outside the stack: the start fails."""
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError, match=named):
        get_settings()


def test_an_external_agent_with_its_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENT_STREAM_URL", "wss://agent.example.com/plivo?tenant=acme")
    monkeypatch.setenv("STREAM_TOKEN_SECRET_PARAM", "/agents/stream-token-key")
    monkeypatch.setenv("AGENT_WEBHOOK_URL", "https://agent.example.com/voicemail")
    monkeypatch.setenv("AGENT_WEBHOOK_SECRET_PARAM", "/agents/webhook-key")
    monkeypatch.setenv("EVENT_BUS_NAME", "plivo-voice-agent-dev-calls")
    settings = get_settings()
    assert settings.agent_stream_url == "wss://agent.example.com/plivo?tenant=acme"
    assert settings.agent_webhook_secret_param == "/agents/webhook-key"
    assert settings.event_bus_name == "plivo-voice-agent-dev-calls"
