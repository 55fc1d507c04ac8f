"""Building and checking an execution input: --input, --set, the stack's defaults, the schema."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest

import pipeline_cli.cli as cli
from pipeline_cli.backend import Backend
from pipeline_cli.errors import CliError
from pipeline_cli.inputs import (
    EXECUTION_NAME_PATTERN,
    build_input,
    check_execution_name,
    execution_name,
    parse_assignment,
    resolve,
    stack_defaults,
    validate_input,
)
from tests.cli.conftest import OUTPUTS, Invoke


def _backend(template: dict[str, Any]) -> Backend:
    return Backend(
        region="eu-west-1",
        outputs=dict(OUTPUTS),
        client_factory=lambda service: pytest.fail(f"no AWS call expected ({service})"),
        load_template=lambda: template,
        console_url=lambda arn: None,
    )


DEFAULTS = {
    "data_uri": "s3://BUCKET/prepared/digits/",
    "hyperparameters": {"epochs": 15, "batch-size": 128, "learning-rate": 0.002},
    "training": {
        "instance_type": "ml.g5.xlarge",
        "instance_count": 1,
        "use_spot": True,
        "max_runtime_seconds": 3600,
        "max_wait_seconds": 7200,
        "volume_size_gb": 30,
    },
    "processing": {"instance_type": "ml.m5.xlarge", "instance_count": 1},
    "tuning": {"enabled": False, "max_jobs": 15, "max_parallel_jobs": 5},
    "transform": {"instance_type": "ml.m5.xlarge", "instance_count": 1},
    "gate": {
        "metric": "accuracy",
        "threshold": 0.95,
        "tolerance": 0.01,
        "max_attempts": 3,
        "retrain_epoch_increment": 5,
    },
    "cache": {"enabled": True, "max_age_days": 30},
}


def _template() -> dict[str, Any]:
    """The shape the CDK app synthesizes: defaults as a Fn::Join around the data bucket's Ref."""
    before, after = json.dumps(DEFAULTS).split("BUCKET")
    return {
        "Resources": {
            "Validate": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Handler": "lambdas.execution_input.handler",
                    "Environment": {
                        "Variables": {
                            "TRAINING_DEFAULTS": {"Fn::Join": ["", [before, {"Ref": "DataBucket"}, after]]}
                        }
                    },
                },
            }
        },
        "Outputs": {"DataBucketName": {"Value": {"Ref": "DataBucket"}}},
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hyperparameters.epochs=3", (["hyperparameters", "epochs"], 3)),
        ("training.use_spot=false", (["training", "use_spot"], False)),
        ("reason=new labelled batch", (["reason"], "new labelled batch")),
        ('reason="42"', (["reason"], "42")),
        ('tuning={"enabled": true}', (["tuning"], {"enabled": True})),
        ("gate.threshold=", (["gate", "threshold"], "")),
    ],
)
def test_set_values_are_json_or_strings(text: str, expected: tuple[list[str], Any]) -> None:
    assert parse_assignment(text) == expected


@pytest.mark.parametrize("text", ["epochs", "=3", "hyperparameters..epochs=3", "hyperparameters.=1"])
def test_malformed_set_is_a_usage_error(text: str) -> None:
    with pytest.raises(CliError, match="expected KEY=VALUE") as error:
        parse_assignment(text)
    assert error.value.exit_code == 2


def test_sets_apply_over_the_input_file(tmp_path: Path) -> None:
    path = tmp_path / "input.json"
    path.write_text(json.dumps({"hyperparameters": {"epochs": 30, "batch-size": 64}, "reason": "file"}))

    built = build_input(path, ["hyperparameters.epochs=3", "gate.threshold=0.9"])

    assert built == {
        "hyperparameters": {"epochs": 3, "batch-size": 64},
        "reason": "file",
        "gate": {"threshold": 0.9},
    }


def test_input_from_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO('{"retrain": false}'))
    assert build_input(Path("-"), []) == {"retrain": False}


@pytest.mark.parametrize(
    ("content", "sets", "message"),
    [
        ("[1, 2]", [], "expected a JSON object, got list"),
        ("{nope", [], "is not JSON"),
        ('{"reason": "x"}', ["reason.detail=1"], "--set reason.detail: reason is not an object"),
    ],
)
def test_unusable_input_is_a_usage_error(tmp_path: Path, content: str, sets: list[str], message: str) -> None:
    path = tmp_path / "input.json"
    path.write_text(content)
    with pytest.raises(CliError, match=re.escape(message)):
        build_input(path, sets)


def test_missing_input_file(tmp_path: Path) -> None:
    with pytest.raises(CliError, match="No such file"):
        build_input(tmp_path / "absent.json", [])


def test_execution_names() -> None:
    name = execution_name("evaluation")
    assert name.startswith("evaluation-") and EXECUTION_NAME_PATTERN.match(name)
    assert execution_name("training") != execution_name("training")
    assert check_execution_name("nightly_2") == "nightly_2"
    with pytest.raises(CliError, match="1-80 letters"):
        check_execution_name("has space")


def test_defaults_are_read_from_the_template_with_the_stacks_bucket() -> None:
    defaults = stack_defaults(_backend(_template()), "training")

    assert defaults == {**DEFAULTS, "data_uri": f"s3://{OUTPUTS['DataBucketName']}/prepared/digits/"}
    assert stack_defaults(_backend(_template()), "evaluation") is None  # no EVALUATION_DEFAULTS here


def test_resolve_supports_what_lambda_environments_use() -> None:
    refs = {"Bucket": "b", "AWS::Region": "eu-west-1"}
    assert resolve({"Fn::Sub": "s3://${Bucket}/x-${AWS::Region}"}, refs) == "s3://b/x-eu-west-1"
    with pytest.raises(KeyError):
        resolve({"Fn::GetAtt": ["Role", "Arn"]}, refs)


def test_validation_is_the_workflows_own() -> None:
    backend = _backend(_template())

    run = validate_input(backend, "training", {"hyperparameters": {"epochs": 3}})
    assert run["hyperparameters"] == {"epochs": 3, "batch-size": 128, "learning-rate": 0.002}
    assert re.match(r"^[a-z0-9-]{1,24}$", run["run_id"]) and run["preprocess"] is False

    with pytest.raises(CliError) as error:
        validate_input(
            backend, "training", {"data_uri": "s3://someone-elses-bucket/data/", "training": {"use_spot": 1}}
        )
    assert error.value.exit_code == 2
    assert "data_uri" in str(error.value) and "training.use_spot" in str(error.value)


FAKE_TRAINING_TYPE = (
    "training.instance_type: expected a SageMaker training instance type (e.g. ml.m5.xlarge, "
    'ml.g5.xlarge; see CreateTrainingJob ResourceConfig.InstanceType), got "ml.fake.huge"'
)


def test_instance_types_are_checked_against_sagemakers_api_model() -> None:
    backend = _backend(_template())

    with pytest.raises(CliError) as error:
        validate_input(backend, "training", {"training": {"instance_type": "ml.fake.huge"}})
    assert error.value.exit_code == 2
    assert FAKE_TRAINING_TYPE in str(error.value)


def test_shape_check_names_the_sagemaker_enum_not_its_values() -> None:
    # No EVALUATION_DEFAULTS in this template: only the JSON Schema is checked, with the same words.
    with pytest.raises(CliError) as error:
        validate_input(_backend(_template()), "evaluation", {"transform": {"instance_type": "ml.c5n.xlarge"}})
    message = str(error.value)
    assert message.startswith("Invalid execution input (1 problem): transform.instance_type: expected a ")
    assert "SageMaker batch transform instance type (e.g. " in message
    assert message.endswith('see CreateTransformJob TransformResources.InstanceType), got "ml.c5n.xlarge"')


def test_dry_run_refuses_a_made_up_instance_type(monkeypatch: pytest.MonkeyPatch, invoke: Invoke) -> None:
    backend = _backend(_template())
    monkeypatch.setattr(cli, "make_backend", lambda target: backend)

    result = invoke("start", "--set", "training.instance_type=ml.fake.huge", "--dry-run")

    assert result.exit_code == 2
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert FAKE_TRAINING_TYPE in line

    result = invoke("start", "--set", "training.instance_type=ml.c5n.xlarge", "--dry-run")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["training"]["instance_type"] == "ml.c5n.xlarge"
