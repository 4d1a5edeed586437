"""Every scenario of `make demo`, played over real sockets (loopback only) against the local stack: real HTTP
webhooks into the unchanged handlers, real WebSocket streams at real-time pace, moto's server for DynamoDB.

The stack runs in its own process (as `make demo` does), so its environment never mixes with the unit tests'.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.local.scenarios import SCENARIOS

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    output = tmp_path_factory.mktemp("demo") / "results.json"
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'layers' / 'common'}{os.pathsep}{ROOT}"}
    completed = subprocess.run(
        [sys.executable, "-m", "tests.local.demo", "--ephemeral-ports", "--json", str(output)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert output.exists(), completed.stdout[-4000:] + completed.stderr[-4000:]
    results: dict[str, Any] = json.loads(output.read_text())
    results["exit_code"] = completed.returncode
    results["stdout"] = completed.stdout
    return results


@pytest.mark.parametrize("scenario", [scenario.name for scenario in SCENARIOS])
def test_scenario_plays_end_to_end(scenario: str, demo_run: dict[str, Any]) -> None:
    (result,) = [result for result in demo_run["results"] if result["scenario"] == scenario]
    assert result["passed"], result["problems"]
    assert result["report"]["state"] == "completed"


def test_no_callback_was_refused_and_the_demo_exits_zero(demo_run: dict[str, Any]) -> None:
    assert demo_run["lost_callbacks"] == 0
    assert demo_run["exit_code"] == 0, demo_run["stdout"][-3000:]
    assert f"{len(SCENARIOS)} passed, 0 failed" in demo_run["stdout"]


def test_every_function_ran_and_frames_flowed(demo_run: dict[str, Any]) -> None:
    invoked = demo_run["invocations"]
    functions = ("answer", "machine_detection", "voicemail", "stream_status", "hangup", "calls", "media")
    for function in (*functions, "stream_connect"):
        assert invoked.get(function, 0) > 0, function
    assert demo_run["frames_handled"] > 1000  # ~50 per second per call
