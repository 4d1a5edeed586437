"""The local DynamoDB stream event source mapping behaves as Lambda's does where the call events rely on it:
the template's filter keeps the media route's writes away from the publisher, a reported failure is retried
from the failed record on (never the records before it), and after the retries the rest goes to the
on-failure destination."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.local.event_sources import DynamoDbStreamSource
from tests.support.template import fact_filter_pattern

ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/calls-test/stream/2026-01-01T00:00:00.000"


def _change(sequence: int, sk: str) -> dict[str, Any]:
    return {
        "eventID": f"e{sequence}",
        "eventName": "MODIFY",
        "dynamodb": {
            "Keys": {"pk": {"S": "CALL#c1"}, "sk": {"S": sk}},
            "SequenceNumber": f"{sequence:021d}",
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
    }


class FakeStreams:
    """One shard holding ``records``, served in pages of the asked size, then nothing."""

    def __init__(self, records: list[dict[str, Any]]) -> None:
        self.records = records

    def describe_stream(self, StreamArn: str) -> dict[str, Any]:
        return {"StreamDescription": {"Shards": [{"ShardId": "shard-0"}]}}

    def get_shard_iterator(self, **_: Any) -> dict[str, Any]:
        return {"ShardIterator": "0"}

    def get_records(self, ShardIterator: str, Limit: int) -> dict[str, Any]:
        start = int(ShardIterator)
        return {"Records": self.records[start : start + Limit], "NextShardIterator": str(start + Limit)}


class Function:
    """The publisher's stand-in: records every batch; fails the record with sequence ``fail_at`` the first
    ``failures`` times it sees it."""

    def __init__(self, fail_at: int | None = None, failures: int = 0) -> None:
        self.batches: list[list[int]] = []
        self.fail_at, self.failures = fail_at, failures

    async def __call__(self, _function: str, event: dict[str, Any]) -> dict[str, Any]:
        sequences = [int(record["dynamodb"]["SequenceNumber"]) for record in event["Records"]]
        self.batches.append(sequences)
        if self.fail_at in sequences and self.failures > 0:
            self.failures -= 1
            return {"batchItemFailures": [{"itemIdentifier": f"{self.fail_at:021d}"}]}
        return {"batchItemFailures": []}


def _run(
    records: list[dict[str, Any]], function: Function, **options: Any
) -> tuple[DynamoDbStreamSource, list[dict[str, Any]]]:
    """Play the mapping until every fact-carrying record was delivered or dead-lettered: the source and what
    its on-failure destination got."""
    dead: list[dict[str, Any]] = []
    source = DynamoDbStreamSource(
        function="call_events",
        stream_arn=ARN,
        streams=FakeStreams(records),
        invoke=function,
        filters=[fact_filter_pattern()],
        batch_size=10,
        batching_window_seconds=0,
        poll_seconds=0.01,
        on_failure=dead.append,
        **options,
    )

    async def play() -> None:
        source.start()
        for _ in range(200):
            await asyncio.sleep(0.01)
            if source.stats.delivered + source.stats.dead_lettered >= len(function_facts(records)):
                break
        await source.stop()

    asyncio.run(play())
    return source, dead


def function_facts(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [record for record in records if not record["dynamodb"]["Keys"]["sk"]["S"].startswith("CONN")]


def test_only_the_items_that_carry_facts_invoke_the_function() -> None:
    records = [_change(1, "CALL"), _change(2, "STREAMEVENT#s1#StartStream#1"), _change(3, "STREAM#s1")]
    records[2]["dynamodb"]["Keys"]["pk"] = {"S": "CONN#abc"}
    records[2]["dynamodb"]["Keys"]["sk"] = {"S": "CONN"}
    function = Function()
    source, _ = _run(records, function)
    assert [n for batch in function.batches for n in batch] == [1, 2]
    assert source.stats.filtered_out == 1


def test_a_reported_failure_is_retried_from_that_record_on() -> None:
    records = [_change(n, "CALL") for n in range(1, 5)]
    function = Function(fail_at=3, failures=2)
    source, dead = _run(records, function, max_retries=5)
    assert function.batches == [[1, 2, 3, 4], [3, 4], [3, 4]]
    assert source.stats.delivered == 4
    assert source.stats.retried == 2
    assert dead == []


def test_after_the_retries_the_failed_records_go_to_the_on_failure_destination() -> None:
    records = [_change(n, "CALL") for n in range(1, 4)]
    function = Function(fail_at=2, failures=99)
    source, dead = _run(records, function, max_retries=1)
    assert function.batches == [[1, 2, 3], [2, 3]]
    (info,) = dead
    assert info["DDBStreamBatchInfo"]["startSequenceNumber"] == f"{2:021d}"
    assert info["DDBStreamBatchInfo"]["batchSize"] == 2
    assert source.stats.dead_lettered == 2
