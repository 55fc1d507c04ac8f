"""`mlpipeline data upload`: checked by the training code's readers, uploaded whole or not at all,
and the printed `start` line is one the workflow accepts. Against the package's local stack."""

from __future__ import annotations

import shlex
import uuid
from pathlib import Path

import numpy as np

import contract
from local_mode.demo.data import write_digits_raw
from pipeline_cli.data_upload import training_module
from tests.cli.conftest import Invoke, LocalStack

RECORDS = 60  # enough for preprocess.py's three-way split


def _keys(stack: LocalStack, prefix: str) -> list[str]:
    listed = stack.cloud.client("s3").list_objects_v2(Bucket=stack.outputs["DataBucketName"], Prefix=prefix)
    return sorted(item["Key"] for item in listed.get("Contents", []))


def _unique(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex[:8]}"


def _next_line(stdout: str) -> list[str]:
    """The printed `mlpipeline ... start ...` line, as arguments for the CLI (program name dropped)."""
    line = stdout.strip().splitlines()[-1]
    words = shlex.split(line)
    assert words[:2] == ["mlpipeline", "--local"], line
    return words[2:]


def _check_line_is_accepted(local_invoke: Invoke, stdout: str) -> None:
    dry = local_invoke(*_next_line(stdout), "--dry-run")
    assert dry.exit_code == 0, dry.output


def test_raw_folder_is_uploaded_without_what_preprocessing_ignores(
    local_invoke: Invoke, local_stack: LocalStack, tmp_path: Path
) -> None:
    write_digits_raw(tmp_path / "batch", limit=RECORDS)
    (tmp_path / "batch" / "notes.txt").write_text("not data")
    name = _unique("raw")

    result = local_invoke("data", "upload", str(tmp_path / "batch"), "--name", name)

    assert result.exit_code == 0, result.output
    assert _keys(local_stack, f"raw/{name}/") == [f"raw/{name}/digits-clean.npz"]
    assert "skipping" in result.stderr and "notes.txt" in result.stderr
    assert f"{RECORDS} records of 28x28x1" in result.stderr
    bucket = local_stack.outputs["DataBucketName"]
    assert _next_line(result.stdout) == ["start", "--set", f"raw_data_uri=s3://{bucket}/raw/{name}/"]
    _check_line_is_accepted(local_invoke, result.stdout)


def test_without_a_name_raw_data_goes_where_the_stack_retrains_from(
    local_invoke: Invoke, local_stack: LocalStack, tmp_path: Path
) -> None:
    path = write_digits_raw(tmp_path, limit=RECORDS, filename=f"{_unique('default')}.npz")

    result = local_invoke("data", "upload", str(path))

    assert result.exit_code == 0, result.output
    evaluation = local_invoke("start", "-w", "evaluation", "--dry-run")
    retrain_from = next(
        line for line in evaluation.stdout.splitlines() if '"retrain_raw_data_uri"' in line
    ).split('"')[3]
    bucket_prefix = retrain_from.removeprefix(f"s3://{local_stack.outputs['DataBucketName']}/")
    assert f"{bucket_prefix}{path.name}" in _keys(local_stack, bucket_prefix)
    assert result.stdout.strip().endswith(f"raw_data_uri={retrain_from}")


def test_unreadable_raw_data_is_refused_with_the_readers_reason_and_nothing_uploaded(
    local_invoke: Invoke, local_stack: LocalStack, tmp_path: Path
) -> None:
    folder = tmp_path / "mixed"
    write_digits_raw(folder, limit=RECORDS)  # a good file next to the bad one: neither is uploaded
    np.savez(folder / "floats.npz", images=np.zeros((4, 28, 28), np.float32), labels=np.zeros(4, np.int64))
    name = _unique("bad")

    result = local_invoke("data", "upload", str(folder), "--name", name)

    assert result.exit_code == 2
    assert f"{folder / 'floats.npz'}: images are float32, must be uint8" in result.stderr
    assert "nothing uploaded" in result.stderr
    assert _keys(local_stack, f"raw/{name}/") == []


def test_a_single_idx_file_without_its_labels_is_refused(local_invoke: Invoke, tmp_path: Path) -> None:
    images = tmp_path / "train-images-idx3-ubyte"
    images.write_bytes(bytes([0, 0, 8, 3]) + (1).to_bytes(4, "big") * 3 + bytes([7]))

    result = local_invoke("data", "upload", str(images), "--name", _unique("idx"))

    assert result.exit_code == 2
    assert f"{images}: no labels file train-labels-idx1-ubyte beside it" in result.stderr


def test_prepared_channels_are_checked_by_the_training_reader(
    local_invoke: Invoke, local_stack: LocalStack, tmp_path: Path
) -> None:
    preprocess = training_module("preprocess")
    raw = write_digits_raw(tmp_path / "raw", limit=RECORDS).parent
    prepared = tmp_path / "prepared"
    preprocess.prepare(preprocess.parse_args(["--input", str(raw), "--output-dir", str(prepared)]))
    name = _unique("prepared")

    result = local_invoke("data", "upload", str(prepared), "--kind", "prepared", "--name", name)

    assert result.exit_code == 0, result.output
    uploaded = _keys(local_stack, f"prepared/{name}/")
    for channel in contract.TRAINING_CHANNELS:
        assert f"prepared/{name}/{channel}/{contract.METADATA_FILE}" in uploaded
    assert any(key.endswith(contract.TRANSFORM_SUFFIX) for key in uploaded)
    bucket = local_stack.outputs["DataBucketName"]
    assert _next_line(result.stdout) == ["start", "--set", f"data_uri=s3://{bucket}/prepared/{name}/"]
    _check_line_is_accepted(local_invoke, result.stdout)

    (prepared / contract.VALIDATION_CHANNEL / contract.METADATA_FILE).unlink()
    refused = local_invoke("data", "upload", str(prepared), "--kind", "prepared", "--name", _unique("p"))
    assert refused.exit_code == 2
    assert "metadata.json: missing; the channel must hold the output of preprocess.py" in refused.stderr


def test_labelled_images_are_converted_for_the_evaluation_workflow(
    local_invoke: Invoke, local_stack: LocalStack, tmp_path: Path
) -> None:
    write_digits_raw(tmp_path / "labels", variant="shifted", limit=RECORDS)
    name = _unique("labelled")

    result = local_invoke("data", "upload", str(tmp_path / "labels"), "--kind", "labelled", "--name", name)

    assert result.exit_code == 0, result.output
    uploaded = _keys(local_stack, f"labelled/{name}/")
    assert uploaded and all(
        key.startswith(f"labelled/{name}/{contract.TRANSFORM_CHANNEL}/") and key.endswith(".jsonl")
        for key in uploaded
    )
    body = local_stack.cloud.client("s3").get_object(
        Bucket=local_stack.outputs["DataBucketName"], Key=uploaded[0]
    )
    assert len(body["Body"].read().splitlines()) == RECORDS
    bucket = local_stack.outputs["DataBucketName"]
    assert _next_line(result.stdout) == [
        "start",
        "-w",
        "evaluation",
        "--set",
        f"data_uri=s3://{bucket}/labelled/{name}/",
    ]
    _check_line_is_accepted(local_invoke, result.stdout)


def test_a_bad_name_is_refused_before_reading_anything(local_invoke: Invoke, tmp_path: Path) -> None:
    result = local_invoke("data", "upload", str(tmp_path), "--name", "../escape")

    assert result.exit_code == 2
    assert "--name '../escape': expected letters, digits" in result.stderr
