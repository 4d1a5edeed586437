"""The subset of AWS's event pattern language this stack uses (EventBridge rules, Lambda filter criteria):
a value matches a list of exact values or ``{"prefix": …}``; objects match key by key. Enough to apply the
template's own patterns to real records in tests and in the local stack, instead of trusting them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def matches(pattern: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    """Whether ``event`` matches ``pattern`` (every key of the pattern must match)."""
    for key, wanted in pattern.items():
        if key not in event:
            return False
        value = event[key]
        if isinstance(wanted, Mapping):
            if not isinstance(value, Mapping) or not matches(wanted, value):
                return False
        elif not any(_matches_one(rule, value) for rule in wanted):
            return False
    return True


def _matches_one(rule: Any, value: Any) -> bool:
    if isinstance(rule, Mapping):
        if set(rule) != {"prefix"}:
            raise ValueError(f"pattern rule not supported here: {rule}")
        return isinstance(value, str) and value.startswith(rule["prefix"])
    if isinstance(value, list):
        return rule in value
    return bool(rule == value)
