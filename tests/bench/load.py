"""N concurrent calls at real-time pace through the local stack (loopback only, bounded in count and time).
Prints one JSON line: calls completed, frames sent and lost, frame-handling latency."""

from __future__ import annotations

import asyncio
import functools
import json
import statistics
import sys
from typing import Any

from tests.local.plivo_sim import Callee, HangUp, Quiet, Speak
from tests.local.scenarios import FROM
from tests.local.stack import LocalConfig, LocalStack
from voiceagent_cli.main import request_api

CALL = Callee((Quiet(400), Speak(800), Quiet(1400), Speak(600), Quiet(1400), HangUp()))
"""~5 s of a human call: talks, hears the agent's acknowledgement, talks again, hangs up."""


def _place(base: str, index: int) -> Any:
    payload = {"to": f"+1415555{index:04d}", "from": FROM, "policy": "agent"}
    return request_api("POST", f"{base}/calls", payload, sign=False)


async def run(size: int, timeout: float = 60.0) -> dict[str, Any]:
    stack = LocalStack(LocalConfig.from_env(ephemeral=True), callees=lambda _to: CALL)
    await stack.start()
    try:
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
            [asyncio.create_task(call.finished.wait()) for call in calls], timeout=timeout
        )
        await asyncio.sleep(0.5)  # let the last frames land
        sent = stack.plivo.frames_sent
        handled = len(stack.gateway.frame_latencies)
        latencies = [seconds * 1000 for seconds in stack.gateway.frame_latencies]
        return {
            "calls": size,
            "completed": len(done),
            "frames_sent": sent,
            "frames_handled": handled,
            "frames_lost": sent - handled,
            "frame_p50_ms": round(statistics.median(latencies), 2) if latencies else None,
            "frame_p99_ms": round(sorted(latencies)[int(0.99 * len(latencies))], 2) if latencies else None,
            "callbacks_refused": stack.plivo.lost_callbacks,
        }
    finally:
        await stack.stop()


if __name__ == "__main__":
    print(json.dumps(asyncio.run(run(int(sys.argv[1])))))
