"""`costs --by model|run`: SageMaker costs added up per cost allocation tag.

Every job, model, endpoint config and endpoint the workflows create carries `model_name` and
`run_id` tags (pipeline_constructs/cost_tags.py). The lines come from `costs.execution_costs`
(one execution, or every execution of both workflows), each read once; a line's group is its
resource's tag, read with ListTags (an endpoint's time: its endpoint config's tags, which name the
model it served). Resources without the tag (created before the tags existed) are `(untagged)`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Literal

from botocore.client import BaseClient
from rich.markup import escape
from rich.table import Table

from pipeline_cli.backend import Backend
from pipeline_cli.costs import CostLine, execution_costs

GroupBy = Literal["model", "run"]
GROUP_TAGS: Final[dict[str, str]] = {"model": "model_name", "run": "run_id"}
UNTAGGED: Final = "(untagged)"
WORKFLOW_OUTPUTS: Final = ("TrainingWorkflowArn", "EvaluationWorkflowArn")


@dataclass(frozen=True)
class GroupCost:
    """The lines whose resources carry one value of the grouping tag."""

    value: str
    lines: tuple[CostLine, ...]

    @property
    def instance_hours(self) -> float:
        return sum(line.instance_hours for line in self.lines)

    @property
    def billed(self) -> float:
        return sum(line.billed or 0.0 for line in self.lines)

    @property
    def on_demand(self) -> float:
        return sum(line.on_demand or 0.0 for line in self.lines)

    @property
    def unpriced(self) -> int:
        """Lines whose instance type has no price in the bundled table (left out of the sums)."""
        return sum(1 for line in self.lines if line.billed is None)


def group_costs(sagemaker: BaseClient, lines: Iterable[CostLine], by: GroupBy) -> list[GroupCost]:
    """The lines grouped by their resource's `model_name` or `run_id` tag, costliest first."""
    tag = GROUP_TAGS[by]
    groups: dict[str, list[CostLine]] = {}
    for line in _once_each(lines):
        groups.setdefault(_tag(sagemaker, line.arn, tag), []).append(line)
    totals = [GroupCost(value, tuple(group)) for value, group in groups.items()]
    return sorted(totals, key=lambda group: (-group.billed, group.value))


def all_costs(backend: Backend) -> list[CostLine]:
    """The lines of every execution of both workflows (a child execution's jobs once)."""
    stepfunctions = backend.client("stepfunctions")
    lines: list[CostLine] = []
    for output in WORKFLOW_OUTPUTS:
        paginator = stepfunctions.get_paginator("list_executions")
        for page in paginator.paginate(stateMachineArn=backend.output(output)):
            for execution in page["executions"]:
                lines += execution_costs(backend, execution["executionArn"])
    return list(_once_each(lines))


def _once_each(lines: Iterable[CostLine]) -> Iterable[CostLine]:
    """A job reached from its own execution and from a parent's counts once."""
    seen: set[tuple[str, str]] = set()
    for line in lines:
        key = (line.kind, line.name)
        if key not in seen:
            seen.add(key)
            yield line


def _tag(sagemaker: BaseClient, arn: str, key: str) -> str:
    if not arn:
        return UNTAGGED
    tags = sagemaker.list_tags(ResourceArn=arn).get("Tags", [])
    return next((str(tag["Value"]) for tag in tags if tag["Key"] == key and tag["Value"]), UNTAGGED)


def group_table(groups: list[GroupCost], by: GroupBy, caption: str) -> Table:
    """One row per tag value: jobs, instance-hours, on-demand and billed dollars."""
    table = Table(title=f"SageMaker costs by {by} ({GROUP_TAGS[by]} tag)", caption=caption, show_footer=True)
    columns = [
        (by, "total"),
        ("jobs", str(sum(len(group.lines) for group in groups))),
        ("instance-hours", f"{sum(group.instance_hours for group in groups):.3f}"),
        ("on-demand $", f"{sum(group.on_demand for group in groups):.4f}"),
        ("billed $", f"{sum(group.billed for group in groups):.4f}"),
        ("note", ""),
    ]
    for header, footer in columns:
        table.add_column(header, footer=footer, overflow="fold", justify="right" if "$" in header else "left")
    for group in groups:
        note = f"{group.unpriced} without a price" if group.unpriced else ""
        table.add_row(
            escape(group.value),
            str(len(group.lines)),
            f"{group.instance_hours:.3f}",
            f"{group.on_demand:.4f}",
            f"{group.billed:.4f}",
            note,
        )
    return table
