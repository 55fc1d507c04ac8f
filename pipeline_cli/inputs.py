"""An execution input from `--input FILE` and `--set key=value`, checked before anything starts.

Validation is the workflow's own: `lambdas/execution_input.py` merged over the defaults the stack
gives its ValidateInput Lambda (its environment in the template, the bucket names from the
stack's outputs). Only the input is sent: the workflow merges the defaults itself.
"""

from __future__ import annotations

import importlib
import json
import re
import secrets
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any, Final

from pipeline_cli.backend import Backend
from pipeline_cli.errors import EXIT_USAGE, CliError

# Step Functions execution names: 1-80 characters; these are safe in ARNs, URLs and CloudWatch.
EXECUTION_NAME_PATTERN: Final = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
DEFAULTS_ENV: Final = {"training": "TRAINING_DEFAULTS", "evaluation": "EVALUATION_DEFAULTS"}
# Pseudo parameters whose value the CLI knows (the account id it does not need).
_PSEUDO: Final = {"AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com"}


def _bad_input(message: str) -> CliError:
    return CliError(message, EXIT_USAGE)


# --- building the input ---------------------------------------------------------------------------


def parse_assignment(text: str) -> tuple[list[str], Any]:
    """`hyperparameters.epochs=3` → (["hyperparameters", "epochs"], 3); values are JSON, else strings."""
    key, sep, raw = text.partition("=")
    path = key.strip().split(".")
    if not sep or not all(path):
        raise _bad_input(
            f"--set {text!r}: expected KEY=VALUE with a dotted key, e.g. hyperparameters.epochs=3"
        )
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw  # `reason=new data` needs no quotes
    return path, value


def set_path(target: dict[str, Any], path: list[str], value: Any) -> None:
    node = target
    for depth, key in enumerate(path[:-1]):
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise _bad_input(f"--set {'.'.join(path)}: {'.'.join(path[: depth + 1])} is not an object")
        node = child
    node[path[-1]] = value


def build_input(input_file: Path | None, assignments: list[str]) -> dict[str, Any]:
    """The file's JSON object (`-` reads stdin), then each `--set` over it."""
    raw: Any = {}
    if input_file is not None:
        try:
            text = sys.stdin.read() if str(input_file) == "-" else input_file.read_text()
            raw = json.loads(text)
        except OSError as error:
            raise _bad_input(f"--input {input_file}: {error.strerror or error}") from None
        except json.JSONDecodeError as error:
            raise _bad_input(f"--input {input_file} is not JSON: {error}") from None
        if not isinstance(raw, dict):
            raise _bad_input(f"--input {input_file}: expected a JSON object, got {type(raw).__name__}")
    for assignment in assignments:
        set_path(raw, *parse_assignment(assignment))
    return dict(raw)


def execution_name(workflow: str, now: datetime | None = None) -> str:
    """`training-20261122-180650-1a2b3c`: sortable, unique, and says what it ran."""
    moment = now or datetime.now(UTC)
    return f"{workflow}-{moment:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def check_execution_name(name: str) -> str:
    if not EXECUTION_NAME_PATTERN.match(name):
        raise _bad_input(f"--name {name!r}: use 1-80 letters, digits, '-' or '_'")
    return name


# --- validating it --------------------------------------------------------------------------------


def execution_input_module() -> ModuleType:
    """`lambdas.execution_input`, imported only when an input is validated (pydantic costs a second)."""
    return importlib.import_module("lambdas.execution_input")


def resolve(value: Any, refs: dict[str, str]) -> Any:
    """The few intrinsics a Lambda environment uses (Ref, Fn::Join, Fn::Sub); KeyError otherwise."""
    if isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, dict) and "Ref" in value:
        return refs[value["Ref"]]
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(str(resolve(part, refs)) for part in parts)
    if isinstance(value, dict) and "Fn::Sub" in value and isinstance(value["Fn::Sub"], str):
        return re.sub(r"\$\{([^}!]+)\}", lambda m: str(refs[m.group(1)]), value["Fn::Sub"])
    raise KeyError(json.dumps(value)[:80])


def template_refs(template: dict[str, Any], backend: Backend) -> dict[str, str]:
    """Logical id → physical value, for every resource the stack exports as an output."""
    refs = {**_PSEUDO, "AWS::Region": backend.region}
    for name, output in template.get("Outputs", {}).items():
        value = output.get("Value")
        if isinstance(value, dict) and "Ref" in value and name in backend.outputs:
            refs[value["Ref"]] = backend.outputs[name]
    return refs


def stack_defaults(backend: Backend, workflow: str) -> dict[str, Any] | None:
    """The defaults the stack's ValidateInput Lambda merges the input over (None: not resolvable)."""
    template = backend.template()
    handler = f"{execution_input_module().__name__}.handler"
    refs = template_refs(template, backend)
    for resource in template.get("Resources", {}).values():
        properties = resource.get("Properties", {})
        if resource.get("Type") != "AWS::Lambda::Function" or properties.get("Handler") != handler:
            continue
        variables = (properties.get("Environment") or {}).get("Variables", {})
        try:
            return dict(json.loads(resolve(variables[DEFAULTS_ENV[workflow]], refs)))
        except (KeyError, ValueError, TypeError):
            return None
    return None


def validate_input(backend: Backend, workflow: str, raw: dict[str, Any]) -> dict[str, Any]:
    """`$.run` as the workflow's first state would compute it, or CliError naming every problem.

    Without resolvable defaults only the shape is checked (the JSON Schema of the input).
    """
    module = execution_input_module()
    buckets = module.ProjectBuckets(
        data=backend.output("DataBucketName"), artifacts=backend.output("ArtifactsBucketName")
    )
    defaults = stack_defaults(backend, workflow)
    if defaults is None:
        _check_shape(module, workflow, raw)
        return raw
    validate = module.validate_training_input if workflow == "training" else module.validate_evaluation_input
    try:
        return dict(validate(raw, defaults, buckets))
    except module.InvalidExecutionInput as error:
        raise _bad_input(str(error)) from None


def _check_shape(module: ModuleType, workflow: str, raw: dict[str, Any]) -> None:
    import jsonschema  # only for stacks whose defaults the CLI cannot read

    schema = (
        module.training_input_json_schema()
        if workflow == "training"
        else module.evaluation_input_json_schema()
    )
    problems = [_shape_problem(error) for error in jsonschema.Draft202012Validator(schema).iter_errors(raw)]
    if problems:
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        raise _bad_input(f"Invalid execution input ({count}): " + "; ".join(problems))


def _shape_problem(error: Any) -> str:
    """One line per schema violation; a SageMaker enum (instance types) reads as the Lambda says it."""
    path = ".".join(str(p) for p in error.absolute_path) or "input"
    if error.validator == "enum":
        api_enums = importlib.import_module("lambdas.sagemaker_api").ALL
        api = next((a for a in api_enums if list(a.values()) == list(error.validator_value)), None)
        if api is not None:
            show_value = importlib.import_module("lambdas.validation_messages").show_value
            return f"{path}: expected {api.expectation(error.instance)}, got {show_value(error.instance)}"
    return f"{path}: {error.message}"
