"""The public paths of the HTTP API, in one place (template.yaml, handlers, simulator and docs use these)."""

ANSWER = "/plivo/answer"
MACHINE_DETECTION = "/plivo/machine-detection"
VOICEMAIL = "/plivo/voicemail"
STREAM_STATUS = "/plivo/stream-status"
HANGUP = "/plivo/hangup"
CALLS = "/calls"
CALL = "/calls/<call_id>"
"""A call's report; ``call_id`` is the placement id, the RequestUUID or the CallUUID."""
CALL_HANGUP = "/calls/<call_id>/hangup"

PLACEMENT_PARAM = "placement"
"""Query parameter carrying our placement id on the URLs we give Plivo when we place a call."""
