"""cdk.json's settings and the execution input's cannot disagree on a field, a bound or an allowed value.

The stack copies parts of the `mlops` context into the ValidateInput Lambda's defaults, and each
execution's input is merged over them and validated again. Both validations must accept exactly
the same values: otherwise a setting that synthesizes fails every execution, or an execution can
set what cdk.json may not. Checked two ways, for every setting the defaults copy:
- the JSON Schema of the setting is the same on both sides (fields, required, bounds, enums);
- values at and just beyond every bound, every allowed value and a few wrong ones, and the setting
  left out, are accepted by `load_settings` exactly when they are accepted by the execution input.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

import app as cdk_app
from lambdas.execution_input import (
    EvaluationRunSettings,
    InvalidExecutionInput,
    ProjectBuckets,
    TrainingRunSettings,
    validate_evaluation_input,
    validate_training_input,
)
from stacks.model_lifecycle_stack import _evaluation_defaults, _training_defaults
from stacks.settings import CONTEXT_KEY, PipelineSettings, SettingsError, load_settings

BUCKETS = ProjectBuckets(data="data-bucket", artifacts="artifacts-bucket")
Path = tuple[str, ...]

# What the stack's defaults copy from cdk.json: (cdk.json path, workflow, execution-input path).
SAME_SETTING: list[tuple[Path, str, Path]] = [
    (("hyperparameters",), "training", ("hyperparameters",)),
    (("training",), "training", ("training",)),
    (("processing",), "training", ("processing",)),
    (("tuning",), "training", ("tuning",)),
    (("transform",), "training", ("transform",)),
    (("quality_gate",), "training", ("gate",)),
    (("cache",), "training", ("cache",)),
    (("transform",), "evaluation", ("transform",)),
    (("evaluation", "threshold"), "evaluation", ("threshold",)),
    (("quality_gate", "metric"), "evaluation", ("metric",)),
]
# The container's versions are the stack's, not a run's.
CDK_ONLY: dict[Path, set[str]] = {("training",): {"framework_version", "py_version"}}
# Defaults that are no cdk.json setting (built from data.* prefixes, or fixed).
NOT_A_SETTING = {
    "training": {"data_uri", "reason"},
    "evaluation": {"data_uri", "retrain_raw_data_uri", "retrain"},
}
IDS = [f"{'.'.join(cdk)}-{workflow}.{'.'.join(run)}" for cdk, workflow, run in SAME_SETTING]
INPUT_MODEL = {"training": TrainingRunSettings, "evaluation": EvaluationRunSettings}
MISSING = object()


def _context() -> dict[str, Any]:
    return copy.deepcopy(cdk_app.default_context()[CONTEXT_KEY])  # type: ignore[arg-type]


def _defaults(workflow: str, context: dict[str, Any] | None = None) -> dict[str, Any]:
    build = _training_defaults if workflow == "training" else _evaluation_defaults
    return build(load_settings(_context() if context is None else context), BUCKETS.data)


def _get(data: Any, path: Path) -> Any:
    for part in path:
        data = data[part]
    return data


def _set(data: dict[str, Any], path: Path, value: Any) -> dict[str, Any]:
    for part in path[:-1]:
        data = data.setdefault(part, {})
    if value is MISSING:
        data.pop(path[-1], None)
    else:
        data[path[-1]] = value
    return data


# --- the schemas ---------------------------------------------------------------------------------


def _resolved(schema: Any, defs: dict[str, Any]) -> Any:
    """``schema`` with every $ref replaced by its definition, titles and descriptions dropped."""
    if isinstance(schema, dict):
        if "$ref" in schema:
            return _resolved(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
        return {k: _resolved(v, defs) for k, v in schema.items() if k not in ("title", "description")}
    if isinstance(schema, list):
        return [_resolved(item, defs) for item in schema]
    return schema


def _setting_schema(model: Any, path: Path, drop: set[str]) -> tuple[dict[str, Any], bool]:
    """The resolved JSON Schema of the setting at ``path`` and whether it is required."""
    schema = model.model_json_schema(by_alias=True)
    node, required = _resolved(schema, schema.get("$defs", {})), True
    for part in path:
        required = part in node.get("required", [])
        node = node["properties"][part]
    if drop:
        node = {**node, "properties": {k: v for k, v in node["properties"].items() if k not in drop}}
        node["required"] = [name for name in node.get("required", []) if name not in drop]
    return node, required


@pytest.mark.parametrize(("cdk_path", "workflow", "input_path"), SAME_SETTING, ids=IDS)
def test_both_sides_have_the_same_schema(cdk_path: Path, workflow: str, input_path: Path) -> None:
    cdk_schema = _setting_schema(PipelineSettings, cdk_path, CDK_ONLY.get(cdk_path, set()))
    input_schema = _setting_schema(INPUT_MODEL[workflow], input_path, set())
    assert cdk_schema == input_schema


@pytest.mark.parametrize("workflow", ["training", "evaluation"])
def test_the_table_is_what_the_stack_copies(workflow: str) -> None:
    """Every default is a mapped setting (a new one must be added above) and holds cdk.json's value."""
    defaults = _defaults(workflow)
    mapped = {path[0] for _, flow, path in SAME_SETTING if flow == workflow}
    assert set(defaults) == mapped | NOT_A_SETTING[workflow]
    settings = load_settings(_context())
    dumped = {**settings.model_dump(by_alias=True), "hyperparameters": dict(settings.hyperparameters)}
    for cdk_path, flow, input_path in SAME_SETTING:
        if flow == workflow:
            value = _get(dumped, cdk_path)
            if isinstance(value, dict):
                value = {k: v for k, v in value.items() if k not in CDK_ONLY.get(cdk_path, set())}
            assert _get(defaults, input_path) == value


# --- the values each side accepts ----------------------------------------------------------------


def _probes(schema: dict[str, Any]) -> Iterator[Any]:
    """Values at and beyond the bounds of ``schema``, its allowed values, wrong types and absence."""
    yield from (MISSING, None, "x", [1], {"a": 1})
    for option in schema.get("anyOf", [schema]):
        kind = option.get("type")
        step = 1 if kind == "integer" else 0.001
        for key in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
            if key in option:
                yield from (option[key] - step, option[key], option[key] + step)
        if kind in ("integer", "number"):
            yield from (0, 1, 1.5, True)
        if kind == "boolean":
            yield from (True, False, "true", 1)
        if "enum" in option:
            yield from option["enum"]
            yield option["enum"][0] + "-not-listed"


def _accepted_at_synth(cdk_path: Path, value: Any) -> bool:
    context = _context()
    _set(context, cdk_path, value)
    try:
        load_settings(context)
    except SettingsError:
        return False
    return True


def _accepted_at_run(workflow: str, input_path: Path, value: Any) -> bool:
    defaults, raw = _defaults(workflow), dict[str, Any]()
    if value is MISSING:  # an input cannot remove a default: a missing setting is one the defaults lack
        _set(defaults, input_path, MISSING)
    else:
        _set(raw, input_path, value)
    validate = validate_training_input if workflow == "training" else validate_evaluation_input
    try:
        validate(raw, defaults, BUCKETS)
    except InvalidExecutionInput:
        return False
    return True


def _leaves(cdk_path: Path, workflow: str, input_path: Path) -> Iterator[tuple[Path, Path, dict[str, Any]]]:
    """(cdk.json path, input path, schema) of each value of the setting, and a few unlisted names."""
    for model, path in ((PipelineSettings, cdk_path), (INPUT_MODEL[workflow], input_path)):
        drop = CDK_ONLY.get(cdk_path, set()) if model is PipelineSettings else set()
        schema, _ = _setting_schema(model, path, drop)
        if "properties" not in schema:
            yield cdk_path, input_path, schema
            continue
        for name, field in schema["properties"].items():
            yield (*cdk_path, name), (*input_path, name), field
        # Names neither side lists: unknown fields, or extra hyperparameters and their spellings.
        for name in ("unknown", "batch_size", "Epochs", "sagemaker_program", "momentum"):
            yield (*cdk_path, name), (*input_path, name), {"type": "integer", "minimum": 1}


@pytest.mark.parametrize(("cdk_path", "workflow", "input_path"), SAME_SETTING, ids=IDS)
def test_both_sides_accept_the_same_values(cdk_path: Path, workflow: str, input_path: Path) -> None:
    disagreements, seen = [], set()
    for cdk_leaf, input_leaf, schema in _leaves(cdk_path, workflow, input_path):
        for value in _probes(schema):
            if (cdk_leaf, repr(value)) in seen:
                continue
            seen.add((cdk_leaf, repr(value)))
            synth = _accepted_at_synth(cdk_leaf, value)
            if synth != _accepted_at_run(workflow, input_leaf, value):
                shown = "<missing>" if value is MISSING else repr(value)
                where = "at synth only" if synth else "at run only"
                disagreements.append(f"{'.'.join(cdk_leaf)} = {shown}: accepted {where}")
    assert disagreements == []
