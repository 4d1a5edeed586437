"""Rehearsed faults (tests/local/rehearsal.py) on the local stack, over real sockets, every function in
Lambda-like containers: Plivo's REST API refusing and timing out during the voicemail policies, DynamoDB
throttling machine detection and a stream's recovery, a media container dying mid-frame, 200 streams
connecting at once. Nothing may be lost, each action must happen once, and the functions' own metrics (read
from their CloudWatch EMF output) and the alarms on them must tell what happened."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.support.local_process import LIVE_SETTINGS
from tests.support.template import load_template

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


def _metrics(stdout: str) -> Counter[str]:
    """The sum of each metric the functions printed as CloudWatch EMF lines."""
    totals: Counter[str] = Counter()
    for line in stdout.splitlines():
        if not line.startswith('{"_aws"'):
            continue
        document = json.loads(line)
        for directive in document["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                values = document[metric["Name"]]
                totals[metric["Name"]] += int(sum(values) if isinstance(values, list) else values)
    return totals


@pytest.fixture(scope="module")
def rehearsal(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    output = tmp_path_factory.mktemp("rehearsal") / "rehearsal.json"
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT / 'layers' / 'common'}{os.pathsep}{ROOT}",
        "LOCAL_METRICS": "1",
    }
    for name in LIVE_SETTINGS:
        env.pop(name, None)
    completed = subprocess.run(
        [sys.executable, "-m", "tests.local.rehearsal", "--json", str(output)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )
    assert output.exists(), completed.stdout[-3000:] + completed.stderr[-3000:]
    summary: dict[str, Any] = json.loads(output.read_text())
    summary["metrics"] = _metrics(completed.stdout)
    return summary


def test_every_call_ended_as_it_should_with_each_action_once(rehearsal: dict[str, Any]) -> None:
    assert rehearsal["scenarios"] == {name: [] for name in rehearsal["scenarios"]}, rehearsal["timelines"]
    assert rehearsal["outcomes"] == {
        "transfer_plivo_429_500": "voicemail_left",
        "hangup_plivo_timeout": "voicemail_hangup",
        "agent_policy_dynamodb_throttled": "voicemail_left",
        "recovery_under_faults": "human",
        "media_container_dies": "human",
    }
    assert rehearsal["lost_callbacks"] == 0


def test_the_faults_really_happened(rehearsal: dict[str, Any]) -> None:
    assert rehearsal["rest_faults_injected"] == {"transfer 429": 1, "transfer 500": 1, "hangup timeout": 1}
    assert rehearsal["webhook_deliveries_failed"].get("/plivo/stream-ended 5xx", 0) >= 1
    assert rehearsal["dynamodb_requests_throttled"] >= 3
    assert rehearsal["media_container_crashes"] == 1


def test_a_burst_of_200_streams_is_admitted_once_each_and_released(rehearsal: dict[str, Any]) -> None:
    burst = rehearsal["burst"]
    assert burst["statuses"] == {"101": 200}
    assert burst["attached"] == 200
    assert burst["reused_token_statuses"] == {"403": 200}  # each token opens one connection
    assert burst["attached_after_close"] == 0


def test_the_metrics_tell_what_happened_and_alarms_watch_the_failures(rehearsal: dict[str, Any]) -> None:
    metrics = rehearsal["metrics"]
    assert metrics["PlivoApiRetries"] >= 2  # the transfer's 429, the hangup's timeout
    assert metrics["PlivoApiErrors"] == 0  # every Plivo call went through in the end
    assert metrics["StreamsDropped"] >= 1
    assert metrics["StreamConnects"] >= 200
    assert metrics["MediaOutboxRecovered"] >= 1  # the dead container's actions, finished by another
    assert metrics["CallOutcomes"] >= 5
    alarmed = {
        properties.get("MetricName")
        for alarm in load_template()["Resources"].values()
        if alarm["Type"] == "AWS::CloudWatch::Alarm"
        for properties in [
            alarm["Properties"],
            *(
                query.get("MetricStat", {}).get("Metric", {})
                for query in alarm["Properties"].get("Metrics", [])
            ),
        ]
    }
    # What would have paged someone had it not been absorbed: Plivo calls failing for good, drops, media
    # frames let go, failed invocations (the crash), webhook 5xx (the 503s).
    assert {"PlivoApiErrors", "StreamsDropped", "MediaFramesFailed", "Errors", "5xx"} <= alarmed
