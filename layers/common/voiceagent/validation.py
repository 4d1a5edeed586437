"""Validation errors as a person reads them: the field, the value given (shortened, printable) and what is
allowed, in words. pydantic's own messages quote regular expressions and internal type names; nobody should
have to read those to fix a request, a command line or a configuration.

What is allowed comes from the model: a field's ``description`` says what its pattern accepts, and its
bounds (``ge``/``le``), lengths and choices are read from the field itself, so the words cannot drift from
the check.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

MAX_SHOWN = 40
"""Characters of a bad value echoed back (the rest is cut, so a huge or hostile value is never repeated)."""

ModelT = TypeVar("ModelT", bound=BaseModel)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one field."""

    field: str
    value: str | None
    """The value as given, shortened and printable (None: missing, or a rule across fields)."""
    allowed: str
    missing: bool = False

    def message(self) -> str:
        if self.missing:
            return f"{self.field}: missing; {self.allowed}"
        if self.value is None:
            return f"{self.field}: {self.allowed}"
        return f"{self.field}: {self.value} is not allowed; {self.allowed}"

    def as_dict(self) -> dict[str, str | None]:
        return {"field": self.field, "value": self.value, "allowed": self.allowed}


class InvalidRequest(ValueError):
    """A request (or command line) that names what is wrong; answered 400 by the HTTP API."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__(describe(self.problems))


def describe(problems: Sequence[Problem]) -> str:
    return "; ".join(problem.message() for problem in problems) or "invalid request"


def shown(value: object) -> str:
    """A value as it may be echoed: strings quoted and cut to ``MAX_SHOWN`` characters, control characters
    escaped, containers named rather than dumped."""
    if isinstance(value, str):
        text = value if len(value) <= MAX_SHOWN else value[:MAX_SHOWN] + "…"
        printable = "".join(char if char.isprintable() else f"\\x{ord(char) & 0xFF:02x}" for char in text)
        return f"'{printable}'"
    if isinstance(value, bool) or value is None:
        return str(value).lower() if value is not None else "null"
    if isinstance(value, int | float):
        return shown(str(value))[1:-1]
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "a list"
    return f"a {type(value).__name__}"


def _unwrap(annotation: Any) -> Any:
    """The model class inside ``Model | None`` (or the annotation itself)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        inner = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        return inner[0] if len(inner) == 1 else annotation
    return annotation


def _field(model: type[BaseModel] | None, loc: Sequence[int | str]) -> tuple[FieldInfo | None, Any]:
    """The field a location names (by alias or name), walking into nested models, and its model class."""
    info: FieldInfo | None = None
    current: Any = model
    for part in loc:
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return info, current
        fields = current.model_fields
        info = fields.get(str(part)) or next(
            (field for field in fields.values() if field.alias == str(part)), None
        )
        if info is None:
            return None, current
        current = _unwrap(info.annotation)
    return info, current


def _description(info: FieldInfo | None) -> str | None:
    """The field's description, or that of the annotated type inside it (``HttpUrlText | None``)."""
    if info is None:
        return None
    if info.description:
        return info.description
    for member in typing.get_args(info.annotation):
        for extra in getattr(member, "__metadata__", ()):
            if isinstance(extra, FieldInfo) and extra.description:
                return extra.description
    return None


def _bounds(info: FieldInfo | None) -> tuple[Any, Any]:
    """A field's ``ge``/``le``, on the field or on the annotated type in it (``Annotated[int, …] | None``)."""
    if info is None:
        return None, None
    constraints = list(info.metadata)
    for member in typing.get_args(info.annotation):
        for extra in getattr(member, "__metadata__", ()):
            constraints += extra.metadata if isinstance(extra, FieldInfo) else [extra]
    low = high = None
    for constraint in constraints:
        low = getattr(constraint, "ge", None) if getattr(constraint, "ge", None) is not None else low
        high = getattr(constraint, "le", None) if getattr(constraint, "le", None) is not None else high
    return low, high


def _number_words(info: FieldInfo | None, kind: str = "a whole number") -> str:
    low, high = _bounds(info)
    if low is not None and high is not None:
        return f"{kind} from {low} to {high}"
    if low is not None:
        return f"{kind}, at least {low}"
    if high is not None:
        return f"{kind}, at most {high}"
    return kind


def _choices(annotation: Any) -> str | None:
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return ", ".join(str(member.value) for member in annotation)
    return None


def _known_fields(model: Any) -> str:
    if isinstance(model, type) and issubclass(model, BaseModel):
        return ", ".join(field.alias or name for name, field in model.model_fields.items())
    return ""


def _allowed(error: Mapping[str, Any], info: FieldInfo | None, parent: Any) -> str:
    kind = error["type"]
    context = error.get("ctx") or {}
    description = _description(info)
    if kind == "missing":
        return f"required: {description}" if description else "required"
    if kind == "extra_forbidden":
        known = _known_fields(parent)
        return f"not a field of this request; the fields are: {known}" if known else "not a known field"
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        return _number_words(
            info, "a number" if "float" in str(info and info.annotation) else "a whole number"
        )
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return _number_words(info)
    if kind in ("float_parsing", "float_type"):
        return _number_words(info, "a number")
    if kind in ("enum", "literal_error"):
        choices = _choices(_unwrap(info.annotation) if info else None) or context.get("expected", "")
        return f"one of: {str(choices).replace(' or ', ', ').replace(chr(39), '')}"
    if kind in ("string_too_long", "too_long"):
        unit = "characters" if kind == "string_too_long" else "entries"
        return f"at most {context.get('max_length')} {unit}"
    if kind in ("string_too_short", "too_short"):
        unit = "characters" if kind == "string_too_short" else "entries"
        return f"at least {context.get('min_length')} {unit}"
    if kind == "string_type":
        return description or "text"
    if kind in ("bool_parsing", "bool_type"):
        return "true or false"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"an object with the fields {_known_fields(parent)}" if _known_fields(parent) else "an object"
    if kind == "json_invalid":
        return "a JSON object"
    if kind == "string_pattern_mismatch":
        return description or "another format (see the README)"
    if kind == "value_error":  # a field's own check says what it wants; a rule across fields says its rule
        return description or str(error.get("msg", "")).removeprefix("Value error, ")
    return description or str(error.get("msg", "a valid value"))


def _renamed(dotted: str, loc: Sequence[int | str], names: Mapping[str, str]) -> str:
    """``names`` for the whole path, or for its first part (``tuning.bogus`` → ``--tuning bogus``)."""
    if dotted in names:
        return names[dotted]
    if loc and str(loc[0]) in names:
        return " ".join([names[str(loc[0])], ".".join(str(part) for part in loc[1:])]).strip()
    return dotted


def problems(
    exc: ValidationError, model: type[BaseModel] | None = None, *, names: Mapping[str, str] | None = None
) -> list[Problem]:
    """Each error of ``exc`` as a ``Problem``; ``names`` renames fields (e.g. to command-line options)."""
    found: list[Problem] = []
    for error in exc.errors(include_url=False):
        kind = error["type"]
        loc = tuple(error.get("loc") or ())
        dotted = ".".join(str(part) for part in loc) or ("body" if kind == "json_invalid" else "request")
        name = _renamed(dotted, loc, names or {})
        info = _field(model, loc)[0] if loc and kind != "extra_forbidden" else None
        parent = _field(model, loc[:-1])[1]
        if kind == "json_invalid":
            found.append(Problem(name, None, "not JSON: send a JSON object"))
        elif kind == "missing":
            found.append(Problem(name, None, _allowed(error, info, parent), missing=True))
        elif kind == "value_error" and not loc:
            found.append(Problem(name, None, _allowed(error, info, parent)))
        else:
            found.append(Problem(name, shown(error.get("input")), _allowed(error, info, parent)))
    return found


def validate(
    model: type[ModelT],
    data: Any,
    *,
    json_text: bool = False,
    context: Mapping[str, Any] | None = None,
    names: Mapping[str, str] | None = None,
) -> ModelT:
    """``model`` validated from ``data`` (a JSON text with ``json_text``); ``InvalidRequest`` naming each
    problem otherwise."""
    try:
        if json_text:
            return model.model_validate_json(data, context=dict(context or {}))
        return model.model_validate(data, context=dict(context or {}))
    except ValidationError as exc:
        raise InvalidRequest(problems(exc, model, names=names)) from None
