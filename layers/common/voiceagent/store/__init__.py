"""DynamoDB state: the only package that knows the table's key shapes and expression syntax.

``keys`` names every item, ``dynamo`` holds the codec and the expression builder, and one repository per kind
of record (``calls``, ``streams``, ``placements``, ``connections``, ``nonces``) does the reads and conditional
writes.
``open_store()`` gives a handler all of them, on the cached client, from the settings;
``open_campaign_store()`` the campaigns table and the do-not-call list (``campaigns``, ``dnc``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from voiceagent import aws
from voiceagent.settings import Settings, get_settings
from voiceagent.store.calls import CallRepository
from voiceagent.store.campaigns import CampaignRepository
from voiceagent.store.connections import ConnectionRepository
from voiceagent.store.dnc import DoNotCallRepository
from voiceagent.store.nonces import NonceRepository
from voiceagent.store.placements import PlacementRepository
from voiceagent.store.streams import StreamRepository


@dataclass(frozen=True)
class Store:
    calls: CallRepository
    placements: PlacementRepository
    streams: StreamRepository
    connections: ConnectionRepository
    nonces: NonceRepository


def open_store(settings: Settings | None = None, *, realtime: bool = False) -> Store:
    """Every repository on the one table, with the configured record lifetime (``realtime``: for the media
    route, whose frames cannot wait out boto3's retries; see ``aws.dynamodb``)."""
    settings = settings or get_settings()
    client = aws.dynamodb(realtime)
    arguments = (settings.calls_table_name, client, timedelta(days=settings.record_ttl_days))
    return Store(
        calls=CallRepository(*arguments),
        placements=PlacementRepository(*arguments),
        streams=StreamRepository(*arguments),
        connections=ConnectionRepository(*arguments),
        nonces=NonceRepository(*arguments),
    )


@dataclass(frozen=True)
class CampaignStore:
    campaigns: CampaignRepository
    dnc: DoNotCallRepository


def open_campaign_store(settings: Settings | None = None) -> CampaignStore:
    """The campaigns table and the do-not-call list (``ConfigurationError`` naming a missing table)."""
    settings = settings or get_settings()
    client = aws.dynamodb()
    return CampaignStore(
        campaigns=CampaignRepository(
            settings.required("campaigns_table_name"), client, timedelta(days=settings.record_ttl_days)
        ),
        dnc=DoNotCallRepository(settings.required("dnc_table_name"), client),
    )
