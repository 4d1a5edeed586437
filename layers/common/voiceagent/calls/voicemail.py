"""The voicemail XML served to a call the transfer policy moved: message and voice per call, else config."""

from __future__ import annotations

from datetime import datetime

from voiceagent.calls.placement_join import placement_facts
from voiceagent.clock import iso
from voiceagent.plivo.xml import voicemail_response
from voiceagent.settings import Settings
from voiceagent.store import Store


def serve_voicemail(
    call_uuid: str, *, placement_id: str | None, store: Store, settings: Settings, now: datetime
) -> str:
    call = {
        **placement_facts(store.placements, placement_id, call_uuid, now),
        **(store.calls.get_call(call_uuid) or {}),
    }
    store.calls.update_call(
        call_uuid,
        now,
        facts={"voicemail_served_at": iso(now), "voicemail_wait_mode": str(settings.voicemail_wait_mode)},
    )
    return voicemail_response(
        message=call.get("voicemail_message") or settings.voicemail_message,
        audio_url=call.get("voicemail_audio_url"),
        voice=call.get("voicemail_voice") or settings.voicemail_voice,
        language=call.get("voicemail_language") or settings.voicemail_language,
        wait=settings.voicemail_wait_mode,
        wait_seconds=settings.voicemail_wait_seconds,
        min_silence_ms=settings.voicemail_min_silence_ms,
    )
