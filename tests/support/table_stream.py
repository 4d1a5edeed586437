"""The calls table's DynamoDB stream read the way Lambda's event source mapping hands it to a function.

Used by the unit tests (moto in-process) and by the local stack's stream poller (moto's server): each
record becomes what Lambda delivers (``eventSourceARN`` added, ``ApproximateCreationDateTime`` in epoch
seconds), so ``functions/call_events`` gets the same shape everywhere.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

STREAMS_ENDPOINT = "https://streams.dynamodb.us-east-1.amazonaws.com"
"""moto 5.2 serves DynamoDB Streams at this host; newer botocore would use an account-based host moto does
not know, so in-process clients name it (the local stack names moto's server instead)."""


def lambda_record(record: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    """A ``GetRecords`` record as Lambda delivers it to the function."""
    body = dict(record["dynamodb"])
    created = body.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        body["ApproximateCreationDateTime"] = int(created.timestamp())
    elif isinstance(created, str):
        body["ApproximateCreationDateTime"] = int(datetime.fromisoformat(created).timestamp())
    return {
        "eventID": record["eventID"],
        "eventName": record["eventName"],
        "eventVersion": record.get("eventVersion", "1.1"),
        "eventSource": "aws:dynamodb",
        "awsRegion": record.get("awsRegion", "us-east-1"),
        "eventSourceARN": stream_arn,
        "dynamodb": body,
    }


class TableStream:
    """Reads every record written since it was opened (or since the last ``records()``), all shards."""

    def __init__(self, dynamodb: Any, streams: Any, table: str) -> None:
        self._streams = streams
        self.arn: str = dynamodb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
        self._iterators: dict[str, str | None] = {}
        self.records()  # start after what is already there

    def records(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        shards = self._streams.describe_stream(StreamArn=self.arn)["StreamDescription"]["Shards"]
        for shard in shards:
            shard_id = shard["ShardId"]
            if shard_id not in self._iterators:
                self._iterators[shard_id] = self._streams.get_shard_iterator(
                    StreamArn=self.arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]
            while self._iterators[shard_id]:
                page = self._streams.get_records(ShardIterator=self._iterators[shard_id])
                self._iterators[shard_id] = page.get("NextShardIterator")
                if not page["Records"]:
                    break
                found += [lambda_record(record, self.arn) for record in page["Records"]]
        return found
