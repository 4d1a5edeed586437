"""Counting things with their own dimensions (stage, plus e.g. policy, outcome or level) as CloudWatch EMF.

The handlers' ``Metrics`` objects carry one dimension set per invocation; a value such as an outcome belongs
in a dimension, not in the metric's name, so dashboards and alarms can slice by it.
"""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.metrics.functions import is_metrics_disabled


def count(name: str, stage: str, **dimensions: str) -> None:
    """One metric, dimensioned by stage and ``dimensions``. Respects POWERTOOLS_METRICS_DISABLED, which
    ``single_metric`` itself ignores."""
    if is_metrics_disabled():
        return
    with single_metric(
        name=name, unit=MetricUnit.Count, value=1, default_dimensions={"stage": stage}
    ) as metric:
        for key, value in dimensions.items():
            metric.add_dimension(name=key, value=value)
