"""The example agent's checks (README's ten-line examples) agree with what the stack issues and signs: the
stream token on the <Stream> URL and the voicemail notification's signature, including the sample in
events/agent/."""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qsl, urlsplit

import pytest

from examples.external_agent.agent import AgentConfig, ExampleAgent
from examples.external_agent.checks import token_ok, verified
from tests.support import constants as c
from tests.support.events import EVENTS_DIR
from voiceagent.agents import notification
from voiceagent.streams import tokens

KEY = c.STREAM_TOKEN_SECRET.encode()
NOW = 1_732_451_411


def _query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


def test_a_token_the_stack_issued_passes_on_your_agents_own_url() -> None:
    url = tokens.stream_url("wss://agent.example.com/stream?tenant=acme", KEY, "call-1", NOW, 300)
    query = _query(url)
    assert query["tenant"] == "acme"
    assert token_ok(KEY, query, now=NOW + 299)


@pytest.mark.parametrize(
    ("change", "now"),
    [
        ({}, NOW + 301),  # expired
        ({"call_uuid": "call-2"}, NOW),  # issued for another call
        ({"jti": "0" * 24}, NOW),  # another token id
        ({"token": "forged"}, NOW),
        ({"expires": "soon"}, NOW),
    ],
)
def test_a_token_that_is_forged_altered_or_expired_fails(change: dict[str, str], now: int) -> None:
    query = {**_query(tokens.stream_url("wss://agent.example.com/s", KEY, "call-1", NOW, 300)), **change}
    assert not token_ok(KEY, query, now=now)
    assert not token_ok(b"another key", _query(tokens.stream_url("wss://a/s", KEY, "call-1", NOW, 300)), NOW)


def test_missing_token_parameters_fail() -> None:
    assert not token_ok(KEY, {"call_uuid": "call-1"}, now=NOW)


def test_a_token_admits_one_connection() -> None:
    agent = ExampleAgent(AgentConfig(stream_key=KEY, webhook_key=b"k", api_url="http://127.0.0.1:1"))
    issued = tokens.issue(KEY, "call-1", int(time.time()), 300)
    query = dict(parse_qsl(issued.query()))
    assert agent._admit(query) == "call-1"
    assert agent._admit(query) is None  # a second connection with the same token


def test_the_sample_notification_verifies_with_its_key() -> None:
    sample = json.loads((EVENTS_DIR / "agent" / "notification.json").read_text())
    body = sample["body"].encode()
    header = sample["headers"]["X-Voiceagent-Signature"]
    timestamp = int(header.split(",")[0].removeprefix("t="))
    key = c.AGENT_WEBHOOK_SECRET.encode()
    assert verified(key, body, header, now=timestamp + 10)
    assert notification.verify(key, body, header, now=timestamp + 10)


@pytest.mark.parametrize(
    ("body", "key", "age"),
    [
        (b'{"a":2}', b"k", 0),  # the body changed
        (b'{"a":1}', b"other", 0),  # signed with another key
        (b'{"a":1}', b"k", 301),  # too old: a replay
        (b'{"a":1}', b"k", -301),  # from the future
    ],
)
def test_a_notification_altered_foreign_or_stale_fails(body: bytes, key: bytes, age: int) -> None:
    header = notification.sign(b"k", b'{"a":1}', NOW)
    assert not verified(key, body, header, tolerance=300, now=NOW + age)


@pytest.mark.parametrize("header", ["", "v1=abc", "t=abc,v1=abc", f"t={NOW}"])
def test_a_malformed_signature_header_fails(header: str) -> None:
    assert not verified(b"k", b"{}", header, now=NOW)


def test_non_ascii_tokens_and_signatures_fail_instead_of_raising() -> None:
    query = {**_query(tokens.stream_url("wss://a/s", KEY, "call-1", NOW, 300)), "token": "tökén"}
    assert not token_ok(KEY, query, now=NOW)
    assert not verified(b"k", b"{}", f"t={NOW},v1=ünïcode", now=NOW)
