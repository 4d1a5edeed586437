"""The call events path of the local stack (issue #17's bus, as far as campaigns need it), on moto's server.

- The calls table's DynamoDB stream, polled shard by shard as Lambda's event source mapping does, filtered
  with the template's own ``FilterCriteria`` (``voiceagent.store.keys.fact_change_filter``), in batches to
  ``functions/call_events``; a batch it fails (or reports failed from a record on) is retried from there
  with a short pause, so no fact is skipped (AWS: bounded retries, then the dead-letter queue).
- The stack's EventBridge bus on moto, and ``CampaignOutcomesRule`` with the template's own event pattern
  targeting the campaign outcomes queue: moto's EventBridge delivers matching events to SQS itself, and the
  SQS event-source emulator (``tests.local.event_sources``) drains that queue into the outcomes function.

Minimal on purpose: the #17 engineer is building the general stream poller in ``tests.local.event_sources``;
this module keeps the campaigns' end-to-end path working until it lands, and is then replaced by it.
Polls are short and spaced: moto's server applies one request at a time (``tests.local.moto_server``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from tests.support.event_patterns import matches
from tests.support.table_stream import lambda_record
from tests.support.template import load_template

log = logging.getLogger("local.call_events")

Invoke = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]


def outcomes_rule_pattern() -> dict[str, Any]:
    """``CampaignOutcomesRule``'s event pattern, read from template.yaml (the local rule is the real one)."""
    pattern: dict[str, Any] = load_template()["Resources"]["CampaignOutcomesRule"]["Properties"][
        "EventPattern"
    ]
    return pattern


def route_campaign_outcomes(events: Any, bus: str, queue_arn: str) -> None:
    """Create the bus (if need be) and the campaign outcomes rule to the queue, on moto's EventBridge."""
    with contextlib.suppress(events.exceptions.ResourceAlreadyExistsException):
        events.create_event_bus(Name=bus)
    events.put_rule(
        Name="campaign-outcomes", EventBusName=bus, EventPattern=json.dumps(outcomes_rule_pattern())
    )
    events.put_targets(
        Rule="campaign-outcomes", EventBusName=bus, Targets=[{"Id": "campaign-outcomes", "Arn": queue_arn}]
    )


@dataclass
class TableStreamSource:
    """The calls table's stream → ``function`` (template.yaml ``CallEventsSource``), in stream order."""

    function: str
    stream_arn: str
    streams: Any
    """A boto3 DynamoDB Streams client on moto's server (blocking: used from a thread)."""
    invoke: Invoke
    filters: list[dict[str, Any]]
    batch_size: int = 25
    poll_seconds: float = 0.3
    delivered: int = 0
    retried: int = 0
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
                    if shard["ShardId"] not in self._tasks:
                        self._tasks[shard["ShardId"]] = asyncio.create_task(self._shard(shard["ShardId"]))
            except Exception:
                log.exception("describing %s failed", self.stream_arn)
            await asyncio.sleep(5)

    async def _shard(self, shard_id: str) -> None:
        got = await self._call(
            "get_shard_iterator",
            StreamArn=self.stream_arn,
            ShardId=shard_id,
            ShardIteratorType="TRIM_HORIZON",
        )
        iterator: str | None = got["ShardIterator"]
        while iterator:
            try:
                page = await self._call("get_records", ShardIterator=iterator, Limit=self.batch_size)
            except Exception:
                log.exception("reading shard %s failed", shard_id)
                await asyncio.sleep(1)
                continue
            iterator = page.get("NextShardIterator")
            records = [lambda_record(record, self.stream_arn) for record in page.get("Records") or []]
            passed = [record for record in records if any(matches(f, record) for f in self.filters)]
            if passed:
                await self._handle(passed)
            if not records:
                await asyncio.sleep(self.poll_seconds)

    async def _handle(self, records: list[dict[str, Any]]) -> None:
        """Invoke until every record is through: from a reported failure on, or the whole batch again."""
        while records:
            result = await self.invoke(self.function, {"Records": records})
            if int(result.get("statusCode", 200)) >= 500 and "batchItemFailures" not in result:
                failed_from = 0
            else:
                sequences = [str(record["dynamodb"]["SequenceNumber"]) for record in records]
                failed = [item.get("itemIdentifier") for item in result.get("batchItemFailures") or []]
                failed_from = min(
                    (sequences.index(s) for s in failed if s in sequences), default=len(records)
                )
            self.delivered += failed_from
            records = records[failed_from:]
            if records:
                self.retried += 1
                await asyncio.sleep(0.5)
