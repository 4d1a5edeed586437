"""Sign requests exactly as Plivo does, with the plivo SDK's own V3 functions (the same code `voiceagent
doctor` signs its test webhooks with)."""

from __future__ import annotations

from voiceagent_cli.plivo_signing import new_nonce, sign_v3, signed_form_headers, signed_upgrade_headers

__all__ = ["new_nonce", "sign_v3", "signed_form_headers", "signed_upgrade_headers"]
