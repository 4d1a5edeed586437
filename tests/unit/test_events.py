"""events/ is generated: the files must match the generator (and so the plivo SDK's signatures)."""

from __future__ import annotations

import json

import pytest

from tests.support import make_events
from tests.support.events import EVENTS_DIR


def test_every_case_has_a_file_and_no_file_is_orphaned() -> None:
    on_disk = {path.stem for path in EVENTS_DIR.glob("*.json")}
    assert on_disk == set(make_events.CASES)


@pytest.mark.parametrize("name", sorted(make_events.CASES))
def test_event_file_is_current(name: str) -> None:
    on_disk = (EVENTS_DIR / f"{name}.json").read_text()
    assert json.loads(on_disk) == json.loads(make_events.render(name)), "run `make events`"
