"""Lambda's SQS event source mapping, locally: poll a queue on moto's server and invoke a function with
batches of its messages, as Lambda does.

Like the real mapping: messages are received in batches (long polling), handed to the function as an SQS
event (``Records`` with ``messageId``, ``receiptHandle``, ``body``, ``attributes`` incl. the receive count
and, for FIFO queues, the message group), deleted only when the invocation succeeded, except the ones it
names in ``batchItemFailures`` (ReportBatchItemFailures); a failed invocation leaves the whole batch to come
back after the visibility timeout. FIFO ordering per message group is the queue's own (moto's).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("local.event_sources")

Invoke = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]


@dataclass
class SqsEventSource:
    function: str
    queue_url: str
    queue_arn: str
    sqs: Any
    """A boto3 SQS client on moto's server (blocking: used from a thread)."""
    invoke: Invoke
    batch_size: int = 10
    concurrency: int = 2
    """Pollers, each with at most one invocation in flight (the mapping's maximum concurrency)."""
    wait_seconds: int = 1
    idle_seconds: float = 0.0
    """With ``wait_seconds=0``: the pause after an empty receive. moto's server applies one request at a time
    (tests.local.moto_server), so a long poll would hold every other AWS call of the stack meanwhile; short
    polls with a pause leave it free."""
    delivered: int = 0
    failed_invocations: int = 0
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._poll()) for _ in range(self.concurrency)]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _poll(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                response = await loop.run_in_executor(None, self._receive)
            except Exception:
                log.exception("receiving from %s failed", self.queue_url)
                await asyncio.sleep(1)
                continue
            messages = response.get("Messages") or []
            if messages:
                await self._deliver(messages)
            elif self.idle_seconds:
                await asyncio.sleep(self.idle_seconds)

    def _receive(self) -> dict[str, Any]:
        response: dict[str, Any] = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.batch_size,
            WaitTimeSeconds=self.wait_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        return response

    async def _deliver(self, messages: list[dict[str, Any]]) -> None:
        event = {"Records": [self._record(message) for message in messages]}
        result = await self.invoke(self.function, event)
        if int(result.get("statusCode", 200)) >= 500 and "batchItemFailures" not in result:
            self.failed_invocations += 1
            return  # the batch comes back after its visibility timeout
        failed = {item["itemIdentifier"] for item in result.get("batchItemFailures") or []}
        done = [message for message in messages if message["MessageId"] not in failed]
        self.delivered += len(done)
        if done:
            entries = [
                {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]}
                for index, message in enumerate(done)
            ]
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(
                None, lambda: self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=entries)
            )

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message.get("Attributes") or {},
            "messageAttributes": message.get("MessageAttributes") or {},
            "md5OfBody": message.get("MD5OfBody", ""),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue_arn,
            "awsRegion": "us-east-1",
        }


@dataclass
class ScheduleSource:
    """An EventBridge schedule (``rate(…)``): invoke a function with a scheduled event every ``seconds``."""

    function: str
    seconds: float
    invoke: Invoke
    invocations: int = 0
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.seconds)
            self.invocations += 1
            event = {"version": "0", "source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}
            try:
                await self.invoke(self.function, event)
            except Exception:
                log.exception("scheduled invocation of %s failed", self.function)
