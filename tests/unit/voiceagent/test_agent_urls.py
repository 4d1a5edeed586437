"""Your own agent's URLs: what the stack parameters and POST /calls accept, in one set of rules."""

from __future__ import annotations

import pytest

from voiceagent import agent_urls
from voiceagent.streams import tokens


@pytest.mark.parametrize(
    "url",
    [
        "wss://agent.example.com/plivo",
        "wss://agent.example.com:8443/plivo/stream?tenant=acme",
        "wss://agent.example.com",
        "ws://127.0.0.1:3005/stream",
        "ws://localhost/stream",
    ],
)
def test_agent_stream_urls_that_are_accepted(url: str) -> None:
    assert agent_urls.stream_url_problem(url) is None


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://agent.example.com/plivo", "not a wss:// URL"),
        ("ws://agent.example.com/plivo", "ws:// is allowed only to localhost"),
        ("wss://user:secret@agent.example.com/", "carries credentials"),
        ("wss://agent.example.com/#x", "has a fragment"),
        ("wss://agent.example.com/?token=abc", "uses the stream token's query parameter(s) token"),
        ("wss://agent.example.com/?jti=1&call_uuid=2", "call_uuid, jti"),
        ("wss://agent.example.com/" + "a" * 1100, "longer than 1024 characters"),
        ("wss://agent.example.com/a b", "spaces or control characters"),
        ("wss://agent.example.com:99999/", "not a URL"),
        ("wss:///nohost", "not a wss:// URL"),
    ],
)
def test_agent_stream_urls_that_are_refused_say_why(url: str, problem: str) -> None:
    found = agent_urls.stream_url_problem(url)
    assert found is not None
    assert problem in found


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://agent.example.com/hook?key=1", None),
        ("http://127.0.0.1:3005/notify", None),
        ("http://agent.example.com/hook", "http:// is allowed only to localhost"),
        ("wss://agent.example.com/hook", "not a https:// URL"),
        ("https://a:b@agent.example.com/hook", "carries credentials"),
    ],
)
def test_agent_webhook_urls(url: str, problem: str | None) -> None:
    found = agent_urls.webhook_url_problem(url)
    assert found == problem if problem is None else problem in (found or "")


def test_the_token_parameters_are_the_stream_tokens_own() -> None:
    """The list the URL check refuses is the one the answer XML appends (it cannot import the tokens)."""
    issued = tokens.issue(b"k", "call", 0, 60, token_id="0123456789abcdef")
    assert set(agent_urls.TOKEN_PARAMETERS) == {
        name for name, _ in (pair.split("=", 1) for pair in issued.query().split("&"))
    }


def test_a_url_is_shown_without_its_query() -> None:
    assert agent_urls.shown_url("wss://agent.example.com:8443/plivo?key=secret") == (
        "wss://agent.example.com:8443/plivo"
    )


def test_the_token_follows_a_query_the_agent_url_already_has() -> None:
    with_query = tokens.stream_url("wss://agent.example.com/plivo?tenant=acme", b"k", "c1", 0, 60)
    plain = tokens.stream_url("wss://agent.example.com/plivo", b"k", "c1", 0, 60)
    assert with_query.startswith("wss://agent.example.com/plivo?tenant=acme&call_uuid=c1&expires=60&")
    assert plain.startswith("wss://agent.example.com/plivo?call_uuid=c1&")
