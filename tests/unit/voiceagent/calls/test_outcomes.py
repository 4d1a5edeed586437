from __future__ import annotations

from typing import Any

import pytest

from voiceagent.calls.outcomes import Outcome, derive_outcome
from voiceagent.plivo.webhooks import HangupWebhook

ANSWERED = {"answered_at": "2026-11-24T12:00:00.000Z"}
MACHINE = {**ANSWERED, "machine_detection_result": "machine"}


def hangup(**fields: str) -> HangupWebhook:
    return HangupWebhook.model_validate({"CallUUID": "c1", **fields})


@pytest.mark.parametrize(
    ("call", "fields", "expected"),
    [
        (ANSWERED, {"HangupCauseCode": "4000"}, Outcome.HUMAN),
        ({}, {"AnswerTime": "2026-11-24 12:00:01", "HangupCauseCode": "4000"}, Outcome.HUMAN),
        ({}, {"BillDuration": "12"}, Outcome.HUMAN),
        ({}, {"HangupCauseCode": "9100"}, Outcome.MACHINE_HANGUP),
        (MACHINE, {"HangupCauseName": "Machine Detected"}, Outcome.MACHINE_HANGUP),
        (MACHINE, {}, Outcome.VOICEMAIL_HANGUP),
        ({**MACHINE, "policy_result": "transferred"}, {}, Outcome.VOICEMAIL_HANGUP),  # hung up before the XML
        ({**MACHINE, "policy_result": "transferred", "voicemail_served_at": "t"}, {}, Outcome.VOICEMAIL_LEFT),
        ({**MACHINE, "agent_mode": "voicemail", "voicemail_played_at": "t"}, {}, Outcome.VOICEMAIL_LEFT),
        ({**MACHINE, "agent_mode": "voicemail"}, {}, Outcome.VOICEMAIL_HANGUP),
        ({}, {"HangupCauseCode": "3000"}, Outcome.NO_ANSWER),
        ({}, {"HangupCauseName": "Ring Timeout Reached"}, Outcome.NO_ANSWER),
        ({}, {"HangupCause": "NO_ANSWER"}, Outcome.NO_ANSWER),
        ({}, {"HangupCauseCode": "3010"}, Outcome.BUSY),
        ({}, {"HangupCauseName": "Busy Line", "HangupCauseCode": "3000"}, Outcome.BUSY),  # the name wins
        ({}, {"HangupCauseCode": "2000", "HangupCauseName": "Invalid Destination"}, Outcome.FAILED),
        ({}, {}, Outcome.FAILED),
    ],
)
def test_outcome(call: dict[str, Any], fields: dict[str, str], expected: Outcome) -> None:
    assert derive_outcome(call, hangup(**fields)) is expected
