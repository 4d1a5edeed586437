"""Voicemail at the beep, measured: how the beep detector hears a seeded corpus, and when the message starts
through the local stack (4 Lambda-like containers, real-time pace).

``python -m tests.bench.voicemail`` prints one JSON document; ``make bench`` runs it as part of the table.

1. Detector accuracy, frame by frame on the corpus (2 % of frames dropped, as a lost frame would be): beep
   recall, false alarms by kind (greetings without a beep, conversation, music, DTMF, noise), how far the
   reported end is from the true end, and the CPU per frame.
2. Message start, end to end: calls placed with the agent policy to callees that play corpus greetings,
   with Plivo's machine detection posted mid-greeting (the usual case) or after the beep (late detection).
   For each: when our message started against the beep's end (or the greeting's end when there is no beep).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
from dataclasses import dataclass
from typing import Any

from tests.support import corpus

CALL_LIMIT_SECONDS = 120
"""A call still going after this (greeting, wait and message last under 40 s) is counted as unfinished."""
TOLERANCE_MS = 60
"""A detected beep counts when its end is this close to the true end."""


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def spread(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "max": None}
    return {
        "p50": round(statistics.median(values), 1),
        "p95": round(percentile(values, 0.95), 1),
        "max": round(max(values), 1),
    }


# ---------------------------------------------------------------- 1. the detector on the corpus


def detector_accuracy(seed: int = 7, per_kind: int = 40, drop: float = 0.02) -> dict[str, Any]:
    from voiceagent.media.tones import BeepDetector, BeepState

    detector = BeepDetector()
    rng = random.Random(seed)
    found: dict[str, int] = {}
    alarms: dict[str, int] = {}
    errors: list[float] = []
    delays: list[float] = []
    hz_errors: list[float] = []
    costs: dict[str, list[float]] = {}
    for case in corpus.cases(seed, per_kind):
        state, beeps = BeepState(), []
        for index, frame in enumerate(case.frames):
            if rng.random() < drop:
                continue
            clock = index * corpus.FRAME_MS
            started = time.perf_counter()
            state, beep = detector.step(state, frame, clock)
            costs.setdefault(case.label_at(clock + corpus.FRAME_MS / 2), []).append(
                (time.perf_counter() - started) * 1e6
            )
            if beep is not None:
                beeps.append((beep, clock + corpus.FRAME_MS))
        if case.beep_end_ms is None:
            alarms[case.kind] = alarms.get(case.kind, 0) + len(beeps)
            continue
        hits = [(beep, at) for beep, at in beeps if abs(beep.ended_ms - case.beep_end_ms) <= TOLERANCE_MS]
        found[case.kind] = found.get(case.kind, 0) + bool(hits)
        alarms[case.kind] = alarms.get(case.kind, 0) + len(beeps) - bool(hits)
        if hits:
            beep, at = hits[0]
            errors.append(abs(beep.ended_ms - case.beep_end_ms))
            delays.append(at - case.beep_end_ms)
            hz_errors.append(abs(beep.frequency_hz - (case.beep_hz or 0.0)))
    beep_cases = per_kind * len(corpus.BEEP_KINDS)
    return {
        "cases": per_kind * len(corpus.KINDS),
        "beep_cases": beep_cases,
        "recall": round(sum(found.values()) / beep_cases, 4),
        "false_alarms": alarms,
        "negative_cases": per_kind * len(corpus.NEGATIVE_KINDS),
        "end_error_ms": spread(errors),
        "reported_after_end_ms": spread(delays),
        "frequency_error_hz": spread(hz_errors),
        "frame_cost_us": {
            label: {"p50": round(statistics.median(values), 1), "p99": round(percentile(values, 0.99), 1)}
            for label, values in sorted(costs.items())
        },
        "dropped_frames": drop,
    }


# ---------------------------------------------------------------- 2. the message start, end to end


@dataclass(frozen=True)
class Trial:
    number: str
    case: corpus.Case
    detect_at_ms: int
    late: bool


def trials(seed: int, count: int) -> list[Trial]:
    """Greetings with a beep detected mid-greeting, a quarter of them detected only after the beep, and
    greetings without a beep."""
    rng = random.Random(seed)
    chosen: list[Trial] = []
    for index in range(count):
        kind = "greeting_no_beep" if index % 5 == 4 else rng.choice(corpus.BEEP_KINDS)
        case = corpus.case(seed, kind, index)
        late = case.beep_end_ms is not None and index % 4 == 3
        if late:
            detect = int((case.beep_end_ms or 0) + rng.uniform(300, 1500))
        else:
            greeting_end = case.greeting_end_ms or 0.0
            detect = int(max(1500.0, greeting_end - rng.uniform(1000, 3000)))
        chosen.append(Trial(f"+1415777{index:04d}", case, detect, late))
    return chosen


def _callee(trial: Trial) -> Any:
    from tests.local.plivo_sim import Audio, Callee, Quiet

    case = trial.case
    marks = tuple(
        (name, value)
        for name, value in (("greeting_end", case.greeting_end_ms), ("beep_end", case.beep_end_ms))
        if value is not None
    )
    # The greeting, then the recording's silence: long enough for the slowest rule (the longest wait).
    return Callee((Audio(case.frames, marks), Quiet(8000)), machine_after_ms=trial.detect_at_ms)


async def message_starts(seed: int = 11, count: int = 20, concurrency: int = 3) -> dict[str, Any]:
    from tests.local.scenarios import FROM
    from tests.local.stack import LocalConfig, LocalStack
    from voiceagent_cli.main import request_api

    chosen = trials(seed, count)
    by_number = {trial.number: _callee(trial) for trial in chosen}
    stack = LocalStack(
        LocalConfig.from_env(ephemeral=True, simulated_only=True), callees=lambda to: by_number[to]
    )
    await stack.start()
    rows: list[dict[str, Any]] = []
    unfinished: list[str] = []
    try:
        loop = asyncio.get_running_loop()
        gate = asyncio.Semaphore(concurrency)

        async def run(trial: Trial) -> None:
            async with gate:
                payload = {"to": trial.number, "from": FROM, "policy": "agent"}
                placed = await loop.run_in_executor(
                    None,
                    lambda: request_api("POST", f"{stack.config.public_base_url}/calls", payload, sign=False),
                )
                call = stack.plivo.by_request[placed.json()["request_uuid"]]
                try:
                    await asyncio.wait_for(call.finished.wait(), CALL_LIMIT_SECONDS)
                except TimeoutError:
                    unfinished.append(trial.case.name)  # reported, not fatal: the other calls still count
                    return
                report = await loop.run_in_executor(
                    None,
                    lambda: request_api(
                        "GET", f"{stack.config.public_base_url}/calls/{call.call_uuid}", None, sign=False
                    ).json(),
                )
                rows.append(_row(trial, call.marks, report.get("voicemail") or {}))

        await asyncio.gather(*(run(trial) for trial in chosen))
    finally:
        await stack.stop()
    return {**summarise(rows), "unfinished": unfinished}


def _row(trial: Trial, marks: dict[str, int], voicemail: dict[str, Any]) -> dict[str, Any]:
    beep = voicemail.get("beep")
    return {
        "case": trial.case.name,
        "trigger": voicemail.get("trigger"),
        "heard_hz": beep.get("frequency_hz") if isinstance(beep, dict) else None,
        "true_hz": round(trial.case.beep_hz) if trial.case.beep_hz else None,
        "late": trial.late,
        "beep_end": marks.get("beep_end"),
        "greeting_end": marks.get("greeting_end"),
        "detected": marks.get("machine_detected"),
        "started": marks.get("message_started"),
    }


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    beeps = [row for row in rows if row["beep_end"] is not None and row["started"] is not None]
    after_beep = [row["started"] - row["beep_end"] for row in beeps]
    on_time = [row for row in beeps if not row["late"]]
    late = [row for row in beeps if row["late"]]
    no_beep = [row for row in rows if row["beep_end"] is None and row["started"] is not None]
    return {
        "calls": len(rows),
        "messages": sum(row["started"] is not None for row in rows),
        "starts_before_the_beep_ended": sum(delay < 0 for delay in after_beep),
        "starts_mid_greeting": sum(
            row["started"] < row["greeting_end"] for row in rows if row["started"] is not None
        ),
        "after_beep_ms": spread([row["started"] - row["beep_end"] for row in on_time]),
        "within_300_ms_after_beep": round(
            sum(0 <= row["started"] - row["beep_end"] <= 300 for row in on_time) / max(1, len(on_time)), 3
        ),
        "late_detection_to_message_ms": spread([row["started"] - row["detected"] for row in late]),
        "no_beep_after_greeting_ms": spread([row["started"] - row["greeting_end"] for row in no_beep]),
        "rows": rows,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--per-kind", type=int, default=40)
    args = parser.parse_args()
    result = {
        "detector": detector_accuracy(per_kind=args.per_kind),
        "message_start": asyncio.run(message_starts(count=args.calls)),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
