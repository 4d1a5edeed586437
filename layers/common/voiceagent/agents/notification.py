"""Telling your own agent that an answering machine picked up: a signed HTTPS notification to its webhook.

The body is JSON: the Machine Detected event's detail, plus what the agent needs to leave the message (the
call's voicemail text or audio URL, voice and language, the stream it is on). It is signed like Stripe signs
its webhooks: the header ``X-Voiceagent-Signature: t=<unix time>,v1=<hex HMAC-SHA256(key, "<t>.<body>")>``
with the key from the SSM SecureString ``AGENT_WEBHOOK_SECRET_PARAM`` names. The time lets the agent refuse
an old notification replayed at it; ``notification_id`` (the same on every attempt) lets it drop a repeat.

Delivery: a 2xx is delivered (redirects are not followed). A 3xx or 4xx (but 408 and 429) means the agent
will not leave the message — retrying cannot change that — so it fails at once; a 5xx, 408, 429, a timeout
or a connection error is tried again with jittered exponential backoff, at most
``AGENT_WEBHOOK_MAX_ATTEMPTS`` times and only while the Lambda has time left for another attempt. Every
attempt is reported to ``on_attempt`` as it ends (the call records it).
"""

from __future__ import annotations

import hashlib
import hmac
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from aws_lambda_powertools import Logger
from pydantic import BaseModel, ConfigDict, Field

from voiceagent import observability
from voiceagent.call_events.schema import MachineDetected
from voiceagent.clock import iso, utcnow
from voiceagent.plivo.rest import Deadline

if TYPE_CHECKING:
    import requests

logger = Logger(child=True)

SIGNATURE_HEADER = "X-Voiceagent-Signature"
NOTIFICATION_ID_HEADER = "X-Voiceagent-Notification-Id"
DEFAULT_TOLERANCE_SECONDS = 300
"""How old a signed notification may be when the agent checks it (clocks drift; retries take seconds)."""
RETRYABLE_STATUS = frozenset({408, 429})
_sleep = time.sleep  # replaced in tests


class Voicemail(BaseModel):
    """What the agent needs to leave the message: play ``audio_url``, or speak ``message``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    message: str | None = Field(description="the text to say (null when audio_url is given)")
    audio_url: str | None = Field(description="an audio file to play instead of the text")
    voice: str = Field(description="the call's voice for the text, Plivo's names (WOMAN, Polly.Joanna…)")
    language: str


class AgentNotification(MachineDetected):
    """The body of the notification: the Machine Detected detail, and what to do about it."""

    notification: Literal["voicemail"] = Field(
        default="voicemail", description="leave the voicemail message on the stream, then end the call"
    )
    notification_id: str = Field(description="the same on every attempt: drop a notification seen before")
    stream_id: str | None = Field(description="the call's current stream (the one your agent has), if known")
    voicemail: Voicemail


@dataclass(frozen=True)
class Attempt:
    at: str
    status: int | None
    error: str | None
    milliseconds: int

    def as_dict(self) -> dict[str, Any]:
        return {key: value for key, value in self.__dict__.items() if value is not None}


@dataclass(frozen=True)
class Delivery:
    delivered: bool
    attempts: list[Attempt]

    @property
    def summary(self) -> str:
        answers = ", ".join(str(attempt.status or attempt.error) for attempt in self.attempts)
        verdict = "delivered" if self.delivered else "failed"
        return f"{verdict} after {len(self.attempts)} attempt(s): {answers}"


def sign(key: bytes, body: bytes, timestamp: int) -> str:
    """The signature header's value for ``body`` sent at ``timestamp`` (unix seconds)."""
    mac = hmac.new(key, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(
    key: bytes, body: bytes, header: str, now: int, tolerance: int = DEFAULT_TOLERANCE_SECONDS
) -> bool:
    """Whether ``header`` signs ``body`` with ``key`` and is at most ``tolerance`` seconds old (what your
    agent does; README shows the same in ten lines)."""
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    timestamp = parts.get("t", "")
    if not timestamp.isdigit() or abs(now - int(timestamp)) > tolerance:
        return False
    expected = hmac.new(key, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts.get("v1", ""))


Post = Callable[..., "requests.Response"]


def _post() -> Post:
    import requests  # lazily: only the machine detection function ever notifies an agent

    return requests.post


@dataclass(frozen=True)
class Notifier:
    key: Callable[[], bytes]
    """The signing key, read when the first notification is sent (SSM)."""
    timeout_seconds: float
    max_attempts: int
    deadline: Deadline
    post: Callable[[], Post] = _post

    def send(
        self, url: str, notification: AgentNotification, on_attempt: Callable[[Attempt], None]
    ) -> Delivery:
        body = notification.model_dump_json(by_alias=True).encode()
        key = self.key()
        attempts: list[Attempt] = []
        delay = 0.25
        while True:
            attempt = self._attempt(url, body, key, notification.notification_id)
            attempts.append(attempt)
            on_attempt(attempt)
            status = attempt.status
            if status is not None and 200 <= status < 300:
                observability.add("AgentNotificationsDelivered")
                return Delivery(True, attempts)
            retryable = status is None or status >= 500 or status in RETRYABLE_STATUS
            pause = random.uniform(delay / 2, delay)  # noqa: S311 - jitter, not cryptography
            out_of_time = self.deadline.left() < pause + self.timeout_seconds
            logger.warning(
                "agent notification failed",
                extra={
                    "attempt": len(attempts),
                    "status": status,
                    "error": attempt.error,
                    "will_retry": retryable and not out_of_time and len(attempts) < self.max_attempts,
                },
            )
            if not retryable or out_of_time or len(attempts) >= self.max_attempts:
                observability.add("AgentNotificationsFailed")
                return Delivery(False, attempts)
            observability.add("AgentNotificationRetries")
            _sleep(pause)
            delay = min(delay * 2, 2.0)

    def _attempt(self, url: str, body: bytes, key: bytes, notification_id: str) -> Attempt:
        import requests

        started, at = time.monotonic(), iso(utcnow())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "plivo-voice-agent",
            SIGNATURE_HEADER: sign(key, body, int(time.time())),
            NOTIFICATION_ID_HEADER: notification_id,
        }
        status: int | None = None
        error: str | None = None
        try:
            response = self.post()(
                url, data=body, headers=headers, timeout=self.timeout_seconds, allow_redirects=False
            )
            status = response.status_code
        except requests.exceptions.Timeout:
            error = "timeout"
        except requests.exceptions.RequestException as exc:
            error = type(exc).__name__
        return Attempt(at, status, error, int((time.monotonic() - started) * 1000))
