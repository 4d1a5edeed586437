"""Who answers a call the local stack's simulated Plivo places: chosen by the last two digits of the number
called, so a call placed by hand (``voiceagent call --callee KIND``, or any ``--to`` number) plays the same
callee the demo's scenarios play.

The numbers to use are ``+1 415 555 01NN``: 555-0100 to 555-0199 are reserved for fiction in every North
American area code, so even a call that reached a real carrier would ring nobody.

| last two digits | the callee |
|---|---|
| ``00`` (``98``, ``99``) | a human who talks: answers, talks over the greeting, talks again, presses ``#`` |
| ``01`` … ``89`` | a human who talks, then hangs up that many seconds after answering |
| ``91`` | an answering machine: a recorded greeting, then a beep |
| ``92`` | an answering machine: a greeting and no beep |
| ``93`` | busy |
| ``94`` | no answer (rings until the call's ring timeout, here at most 6 s) |
| ``95`` | failed (an unreachable number) |
| ``96`` | a human, and the stream's connection breaks mid-call |
| ``97`` | a human, and Plivo reports the stream degraded twice |
"""

from __future__ import annotations

from enum import StrEnum

PREFIX = "+1415555"
"""With ``01NN``: the fictional range 555-0100 to 555-0199."""


class CalleeKind(StrEnum):
    HUMAN = "human"
    HANGUP_AFTER = "hangup-after"
    MACHINE_BEEP = "machine-beep"
    MACHINE_NO_BEEP = "machine-no-beep"
    BUSY = "busy"
    NO_ANSWER = "no-answer"
    FAILED = "failed"
    DROPPED_STREAM = "dropped-stream"
    DEGRADED_STREAM = "degraded-stream"


SUFFIXES = {
    CalleeKind.HUMAN: "00",
    CalleeKind.MACHINE_BEEP: "91",
    CalleeKind.MACHINE_NO_BEEP: "92",
    CalleeKind.BUSY: "93",
    CalleeKind.NO_ANSWER: "94",
    CalleeKind.FAILED: "95",
    CalleeKind.DROPPED_STREAM: "96",
    CalleeKind.DEGRADED_STREAM: "97",
}
HANGUP_AFTER_SECONDS = range(1, 90)
CHOICES = ", ".join([*(kind.value for kind in SUFFIXES), "hangup-after=N (N from 1 to 89 seconds)"])


def number_for(kind: CalleeKind, seconds: int | None = None) -> str:
    """The number that makes the simulator play ``kind``."""
    if kind is CalleeKind.HANGUP_AFTER:
        if seconds not in HANGUP_AFTER_SECONDS:
            raise ValueError(f"hangup-after takes 1 to 89 seconds, not {seconds}")
        return f"{PREFIX}01{seconds:02d}"
    return f"{PREFIX}01{SUFFIXES[kind]}"


def parse(text: str) -> str:
    """The number for a ``--callee`` value (``busy``, ``hangup-after=5``…); ValueError naming the choices."""
    name, _, value = text.partition("=")
    try:
        kind = CalleeKind(name.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a callee; one of: {CHOICES}") from None
    if kind is CalleeKind.HANGUP_AFTER:
        if not value.strip().isdigit():
            raise ValueError(f"{text!r}: give the seconds, e.g. hangup-after=5 (1 to 89)")
        return number_for(kind, int(value))
    if value:
        raise ValueError(f"{text!r}: only hangup-after takes a value")
    return number_for(kind)


def kind_of(number: str) -> tuple[CalleeKind, int | None]:
    """Which callee the simulator plays for a number (by its last two digits)."""
    digits = "".join(char for char in number if char.isdigit())[-2:]
    for kind, suffix in SUFFIXES.items():
        if digits == suffix:
            return kind, None
    if digits.isdigit() and int(digits) in HANGUP_AFTER_SECONDS:
        return CalleeKind.HANGUP_AFTER, int(digits)
    return CalleeKind.HUMAN, None
