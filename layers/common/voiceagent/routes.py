"""The public paths of the HTTP API, in one place (template.yaml, handlers, simulator and docs use these)."""

ANSWER = "/plivo/answer"
ANSWER_FALLBACK = "/plivo/answer-fallback"
"""Plivo's ``fallback_url``: fetched when the answer URL keeps failing; serves the same XML."""
MACHINE_DETECTION = "/plivo/machine-detection"
VOICEMAIL = "/plivo/voicemail"
STREAM_STATUS = "/plivo/stream-status"
HANGUP = "/plivo/hangup"
CALLS = "/calls"
CALL = "/calls/<call_uuid>"

PLACEMENT_PARAM = "placement"
"""Query parameter carrying our placement id on the URLs we give Plivo when we place a call."""
