"""execution_input: the execution-input schema, defaults merging and the handler."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from lambdas import execution_input, sagemaker_api
from lambdas.execution_input import (
    InvalidExecutionInput,
    ProjectBuckets,
    evaluation_input_json_schema,
    training_input_json_schema,
    validate_evaluation_input,
    validate_training_input,
)
from lambdas.lambda_env import FunctionMisconfigured
from tests.unit.lambda_fixtures import (
    ARTIFACTS_BUCKET,
    DATA_BUCKET,
    LambdaContextStub,
    evaluation_defaults,
    training_defaults,
)

BUCKETS = ProjectBuckets(data=DATA_BUCKET, artifacts=ARTIFACTS_BUCKET)
RUN_KEYS = [
    "run_id",
    "preprocess",
    "raw_data_uri",
    "data_uri",
    "hyperparameters",
    "training",
    "processing",
    "tuning",
    "transform",
    "gate",
    "cache",
    "reason",
]


def training(raw: Any, defaults: dict[str, Any] | None = None) -> dict[str, Any]:
    return validate_training_input(raw, training_defaults() if defaults is None else defaults, BUCKETS)


def problems_of(raw: Any, defaults: dict[str, Any] | None = None) -> list[str]:
    with pytest.raises(InvalidExecutionInput) as caught:
        training(raw, defaults)
    return caught.value.problems


# --- training: defaults and merging --------------------------------------------------------------


def test_empty_input_gives_the_defaults_as_run() -> None:
    run = training({})
    defaults = training_defaults()
    assert list(run) == RUN_KEYS
    assert run["preprocess"] is False
    assert run["raw_data_uri"] is None
    assert run["data_uri"] == defaults["data_uri"] + "/"  # normalised to a prefix
    for key in ("hyperparameters", "training", "processing", "tuning", "transform", "gate"):
        assert run[key] == defaults[key], key
    assert run["reason"] == "manual start"
    json.dumps(run)  # the state machine needs plain JSON


def test_run_id_is_short_lowercase_and_unique_for_identical_inputs() -> None:
    ids = {training({})["run_id"] for _ in range(20)}
    assert len(ids) == 20
    for run_id in ids:
        assert re.fullmatch(r"\d{12}-[0-9a-f]{6}", run_id)
        assert len(run_id) <= 24


def test_overrides_merge_deeply_into_defaults() -> None:
    run = training(
        {
            "hyperparameters": {"epochs": 3, "dropout": 0.25, "augment": True, "optimizer": "adam"},
            "training": {"instance_count": 2},
            "gate": {"threshold": 0.9},
            "reason": "new data",
        }
    )
    assert run["hyperparameters"] == {
        "epochs": 3,
        "batch-size": 128,
        "learning-rate": 0.001,
        "dropout": 0.25,
        "augment": True,
        "optimizer": "adam",
    }
    assert run["training"] == {**training_defaults()["training"], "instance_count": 2}
    assert run["gate"] == {**training_defaults()["gate"], "threshold": 0.9}
    assert run["reason"] == "new data"


def test_merge_does_not_modify_the_defaults() -> None:
    defaults = training_defaults()
    training({"training": {"instance_count": 4}}, defaults)
    assert defaults == training_defaults()


def test_raw_data_uri_means_preprocessing_into_a_run_prefix() -> None:
    run = training({"raw_data_uri": f"s3://{DATA_BUCKET}/raw/mnist"})
    assert run["preprocess"] is True
    assert run["raw_data_uri"] == f"s3://{DATA_BUCKET}/raw/mnist/"
    assert run["data_uri"] == f"s3://{DATA_BUCKET}/prepared/{run['run_id']}/"


def test_input_data_uri_overrides_raw_data_in_the_defaults() -> None:
    defaults = {**training_defaults(), "raw_data_uri": f"s3://{DATA_BUCKET}/raw/", "data_uri": None}
    assert training({}, defaults)["preprocess"] is True
    run = training({"data_uri": f"s3://{ARTIFACTS_BUCKET}/prepared/x/"}, defaults)
    assert run["preprocess"] is False
    assert run["raw_data_uri"] is None
    assert run["data_uri"] == f"s3://{ARTIFACTS_BUCKET}/prepared/x/"


def test_numbers_are_strict_but_a_float_field_takes_an_integer() -> None:
    run = training({"hyperparameters": {"learning-rate": 1}, "gate": {"threshold": 1, "tolerance": 0}})
    assert run["hyperparameters"]["learning-rate"] == 1
    assert run["gate"]["threshold"] == 1


def test_spot_needs_a_wait_time_even_when_the_defaults_leave_it_out() -> None:
    defaults = training_defaults()
    del defaults["training"]["max_wait_seconds"]
    assert training({}, defaults)["training"]["max_wait_seconds"] is None  # no spot: not needed
    with pytest.raises(InvalidExecutionInput, match=r"training\.max_wait_seconds: expected at least"):
        training({"training": {"use_spot": True}}, defaults)


def test_spot_training_with_enough_wait_time_is_valid() -> None:
    run = training({"training": {"use_spot": True, "max_wait_seconds": 7200}})
    assert run["training"]["use_spot"] is True
    assert run["training"]["max_wait_seconds"] == 7200


def test_every_problem_is_reported_at_once() -> None:
    problems = problems_of({"hyperparameters": {"epochs": 0}, "training": {"instance_count": 0}, "x": 1})
    assert len(problems) == 3
    assert sorted(p.split(":")[0] for p in problems) == [
        "hyperparameters.epochs",
        "training.instance_count",
        "x",
    ]


# --- training: malformed inputs ------------------------------------------------------------------

MALFORMED: list[tuple[str, Any, str]] = [
    ("list", [1, 2], "input: expected a JSON object"),
    ("string", "train please", "input: expected a JSON object"),
    ("null", None, "input: expected a JSON object"),
    ("unknown top-level field", {"epochs": 3}, "epochs: unknown field (expected one of: raw_data_uri,"),
    ("unknown nested field", {"training": {"gpus": 1}}, "training.gpus: unknown field"),
    ("block not an object", {"training": "ml.m5.xlarge"}, "training: expected a JSON object"),
    (
        "epochs as string",
        {"hyperparameters": {"epochs": "12"}},
        "hyperparameters.epochs: expected a valid integer",
    ),
    (
        "epochs as bool",
        {"hyperparameters": {"epochs": True}},
        "hyperparameters.epochs: expected a valid integer",
    ),
    ("negative epochs", {"hyperparameters": {"epochs": -1}}, "hyperparameters.epochs: expected >= 1, got -1"),
    ("too many epochs", {"hyperparameters": {"epochs": 5000}}, "hyperparameters.epochs: expected <= 1000"),
    (
        "retries push epochs out of bounds",
        {"hyperparameters": {"epochs": 990}, "gate": {"retrain_epoch_increment": 10}},
        "hyperparameters.epochs: expected epochs + (gate.max_attempts - 1)",
    ),
    ("zero batch size", {"hyperparameters": {"batch-size": 0}}, "hyperparameters.batch-size: expected >= 1"),
    (
        "huge batch size",
        {"hyperparameters": {"batch-size": 100000}},
        "hyperparameters.batch-size: expected <= 65536",
    ),
    (
        "zero learning rate",
        {"hyperparameters": {"learning-rate": 0}},
        "hyperparameters.learning-rate: expected > 0",
    ),
    ("learning rate above 1", {"hyperparameters": {"learning-rate": 3.0}}, "hyperparameters.learning-rate"),
    (
        "nested hyperparameter",
        {"hyperparameters": {"layers": [64, 32]}},
        "hyperparameters.layers: expected a string",
    ),
    (
        "null hyperparameter",
        {"hyperparameters": {"dropout": None}},
        "hyperparameters.dropout: expected a string",
    ),
    (
        "bad hyperparameter name",
        {"hyperparameters": {"drop out": 0.1}},
        "hyperparameters.drop out: expected a",
    ),
    (
        "reserved hyperparameter name",
        {"hyperparameters": {"sagemaker_program": "evil.py"}},
        "hyperparameters.sagemaker_program: expected a name not starting with 'sagemaker_'",
    ),
    (
        "misspelt known hyperparameter",
        {"hyperparameters": {"batch_size": 64}},
        "hyperparameters.batch_size: expected the spelling 'batch-size'",
    ),
    (
        "oversized hyperparameter value",
        {"hyperparameters": {"notes": "x" * 5000}},
        "hyperparameters.notes: expected a string of at most 1024",
    ),
    (
        "oversized hyperparameter map",
        {"hyperparameters": {f"p{i}": "y" * 1000 for i in range(10)}},
        "hyperparameters: expected at most 8192 characters",
    ),
    (
        "too many hyperparameters",
        {"hyperparameters": {f"p{i}": i for i in range(60)}},
        "hyperparameters: expected at most 50",
    ),
    ("instance count 0", {"training": {"instance_count": 0}}, "training.instance_count: expected >= 1"),
    (
        "instance count too high",
        {"transform": {"instance_count": 500}},
        "transform.instance_count: expected <= 100",
    ),
    (
        "instance count as float",
        {"processing": {"instance_count": 1.5}},
        "processing.instance_count: expected a valid",
    ),
    (
        "bad instance type",
        {"transform": {"instance_type": "m5.large"}},
        "transform.instance_type: expected a SageMaker",
    ),
    ("use_spot as string", {"training": {"use_spot": "yes"}}, "training.use_spot: expected a valid boolean"),
    ("use_spot as 1", {"training": {"use_spot": 1}}, "training.use_spot: expected a valid boolean"),
    (
        "runtime too short",
        {"training": {"max_runtime_seconds": 10}},
        "training.max_runtime_seconds: expected >= 60",
    ),
    (
        "runtime over 5 days",
        {"training": {"max_runtime_seconds": 500000}},
        "training.max_runtime_seconds: expected <=",
    ),
    ("spot without wait", {"training": {"use_spot": True}}, "training.max_wait_seconds: expected at least"),
    (
        "spot wait below runtime",
        {"training": {"use_spot": True, "max_wait_seconds": 600}},
        "training.max_wait_seconds: expected at least training.max_runtime_seconds (3600)",
    ),
    (
        "warm pool with spot",
        {"training": {"use_spot": True, "max_wait_seconds": 7200, "keep_alive_seconds": 600}},
        "training.keep_alive_seconds: expected 0 when training.use_spot is true: SageMaker keeps no",
    ),
    (
        "warm pool over an hour",
        {"training": {"keep_alive_seconds": 3601}},
        "training.keep_alive_seconds: expected <= 3600",
    ),
    ("max_jobs 0", {"tuning": {"max_jobs": 0}}, "tuning.max_jobs: expected >= 1"),
    (
        "parallel above max jobs",
        {"tuning": {"max_jobs": 4, "max_parallel_jobs": 5}},
        "tuning.max_parallel_jobs: expected at most tuning.max_jobs (4), got 5",
    ),
    ("threshold above 1", {"gate": {"threshold": 1.5}}, "gate.threshold: expected <= 1"),
    ("negative tolerance", {"gate": {"tolerance": -0.1}}, "gate.tolerance: expected >= 0"),
    ("max attempts 11", {"gate": {"max_attempts": 11}}, "gate.max_attempts: expected <= 10"),
    ("unknown gate metric", {"gate": {"metric": "auc"}}, "gate.metric: expected one of accuracy, macro_f1"),
    ("reason too long", {"reason": "r" * 300}, "reason: expected at most 256 characters"),
    ("reason not a string", {"reason": 42}, "reason: expected a valid string"),
    (
        "not an s3 uri",
        {"data_uri": "https://example.com/data/"},
        "data_uri: expected an s3://bucket/prefix/ URI",
    ),
    (
        "bucket root",
        {"data_uri": f"s3://{DATA_BUCKET}/"},
        "data_uri: expected an s3://bucket/prefix/ URI with a",
    ),
    (
        "bad bucket name",
        {"data_uri": "s3://My_Bucket/data/"},
        "data_uri: expected an s3://bucket/prefix/ URI with",
    ),
    (
        "empty path segment",
        {"data_uri": f"s3://{DATA_BUCKET}/a//b/"},
        "data_uri: expected an s3://bucket/prefix/",
    ),
    (
        "space in key",
        {"data_uri": f"s3://{DATA_BUCKET}/my data/"},
        "data_uri: expected an s3:// URI without spaces",
    ),
    (
        "bucket outside the project",
        {"raw_data_uri": "s3://someone-elses-bucket/raw/"},
        "raw_data_uri: expected a prefix in the project's data bucket",
    ),
    ("uri not a string", {"data_uri": 5}, "data_uri: expected a valid string"),
    (
        "both raw and prepared data",
        {"raw_data_uri": f"s3://{DATA_BUCKET}/raw/", "data_uri": f"s3://{DATA_BUCKET}/prepared/x/"},
        "data_uri: expected either raw_data_uri (raw data to preprocess) or data_uri",
    ),
]


@pytest.mark.parametrize(
    ("raw", "expected"), [(raw, msg) for _, raw, msg in MALFORMED], ids=[c[0] for c in MALFORMED]
)
def test_malformed_input_names_the_field(raw: Any, expected: str) -> None:
    with pytest.raises(InvalidExecutionInput) as caught:
        training(raw)
    assert expected in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_bucket_error_explains_the_role_boundary() -> None:
    (problem,) = problems_of({"data_uri": "s3://elsewhere/data/"})
    assert DATA_BUCKET in problem and ARTIFACTS_BUCKET in problem
    assert "the SageMaker role can read nothing else" in problem
    assert problem.endswith('got "s3://elsewhere/data/"')


def test_missing_data_source_blames_the_defaults() -> None:
    defaults = {**training_defaults(), "data_uri": None}
    (problem,) = problems_of({}, defaults)
    assert problem.startswith("data_uri: expected an s3:// prefix of prepared data")


def test_incomplete_defaults_name_the_missing_field() -> None:
    defaults = training_defaults()
    del defaults["transform"]["instance_type"]
    (problem,) = problems_of({}, defaults)
    assert (
        problem
        == "transform.instance_type: required, and neither the input nor the configured defaults set it"
    )


# --- values SageMaker's API enumerates (botocore's model) ----------------------------------------


def test_a_made_up_training_instance_type_is_refused_before_create_training_job() -> None:
    (problem,) = problems_of({"training": {"instance_type": "ml.fake.huge"}})
    assert problem == (
        "training.instance_type: expected a SageMaker training instance type (e.g. ml.m5.xlarge, "
        'ml.g5.xlarge; see CreateTrainingJob ResourceConfig.InstanceType), got "ml.fake.huge"'
    )


def test_a_misspelled_instance_type_suggests_the_close_one() -> None:
    (problem,) = problems_of({"processing": {"instance_type": "ml.m5.xlarg"}})
    assert problem.startswith(
        "processing.instance_type: expected a SageMaker processing instance type (e.g. ml.m5.xlarge,"
    )
    assert "see CreateProcessingJob ProcessingResources.ClusterConfig.InstanceType" in problem


@pytest.mark.parametrize(
    ("field", "api"),
    [
        ("training", sagemaker_api.TRAINING_INSTANCE_TYPE),
        ("processing", sagemaker_api.PROCESSING_INSTANCE_TYPE),
        ("transform", sagemaker_api.TRANSFORM_INSTANCE_TYPE),
    ],
)
def test_each_instance_type_is_checked_against_its_own_api_enum(
    field: str, api: sagemaker_api.SageMakerEnum
) -> None:
    allowed = api.values()
    assert set(api.examples) <= set(allowed)
    assert training({field: {"instance_type": allowed[-1]}})[field]["instance_type"] == allowed[-1]
    (problem,) = problems_of({field: {"instance_type": "ml.m5.huge"}})
    assert problem.startswith(f"{field}.instance_type: expected {api.what} (e.g. ")
    assert f"see {api.request_field}), got " in problem


def test_a_training_only_instance_type_is_refused_for_batch_transform() -> None:
    # Each job type has its own list: ml.c5n trains but does not run batch transform.
    assert "ml.c5n.xlarge" in sagemaker_api.TRAINING_INSTANCE_TYPE.values()
    assert "ml.c5n.xlarge" not in sagemaker_api.TRANSFORM_INSTANCE_TYPE.values()
    training({"training": {"instance_type": "ml.c5n.xlarge"}})
    (problem,) = problems_of({"transform": {"instance_type": "ml.c5n.xlarge"}})
    assert problem.startswith("transform.instance_type: expected a SageMaker batch transform instance type")
    with pytest.raises(InvalidExecutionInput, match=re.escape("transform.instance_type: expected a SageMak")):
        evaluation({"transform": {"instance_type": "ml.c5n.xlarge"}})


def test_the_configured_default_passes_even_if_this_botocore_does_not_know_it() -> None:
    # The CDK app checked the defaults at synth with its pinned botocore; the Lambda runtime's
    # botocore may be older and not know a new instance type yet.
    defaults = training_defaults()
    defaults["training"]["instance_type"] = "ml.newer.xlarge"
    defaults["transform"]["instance_type"] = "ml.newer.2xlarge"
    run = training({}, defaults)
    assert run["training"]["instance_type"] == "ml.newer.xlarge"
    assert training({"training": {"instance_type": "ml.newer.xlarge"}}, defaults)
    # Only as the default of its own field, and nothing else unknown.
    problems = problems_of(
        {"training": {"instance_type": "ml.newer.2xlarge"}, "processing": {"instance_type": "ml.fake.huge"}},
        defaults,
    )
    assert [problem.split(":")[0] for problem in problems] == [
        "training.instance_type",
        "processing.instance_type",
    ]


def test_an_instance_type_must_be_a_string() -> None:
    (problem,) = problems_of({"training": {"instance_type": 5}})
    assert problem == "training.instance_type: expected a valid string, got 5"


def test_json_schema_lists_the_api_enum() -> None:
    properties = training_input_json_schema()["$defs"]["TrainingSettings"]["properties"]
    assert properties["instance_type"]["enum"] == list(sagemaker_api.TRAINING_INSTANCE_TYPE.values())


# --- JSON schema for the CLI ---------------------------------------------------------------------


def _has_required(schema: Any) -> bool:
    if isinstance(schema, dict):
        return "required" in schema or any(_has_required(v) for v in schema.values())
    return isinstance(schema, list) and any(_has_required(v) for v in schema)


def test_json_schema_accepts_partial_inputs_and_rejects_unknown_fields() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = training_input_json_schema()
    assert not _has_required(schema)
    jsonschema.validate({}, schema)
    jsonschema.validate(
        {"hyperparameters": {"epochs": 3, "dropout": 0.2}, "training": {"use_spot": True}}, schema
    )
    jsonschema.validate(training_defaults(), schema)
    for bad in (
        {"bogus": 1},
        {"hyperparameters": {"epochs": "3"}},
        {"training": {"instance_type": "m5"}},
        {"training": {"instance_type": "ml.fake.huge"}},
    ):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)
    jsonschema.validate(evaluation_defaults(), evaluation_input_json_schema())


# --- evaluation ----------------------------------------------------------------------------------


def evaluation(raw: Any) -> dict[str, Any]:
    return validate_evaluation_input(raw, evaluation_defaults(), BUCKETS)


def test_evaluation_empty_input_gives_defaults_plus_run_id() -> None:
    run = evaluation({})
    assert list(run) == [
        "run_id",
        "data_uri",
        "retrain_raw_data_uri",
        "threshold",
        "metric",
        "transform",
        "retrain",
    ]
    assert {k: v for k, v in run.items() if k != "run_id"} == evaluation_defaults()
    assert run["run_id"] != evaluation({})["run_id"]


def test_evaluation_overrides_merge() -> None:
    run = evaluation(
        {"threshold": 0.5, "metric": "macro_f1", "transform": {"instance_count": 3}, "retrain": False}
    )
    assert (run["threshold"], run["metric"]) == (0.5, "macro_f1")
    assert run["transform"] == {"instance_type": "ml.m5.large", "instance_count": 3}
    assert run["retrain"] is False


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"retrain_raw_data_uri": None}, "retrain_raw_data_uri: expected an s3:// prefix of the raw data"),
        ({"threshold": "0.9"}, "threshold: expected a valid number"),
        ({"data_uri": "s3://not-ours/labelled/"}, "data_uri: expected a prefix in the project's data bucket"),
        ({"metric": "auc"}, "metric: expected one of accuracy, macro_f1"),
        (
            {"gate": {"metric": "accuracy"}},
            "gate: unknown field (expected one of: data_uri, retrain_raw_data_uri,",
        ),
        ([], "input: expected a JSON object"),
    ],
)
def test_evaluation_malformed_input_names_the_field(raw: Any, expected: str) -> None:
    with pytest.raises(InvalidExecutionInput, match=re.escape(expected)):
        evaluation(raw)


def test_evaluation_without_retraining_needs_no_raw_data() -> None:
    run = evaluation({"retrain": False, "retrain_raw_data_uri": None})
    assert run["retrain_raw_data_uri"] is None


# --- handler -------------------------------------------------------------------------------------


@pytest.fixture
def lambda_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATA_BUCKET", DATA_BUCKET)
    monkeypatch.setenv("ARTIFACTS_BUCKET", ARTIFACTS_BUCKET)
    monkeypatch.setenv("TRAINING_DEFAULTS", json.dumps(training_defaults()))
    monkeypatch.setenv("EVALUATION_DEFAULTS", json.dumps(evaluation_defaults()))


@pytest.mark.usefixtures("lambda_env")
def test_handler_completes_both_workflows() -> None:
    run = execution_input.handler({"workflow": "training", "input": {"reason": "x"}}, LambdaContextStub())
    assert list(run) == RUN_KEYS and run["reason"] == "x"
    evaluation_run = execution_input.handler({"workflow": "evaluation", "input": {}}, LambdaContextStub())
    assert evaluation_run["threshold"] == 0.93


@pytest.mark.usefixtures("lambda_env")
@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ({"workflow": "deploy", "input": {}}, "workflow: expected 'training' or 'evaluation'"),
        ({"workflow": "training"}, "input: required"),
        ({"workflow": "training", "input": {"epochs": 1}}, "epochs: unknown field"),
    ],
)
def test_handler_rejects_bad_events(event: dict[str, Any], expected: str) -> None:
    with pytest.raises(InvalidExecutionInput, match=re.escape(expected)):
        execution_input.handler(event, LambdaContextStub())


@pytest.mark.usefixtures("lambda_env")
@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("DATA_BUCKET", "", "environment variable DATA_BUCKET is not set"),
        ("TRAINING_DEFAULTS", "{not json", "TRAINING_DEFAULTS is not valid JSON"),
        ("TRAINING_DEFAULTS", "[]", "TRAINING_DEFAULTS must hold a JSON object"),
    ],
)
def test_handler_reports_misconfiguration_apart_from_input_errors(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(FunctionMisconfigured, match=re.escape(expected)):
        execution_input.handler({"workflow": "training", "input": {}}, LambdaContextStub())


def test_input_from_a_parent_execution_is_accepted() -> None:
    # The evaluation workflow starts training with AssociateWithParent: Step Functions adds this key.
    raw = {
        "reason": "decayed",
        execution_input.PARENT_EXECUTION_KEY: "arn:aws:states:us-east-1:1:execution:e:x",
    }
    run = execution_input.validate_training_input(raw, training_defaults(), BUCKETS)
    assert run["reason"] == "decayed"
    assert execution_input.PARENT_EXECUTION_KEY not in run
