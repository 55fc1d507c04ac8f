"""Training end to end on the digits: accuracy, the exported model, metric lines, spot resume, failures."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

import contract
from tests.training.conftest import EPOCHS, TRAINING_CODE, TrainedRun, read_channel, train_command

pytestmark = pytest.mark.slow


def test_reaches_95_percent_on_the_held_out_test_channel(trained: TrainedRun, digits_data: Path) -> None:
    pixels, labels = read_channel(digits_data / contract.TEST_CHANNEL)
    predicted = trained.model.predict(pixels, verbose=0).argmax(axis=1)
    assert len(labels) > 200
    assert (predicted == labels).mean() >= 0.95


def test_every_epoch_prints_one_metric_line_that_sagemaker_scrapes(trained: TrainedRun) -> None:
    prefix = contract.METRIC_LINE_PREFIX + " "
    lines = [line for line in trained.stdout.splitlines() if line.startswith(prefix)]
    assert [line.split()[1] for line in lines] == [f"epoch={n}" for n in range(1, EPOCHS + 1)]
    scraped = contract.scrape_metrics(trained.stdout)
    assert set(scraped) == set(contract.TRAINING_METRICS)
    for name in contract.TRAINING_METRICS:  # the last epoch's values, to the printed precision
        assert scraped[name] == pytest.approx(trained.history[name][-1], abs=1e-6)


def test_exported_model_serves_like_tf_serving_and_agrees_with_the_trained_model(
    trained: TrainedRun, digits_data: Path
) -> None:
    export = trained.model_dir / contract.MODEL_VERSION
    assert (export / "saved_model.pb").is_file()
    serve = tf.saved_model.load(str(export)).signatures[contract.SERVING_SIGNATURE]
    (_, inputs) = serve.structured_input_signature
    assert list(inputs) == [contract.SERVING_INPUT_NAME]
    assert inputs[contract.SERVING_INPUT_NAME].shape.as_list() == [None, 28 * 28]
    assert inputs[contract.SERVING_INPUT_NAME].dtype == tf.float32

    # The batch-transform input: raw 0..255 pixel lists from the transform channel's JSON Lines.
    records = [
        json.loads(line)
        for path in sorted((digits_data / contract.TRANSFORM_CHANNEL).glob(f"*{contract.TRANSFORM_SUFFIX}"))
        for line in path.read_text().splitlines()
    ]
    features = np.array([r[contract.FEATURES_KEY] for r in records], dtype=np.float32)
    outputs = serve(**{contract.SERVING_INPUT_NAME: tf.constant(features)})
    assert list(outputs) == [contract.SERVING_OUTPUT_NAME]
    probabilities = outputs[contract.SERVING_OUTPUT_NAME].numpy()
    assert probabilities.dtype == np.float32
    assert probabilities.shape == (len(records), 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    in_memory = trained.model.predict(features, verbose=0)
    assert (probabilities.argmax(axis=1) == in_memory.argmax(axis=1)).all()
    labels = np.array([r[contract.LABEL_KEY] for r in records])
    assert (probabilities.argmax(axis=1) == labels).mean() >= 0.95


def test_a_restarted_job_resumes_from_its_last_checkpoint(digits_data: Path, tmp_path: Path) -> None:
    """Kill the job after epoch 2 (a spot interruption), start it again: it goes on at epoch 3."""
    args = train_command(
        "--epochs", 4, "--batch-size", 128, "--learning-rate", "0.001",
        "--train", digits_data / contract.TRAIN_CHANNEL,
        "--validation", digits_data / contract.VALIDATION_CHANNEL,
        "--model-dir", tmp_path / "model", "--checkpoint-dir", tmp_path / "checkpoints",
    )
    first = subprocess.Popen(
        args, cwd=TRAINING_CODE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    assert first.stdout is not None
    seen = []
    for line in first.stdout:  # the metric line comes after BackupAndRestore has saved the epoch
        seen.append(line)
        if line.startswith("metrics epoch=2 "):
            first.kill()
            break
    first.wait(timeout=60)
    assert any(line.startswith("metrics epoch=2 ") for line in seen), "".join(seen)
    assert not (tmp_path / "model" / contract.MODEL_VERSION).exists()

    second = subprocess.run(args, cwd=TRAINING_CODE, capture_output=True, text=True, timeout=180)
    assert second.returncode == 0, second.stderr[-3000:]
    epochs = [line.split()[1] for line in second.stdout.splitlines() if line.startswith("metrics ")]
    assert epochs == ["epoch=3", "epoch=4"]
    assert (tmp_path / "model" / contract.MODEL_VERSION / "saved_model.pb").is_file()


def test_bad_input_fails_with_exit_code_2_and_the_reason_in_the_failure_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import train

    failure = tmp_path / "output" / "failure"
    monkeypatch.setenv(contract.FAILURE_FILE_ENV, str(failure))
    missing = tmp_path / "no-such-channel"
    code = train.main([
        "--epochs", "1", "--batch-size", "128", "--learning-rate", "0.001",
        "--train", str(missing), "--validation", str(missing), "--model-dir", str(tmp_path / "m"),
    ])
    assert code == contract.INPUT_ERROR_EXIT_CODE
    reason = failure.read_text()
    assert reason.startswith("train.py: ")
    assert str(missing / contract.METADATA_FILE) in reason


def test_a_crash_during_training_exits_1_with_the_error_first_in_the_failure_file(
    digits_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import train

    channel = tmp_path / "train"
    channel.mkdir()
    metadata = (digits_data / contract.TRAIN_CHANNEL / contract.METADATA_FILE).read_text()
    (channel / contract.METADATA_FILE).write_text(metadata)
    (channel / f"broken{contract.TFRECORD_SUFFIX}").write_bytes(b"not a tfrecord" * 100)
    failure = tmp_path / "failure"
    monkeypatch.setenv(contract.FAILURE_FILE_ENV, str(failure))
    code = train.main([
        "--epochs", "1", "--batch-size", "128", "--learning-rate", "0.001",
        "--train", str(channel), "--validation", str(digits_data / "validation"),
        "--model-dir", str(tmp_path / "m"),
    ])
    assert code == 1
    first_line, _, rest = failure.read_text().partition("\n")
    assert first_line.startswith("train.py: DataLossError")
    assert "Traceback" in rest


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return int(sock.getsockname()[1])


def test_two_workers_train_in_lockstep_and_only_the_chief_reports_and_exports(
    digits_data: Path, tmp_path: Path
) -> None:
    """MultiWorkerMirroredStrategy over two local processes, with the TF_CONFIG SageMaker's
    TF container writes when sagemaker_multi_worker_mirrored_strategy_enabled is true."""
    workers = [f"localhost:{_free_port()}", f"localhost:{_free_port()}"]
    processes = []
    for index in range(2):
        tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        env = {**os.environ, "TF_CONFIG": json.dumps(tf_config)}
        args = train_command(
            "--epochs", 2, "--batch-size", 128, "--learning-rate", "0.001",
            "--train", digits_data / contract.TRAIN_CHANNEL,
            "--validation", digits_data / contract.VALIDATION_CHANNEL,
            "--model-dir", tmp_path / f"model-{index}", "--checkpoint-dir", tmp_path / "checkpoints",
        )
        processes.append(subprocess.Popen(
            args, cwd=TRAINING_CODE, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        ))
    results = [process.communicate(timeout=240) for process in processes]
    for process, (_, stderr) in zip(processes, results, strict=True):
        assert process.returncode == 0, stderr[-3000:]
    chief_out, worker_out = results[0][0], results[1][0]
    assert "multi_worker strategy, worker 1/2, 2 replica(s)" in chief_out
    assert [line.split()[1] for line in chief_out.splitlines() if line.startswith("metrics ")] == [
        "epoch=1", "epoch=2"
    ]
    assert "metrics " not in worker_out
    assert (tmp_path / "model-0" / contract.MODEL_VERSION / "saved_model.pb").is_file()
    assert not (tmp_path / "model-1" / contract.MODEL_VERSION).exists()
