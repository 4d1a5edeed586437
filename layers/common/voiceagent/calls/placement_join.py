"""Joining a Plivo call to the placement it came from: a webhook carrying our placement id (on every URL we
gave Plivo) copies the placement's settings onto the call, and links the two on first sight."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from voiceagent.store.placements import PlacementRepository

PLACEMENT_FIELDS_FOR_CALL = (
    "placement_id",
    "policy",
    "voicemail_message",
    "voicemail_audio_url",
    "voicemail_voice",
    "voicemail_language",
    "metadata",
    "placed_at",
    "stream_url",
    "agent_webhook_url",
)
"""What a call inherits from its placement when a webhook first links them."""


def placement_facts(
    placements: PlacementRepository, placement_id: str | None, call_uuid: str, now: datetime
) -> dict[str, Any]:
    """What a webhook carrying ``placement_id`` should record on the call, linking the two on first sight."""
    if not placement_id:
        return {}
    placement = placements.get(placement_id)
    if placement is None:
        return {"placement_id": placement_id, "placement_unknown": True}
    if placement.get("call_uuid") is None:
        placements.link(placement_id, call_uuid, now)
    return {name: placement[name] for name in PLACEMENT_FIELDS_FOR_CALL if placement.get(name) is not None}
