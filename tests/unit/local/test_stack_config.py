"""The local stack's configuration: every setting in README's table can be set from the environment; live
mode uses the real Plivo behind a tunnel, and settings that mix it with the simulator are refused."""

from __future__ import annotations

import socket

import pytest

from tests.local import preflight
from tests.local.stack import STACK_OWNED, LocalConfig
from tests.support import constants as c
from voiceagent.settings import Settings
from voiceagent_cli.local_stack import MixedSettings

LIVE = {
    "LOCAL_PLIVO": "live",
    "PLIVO_AUTH_ID": "MAREALACCOUNT0000000",
    "PLIVO_AUTH_TOKEN": "a-real-token",
    "LOCAL_PUBLIC_BASE_URL": "https://voice-agent.trycloudflare.com",
}
LOCAL_VARIABLES = (
    "LOCAL_HOST",
    "LOCAL_WS_PORT",
    "LOCAL_WEBSOCKET_URL",
    "LOCAL_PUBLIC_BASE_URL",
    "LOCAL_PLIVO",
    "PLIVO_AUTH_ID",
    "PLIVO_AUTH_TOKEN",
    "LOCAL_EPHEMERAL_PORTS",
)


@pytest.fixture(autouse=True)
def plain_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in LOCAL_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_every_setting_of_the_functions_can_be_set_for_the_local_stack(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    aliases = {field.alias for field in Settings.model_fields.values() if field.alias} - STACK_OWNED
    for alias in aliases:
        monkeypatch.setenv(alias, f"value-of-{alias}")
    monkeypatch.setenv("WEBSOCKET_URL", "wss://not-the-local-one")

    environment = LocalConfig.from_env().function_environment()

    assert all(environment[alias] == f"value-of-{alias}" for alias in aliases)
    assert environment["WEBSOCKET_URL"] == "ws://127.0.0.1:3001"  # the stack's own services win


def test_unset_settings_keep_the_functions_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEFAULT_MACHINE_POLICY", raising=False)
    assert "DEFAULT_MACHINE_POLICY" not in LocalConfig.from_env().function_environment()


def test_live_mode_uses_plivo_itself_and_one_tunnel(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in LIVE.items():
        monkeypatch.setenv(name, value)

    config = LocalConfig.from_env()
    environment = config.function_environment()

    assert config.live
    assert environment["PLIVO_API_BASE_URL"] == ""  # the functions' setting for Plivo's own API
    assert environment["PLIVO_AUTH_ID"] == "MAREALACCOUNT0000000"
    assert environment["PUBLIC_BASE_URL"] == "https://voice-agent.trycloudflare.com"
    assert environment["WEBSOCKET_URL"] == "wss://voice-agent.trycloudflare.com/media"
    assert "LOCAL_PLIVO_PORT" not in config.ports()  # no simulator to serve
    assert "LIVE: real calls" in described(config)


def described(config: LocalConfig) -> str:
    from tests.local.stack import describe

    return describe(config)


@pytest.mark.parametrize(
    ("environment", "problem"),
    [
        ({"PLIVO_AUTH_ID": "MAREALACCOUNT0000000"}, "Set LOCAL_PLIVO=live to use real Plivo"),
        ({"PLIVO_AUTH_TOKEN": "a-real-token"}, "Set LOCAL_PLIVO=live to use real Plivo"),
        ({"LOCAL_PUBLIC_BASE_URL": "https://x.ngrok.app"}, "LOCAL_PUBLIC_BASE_URL=https://x.ngrok.app is"),
        ({**LIVE, "PLIVO_AUTH_ID": ""}, "PLIVO_AUTH_ID: set your account's Auth ID"),
        ({**LIVE, "PLIVO_AUTH_ID": "MALOCALSTACK00000000"}, "PLIVO_AUTH_ID: set your account's Auth ID"),
        ({**LIVE, "PLIVO_AUTH_TOKEN": ""}, "PLIVO_AUTH_TOKEN: set your account's Auth Token"),
        ({**LIVE, "LOCAL_PUBLIC_BASE_URL": ""}, "LOCAL_PUBLIC_BASE_URL: start a tunnel"),
        ({**LIVE, "LOCAL_PUBLIC_BASE_URL": "http://example.com"}, "cannot reach it (it is not https://)"),
        (
            {**LIVE, "LOCAL_PUBLIC_BASE_URL": "https://localhost:3000"},
            "localhost is a name only this network",
        ),
        ({**LIVE, "LOCAL_PUBLIC_BASE_URL": "https://192.168.1.20"}, "192.168.1.20 is not an address"),
        ({**LIVE, "LOCAL_PUBLIC_BASE_URL": "https://box.local"}, "box.local is a name only this network"),
        ({**LIVE, "LOCAL_WEBSOCKET_URL": "ws://127.0.0.1:3001"}, "LOCAL_WEBSOCKET_URL=ws://127.0.0.1:3001:"),
        ({"LOCAL_PLIVO": "sometimes"}, "LOCAL_PLIVO='sometimes': use simulated (the default) or live"),
    ],
)
def test_settings_that_mix_the_simulator_and_real_plivo_are_refused(
    environment: dict[str, str], problem: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)

    with pytest.raises(MixedSettings) as refused:
        LocalConfig.from_env()

    assert problem in str(refused.value)


def test_the_demo_always_plays_the_simulator_and_says_what_it_left_aside(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in LIVE.items():
        monkeypatch.setenv(name, value)

    config = LocalConfig.from_env(simulated_only=True)

    assert not config.live
    assert config.auth_id == "MALOCALSTACK00000000"
    assert config.public_base_url == "http://127.0.0.1:3000"
    assert set(config.ignored) == set(LIVE)
    assert "ignored here: PLIVO_AUTH_ID" in described(config)


@pytest.mark.enable_socket
def test_ephemeral_ports_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCAL_EPHEMERAL_PORTS", "1")
    config = LocalConfig.from_env()
    assert 3000 not in config.ports().values()


@pytest.mark.enable_socket
def test_a_busy_port_is_one_message_with_what_to_do() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]

        with pytest.raises(preflight.LocalStackError) as refused:
            preflight.check_ports("127.0.0.1", {"LOCAL_HTTP_PORT": port, "LOCAL_WS_PORT": 0})

    message = str(refused.value)
    assert message.startswith(f"port LOCAL_HTTP_PORT={port} already in use on 127.0.0.1")
    assert f"lsof -i :{port}" in message
    assert "make demo ARGS=--ephemeral-ports" in message
    assert c.TEST_AUTH_ID not in message


@pytest.mark.parametrize(
    ("problem", "printed"),
    [
        (MixedSettings(["PLIVO_AUTH_ID: set your account's Auth ID"]), "will not start with these settings"),
        (
            preflight.LocalStackError("port LOCAL_HTTP_PORT=3000 already in use"),
            "error: port LOCAL_HTTP_PORT",
        ),
    ],
)
def test_make_local_and_make_demo_print_a_problem_without_a_traceback(
    problem: Exception, printed: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.local.stack import run

    async def failing() -> int:
        raise problem

    assert run(failing) == 2
    err = capsys.readouterr().err
    assert printed in err
    assert "Traceback" not in err


def test_each_call_event_is_one_line_named_by_its_scenario_once_known() -> None:
    import io

    from tests.local.console import CallLines
    from tests.local.plivo_sim import Callee, SimCall

    out = io.StringIO()
    lines = CallLines(out, clock=iter([0.0, 1.5, 2.0, 3.0]).__next__)
    call = SimCall("call-uuid-1234", "request-1", {"to": "+14155550191"}, Callee(()))
    lines(call, "placed to +14155550191")
    lines(call, "audio cleared")  # frequent, not news
    lines.label("request-1", "voicemail_agent")
    lines(call, "beep start")

    assert out.getvalue().splitlines() == [
        "[   1.5s] +14155550191 call-uui     placed to +14155550191",
        "[   2.0s] voicemail_agent           beep start",
    ]
