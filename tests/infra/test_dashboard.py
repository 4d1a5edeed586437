"""The operations dashboard in template.yaml: its body is valid JSON once CloudFormation has substituted it,
every metric it names is one the code emits (with the dimensions it emits) or an AWS metric of this stack's
own APIs, functions and table, its metric math refers to what exists, and its cost formula agrees with the
list prices `make bench` uses."""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.template import TEMPLATE_PATH, load_template, resources_of_type

ROOT = TEMPLATE_PATH.parent
PRICES = json.loads((ROOT / "tests" / "bench" / "prices.json").read_text())
pytestmark = pytest.mark.infra

PSEUDO = {
    "AWS::Region": "us-east-1",
    "AWS::StackName": "plivo-voice-agent-dev",
    "AWS::URLSuffix": "amazonaws.com",
}
FUNCTIONS_OF_THE_STACK = set(resources_of_type("AWS::Serverless::Function"))

AWS_METRICS: dict[str, dict[str, set[str]]] = {
    # namespace -> metric -> which resource its dimensions must point at ("" = account-wide, no dimensions)
    "AWS/ApiGateway": {
        "MessageCount": {"MediaWebSocketApi"},
        "ConnectCount": {"MediaWebSocketApi"},
        "ClientError": {"MediaWebSocketApi"},
        "IntegrationError": {"MediaWebSocketApi"},
        "ExecutionError": {"MediaWebSocketApi"},
        "IntegrationLatency": {"MediaWebSocketApi", "WebhookApi"},
        "Count": {"WebhookApi"},
        "4xx": {"WebhookApi"},
        "5xx": {"WebhookApi"},
        "Latency": {"WebhookApi"},
    },
    "AWS/Lambda": dict.fromkeys(("Invocations", "Errors", "Throttles", "Duration"), FUNCTIONS_OF_THE_STACK)
    | {"ConcurrentExecutions": FUNCTIONS_OF_THE_STACK | {""}, "IteratorAge": {"CallEventsFunction"}},
    "AWS/SQS": {
        "ApproximateNumberOfMessagesVisible": {
            "CampaignDialQueue",
            "CampaignOutcomesQueue",
            "CampaignDialDeadLetterQueue",
            "CampaignOutcomesDeadLetterQueue",
        },
        "ApproximateAgeOfOldestMessage": {"CampaignDialQueue"},
    },
    "AWS/DynamoDB": {
        name: {"CallsTable"}
        for name in (
            "ThrottledRequests",
            "ReadThrottleEvents",
            "WriteThrottleEvents",
            "ConsumedReadCapacityUnits",
            "ConsumedWriteCapacityUnits",
        )
    }
    | {"UserErrors": {""}},
}
RESOURCE_DIMENSION = {
    "AWS/ApiGateway": "ApiId",
    "AWS/Lambda": "FunctionName",
    "AWS/DynamoDB": "TableName",
    "AWS/SQS": "QueueName",
}


def _substituted(template_text: str) -> str:
    """What CloudFormation's Fn::Sub makes of the body: ${Name} → a marker of what it names, ${!X} → ${X}."""
    template = load_template()
    known = set(template["Parameters"]) | set(template["Resources"])

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name.startswith("!"):
            return "${" + name[1:] + "}"
        if name in PSEUDO:
            return PSEUDO[name]
        resource = name.split(".")[0]  # ${Queue.QueueName}: an attribute of a resource
        assert resource in known, f"${{{name}}} names neither a parameter nor a resource"
        return f"@{resource}"

    return re.sub(r"\$\{([^}]+)\}", replace, template_text)


def dashboard() -> dict[str, Any]:
    properties = load_template()["Resources"]["OperationsDashboard"]["Properties"]
    body: dict[str, Any] = json.loads(_substituted(properties["DashboardBody"]["Fn::Sub"]))
    return body


def metric_widgets() -> list[dict[str, Any]]:
    return [widget["properties"] for widget in dashboard()["widgets"] if widget["type"] == "metric"]


def expressions(widget: dict[str, Any]) -> list[dict[str, Any]]:
    """A widget's metric math: entries of the form ``[{"expression": …, "id": …}]``."""
    return [entry[0] for entry in widget["metrics"] if len(entry) == 1 and "expression" in entry[0]]


def plain_metrics() -> Iterator[tuple[str, str, dict[str, str], dict[str, Any]]]:
    """(namespace, name, dimensions, options) of every metric given as namespace, name, dimensions…"""
    for widget in metric_widgets():
        for entry in widget["metrics"]:
            if len(entry) == 1:
                continue
            options = entry[-1] if isinstance(entry[-1], dict) else {}
            fields = entry[:-1] if isinstance(entry[-1], dict) else entry
            assert "." not in fields, "write metrics out in full (no '.' shorthand): the test reads them"
            namespace, name, *pairs = fields
            yield namespace, name, dict(zip(pairs[::2], pairs[1::2], strict=True)), options


SEARCH = re.compile(r"SEARCH\('\{([^}]*)\} MetricName=\"([^\"]+)\"((?: \w+=\"[^\"]*\")*)', '(\w+)', (\d+)\)")


def searches() -> Iterator[tuple[str, str, set[str], dict[str, str]]]:
    """(namespace, name, dimension names, dimension filters) of every SEARCH expression."""
    for widget in metric_widgets():
        for entry in expressions(widget):
            if "SEARCH(" in entry["expression"]:
                match = SEARCH.fullmatch(entry["expression"])
                assert match, entry["expression"]
                namespace, *dimensions = match.group(1).split(",")
                filters = dict(re.findall(r'(\w+)="([^"]*)"', match.group(3)))
                assert set(filters) <= set(dimensions), entry["expression"]
                yield namespace, match.group(2), set(dimensions), filters


def emitted_metrics() -> dict[str, set[frozenset[str]]]:
    """Every metric the code emits through ``observability.add`` / ``observability.count``, with the sets
    of dimensions it is emitted with. Read from the source, so a metric renamed in code shows here."""
    from voiceagent.streams.callbacks import METRIC_NAMES

    emitted: dict[str, set[frozenset[str]]] = {}
    sources = [
        *(ROOT / "layers" / "common" / "voiceagent").rglob("*.py"),
        *(ROOT / "functions").rglob("*.py"),
    ]
    for path in sources:
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "voiceagent.observability":
                assert not {alias.name for alias in node.names} & {"add", "count"}, path
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "observability"
                and node.func.attr in {"add", "count"}
            ):
                continue
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                names = {first.value}
            else:  # the one computed name: stream events counted by kind
                assert ast.unparse(first) == "METRIC_NAMES[event.kind]", f"{path}:{node.lineno}"
                names = set(METRIC_NAMES.values())
            dimensions = {"service", "stage"}
            if node.func.attr == "count":
                dimensions |= {keyword.arg for keyword in node.keywords if keyword.arg}
            for name in names:
                emitted.setdefault(name, set()).add(frozenset(dimensions))
    return emitted


def _environment() -> dict[str, str]:
    variables: dict[str, str] = load_template()["Globals"]["Function"]["Environment"]["Variables"]
    return variables


def test_the_body_is_json_once_substituted_and_the_widgets_fit_the_grid() -> None:
    cells: set[tuple[int, int]] = set()
    for widget in dashboard()["widgets"]:
        assert widget["x"] + widget["width"] <= 24
        for x in range(widget["x"], widget["x"] + widget["width"]):
            for y in range(widget["y"], widget["y"] + widget["height"]):
                assert (x, y) not in cells, f"widgets overlap at {(x, y)}"
                cells.add((x, y))
        if widget["type"] == "metric":
            assert widget["properties"]["region"] == PSEUDO["AWS::Region"]


def every_metric() -> Iterator[tuple[str, str, set[str], dict[str, str]]]:
    """(namespace, name, dimension names, dimension values it is scoped to) of each metric and each SEARCH."""
    for namespace, name, dimensions, _ in plain_metrics():
        yield namespace, name, set(dimensions), dimensions
    yield from searches()


def test_every_custom_metric_on_the_dashboard_is_emitted_by_the_code_with_those_dimensions() -> None:
    from voiceagent.calls.outcomes import Outcome

    emitted = emitted_metrics()
    environment = _environment()
    custom = [metric for metric in every_metric() if not metric[0].startswith("AWS/")]
    for namespace, name, dimension_names, values in custom:
        assert namespace == environment["POWERTOOLS_METRICS_NAMESPACE"]
        assert frozenset(dimension_names) in emitted.get(name, set()), (name, sorted(dimension_names))
        assert values["service"] == environment["POWERTOOLS_SERVICE_NAME"]
        assert values["stage"] == "@Stage"  # scoped to this stack's stage
        assert values.get("outcome", Outcome.HUMAN) in {outcome.value for outcome in Outcome}
    assert len(custom) > 20


def test_every_metric_the_code_emits_is_on_the_dashboard() -> None:
    """A fault the stack absorbs (a retry, a replay, a recovery) must show somewhere an operator looks."""
    shown = {name for namespace, name, _, _ in every_metric() if not namespace.startswith("AWS/")}
    assert set(emitted_metrics()) - shown == set()


def test_every_aws_metric_on_the_dashboard_exists_and_is_this_stacks() -> None:
    for namespace, name, dimensions, _ in plain_metrics():
        if not namespace.startswith("AWS/"):
            continue
        assert name in AWS_METRICS[namespace], (namespace, name)
        dimension = RESOURCE_DIMENSION[namespace]
        resource = dimensions.get(dimension, "@").removeprefix("@")
        assert resource in AWS_METRICS[namespace][name], (namespace, name, dimensions)
        expected = {dimension} if resource else set()
        if namespace == "AWS/ApiGateway":
            expected.add("Stage")
            assert dimensions["Stage"] == "@Stage"
        assert set(dimensions) == expected, (namespace, name, dimensions)
    for namespace, name, dimension_names, filters in searches():
        if namespace.startswith("AWS/"):
            assert name in AWS_METRICS[namespace], (namespace, name)
            assert filters["TableName"] == "@CallsTable"
            assert dimension_names == {"TableName", "Operation"}


def test_metric_math_refers_only_to_metrics_and_expressions_of_its_widget() -> None:
    for widget in metric_widgets():
        ids = [
            entry[-1]["id"]
            for entry in widget["metrics"]
            if isinstance(entry[-1], dict) and "id" in entry[-1]
        ]
        assert len(ids) == len(set(ids)), widget["title"]
        for entry in expressions(widget):
            without_strings = re.sub(r"'[^']*'", "", entry["expression"])
            referenced = set(re.findall(r"\b[a-z]\w*\b", without_strings))
            assert referenced <= set(ids), (widget["title"], referenced - set(ids))
            assert ids.index(entry["id"]) > max((ids.index(name) for name in referenced), default=-1)


def test_the_dashboard_shows_what_an_operator_needs() -> None:
    names = {name for _, name, _, _ in plain_metrics()} | {name for _, name, _, _ in searches()}
    assert {
        "CallsPlaced",
        "CallsAnswered",
        "CallsCompleted",
        "CallOutcomes",
        "VoicemailPolicyApplied",
        "StreamsStarted",
        "StreamsDropped",
        "StreamsDegraded",
        "StreamRecoveries",
        "4xx",
        "5xx",
        "Latency",
        "MessageCount",
        "IntegrationLatency",
        "Duration",
        "Errors",
        "Throttles",
        "ClientError",
        "ThrottledRequests",
        "UserErrors",
    } <= names
    throttled = {
        dimensions["FunctionName"]
        for _, name, dimensions, _ in plain_metrics()
        if name in {"Errors", "Throttles"}
    }
    assert throttled == {f"@{function}" for function in FUNCTIONS_OF_THE_STACK}


def _evaluate(widget: dict[str, Any], values: dict[str, float]) -> dict[str, float]:
    """Run a widget's metric math over one period's values (FILL and IF reduced to what they do here)."""
    results = dict(values)
    for entry in expressions(widget):
        if "SEARCH(" not in entry["expression"]:
            expression = re.sub(r"FILL\((\w+), 0\)", r"\1", entry["expression"])
            expression = re.sub(r"^IF\(callminutes > 0, (.*)\)$", r"(\1)", expression)
            results[entry["id"]] = eval(expression, {"__builtins__": {}}, results)  # noqa: S307 - our own math
    return results


def test_cost_per_call_minute_uses_the_list_prices_of_make_bench() -> None:
    (widget,) = [widget for widget in metric_widgets() if widget["title"].startswith("Estimated AWS cost")]
    resources = load_template()["Resources"]
    memory_gb = {
        name: resources[name]["Properties"].get(
            "MemorySize", load_template()["Globals"]["Function"]["MemorySize"]
        )
        / 1024
        for name in FUNCTIONS_OF_THE_STACK
    }
    ids = {"AnswerFunction": "answer", "HangupFunction": "hangup", "StreamStatusFunction": "streamstatus"}
    # One minute of one streamed call: 3,000 frames in, 30 frames out, three webhooks, 13 writes and 18 reads,
    # six call events published by two invocations of the publisher.
    minute = {
        "messages": 3030.0,
        "webhooks": 3.0,
        "wru": 13.0,
        "rru": 18.0,
        "i_media": 3000.0,
        "d_media": 6000.0,
        "events": 6.0,
        "i_callevents": 2.0,
        "d_callevents": 100.0,
    }
    for key in ids.values():
        minute |= {f"i_{key}": 1.0, f"d_{key}": 50.0}
    for function in FUNCTIONS_OF_THE_STACK:
        key = function.removesuffix("Function").lower()
        minute.setdefault(f"i_{key}", 0.0)
        minute.setdefault(f"d_{key}", 0.0)

    results = _evaluate(widget, minute)

    gb_seconds = (
        6000 / 1000 * memory_gb["MediaFunction"]
        + sum(50 / 1000 * memory_gb[function] for function in ids)
        + 100 / 1000 * memory_gb["CallEventsFunction"]
    )
    expected = (
        3030 * PRICES["apigw_websocket_message"]
        + 1 * PRICES["apigw_websocket_connection_minute"]
        + 3005 * PRICES["lambda_request"]
        + 6 * PRICES["eventbridge_custom_event"]
        + gb_seconds * PRICES["lambda_arm64_gb_second"]
        + 13 * PRICES["dynamodb_write_request_unit"]
        + 18 * PRICES["dynamodb_read_request_unit"]
        + 3 * PRICES["apigw_http_request"]
    )
    assert results["callminutes"] == 1.0
    assert results["percallminute"] == pytest.approx(expected, rel=1e-9)
    assert results["apigwshare"] + results["lambdashare"] + results["restshare"] == pytest.approx(expected)
    assert 0.0035 < expected < 0.0040  # README's measured $0.0037


def test_the_dashboard_url_is_a_stack_output() -> None:
    output = load_template()["Outputs"]["DashboardUrl"]["Value"]["Fn::Sub"]
    assert output.startswith(
        "https://${AWS::Region}.console.aws.amazon.com/cloudwatch/home?region=${AWS::Region}"
    )
    assert output.endswith("#dashboards/dashboard/${OperationsDashboard}")
    dashboard_resource = load_template()["Resources"]["OperationsDashboard"]
    assert dashboard_resource["Properties"]["DashboardName"] == {"Ref": "AWS::StackName"}


def test_the_emitted_metrics_are_read_from_real_calls() -> None:
    """The source scan finds the metrics the README documents, with their own dimensions."""
    emitted = emitted_metrics()
    assert emitted["CallOutcomes"] == {frozenset({"service", "stage", "outcome"})}
    assert emitted["VoicemailPolicyApplied"] == {frozenset({"service", "stage", "policy", "result"})}
    assert emitted["StreamsDropped"] == {frozenset({"service", "stage"})}
    assert Path(TEMPLATE_PATH).exists()
