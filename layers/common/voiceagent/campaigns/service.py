"""What the campaign functions share: the dial queue and campaign settings, cached per container.

A campaign's settings never change once stored, so a container keeps those it read (a bounded cache);
nothing else about a campaign is cached.
"""

from __future__ import annotations

from functools import lru_cache

from voiceagent.campaigns.manage import load_settings
from voiceagent.campaigns.models import CampaignSettings
from voiceagent.campaigns.queue import DialQueue
from voiceagent.settings import get_settings
from voiceagent.store import open_campaign_store


def dial_queue() -> DialQueue:
    return DialQueue(get_settings().required("campaign_dial_queue_url"))


@lru_cache(maxsize=256)
def _cached(campaign_id: str) -> CampaignSettings:
    found = load_settings(open_campaign_store(), campaign_id)
    if found is None:
        raise LookupError(campaign_id)
    return found


def campaign_settings(campaign_id: str) -> CampaignSettings | None:
    """A campaign's settings (None when there is no such campaign: not cached, it may be being created)."""
    try:
        return _cached(campaign_id)
    except LookupError:
        return None


def forget_settings() -> None:
    """Tests: forget what this process read."""
    _cached.cache_clear()
