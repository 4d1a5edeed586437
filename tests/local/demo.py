"""`make demo`: play a sample outbound call's answer webhook through the real handler.

AWS is moto in-process (the table from template.yaml, the auth token in SSM); the webhook is signed with the
plivo SDK exactly as Plivo signs it. Prints the <Stream> XML Plivo would receive and the call record written,
then shows that a forged signature is refused. (The full local stack with a Plivo simulator replaces this.)
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any
from xml.dom import minidom

from tests.support import constants as c

DEMO_ENV = {
    "AWS_ACCESS_KEY_ID": "demo",
    "AWS_SECRET_ACCESS_KEY": "demo",
    "AWS_DEFAULT_REGION": c.REGION,
    "STAGE": c.STAGE,
    "CALLS_TABLE_NAME": c.TABLE_NAME,
    "PLIVO_AUTH_ID": c.TEST_AUTH_ID,
    "PLIVO_AUTH_TOKEN_PARAM": c.AUTH_TOKEN_PARAM,
    "WEBSOCKET_URL": c.WEBSOCKET_URL,
    "POWERTOOLS_SERVICE_NAME": "plivo-voice-agent-demo",
    "POWERTOOLS_METRICS_NAMESPACE": "PlivoVoiceAgentDemo",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    "POWERTOOLS_METRICS_DISABLED": "true",
}


class _Context:
    function_name = "demo"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:demo"
    aws_request_id = "demo-request"


def main() -> int:
    os.environ.update(DEMO_ENV)
    import boto3
    from boto3.dynamodb.types import TypeDeserializer
    from moto import mock_aws

    from functions.answer import app
    from tests.support.make_events import CASES
    from tests.support.template import table_definition

    with mock_aws():
        boto3.client("dynamodb").create_table(TableName=c.TABLE_NAME, **table_definition("CallsTable"))
        boto3.client("ssm").put_parameter(
            Name=c.AUTH_TOKEN_PARAM, Value=c.TEST_AUTH_TOKEN, Type="SecureString"
        )

        answered: dict[str, Any] = app.lambda_handler(CASES["answer_outbound"](), _Context())
        print(f"POST /plivo/answer (signed by 'Plivo') -> {answered['statusCode']}")
        print(minidom.parseString(answered["body"]).toprettyxml(indent="  "))
        item = boto3.client("dynamodb").get_item(
            TableName=c.TABLE_NAME, Key={"pk": {"S": f"CALL#{c.CALL_UUID}"}, "sk": {"S": "CALL"}}
        )["Item"]
        record = {key: TypeDeserializer().deserialize(value) for key, value in item.items()}
        print("call record:", json.dumps(record, indent=2, default=str))

        forged: dict[str, Any] = app.lambda_handler(CASES["answer_bad_signature"](), _Context())
        print(f"POST /plivo/answer with a forged signature -> {forged['statusCode']} {forged['body']}")
        ok = (
            answered["statusCode"] == 200 and forged["statusCode"] == 403 and item["state"]["S"] == "answered"
        )
    print("demo:", "OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
