"""train.py and the channels' input mode: File and FastFile give folders, Pipe fails clearly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sagemaker_env
import train

import contract


def _input_data_config(mode: str) -> str:
    return json.dumps({
        channel: {"TrainingInputMode": mode, "S3DistributionType": "FullyReplicated"}
        for channel in (contract.TRAIN_CHANNEL, contract.VALIDATION_CHANNEL)
    })  # fmt: skip


@pytest.mark.parametrize("mode", ["File", "FastFile"])
def test_file_and_fastfile_channels_are_folders(mode: str) -> None:
    env = {"SM_INPUT_DATA_CONFIG": _input_data_config(mode), "SM_CHANNEL_TRAIN": "/opt/ml/input/data/train"}
    assert sagemaker_env.channel_dir(contract.TRAIN_CHANNEL, env) == "/opt/ml/input/data/train"


def test_a_pipe_channel_fails_the_job_naming_fastfile(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    failure = tmp_path / "failure"
    monkeypatch.setenv("SM_INPUT_DATA_CONFIG", _input_data_config("Pipe"))
    monkeypatch.setenv(contract.FAILURE_FILE_ENV, str(failure))

    code = train.main(["--epochs", "1", "--batch-size", "8", "--learning-rate", "0.01"])

    assert code == contract.INPUT_ERROR_EXIT_CODE
    message = failure.read_text()
    assert message.startswith("train.py: channel train arrives in Pipe mode")
    assert "PipeModeDataset" in message and "FastFile" in message
