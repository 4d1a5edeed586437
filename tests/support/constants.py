"""Fixed values shared by the event generator and the tests (never real credentials)."""

TEST_AUTH_ID = "MAAAAAAAAAAAAAAAAAAA"
TEST_AUTH_TOKEN = "test-plivo-auth-token-not-a-secret"
AUTH_TOKEN_PARAM = "/plivo-voice-agent/test/auth-token"
STAGE = "dev"
HTTP_API_DOMAIN = "abcdef1234.execute-api.us-east-1.amazonaws.com"
WS_API_DOMAIN = "wsapi12345.execute-api.us-east-1.amazonaws.com"
WEBSOCKET_URL = f"wss://{WS_API_DOMAIN}/{STAGE}"
CUSTOM_DOMAIN_BASE = "https://voice.example.com/hooks"
TABLE_NAME = "calls-test"
CAMPAIGNS_TABLE_NAME = "campaigns-test"
DNC_TABLE_NAME = "dnc-test"
DIAL_QUEUE_NAME = "campaign-dial-test"
DIAL_QUEUE_URL = f"https://sqs.us-east-1.amazonaws.com/123456789012/{DIAL_QUEUE_NAME}"
EVENT_BUS_NAME = "plivo-voice-agent-test-calls"
STREAM_TOKEN_SECRET_PARAM = "/plivo-voice-agent/test/stream-token-key"
STREAM_TOKEN_SECRET = "test-stream-token-key-not-a-secret"
AGENT_WEBHOOK_SECRET_PARAM = "/plivo-voice-agent/test/agent-webhook-key"
AGENT_WEBHOOK_SECRET = "test-agent-webhook-key-not-a-secret"
AGENT_STREAM_URL = "wss://agent.example.com/plivo?tenant=acme"
AGENT_WEBHOOK_URL = "https://agent.example.com/voicemail"
REGION = "us-east-1"

CALL_UUID = "6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
REQUEST_UUID = "0a1b2c3d-4e5f-4061-8273-94a5b6c7d8e9"
PLACEMENT_ID = "pl-3b8d1f0e6a2c4b7d"
IDEMPOTENCY_KEY = "campaign-42-row-0007"
CAMPAIGN_KEY = "spring-renewals-2026"
"""The idempotency key of the sample campaign (it always names the same campaign id)."""
FROM_NUMBER = "14155550100"
TO_NUMBER = "14155550199"
STREAM_ID = "b2c3d4e5-f6a7-4b8c-9d0e-1f2a3b4c5d6e"
CONNECTION_ID = "Zx1YcdAbIAMCLdQ="
FAR_FUTURE = 4102444800  # 2100-01-01: sample tokens that stay valid; expiry itself is tested with a clock

DOCTOR_CHECKS = (
    "ssm auth token",
    "plivo credentials",
    "url AnswerUrl",
    "url MachineDetectionUrl",
    "url VoicemailUrl",
    "url StreamStatusUrl",
    "url HangupUrl",
    "url CallsUrl",
    "url MediaWebSocketUrl",
    "webhook answer",
    "websocket valid token",
    "websocket forged token",
    "webhook stream-status",  # StartStream
    "webhook stream-status",  # StopStream
    "webhook machine-detection",
    "webhook voicemail",
    "webhook hangup",
    "alarm subscribers",
)
"""What `voiceagent doctor` checks on a healthy stack, in order (a deployed one adds "stack" first)."""

FUNCTION_SETTINGS = {
    "STAGE": STAGE,
    "CALLS_TABLE_NAME": TABLE_NAME,
    "PLIVO_AUTH_ID": TEST_AUTH_ID,
    "PLIVO_AUTH_TOKEN_PARAM": AUTH_TOKEN_PARAM,
    "STREAM_TOKEN_SECRET_PARAM": "",
    "WEBSOCKET_URL": WEBSOCKET_URL,
    "PUBLIC_BASE_URL": "",
    "CAMPAIGNS_TABLE_NAME": CAMPAIGNS_TABLE_NAME,
    "DNC_TABLE_NAME": DNC_TABLE_NAME,
    "CAMPAIGN_DIAL_QUEUE_URL": DIAL_QUEUE_URL,
    "CAMPAIGN_CALLBACK_BASE_URL": f"https://{HTTP_API_DOMAIN}/{STAGE}",
}
"""The functions' settings the sample events are made for (the tests' environment and events/env/)."""
