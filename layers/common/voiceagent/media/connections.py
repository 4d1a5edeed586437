"""Frames we send to Plivo over a call's live WebSocket, through the API Gateway management API.

Posting to a connection delivers to the connected client, which is Plivo, not to our media function. A gone
connection (HTTP 410) is forgotten here, so later senders do not keep trying it; any other failure to post
is logged and counted, and reported to the caller like a gone connection (the frame did not arrive).
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from voiceagent import observability
from voiceagent.aws import error_code
from voiceagent.clock import utcnow
from voiceagent.settings import Settings
from voiceagent.store.connections import ConnectionRepository

if TYPE_CHECKING:
    from mypy_boto3_apigatewaymanagementapi import ApiGatewayManagementApiClient

logger = Logger(child=True)
GONE = frozenset({"GoneException", "410"})


def management_endpoint(settings: Settings) -> str:
    """The @connections endpoint of the media WebSocket API: configured (local stack), or its wss URL's
    execute-api host and stage over https."""
    if settings.websocket_management_endpoint:
        return settings.websocket_management_endpoint.rstrip("/")
    return "https://" + settings.websocket_url.split("://", 1)[1].rstrip("/")


@lru_cache(maxsize=4)
def management_client(endpoint_url: str) -> ApiGatewayManagementApiClient:
    import boto3  # lazily: see aws.py
    from botocore.config import Config

    config = Config(connect_timeout=2, read_timeout=3, retries={"mode": "standard", "max_attempts": 2})
    return boto3.client("apigatewaymanagementapi", endpoint_url=endpoint_url, config=config)


class StreamConnections:
    def __init__(self, client: ApiGatewayManagementApiClient, registry: ConnectionRepository) -> None:
        self._client = client
        self._registry = registry

    def send(self, connection_id: str, message: dict[str, Any]) -> bool:
        """Send one JSON frame; False when it did not arrive (a gone connection is also cleaned up)."""
        data = json.dumps(message, separators=(",", ":")).encode()
        try:
            self._client.post_to_connection(ConnectionId=connection_id, Data=data)
        except ClientError as exc:
            if error_code(exc) not in GONE:
                return self._failed(connection_id, exc)
            logger.info("connection gone; forgetting it", extra={"connection_id": connection_id})
            self._registry.detach(connection_id, utcnow())
            return False
        except BotoCoreError as exc:
            return self._failed(connection_id, exc)
        return True

    def _failed(self, connection_id: str, exc: Exception) -> bool:
        logger.error(
            "posting to the connection failed",
            extra={"connection_id": connection_id, "error": error_code(exc) or type(exc).__name__},
        )
        observability.add("ConnectionPostFailures")
        return False


def stream_connections(settings: Settings, registry: ConnectionRepository) -> StreamConnections:
    return StreamConnections(management_client(management_endpoint(settings)), registry)
