"""DynamoDB stream of the calls table → call events on the stack's EventBridge bus.

Invoked by the event source mapping with batches of changes to call, placement, stream-event and recovery
items (its filter leaves out everything else, e.g. the media route's per-frame stream state). Answers which
record failed (ReportBatchItemFailures): Lambda retries from it, splitting the batch there, and after its
retries sends the failed range to the dead-letter queue.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from voiceagent import aws, observability
from voiceagent.call_events.publisher import Publisher
from voiceagent.plivo.rest import Deadline
from voiceagent.settings import get_settings
from voiceagent.store import open_store

logger = Logger()


@observability.instrumented(logger)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = get_settings()
    store = open_store(settings)
    publisher = Publisher(
        bus_name=settings.event_bus_name,
        stage=settings.stage,
        call_record=store.calls.get_call,
        client=aws.events,
        deadline=Deadline.from_lambda(context.get_remaining_time_in_millis(), margin_seconds=2.0),
    )
    records = event.get("Records") or []
    result = publisher.publish(records)
    logger.info(
        "call events",
        extra={
            "records": len(records),
            "published": [detail.DETAIL_TYPE for detail in result.published],
            "failed_at": result.failed,
            "left_for_the_retry": result.skipped,
        },
    )
    failures = [{"itemIdentifier": result.failed}] if result.failed is not None else []
    return {"batchItemFailures": failures}
