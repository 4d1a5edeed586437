"""`make local` and `make demo` take the functions' settings from the environment, like a stack parameter."""

from __future__ import annotations

import pytest

from tests.local.stack import LocalConfig


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PLIVO_CALLBACK_RETRIES", "4"),
        ("STREAM_RECOVERY_MAX_ATTEMPTS", "3"),
        ("STREAM_RECOVERY_APOLOGY", "Bye for now."),
    ],
)
def test_the_local_stack_passes_the_functions_settings_through(
    name: str, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(name, value)
    assert LocalConfig.from_env().function_environment()[name] == value
