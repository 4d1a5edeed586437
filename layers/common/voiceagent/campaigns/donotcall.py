"""The do-not-call list as the API and the CLI manage it: numbers normalised like contacts, then stored."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from voiceagent.campaigns.numbers import InvalidNumber, normalise
from voiceagent.store.dnc import DoNotCallRepository
from voiceagent.validation import InvalidRequest, Problem, shown


class AddNumbers(BaseModel):
    """Body of ``POST /dnc``: numbers to add (an import sends up to 1,000 at a time)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    numbers: list[str] = Field(min_length=1, max_length=1000)
    reason: str | None = Field(default=None, max_length=200)
    default_country_code: str | None = Field(
        default=None, pattern=r"^[1-9]\d{0,2}$", description="e.g. 1 or 44"
    )


class ListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=100, ge=1, le=1000)
    after: str | None = Field(
        default=None, pattern=r"^\+[1-9]\d{7,14}$", description="a number the list gave"
    )


def normalised(numbers: list[str], country_code: str | None) -> list[str]:
    """Each number in E.164, or ``InvalidRequest`` naming every one that is not a number."""
    good: list[str] = []
    problems: list[Problem] = []
    for index, text in enumerate(numbers):
        try:
            good.append(normalise(text, country_code))
        except InvalidNumber as exc:
            problems.append(Problem(f"numbers[{index}]", shown(text), str(exc)))
    if problems:
        raise InvalidRequest(problems)
    return good


def add(repository: DoNotCallRepository, body: AddNumbers, *, added_by: str, now: datetime) -> dict[str, Any]:
    numbers = normalised(body.numbers, body.default_country_code)
    written = repository.add(numbers, now, reason=body.reason, added_by=added_by)
    return {"added": written, "numbers": numbers}


def remove(repository: DoNotCallRepository, number: str) -> dict[str, Any]:
    (normal,) = normalised([number], None)
    return {"number": normal, "removed": repository.remove(normal)}


def page(repository: DoNotCallRepository, query: ListQuery) -> dict[str, Any]:
    entries, after = repository.page(query.limit, query.after)
    return {"numbers": entries, "next": after}
