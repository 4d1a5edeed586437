"""The local stack's configuration: every setting in README's table can be set from the environment."""

from __future__ import annotations

import pytest

from tests.local.stack import STACK_OWNED, LocalConfig
from voiceagent.settings import Settings


def test_every_setting_of_the_functions_can_be_set_for_the_local_stack(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    aliases = {field.alias for field in Settings.model_fields.values() if field.alias} - STACK_OWNED
    for alias in aliases:
        monkeypatch.setenv(alias, f"value-of-{alias}")
    monkeypatch.setenv("WEBSOCKET_URL", "wss://not-the-local-one")
    for name in ("LOCAL_HOST", "LOCAL_WS_PORT", "LOCAL_WEBSOCKET_URL"):
        monkeypatch.delenv(name, raising=False)

    environment = LocalConfig.from_env().function_environment()

    assert all(environment[alias] == f"value-of-{alias}" for alias in aliases)
    assert environment["WEBSOCKET_URL"] == "ws://127.0.0.1:3001"  # the stack's own services win


def test_unset_settings_keep_the_functions_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEFAULT_MACHINE_POLICY", raising=False)
    assert "DEFAULT_MACHINE_POLICY" not in LocalConfig.from_env().function_environment()
