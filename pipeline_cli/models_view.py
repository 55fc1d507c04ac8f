"""The registry as rich tables: the model list and one model's record."""

from __future__ import annotations

from typing import Any, Final

from rich.console import Group, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from lambdas.model_registry import (
    APPROVAL_CHAMPION,
    APPROVAL_EXPIRES_AT,
    APPROVAL_REQUESTED_AT,
    APPROVAL_TOKEN,
    AUTOSCALING_CAUSE,
    AUTOSCALING_ERROR,
    DECIDED_AT,
    DECIDED_BY,
    DECISION_REASON,
    EVALUATION_METRICS,
    RECORDS_METRIC,
    ModelStatus,
)
from pipeline_cli.registry import json_attribute
from pipeline_cli.render import number, styled, timestamp

# The record's scalar fields in reading order (docs/architecture.md, "Registry item"); others follow.
RECORD_FIELDS: Final[tuple[str, ...]] = (
    "status",
    "created_at",
    "updated_at",
    "reason",
    "run_id",
    "attempt",
    "execution_arn",
    "training_job_name",
    "model_data_url",
    "image_uri",
    "data_uri",
    "code_version",
    "champion_at_training",
    "gate_metric",
    "endpoint_name",
    "endpoint_config_name",
    "retired_by",
    "rejection",
    APPROVAL_REQUESTED_AT,
    APPROVAL_EXPIRES_AT,
    APPROVAL_CHAMPION,
    DECIDED_BY,
    DECIDED_AT,
    DECISION_REASON,
    "failure_error",
    "failure_cause",
    AUTOSCALING_ERROR,
    AUTOSCALING_CAUSE,
    "last_evaluation_metric",
    "last_evaluated_at",
)
_SECTIONS: Final = ("hyperparameters", "training_metrics", "metrics", "evaluations", "evaluation_report_uri")
REPORT_FILE: Final = "report.json"
CONFUSION_MATRIX_FILE: Final = "confusion_matrix.png"


def models_table(models: list[dict[str, Any]], status: ModelStatus | None) -> Table:
    title = f"Model registry: {len(models)} model{'s' if len(models) != 1 else ''}"
    table = Table(title=title + (f" {status.value}" if status else ""), title_justify="left")
    for column in ("model", "status", "gate metric", "created", "training job", "deployed"):
        table.add_column(column, overflow="fold")
    for model in models:
        table.add_row(
            escape(str(model["model_name"])),
            styled(str(model.get("status", "?"))),
            number(model.get("gate_metric")),
            timestamp(model.get("created_at")),
            escape(str(model.get("training_job_name", "-"))),
            _serving(model),
        )
    return table


def _serving(model: dict[str, Any]) -> str:
    """The last column: where it is served, or until when it waits for a decision."""
    if model.get("status") == ModelStatus.DEPLOYED:
        return f"[green]yes[/] ({escape(str(model.get('endpoint_name', '')))})"
    if model.get("status") == ModelStatus.PENDING_APPROVAL:
        return f"[yellow]awaits approval[/] until {timestamp(model.get(APPROVAL_EXPIRES_AT))}"
    return ""


def _key_values(title: str, values: dict[str, Any]) -> Table:
    table = Table(title=title, title_justify="left", show_header=False, box=None, padding=(0, 2, 0, 0))
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for key, value in values.items():
        shown = (
            timestamp(value) if key.endswith("_at") else (styled(value) if key == "status" else str(value))
        )
        table.add_row(key, shown if key == "status" else escape(shown))
    return table


def _evaluations(evaluations: list[dict[str, Any]]) -> Table:
    table = Table(title="Evaluation history", title_justify="left")
    for column in ("evaluated", *EVALUATION_METRICS, RECORDS_METRIC, "data", "report"):
        table.add_column(column, overflow="fold")
    for entry in evaluations:
        metrics = entry.get("metrics", {})
        table.add_row(
            timestamp(entry.get("evaluated_at")),
            *(number(metrics.get(m)) for m in (*EVALUATION_METRICS, RECORDS_METRIC)),
            escape(str(entry.get("data_uri", "-"))),
            escape(str(entry.get("report_uri", "-"))),
        )
    return table


def _metrics(model: dict[str, Any]) -> Table:
    table = Table(title="Metrics", title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("from")
    for name, value in (model.get("metrics") or {}).items():
        table.add_row(name, number(value), "held-out evaluation")
    training = json_attribute(model, "training_metrics")
    for metric in training if isinstance(training, list) else []:
        table.add_row(str(metric.get("MetricName")), number(metric.get("Value")), "training job (final)")
    return table


def model_details(model: dict[str, Any]) -> RenderableType:
    name = str(model["model_name"])
    fields = {k: model[k] for k in RECORD_FIELDS if k in model}
    # The task token is a capability for `approve`/`reject`, not something to read.
    hidden = (*RECORD_FIELDS, *_SECTIONS, "model_name", APPROVAL_TOKEN)
    others = {k: v for k, v in model.items() if k not in hidden}
    parts: list[RenderableType] = [
        Text(name, style="bold underline"),
        _key_values("Record", {**fields, **others}),
    ]
    hyperparameters = json_attribute(model, "hyperparameters")
    if isinstance(hyperparameters, dict):
        parts.append(_key_values("Hyperparameters", hyperparameters))
    if model.get("metrics") or model.get("training_metrics"):
        parts.append(_metrics(model))
    report = model.get("evaluation_report_uri")
    if report:
        matrix = str(report).removesuffix(REPORT_FILE) + CONFUSION_MATRIX_FILE
        parts.append(_key_values("Evaluation report", {"report": report, "confusion matrix": matrix}))
    evaluations = model.get("evaluations") or []
    parts.append(
        _evaluations(evaluations) if evaluations else Text("No evaluations by the evaluation workflow yet.")
    )
    return Group(*parts)
