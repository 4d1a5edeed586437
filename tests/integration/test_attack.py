"""The fuzz-and-replay attack of tests/local/attack.py against the local stack, over real sockets, while calls
run and after they ended: signed replays of every webhook, replayed stream tokens, forged and unsigned
connects, random bodies. Nothing may get through, nothing may break, nothing may happen twice."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def attack(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    output = tmp_path_factory.mktemp("attack") / "attack.json"
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'layers' / 'common'}{os.pathsep}{ROOT}"}
    completed = subprocess.run(
        [sys.executable, "-m", "tests.local.attack", "--json", str(output)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert output.exists(), completed.stdout[-3000:] + completed.stderr[-3000:]
    summary: dict[str, Any] = json.loads(output.read_text())
    return summary


def test_the_attack_really_ran(attack: dict[str, Any]) -> None:
    assert attack["requests"] > 250
    assert attack["replays"] >= 30  # every signed webhook of four calls, twice
    assert attack["connects"] >= 40  # every stream URL, replayed, unsigned, forged; fresh unsigned tokens


def test_no_request_of_the_attack_got_a_5xx(attack: dict[str, Any]) -> None:
    assert attack["server_errors"] == []


def test_no_replay_was_accepted_and_no_report_changed(attack: dict[str, Any]) -> None:
    assert attack["replays_accepted"] == []
    assert attack["reports_changed_by_replays"] == []


def test_no_replayed_forged_or_unsigned_stream_connect_was_admitted(attack: dict[str, Any]) -> None:
    assert attack["connects_accepted"] == []


def test_nothing_was_done_twice_and_every_call_still_played(attack: dict[str, Any]) -> None:
    assert attack["double_actions"] == []
    assert attack["scenarios"] == {name: [] for name in attack["scenarios"]}
    assert attack["lost_callbacks"] == 0
