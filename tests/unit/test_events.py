"""events/ is generated: the files must match the generator (and so the plivo SDK's signatures)."""

from __future__ import annotations

import json

import pytest

from tests.support import make_events
from tests.support.events import EVENTS_DIR


def test_every_case_has_a_file_and_no_file_is_orphaned() -> None:
    on_disk = {path.stem for path in EVENTS_DIR.glob("*.json")}
    assert on_disk == set(make_events.CASES)


def test_the_environment_file_for_sam_local_invoke_is_current_and_complete() -> None:
    """Every variable template.yaml's Globals set is in it, with the values the events were signed for."""
    from tests.support.template import load_template

    on_disk = json.loads(make_events.ENV_FILE.read_text())
    assert on_disk == json.loads(make_events.render_environment()), "run `make events`"
    globals_ = load_template()["Globals"]["Function"]["Environment"]["Variables"]
    missing = (
        set(globals_)
        - set(on_disk["Parameters"])
        - {name for name in globals_ if name not in make_events.function_environment() and _optional(name)}
    )
    assert not missing


def _optional(name: str) -> bool:
    """Settings with a default in the functions (read with their default when absent)."""
    from voiceagent.settings import Settings

    return any(
        field.alias == name and not field.is_required() for field in Settings.model_fields.values()
    ) or (name.startswith("POWERTOOLS_"))


@pytest.mark.parametrize("name", sorted(make_events.CASES))
def test_event_file_is_current(name: str) -> None:
    on_disk = (EVENTS_DIR / f"{name}.json").read_text()
    assert json.loads(on_disk) == json.loads(make_events.render(name)), "run `make events`"


def test_the_samples_and_schemas_of_what_the_stack_sends_are_current() -> None:
    """events/eventbridge/ (a sample and a JSON Schema per detail-type) and events/agent/ (the notification)
    are made from the code that publishes and signs them: regenerate with `make events`."""
    made = make_events.artifacts()
    on_disk = {
        str(path.relative_to(EVENTS_DIR))
        for folder in ("eventbridge", "agent")
        for path in (EVENTS_DIR / folder).rglob("*.json")
    }
    assert on_disk == set(made)
    for relative, render in made.items():
        assert json.loads((EVENTS_DIR / relative).read_text()) == json.loads(render()), "run `make events`"
