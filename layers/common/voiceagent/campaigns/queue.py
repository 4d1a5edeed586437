"""The dial queue: what the dialer is asked to dial, sent in batches of ten (SQS's limit)."""

from __future__ import annotations

from collections.abc import Sequence

from voiceagent import aws
from voiceagent.campaigns.models import DialMessage

MAX_DELAY_SECONDS = 900
"""SQS's longest per-message delay; anything later waits in the campaigns table's ``Sweep`` index."""


class DialQueue:
    def __init__(self, queue_url: str) -> None:
        self.url = queue_url

    def send(self, messages: Sequence[DialMessage], delay_seconds: int = 0) -> None:
        """Send every message (SQS's batch answer lists failures: those are sent again, then raised)."""
        delay = max(0, min(MAX_DELAY_SECONDS, int(delay_seconds)))
        for start in range(0, len(messages), 10):
            entries = [
                {
                    "Id": str(index),
                    "MessageBody": message.model_dump_json(exclude_none=True),
                    "DelaySeconds": delay,
                }
                for index, message in enumerate(messages[start : start + 10])
            ]
            for _ in range(3):
                response = aws.sqs().send_message_batch(QueueUrl=self.url, Entries=entries)  # type: ignore[arg-type]
                failed = {entry["Id"] for entry in response.get("Failed", [])}
                entries = [entry for entry in entries if entry["Id"] in failed]
                if not entries:
                    break
            else:
                raise RuntimeError(f"SQS refused {len(entries)} dial message(s): {response.get('Failed')}")
