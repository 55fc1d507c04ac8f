"""train.py's command line as SageMaker calls it, the SageMaker environment, and the metric lines."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest
import sagemaker_env
import train
from epoch_metrics import MetricLineLogger
from sagemaker_env import InputError

import contract


def test_sagemaker_style_arguments_are_parsed_and_extras_tolerated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SM_CHANNEL_TRAIN", "/data/train")
    monkeypatch.setenv("SM_CHANNEL_VALIDATION", "/data/validation")
    monkeypatch.setenv("SM_MODEL_DIR", "/model")
    monkeypatch.setenv(contract.CHECKPOINT_DIR_ENV, "/checkpoints")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        args = train.parse_args([
            "--epochs", "6", "--batch-size", "256", "--learning-rate", "0.001",
            "--model_dir", "s3://bucket/job/model", "--xla", "True", "--mixed-precision", "false",
            "--some-tuner-extra", "3",
        ])
    assert (args.epochs, args.batch_size, args.learning_rate) == (6, 256, 0.001)
    assert (args.train, args.validation, args.model_dir) == ("/data/train", "/data/validation", "/model")
    assert args.checkpoint_dir == "/checkpoints"
    assert args.xla is True
    assert args.mixed_precision == "false"
    assert args.cache is None  # auto
    assert "--some-tuner-extra" in out.getvalue()


HYPERPARAMETERS = ["--epochs", "15", "--batch-size", "128", "--learning-rate", "0.002"]


def test_explicit_paths_win_and_xla_is_a_flag_too() -> None:
    paths = ["--train", "t", "--validation", "v", "--model-dir", "m"]
    args = train.parse_args([*HYPERPARAMETERS, *paths, "--xla", "--cache", "false"])
    assert (args.train, args.validation, args.model_dir, args.xla, args.cache) == ("t", "v", "m", True, False)


def test_outside_a_container_paths_default_to_the_container_layout_but_nothing_is_written_there() -> None:
    args = train.parse_args(HYPERPARAMETERS)
    assert args.train == "/opt/ml/input/data/train"
    assert args.model_dir == "/opt/ml/model"
    if not Path("/opt/ml").exists():
        assert args.checkpoint_dir is None
        assert sagemaker_env.failure_file(contract.FAILURE_FILE) is None


@pytest.mark.parametrize("argv, problem", [
    (["--epochs", "0"], "--epochs"),
    (["--epochs", "six"], "invalid int value"),
    (["--xla", "maybe"], "--xla"),
    (["--cache", "maybe"], "--cache"),
])
def test_bad_hyperparameters_are_input_errors(argv: list[str], problem: str) -> None:
    with pytest.raises(InputError, match=problem):
        train.parse_args([*HYPERPARAMETERS, *argv])


def test_the_hyperparameters_have_no_defaults_of_their_own() -> None:
    """The workflow always passes them; cdk.json's are the defaults (lambdas/run_settings.py)."""
    with pytest.raises(InputError, match="required: --epochs, --batch-size, --learning-rate"):
        train.parse_args(["--train", "t"])
    with pytest.raises(InputError, match=r"required: --learning-rate$"):
        train.parse_args(HYPERPARAMETERS[:4])


def test_the_failure_file_can_be_redirected(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(contract.FAILURE_FILE_ENV, str(tmp_path / "failure"))
    assert sagemaker_env.failure_file(contract.FAILURE_FILE) == tmp_path / "failure"


def test_a_channel_sharded_by_s3_key_is_recognised() -> None:
    config = {"train": {"TrainingInputMode": "FastFile", "S3DistributionType": "ShardedByS3Key"},
              "validation": {"TrainingInputMode": "File", "S3DistributionType": "FullyReplicated"}}
    env = {"SM_INPUT_DATA_CONFIG": json.dumps(config)}
    assert sagemaker_env.channel_sharded_by_s3_key("train", env)
    assert not sagemaker_env.channel_sharded_by_s3_key("validation", env)
    assert not sagemaker_env.channel_sharded_by_s3_key("train", {})


@pytest.mark.parametrize("logs", [
    {"loss": 0.1234567, "accuracy": 0.97, "val_loss": 0.101, "val_accuracy": 0.975},
    {"loss": 2.5e-05, "accuracy": 1.0, "val_loss": 12.5, "val_accuracy": 0.0},
])
def test_the_metric_line_round_trips_through_the_sagemaker_regexes(logs: dict[str, float]) -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        MetricLineLogger().on_epoch_end(4, logs)
        MetricLineLogger(enabled=False).on_epoch_end(5, {"loss": 9.0})  # a non-chief worker prints nothing
    line = out.getvalue()
    assert line.startswith(f"{contract.METRIC_LINE_PREFIX} epoch=5 ")
    assert line.count("\n") == 1
    scraped = contract.scrape_metrics("noise loss=99 before\n" + line)
    assert scraped == pytest.approx(logs, abs=1e-6)
