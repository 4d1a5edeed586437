"""Concurrent human calls through the local stack, every function in Lambda-like containers (4 warm each
unless LOCAL_LAMBDA_CONTAINERS says otherwise). Prints one JSON line.

Each callee talks over the greeting (a barge-in), then takes turns; the reference agent answers each finished
turn with one acknowledgement, so correctness is countable: every callee turn heard exactly once, every frame
handled. Also measured: frame handling latency, barge-in latency (the callee's first word to our clearAudio
arriving), and DynamoDB operations per frame (moto's request counts, across every container).

``--time-scale S`` plays every call S times slower than real time: the stack decides everything on the frame
clock, so results do not change, and a small machine can carry more calls (the CPU a frame costs locally is
moto's, not DynamoDB's).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import sys
import urllib.request
from typing import Any

from tests.local.moto_server import STATS_PATH
from tests.local.plivo_sim import Callee, HangUp, Quiet, SimCall, Speak
from tests.local.scenarios import FROM
from tests.local.stack import LocalConfig, LocalStack
from voiceagent_cli.main import request_api

TURNS = (900, 700, 1100)
"""What each callee says, in ms: the first turn starts while the greeting plays (a barge-in)."""
CALL = Callee(
    (
        Quiet(700),
        Speak(TURNS[0]),
        Quiet(1300),
        Speak(TURNS[1]),
        Quiet(1300),
        Speak(TURNS[2]),
        Quiet(1500),
        HangUp(),
    )
)


def _place(base: str, index: int) -> Any:
    payload = {"to": f"+1415555{index:04d}", "from": FROM, "policy": "agent"}
    return request_api("POST", f"{base}/calls", payload, sign=False)


def _moto_counts(stack: LocalStack) -> dict[str, int]:
    url = f"http://{stack.config.host}:{stack.config.dynamodb_port}{STATS_PATH}"
    with urllib.request.urlopen(url, timeout=5) as response:
        counts: dict[str, int] = json.loads(response.read())
        return counts


def _acknowledgements(call: SimCall) -> int:
    return sum(
        1
        for frame in call.frames_received
        if frame.get("event") == "checkpoint" and frame.get("name") == "acknowledge"
    )


def percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))], 2)


async def run(size: int, time_scale: float = 1.0, timeout: float = 90.0) -> dict[str, Any]:
    stack = LocalStack(
        LocalConfig.from_env(ephemeral=True, simulated_only=True),
        callees=lambda _to: CALL,
        time_scale=time_scale,
    )
    await stack.start()
    try:
        before = _moto_counts(stack)
        loop = asyncio.get_running_loop()
        base = stack.config.public_base_url
        placed = await asyncio.gather(
            *(loop.run_in_executor(None, functools.partial(_place, base, index)) for index in range(size))
        )
        calls = [
            stack.plivo.by_request[response.json()["request_uuid"]]
            for response in placed
            if response.status_code == 202
        ]
        done, _ = await asyncio.wait(
            [asyncio.create_task(call.finished.wait()) for call in calls], timeout=timeout * time_scale
        )
        await asyncio.sleep(0.5)  # let the last frames land
        after = _moto_counts(stack)
        sent = stack.plivo.frames_sent
        handled = len(stack.gateway.frame_latencies)
        latencies = [seconds * 1000 for seconds in stack.gateway.frame_latencies]
        operations = {name: after.get(name, 0) - before.get(name, 0) for name in after}
        heard = [_acknowledgements(call) for call in calls]
        barge_ins = [float(ms) for call in calls for ms in call.barge_in_ms]
        return {
            "calls": size,
            "containers": stack.config.containers,
            "time_scale": time_scale,
            "completed": len(done),
            "frames_sent": sent,
            "frames_handled": handled,
            "frames_lost": sent - handled,
            "turns": len(TURNS) * len(calls),
            "turns_heard_once": sum(count == len(TURNS) for count in heard) * len(TURNS),
            "acknowledgements": sum(heard),
            "frame_p50_ms": percentile(latencies, 0.5),
            "frame_p99_ms": percentile(latencies, 0.99),
            "barge_in_p50_ms": percentile(barge_ins, 0.5),
            "barge_in_p95_ms": percentile(barge_ins, 0.95),
            "barge_ins": len(barge_ins),
            "dynamodb_reads_per_frame": round(
                sum(operations.get(name, 0) for name in ("GetItem", "Query")) / max(1, handled), 3
            ),
            "dynamodb_writes_per_frame": round(
                sum(
                    operations.get(name, 0)
                    for name in ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems")
                )
                / max(1, handled),
                3,
            ),
            "dynamodb_operations": operations,
            "invocations_by_container": stack.lambdas.pools["media"].stats.by_container,
            "callbacks_refused": stack.plivo.lost_callbacks,
        }
    finally:
        await stack.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("calls", type=int)
    parser.add_argument("--time-scale", type=float, default=1.0)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.calls, args.time_scale))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
