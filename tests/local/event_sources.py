"""Lambda's event source mappings and EventBridge routing, locally, on moto's server.

- ``SqsEventSource``: poll a queue and invoke a function with batches of its messages, as Lambda does:
  messages are received in batches, handed to the function as an SQS event (``Records`` with
  ``messageId``, ``receiptHandle``, ``body``, ``attributes`` incl. the receive count and, for FIFO queues,
  the message group), deleted only when the invocation succeeded, except the ones it names in
  ``batchItemFailures`` (ReportBatchItemFailures); a failed invocation leaves the whole batch to come back
  after the visibility timeout. FIFO ordering per message group is the queue's own (moto's).
- ``DynamoDbStreamSource``: poll a table's stream shard by shard, keep the records its filter patterns pass
  (as Lambda's filter criteria do: the others never invoke the function), and invoke the function with
  batches in stream order; a reported failure (``batchItemFailures``) is retried from that record on,
  bounded, and then handed to ``on_failure`` (the dead-letter queue); a failed invocation is retried, the
  batch split in two (BisectBatchOnFunctionError).
- ``LocalAws``: queues, buses and rules on moto (an EventBridge rule to an SQS queue is moto's own delivery).

Every poll is a request to moto's server, which serves one request at a time (so that conditional writes are
atomic): polls are short (never a long poll, which would hold the server and stall every media frame) and
spaced (``poll_seconds``). Other features add their queues, rules and sources to the same ``EventSources``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.support.event_patterns import matches
from tests.support.table_stream import lambda_record

log = logging.getLogger("local.event_sources")

Invoke = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]
"""Invoke a function with an event; raising (a function error, a dead container) fails the invocation."""


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
    wait_seconds: int = 0
    """Long polling is off: moto's server would hold every other request for as long (see the module)."""
    poll_seconds: float = 0.5
    """Pause after an empty receive; it doubles while the queue stays empty, up to ``idle_seconds``."""
    idle_seconds: float = 1.0
    """The longest pause: an idle queue costs moto (and the machine's real-time calls) a request a second
    per poller, not five."""
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
        pause = self.poll_seconds
        while True:
            try:
                response = await loop.run_in_executor(None, self._receive)
            except Exception:
                log.exception("receiving from %s failed", self.queue_url)
                await asyncio.sleep(1)
                continue
            messages = response.get("Messages") or []
            if messages:
                pause = self.poll_seconds
                await self._deliver(messages)
            else:
                await asyncio.sleep(pause)
                pause = min(max(self.idle_seconds, self.poll_seconds), pause * 2)

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
        try:
            result = await self.invoke(self.function, event)
        except Exception:
            log.exception("%s failed on a batch from %s", self.function, self.queue_url)
            result = {"statusCode": 502}
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
class StreamSourceStats:
    records_read: int = 0
    filtered_out: int = 0
    invocations: int = 0
    delivered: int = 0
    retried: int = 0
    failed_invocations: int = 0
    dead_lettered: int = 0


@dataclass
class DynamoDbStreamSource:
    """The DynamoDB stream event source mapping of ``function`` (template.yaml ``CallEventsSource``)."""

    function: str
    stream_arn: str
    streams: Any
    """A boto3 DynamoDB Streams client on moto's server (blocking: used from a thread)."""
    invoke: Invoke
    filters: list[Mapping[str, Any]] = field(default_factory=list)
    """Filter patterns: a record invokes the function if it matches one (none: every record does)."""
    batch_size: int = 25
    batching_window_seconds: float = 1.0
    max_retries: int = 5
    on_failure: Callable[[dict[str, Any]], None] | None = None
    """What the mapping sends its on-failure destination: where the dropped records are in the stream."""
    poll_seconds: float = 0.5
    shard_seconds: float = 5.0
    """How often new shards are looked for."""
    stats: StreamSourceStats = field(default_factory=StreamSourceStats)
    _tasks: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    _discovery: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._discovery = asyncio.create_task(self._discover())

    async def stop(self) -> None:
        tasks = [*self._tasks.values(), *([self._discovery] if self._discovery else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _call(self, method: str, **arguments: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, lambda: getattr(self.streams, method)(**arguments))

    async def _discover(self) -> None:
        while True:
            try:
                described = await self._call("describe_stream", StreamArn=self.stream_arn)
                for shard in described["StreamDescription"]["Shards"]:
                    shard_id = shard["ShardId"]
                    if shard_id not in self._tasks:
                        self._tasks[shard_id] = asyncio.create_task(self._shard(shard_id))
            except Exception:
                log.exception("describing %s failed", self.stream_arn)
            await asyncio.sleep(self.shard_seconds)

    async def _shard(self, shard_id: str) -> None:
        """One shard, in order: read, filter, batch (up to the size or the window), invoke."""
        got = await self._call(
            "get_shard_iterator",
            StreamArn=self.stream_arn,
            ShardId=shard_id,
            ShardIteratorType="TRIM_HORIZON",
        )
        iterator: str | None = got["ShardIterator"]
        pending: list[dict[str, Any]] = []
        first_pending_at = 0.0
        while iterator:
            try:
                page = await self._call("get_records", ShardIterator=iterator, Limit=self.batch_size)
            except Exception:
                log.exception("reading shard %s failed", shard_id)
                await asyncio.sleep(1)
                continue
            iterator = page.get("NextShardIterator")
            records = [lambda_record(record, self.stream_arn) for record in page.get("Records") or []]
            self.stats.records_read += len(records)
            passed = [record for record in records if self._passes(record)]
            self.stats.filtered_out += len(records) - len(passed)
            if passed and not pending:
                first_pending_at = time.monotonic()
            pending += passed
            window_over = time.monotonic() - first_pending_at >= self.batching_window_seconds
            while pending and (len(pending) >= self.batch_size or window_over):
                batch, pending = pending[: self.batch_size], pending[self.batch_size :]
                await self._handle(batch)
                first_pending_at = time.monotonic()
            if not records:
                await asyncio.sleep(self.poll_seconds)

    def _passes(self, record: dict[str, Any]) -> bool:
        return not self.filters or any(matches(pattern, record) for pattern in self.filters)

    async def _handle(self, batch: list[dict[str, Any]]) -> None:
        """Invoke until the batch is done: a reported failure is retried from the failed record on (the batch
        split there), a function error with the batch halved, at most ``max_retries`` times; then the rest
        is dead-lettered."""
        queue = [batch]
        attempts = 0
        while queue:
            records = queue.pop(0)
            self.stats.invocations += 1
            try:
                result = await self.invoke(self.function, {"Records": records})
            except Exception as exc:  # noqa: BLE001 - any failure of the function is a failed invocation
                log.error("%s failed on a batch: %s", self.function, exc)
                result = None
            if result is not None and int(result.get("statusCode", 200)) < 500:
                failed = [item.get("itemIdentifier") for item in result.get("batchItemFailures") or []]
                sequences = [str(record["dynamodb"]["SequenceNumber"]) for record in records]
                if not failed:
                    self.stats.delivered += len(records)
                    attempts = 0
                    continue
                cut = min((sequences.index(s) for s in failed if s in sequences), default=0)
                self.stats.delivered += cut
                rest = records[cut:]
            else:
                self.stats.failed_invocations += 1
                rest = records
            attempts += 1
            if attempts > self.max_retries:
                self._dead_letter(rest)
                attempts = 0
                continue
            self.stats.retried += 1
            await asyncio.sleep(min(0.2 * attempts, 1.0))
            if result is None and len(rest) > 1:  # a function error: try the halves (bisect)
                half = len(rest) // 2
                queue[:0] = [rest[:half], rest[half:]]
            else:
                queue.insert(0, rest)

    def _dead_letter(self, records: list[dict[str, Any]]) -> None:
        self.stats.dead_lettered += len(records)
        info = {
            "requestContext": {"condition": "RetryAttemptsExhausted", "functionArn": self.function},
            "DDBStreamBatchInfo": {
                "shardId": "local",
                "startSequenceNumber": records[0]["dynamodb"]["SequenceNumber"],
                "endSequenceNumber": records[-1]["dynamodb"]["SequenceNumber"],
                "batchSize": len(records),
                "streamArn": self.stream_arn,
            },
        }
        log.error("dead-lettered %d stream records of %s", len(records), self.function)
        if self.on_failure is not None:
            self.on_failure(info)


@dataclass(frozen=True)
class Queue:
    url: str
    arn: str


class LocalAws:
    """Queues, buses and rules on moto's server (blocking boto3 calls: run them before or beside the loop)."""

    def __init__(self, endpoint: str, region: str = "us-east-1") -> None:
        import boto3

        # Any: these serve other features' queues and rules too, with whatever attributes they need.
        self.sqs: Any = boto3.client("sqs", endpoint_url=endpoint, region_name=region)
        self.events: Any = boto3.client("events", endpoint_url=endpoint, region_name=region)
        self.streams: Any = boto3.client("dynamodbstreams", endpoint_url=endpoint, region_name=region)

    def queue(self, name: str, **attributes: str) -> Queue:
        url = self.sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        attributes = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
        return Queue(url, attributes["QueueArn"])

    def bus(self, name: str) -> None:
        with contextlib.suppress(self.events.exceptions.ResourceAlreadyExistsException):
            self.events.create_event_bus(Name=name)

    def route(self, bus: str, rule: str, pattern: Mapping[str, Any], queue: Queue) -> None:
        """An EventBridge rule on ``bus`` delivering what ``pattern`` matches to ``queue``."""
        self.events.put_rule(Name=rule, EventBusName=bus, EventPattern=json.dumps(pattern))
        target = {"Id": queue.url.rsplit("/", 1)[-1], "Arn": queue.arn}
        self.events.put_targets(Rule=rule, EventBusName=bus, Targets=[target])

    def dead_letter(self, queue: Queue) -> Callable[[dict[str, Any]], None]:
        """An on-failure destination: what the mapping would send the queue."""

        def send(info: dict[str, Any]) -> None:
            self.sqs.send_message(QueueUrl=queue.url, MessageBody=json.dumps(info))

        return send


@dataclass
class EventSources:
    """Every event source of the local stack, started and stopped together."""

    sources: list[SqsEventSource | DynamoDbStreamSource] = field(default_factory=list)

    def add(self, source: SqsEventSource | DynamoDbStreamSource) -> None:
        self.sources.append(source)

    def start(self) -> None:
        for source in self.sources:
            source.start()

    async def stop(self) -> None:
        for source in self.sources:
            await source.stop()


class Recorder:
    """A local consumer of a queue fed by an EventBridge rule (in place of a function): keeps each event."""

    def __init__(self, observer: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.events: list[dict[str, Any]] = []
        self.observer = observer

    async def __call__(self, _function: str, event: dict[str, Any]) -> dict[str, Any]:
        for record in event.get("Records") or []:
            envelope = json.loads(record["body"])
            self.events.append(envelope)
            if self.observer is not None:
                self.observer(envelope)
        return {"batchItemFailures": []}

    def of_call(self, *ids: str | None) -> list[dict[str, Any]]:
        """The events of one call, known by any of its ids, in the order the facts happened."""
        wanted = {value for value in ids if value}
        found = [
            event
            for event in self.events
            if wanted & {event["detail"].get("call_uuid"), event["detail"].get("placement_id")}
        ]
        return sorted(found, key=lambda event: str(event["detail"].get("occurred_at")))


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
