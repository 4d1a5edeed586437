"""The local stack in its own process, as `make local` runs it, for integration tests that drive it from
outside (the CLI, the doctor) over real sockets on loopback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PORTS = (
    "LOCAL_HTTP_PORT",
    "LOCAL_WS_PORT",
    "LOCAL_PLIVO_PORT",
    "LOCAL_MOTO_PORT",
    "LOCAL_MOTO_DYNAMODB_PORT",
    "LOCAL_AGENT_PORT",
)
LIVE_SETTINGS = (
    "LOCAL_PLIVO",
    "PLIVO_AUTH_ID",
    "PLIVO_AUTH_TOKEN",
    "LOCAL_PUBLIC_BASE_URL",
    "LOCAL_WEBSOCKET_URL",
)
"""What a developer's shell may hold for live mode; the tests' stacks play the simulated Plivo."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def environment(**overrides: str) -> dict[str, str]:
    python_path = os.pathsep.join(str(ROOT / part) for part in ("layers/common", "layers/cli", "."))
    return {**os.environ, "PYTHONPATH": python_path, **overrides}


def wait_until_listening(ports: list[int], process: subprocess.Popen[str], seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    waiting = list(ports)
    while waiting:
        if process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            pytest.fail(f"the local stack exited ({process.returncode}): {output[-3000:]}")
        try:
            with socket.create_connection(("127.0.0.1", waiting[0]), timeout=1):
                waiting.pop(0)
        except OSError:
            if time.monotonic() > deadline:
                pytest.fail(f"the local stack did not listen on {waiting} within {seconds} s")
            time.sleep(0.2)


@contextmanager
def running_stack(**overrides: str) -> Iterator[dict[str, str]]:
    """`make local` on free ports, simulated Plivo; yields the environment that finds it (LOCAL_* ports)."""
    ports = {name: str(free_port()) for name in PORTS}
    env = environment(**ports, **overrides)
    for name in LIVE_SETTINGS:
        env.pop(name, None)
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.local.stack"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_until_listening([int(ports[name]) for name in PORTS], process)
        yield env
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def voiceagent(
    env: dict[str, str], *arguments: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """The `voiceagent` command in its own process."""
    return subprocess.run(
        [sys.executable, "-m", "voiceagent_cli", *arguments],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
