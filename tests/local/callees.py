"""What each simulated callee does, by the number called (``voiceagent_cli.callees`` names the numbers).

The local stack (`make local`) and the demo both pick the callee here, so every demo scenario can be played
by hand: ``voiceagent call --callee KIND`` places a call to a number of that kind's pattern.

Answering machines play recorded greetings from the seeded corpus (``tests.support.corpus``), with the
moments that matter marked on the call as they play (``greeting_end``, ``beep_start``, ``beep_end``).
"""

from __future__ import annotations

import functools

from tests.local.plivo_sim import Audio, Callee, Degrade, DropStream, HangUp, Press, Quiet, Speak, Step
from tests.support import corpus
from voiceagent_cli.callees import CalleeKind, kind_of

GREETINGS = {
    CalleeKind.MACHINE_BEEP: (1, "greeting_beep", 3),
    CalleeKind.MACHINE_NO_BEEP: (2, "greeting_no_beep", 1),
}
"""(seed, corpus kind, index): greetings of about 7 s, with pauses; the beep is 669 Hz, 0.45 s, at -13.8 dBFS,
a second after the greeting. Long enough that Plivo's detection (1.5 s after answer) comes before the beep
even on a busy machine."""
MACHINE_DETECTED_AFTER_MS = 1500
AFTER_GREETING = Quiet(12000)
"""Silence after the greeting: room for the message, as a machine records."""
NO_ANSWER_RING_MS = 6000
"""How long an unanswered call rings (Plivo's default ring timeout is 120 s; a shorter one a call asks for
wins)."""

TALK: tuple[Step, ...] = (Quiet(400), Speak(700), Quiet(900), Speak(500), Quiet(900))
"""Someone who answers, talks over the greeting (barge-in), and talks again."""


@functools.cache
def greeting(kind: CalleeKind) -> Audio:
    """A machine's recorded greeting (synthesised once per process: about a second)."""
    seed, corpus_kind, index = GREETINGS[kind]
    case = corpus.case(seed, corpus_kind, index)
    marks = {
        "greeting_end": case.greeting_end_ms,
        "beep_start": case.beep_start_ms,
        "beep_end": case.beep_end_ms,
    }
    return Audio(case.frames, tuple((name, at) for name, at in marks.items() if at is not None))


def prepare() -> None:
    """Synthesise the greetings before calls need them (a call must not wait a second to be answered)."""
    for kind in GREETINGS:
        greeting(kind)


def talks_then_hangs_up(seconds: int) -> tuple[Step, ...]:
    """A callee who talks, pausing, and hangs up ``seconds`` into the call's audio."""
    steps: list[Step] = []
    left = seconds * 1000
    pattern = [*TALK, Quiet(1500), Speak(800)] * (1 + seconds // 2)
    for step in pattern:
        if left <= 0:
            break
        assert isinstance(step, Quiet | Speak)
        length = min(step.ms, left)
        steps.append(type(step)(length))
        left -= length
    return (*steps, HangUp())


UNANSWERED = {
    CalleeKind.BUSY: Callee((), ring_ms=1500, unanswered=("USER_BUSY", "Busy Line", 3010, "Callee")),
    CalleeKind.NO_ANSWER: Callee(
        (), ring_ms=NO_ANSWER_RING_MS, unanswered=("NO_ANSWER", "No Answer", 3000, "Plivo")
    ),
    CalleeKind.FAILED: Callee(
        (), ring_ms=300, unanswered=("INVALID_NUMBER_FORMAT", "Invalid Destination Address", 2000, "Plivo")
    ),
}


def callee(kind: CalleeKind, seconds: int | None = None) -> Callee:
    if kind is CalleeKind.HANGUP_AFTER:
        return Callee(talks_then_hangs_up(seconds or 1))
    if kind in GREETINGS:
        return Callee((greeting(kind), AFTER_GREETING), machine_after_ms=MACHINE_DETECTED_AFTER_MS)
    if kind in UNANSWERED:
        return UNANSWERED[kind]
    if kind is CalleeKind.DROPPED_STREAM:
        # Stays on the line a while after the drop: the restart takes a webhook, a REST call and a connect.
        return Callee(
            (Quiet(400), Speak(600), Quiet(800), DropStream(), Quiet(4000), Speak(500), Quiet(900), HangUp())
        )
    if kind is CalleeKind.DEGRADED_STREAM:
        return Callee((Quiet(300), Speak(600), Degrade(30), Quiet(600), Degrade(60), Quiet(600), HangUp()))
    return Callee((*TALK, Press("#"), Quiet(6000)))


def callee_for(to: str) -> Callee:
    """Who answers a call to ``to`` (by the last two digits of the number)."""
    return callee(*kind_of(to))
