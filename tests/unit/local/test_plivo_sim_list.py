"""The simulated Plivo's call list (``GET Call/``): what the campaign sweeper asks before it calls a
placement in doubt lost, so its answers must follow the filters as Plivo's would."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from aiohttp.test_utils import make_mocked_request

from tests.local.callees import callee_for
from tests.local.plivo_sim import PlivoSimulator, SimCall

TO, FROM = "+14155550101", "+14155550199"


def _simulator(*calls: tuple[str, float | None]) -> PlivoSimulator:
    """A simulator holding one call per (to, ended_at); None: still live."""
    sim = PlivoSimulator(auth_id="MAXXXXXXXXXXXXXXXXXX", auth_token="token", callees=callee_for)
    for index, (to, ended_at) in enumerate(calls):
        call = SimCall(f"call-{index}", f"request-{index}", {"to": to, "from": FROM}, callee_for(to))
        if ended_at is not None:
            call.ended.set()
            call.ended_at = ended_at
        sim.calls[call.call_uuid] = call
    return sim


def _list(sim: PlivoSimulator, query: str) -> tuple[int, dict[str, Any]]:
    request = make_mocked_request("GET", f"/v1/Account/MAXXXXXXXXXXXXXXXXXX/Call/?{query}")
    response = asyncio.run(sim._list(request))
    assert isinstance(response.body, bytes)
    return response.status, json.loads(response.body)


def test_ended_calls_are_listed_by_number_and_end_time() -> None:
    now = time.time()
    sim = _simulator((TO, now - 30), (TO, now - 7200), ("+14155550102", now - 30), (TO, None))
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(now - 600))

    status, body = _list(sim, f"to_number=14155550101&from_number=14155550199&end_time__gte={since}")

    assert status == 200
    assert [call["call_uuid"] for call in body["objects"]] == ["call-0"]


def test_live_and_queued_calls_are_listed_by_number() -> None:
    sim = _simulator((TO, None), ("+14155550102", None), (TO, time.time()))

    assert _list(sim, "status=live&to_number=14155550101")[1] == {"calls": ["call-0"]}
    assert _list(sim, "status=queued&to_number=14155550101")[1] == {"calls": []}


def test_a_malformed_end_time_is_refused() -> None:
    status, body = _list(_simulator(), "end_time__gte=yesterday")

    assert status == 400
    assert "end_time__gte" in body["error"]
