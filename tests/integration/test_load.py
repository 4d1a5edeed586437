"""A burst of concurrent calls through the local stack, every function in 4 Lambda-like containers, sized
for CI's 2 cores: 8 calls of ~7 s of audio, played 4 times slower than real time (the stack decides on the
frame clock, so only the wall clock stretches; the local stack's moto carries ~3 real-time calls on 2 cores).
Nothing may be lost: every frame handled, every callee turn heard exactly once, every callback accepted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.local_process import LIVE_SETTINGS

ROOT = Path(__file__).resolve().parents[2]
CALLS = 8
TIME_SCALE = 4
pytestmark = pytest.mark.integration


def test_a_burst_of_concurrent_calls_loses_nothing() -> None:
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'layers' / 'common'}{os.pathsep}{ROOT}"}
    for name in LIVE_SETTINGS:  # the simulated Plivo: the tests' or a developer's credentials would stop it
        env.pop(name, None)
    completed = subprocess.run(
        [sys.executable, "-m", "tests.bench.load", str(CALLS), "--time-scale", str(TIME_SCALE)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    result = json.loads(completed.stdout.strip().splitlines()[-1])

    assert result["completed"] == CALLS
    assert result["frames_sent"] > CALLS * 200  # ~50 frames a second each
    assert result["frames_lost"] == 0
    assert result["turns_heard_once"] == result["turns"] == result["acknowledgements"]
    assert result["callbacks_refused"] == 0
