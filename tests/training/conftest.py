"""Shared, expensive fixtures: the digits prepared once and the model trained once per session."""

from __future__ import annotations

import contextlib
import io
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import contract
from local_mode.demo.data import write_digits_raw

TRAINING_CODE = Path(__file__).resolve().parents[2] / "training_code"
# Enough for ~0.98 on the held-out digits (the bar is 0.95) in about 15 s on 2 cores.
EPOCHS = 12
BATCH_SIZE = 64
SAGEMAKER_VARIABLES = (
    "TF_CONFIG", "SM_HOSTS", "SM_CURRENT_HOST", "SM_CHANNEL_TRAIN", "SM_CHANNEL_VALIDATION", "SM_MODEL_DIR",
    "SM_INPUT_DATA_CONFIG", contract.FAILURE_FILE_ENV, contract.CHECKPOINT_DIR_ENV,
)


@dataclass(frozen=True)
class TrainedRun:
    model: Any  # keras.Model
    model_dir: Path
    stdout: str
    history: dict[str, list[float]]


@pytest.fixture(autouse=True)
def no_sagemaker_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Tests describe their SageMaker environment themselves; nothing leaks in from the host."""
    for name in SAGEMAKER_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    yield


def run_preprocess(*args: str | int | Path) -> int:
    import preprocess

    return int(preprocess.main([str(arg) for arg in args]))


@pytest.fixture(scope="session")
def digits_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The clean digits as preprocess.py prepares them: <root>/{train,validation,test,transform}."""
    root = tmp_path_factory.mktemp("digits")
    write_digits_raw(root / "raw", variant="clean")
    # Small shards, so the pipeline interleaves several files as it would with real data.
    code = run_preprocess("--input", root / "raw", "--output-dir", root / "data", "--records-per-shard", 400)
    assert code == 0
    return root / "data"


@pytest.fixture(scope="session")
def trained(digits_data: Path, tmp_path_factory: pytest.TempPathFactory) -> TrainedRun:
    """train.py's ``train`` run in-process once, its log captured."""
    import train

    model_dir = tmp_path_factory.mktemp("model")
    args = train.parse_args([
        "--epochs", str(EPOCHS), "--batch-size", str(BATCH_SIZE), "--learning-rate", "0.001",
        "--train", str(digits_data / contract.TRAIN_CHANNEL),
        "--validation", str(digits_data / contract.VALIDATION_CHANNEL),
        "--model-dir", str(model_dir), "--checkpoint-dir", "",
    ])
    log = io.StringIO()
    with contextlib.redirect_stdout(log):
        model = train.train(args)
    return TrainedRun(model, model_dir, log.getvalue(), dict(model.history.history))


def read_channel(channel_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """(pixels float32 [N, H*W*C], labels [N]) of a prepared channel, through the training pipeline."""
    from tfrecord_io import list_shards, make_dataset, read_metadata

    metadata = read_metadata(channel_dir)
    shards = list_shards(channel_dir)
    dataset = make_dataset(
        shards, metadata.feature_size, batch_size=256, shuffle=False, repeat=False, cache=False
    )
    batches = [(x.numpy(), y.numpy()) for x, y in dataset]
    return np.concatenate([x for x, _ in batches]), np.concatenate([y for _, y in batches])


def train_command(*args: str | int | Path) -> list[str]:
    """What SageMaker runs: ``python train.py ...`` in the code folder (run with cwd=TRAINING_CODE)."""
    return [sys.executable, "-u", "train.py", *[str(arg) for arg in args]]
