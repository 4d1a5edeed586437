"""Read template.yaml (with its CloudFormation tags): tests build resources from the one source of truth."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

TEMPLATE_PATH = Path(__file__).resolve().parents[2] / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that keeps intrinsic functions (``!Ref x`` → ``{"Ref": x}``) instead of failing on them."""


def _intrinsic(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if tag_suffix == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _intrinsic)


@lru_cache(maxsize=1)
def load_template() -> dict[str, Any]:
    document: dict[str, Any] = yaml.load(TEMPLATE_PATH.read_text(), Loader=_CfnLoader)  # noqa: S506
    return document


def resources_of_type(resource_type: str) -> dict[str, dict[str, Any]]:
    return {
        name: resource
        for name, resource in load_template()["Resources"].items()
        if resource["Type"] == resource_type
    }


def table_definition(logical_id: str) -> dict[str, Any]:
    """CreateTable arguments for a table declared in template.yaml (keys, attributes, billing)."""
    properties = load_template()["Resources"][logical_id]["Properties"]
    return {
        "KeySchema": properties["KeySchema"],
        "AttributeDefinitions": properties["AttributeDefinitions"],
        "BillingMode": properties["BillingMode"],
        **(
            {"GlobalSecondaryIndexes": properties["GlobalSecondaryIndexes"]}
            if "GlobalSecondaryIndexes" in properties
            else {}
        ),
        **(
            {"StreamSpecification": {"StreamEnabled": True, **properties["StreamSpecification"]}}
            if "StreamSpecification" in properties
            else {}
        ),
    }


def fact_filter_pattern() -> dict[str, Any]:
    """The call-events event source mapping's filter pattern, as template.yaml declares it."""
    import json

    (source,) = resources_of_type("AWS::Lambda::EventSourceMapping").values()
    (pattern,) = source["Properties"]["FilterCriteria"]["Filters"]
    parsed: dict[str, Any] = json.loads(pattern["Pattern"])
    return parsed
