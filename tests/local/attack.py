"""An attack on the local stack while real calls run, and after they ended (``python -m tests.local.attack``).

An eavesdropper who captured everything Plivo sent (every signed webhook, every signed stream upgrade) and a
fuzzer without Plivo's key try, over real sockets:

- replays of every signed webhook request, during the calls and after them;
- the stream URLs (their tokens) of every stream, captured from the upgrades and from replayed answers,
  with the captured signature, and without one;
- forged tokens (another call, another token id, a later expiry, a guessed MAC);
- a fresh, genuine token for a live call (minted with the stack's key) without Plivo's signature: only the
  signature rule stands in the way, and it must;
- random bodies on every webhook: unsigned, wrongly signed, garbage signatures, random JSON and bytes, and
  correctly signed nonsense (robustness: it may be accepted, never a 5xx).

It prints one JSON line (and writes it with ``--json``): every count the integration test checks — 5xx
answers, replays whose answer differed from the first one, connects admitted, REST actions per call beyond
one, call reports changed by the replays — and whether each call still played as it should.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from xml.etree import ElementTree

import aiohttp

from tests.local.callees import callee_for
from tests.local.scenarios import SCENARIOS, play
from tests.local.stack import LocalConfig, LocalStack
from tests.support.plivo_signing import sign_v3
from voiceagent import routes
from voiceagent.credentials import derive_stream_token_key
from voiceagent.streams import tokens

ATTACKED = ("human", "voicemail_transfer", "dropped_stream", "answer_retried")
"""Calls that reach every signed route but the fallback and every REST action (an agent hangup, a transfer),
a reconnect after a drop, and a retried (nonce-reusing) answer. (The timing-sensitive scenarios stay out: the
attack's load is the machine's, not Plivo's.)"""
WEBHOOKS = (
    routes.ANSWER,
    routes.ANSWER_FALLBACK,
    routes.STREAM_ENDED,
    routes.MACHINE_DETECTION,
    routes.VOICEMAIL,
    routes.STREAM_STATUS,
    routes.HANGUP,
)
FIELDS = ("CallUUID", "From", "To", "CallStatus", "Event", "Machine", "StreamID", "Timestamp", "Duration")
ODD = ("", "true", "-1", "9" * 40, "../../x", "CALL#x", "a" * 2100, "%00", "é", "{}", "completed")
FUZZ_PER_ROUTE = 24


@dataclass
class Tally:
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)
    replays: int = 0
    replays_accepted: list[str] = field(default_factory=list)
    connects: int = 0
    connects_accepted: list[str] = field(default_factory=list)

    def answered(self, what: str, status: int) -> None:
        self.requests += 1
        self.statuses[status] += 1
        if status >= 500:
            self.server_errors.append(f"{what}: {status}")


class Attacker:
    def __init__(self, stack: LocalStack, session: aiohttp.ClientSession, seed: int = 12) -> None:
        self.stack = stack
        self.session = session
        self.random = random.Random(seed)
        self.tally = Tally()
        self._replayed = 0
        self._upgrades_tried = 0
        self._fresh_tried: set[str] = set()
        self.stream_urls: set[str] = set()
        self._urls_tried: set[str] = set()

    # ------------------------------------------------------------------ replays

    async def replay_new_deliveries(self) -> None:
        deliveries = self.stack.plivo.deliveries
        fresh, self._replayed = deliveries[self._replayed :], len(deliveries)
        for delivery in fresh:
            await self.replay(delivery)

    async def replay(self, delivery: Any) -> None:
        if delivery.status != 200:
            return  # only a request that took effect is remembered: its retry must run, not a replay
        async with self.session.post(delivery.url, data=delivery.body, headers=delivery.headers) as got:
            text = await got.text()
        self.tally.answered(f"replay {urlsplit(delivery.url).path}", got.status)
        self.tally.replays += 1
        if got.status != 200 or text != delivery.response:
            self.tally.replays_accepted.append(f"{urlsplit(delivery.url).path}: {got.status} {text[:120]}")
        self.stream_urls.update(_stream_urls(text))

    async def replay_everything(self) -> None:
        for delivery in list(self.stack.plivo.deliveries):
            await self.replay(delivery)

    # ------------------------------------------------------------------ stream connects

    async def connect(self, what: str, url: str, headers: dict[str, str] | None = None) -> None:
        self.tally.connects += 1
        try:
            socket = await self.session.ws_connect(url, headers=headers or {})
        except aiohttp.WSServerHandshakeError as exc:
            self.tally.answered(f"connect {what}", exc.status)
            return
        self.tally.answered(f"connect {what}", 101)
        self.tally.connects_accepted.append(f"{what}: {url[:120]}")
        await socket.close()

    async def replay_stream_tokens(self, *, again: bool = False) -> None:
        """Each captured stream URL (the new ones, or all ``again``): with its captured upgrade signature,
        without one, and forged."""
        upgrades = self.stack.plivo.upgrades
        fresh = upgrades if again else upgrades[self._upgrades_tried :]
        self._upgrades_tried = len(upgrades)
        for url, headers in fresh:
            self.stream_urls.add(url)
            await self.connect("replayed token, replayed signature", url, headers)
        for url in sorted(self.stream_urls if again else self.stream_urls - self._urls_tried):
            self._urls_tried.add(url)
            await self.connect("replayed token, unsigned", url)
            for forged in self.forgeries(url):
                await self.connect("forged token", forged)

    def forgeries(self, url: str) -> list[str]:
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query))
        other_calls = [call for call in self.stack.plivo.calls if call != query.get(tokens.CALL_PARAM)]
        changes: list[dict[str, str]] = [
            {tokens.TOKEN_ID_PARAM: self.random.randbytes(12).hex()},
            {tokens.EXPIRES_PARAM: str(int(query.get(tokens.EXPIRES_PARAM, "0") or 0) + 3600)},
            {tokens.TOKEN_PARAM: base64.urlsafe_b64encode(self.random.randbytes(32)).rstrip(b"=").decode()},
        ]
        if other_calls:
            changes.append({tokens.CALL_PARAM: self.random.choice(other_calls)})
        return [urlunsplit(parts._replace(query=urlencode({**query, **change}))) for change in changes]

    async def unsigned_fresh_tokens(self) -> None:
        """A genuine, unused token for each live call, without Plivo's signature: refused under enforce."""
        config = self.stack.config
        key = derive_stream_token_key(config.auth_token)
        for call in self.stack.plivo.calls.values():
            if call.call_uuid in self._fresh_tried or call.ended.is_set() or "answered" not in call.events:
                continue
            self._fresh_tried.add(call.call_uuid)
            url = tokens.stream_url(config.websocket_url, key, call.call_uuid, int(time.time()), 300)
            await self.connect("fresh token, unsigned", url)

    # ------------------------------------------------------------------ random bodies

    async def fuzz(self, path: str, rounds: int) -> None:
        url = f"{self.stack.config.public_base_url}{path}"
        for _ in range(rounds):
            kind = self.random.choice(["unsigned", "wrong-key", "garbage", "json", "bytes", "signed"])
            form = {
                self.random.choice(FIELDS): self.random.choice((*ODD, self.random.randbytes(6).hex()))
                for _ in range(self.random.randint(0, 6))
            }
            body: bytes | str = urlencode(form)
            headers = {"Content-Type": "application/x-www-form-urlencoded"}
            nonce = self.random.randbytes(10).hex()
            if kind in ("wrong-key", "signed"):
                token = self.stack.config.auth_token if kind == "signed" else "not-the-token"
                form["CallUUID"] = self.random.randbytes(16).hex()  # never one of the live calls
                body = urlencode(form)
                signature = sign_v3(method="POST", url=url, params=form, nonce=nonce, auth_token=token)
                headers.update({"X-Plivo-Signature-V3": signature, "X-Plivo-Signature-V3-Nonce": nonce})
            elif kind == "garbage":
                headers.update(
                    {
                        "X-Plivo-Signature-V3": self.random.randbytes(30).hex(),  # not a signature
                        "X-Plivo-Signature-V3-Nonce": nonce,
                    }
                )
            elif kind == "json":
                body = json.dumps({key: [value, {"x": value}] for key, value in form.items()})
                headers["Content-Type"] = "application/json"
            elif kind == "bytes":
                body = self.random.randbytes(self.random.randint(0, 2000))
                headers["Content-Type"] = self.random.choice(["application/octet-stream", "text/plain", ""])
            async with self.session.post(url, data=body, headers=headers) as got:
                await got.read()
            self.tally.answered(f"fuzz {kind} {path}", got.status)


def _stream_urls(xml: str) -> list[str]:
    try:
        root = ElementTree.fromstring(xml)
    except ElementTree.ParseError:
        return []
    return [(element.text or "").strip() for element in root.iter("Stream")]


def _double_actions(stack: LocalStack, call_uuids: list[str], placed: int) -> list[str]:
    """REST actions beyond one per call (a hangup, a transfer), and creates beyond one per placement."""
    problems = []
    for call_uuid in call_uuids:
        per_call = Counter(
            method for method, path in stack.plivo.rest_requests if f"/Call/{call_uuid}/" in path
        )
        problems += [
            f"{call_uuid[:8]}: {count} x {method}" for method, count in per_call.items() if count > 1
        ]
    creates = sum(
        1 for method, path in stack.plivo.rest_requests if method == "POST" and path.endswith("/Call/")
    )
    if creates != placed:
        problems.append(f"{creates} creates for {placed} placements")
    return problems


async def _report(session: aiohttp.ClientSession, base: str, call_uuid: str) -> Any:
    async with session.get(f"{base}/calls/{call_uuid}") as got:
        return await got.json()


async def run() -> dict[str, Any]:
    stack = LocalStack(LocalConfig.from_env(ephemeral=True, simulated_only=True), callees=callee_for)
    await stack.start()
    scenarios = [scenario for scenario in SCENARIOS if scenario.name in ATTACKED]
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            attacker = Attacker(stack, session)
            calls = asyncio.gather(*(play(stack, scenario) for scenario in scenarios))
            rounds = 0
            while not calls.done():  # while the calls run: replay what was just captured, and fuzz
                await attacker.replay_new_deliveries()
                await attacker.replay_stream_tokens()
                await attacker.unsigned_fresh_tokens()
                await attacker.fuzz(WEBHOOKS[rounds % len(WEBHOOKS)], 4)
                rounds += 1
                await asyncio.sleep(0.3)
            results = await calls
            for path in WEBHOOKS:  # the rest of the fuzzing, now that the calls are over
                await attacker.fuzz(path, FUZZ_PER_ROUTE)
            call_uuids = [result.call_uuid for result in results if result.call_uuid]
            base = stack.config.public_base_url
            before = {uuid: await _report(session, base, uuid) for uuid in call_uuids}
            await attacker.replay_everything()
            await attacker.replay_stream_tokens(again=True)
            after = {uuid: await _report(session, base, uuid) for uuid in call_uuids}
    finally:
        await stack.stop()
    tally = attacker.tally
    return {
        "requests": tally.requests,
        "statuses": {str(status): count for status, count in sorted(tally.statuses.items())},
        "server_errors": tally.server_errors,
        "replays": tally.replays,
        "replays_accepted": tally.replays_accepted,
        "connects": tally.connects,
        "connects_accepted": tally.connects_accepted,
        "double_actions": _double_actions(stack, call_uuids, len(scenarios)),
        "reports_changed_by_replays": [uuid for uuid in call_uuids if before[uuid] != after[uuid]],
        "scenarios": {result.scenario: result.problems for result in results},
        "lost_callbacks": stack.plivo.lost_callbacks,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", type=Path, help="also write the tallies to this file")
    args = parser.parse_args()
    summary = asyncio.run(run())
    line = json.dumps(summary)
    print(line)
    if args.json:
        args.json.write_text(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
