"""The real training code through the local SageMaker: preprocess → train → batch transform."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import contract
from local_mode.demo.data import write_digits_raw
from tests.local.sagemaker.test_local_sagemaker_support import (
    BUCKET,
    IMAGE,
    ROLE,
    collect_logs,
    keys,
    local_sagemaker,
    tar_gz,
)

TRAINING_CODE = Path(__file__).resolve().parents[3] / "training_code"
PROCESSING_ROOT = "/opt/ml/processing"
ENTRY_POINT = contract.PREPROCESSING_ENTRY_POINT


def _processing_request(code_uri: str) -> dict[str, Any]:
    """The training workflow's Preprocess request (pipeline_constructs/training_workflow.py)."""
    return {
        "ProcessingJobName": "prep-integration",
        "RoleArn": ROLE,
        "AppSpecification": {
            "ImageUri": IMAGE,
            "ContainerEntrypoint": [
                "/bin/sh",
                "-c",
                f'cd {PROCESSING_ROOT}/input/code && tar -xzf *.gz && exec python3 {ENTRY_POINT} "$@"',
                "preprocess",
            ],
            "ContainerArguments": [
                "--input",
                f"{PROCESSING_ROOT}/input/raw",
                "--output-dir",
                PROCESSING_ROOT,
            ],
        },
        "ProcessingInputs": [
            {
                "InputName": name,
                "S3Input": {
                    "S3Uri": uri,
                    "LocalPath": f"{PROCESSING_ROOT}/input/{name}",
                    "S3DataType": "S3Prefix",
                    "S3InputMode": "File",
                    "S3DataDistributionType": distribution,
                },
            }
            for name, uri, distribution in (
                ("code", code_uri, "FullyReplicated"),
                ("raw", f"s3://{BUCKET}/raw/", "ShardedByS3Key"),
            )
        ],
        "ProcessingOutputConfig": {
            "Outputs": [
                {
                    "OutputName": channel,
                    "S3Output": {
                        "S3Uri": f"s3://{BUCKET}/prepared/{channel}/",
                        "LocalPath": f"{PROCESSING_ROOT}/{channel}",
                        "S3UploadMode": "EndOfJob",
                    },
                }
                for channel in contract.ALL_CHANNELS
            ]
        },
        "ProcessingResources": {
            "ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 30}
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    }


def _training_request(code_uri: str) -> dict[str, Any]:
    return {
        "TrainingJobName": "train-integration",
        "AlgorithmSpecification": {
            "TrainingImage": IMAGE,
            "TrainingInputMode": "File",
            "MetricDefinitions": [dict(d) for d in contract.METRIC_DEFINITIONS],
        },
        "HyperParameters": {
            "sagemaker_program": json.dumps(contract.TRAINING_ENTRY_POINT),
            "sagemaker_submit_directory": json.dumps(code_uri),
            "epochs": "4",
            "batch-size": "32",
            "learning-rate": "0.003",
        },
        "RoleArn": ROLE,
        "InputDataConfig": [
            {
                "ChannelName": channel,
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": f"s3://{BUCKET}/prepared/{channel}/",
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
            }
            for channel in contract.TRAINING_CHANNELS
        ],
        "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/models/"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": 1800, "MaxWaitTimeInSeconds": 3600},
        "EnableManagedSpotTraining": True,
        "CheckpointConfig": {"S3Uri": f"s3://{BUCKET}/checkpoints/train-integration/"},
    }


def _transform_request(model_name: str) -> dict[str, Any]:
    return {
        "TransformJobName": "transform-integration",
        "ModelName": model_name,
        "BatchStrategy": "SingleRecord",
        "TransformInput": {
            "DataSource": {
                "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/prepared/transform/"}
            },
            "ContentType": contract.TRANSFORM_CONTENT_TYPE,
            "SplitType": "Line",
        },
        "TransformOutput": {
            "S3OutputPath": f"s3://{BUCKET}/predictions/",
            "Accept": contract.TRANSFORM_CONTENT_TYPE,
            "AssembleWith": "Line",
        },
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
        "DataProcessing": {
            "InputFilter": contract.TRANSFORM_INPUT_FILTER,
            "JoinSource": "Input",
            "OutputFilter": contract.TRANSFORM_OUTPUT_FILTER,
        },
    }


def _read(s3: Any, key: str) -> bytes:
    return bytes(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())


@pytest.mark.slow
def test_real_training_code_prepares_trains_and_serves_through_batch_transform(tmp_path: Path) -> None:
    import tensorflow as tf

    lines, on_log = collect_logs()
    with local_sagemaker(tmp_path, on_log=on_log) as (sagemaker, s3):
        raw = write_digits_raw(tmp_path / "raw", limit=500)
        s3.upload_file(str(raw), BUCKET, f"raw/{raw.name}")
        archive = tar_gz({path.name: path.read_bytes() for path in sorted(TRAINING_CODE.glob("*.py"))})
        s3.put_object(Bucket=BUCKET, Key="code/training-code.gz", Body=archive)
        code_uri = f"s3://{BUCKET}/code/training-code.gz"

        prepared = sagemaker.create_processing_job(_processing_request(code_uri))
        assert prepared["ProcessingJobStatus"] == "Completed", prepared.get("FailureReason")
        metadata = json.loads(_read(s3, f"prepared/{contract.TRAIN_CHANNEL}/{contract.METADATA_FILE}"))
        assert sum(metadata["counts"][c] for c in (*contract.TRAINING_CHANNELS, contract.TEST_CHANNEL)) == 500

        # Spot reclaimed after epoch 2: the job restarts, Keras' BackupAndRestore resumes from the checkpoint.
        sagemaker.simulate_spot_interruption("train-integration", after_log_line=r"^metrics epoch=2 ")
        trained = sagemaker.create_training_job(_training_request(code_uri))
        assert trained["TrainingJobStatus"] == "Completed", trained.get("FailureReason")
        artifacts = trained["ModelArtifacts"]["S3ModelArtifacts"]
        sagemaker.create_model(
            {
                "ModelName": "digits-integration",
                "PrimaryContainer": {"Image": IMAGE, "ModelDataUrl": artifacts},
            }
        )
        transformed = sagemaker.create_transform_job(_transform_request("digits-integration"))
        assert transformed["TransformJobStatus"] == "Completed", transformed.get("FailureReason")

        inputs = {
            key: [json.loads(line) for line in _read(s3, key).decode().splitlines()]
            for key in keys(s3, "prepared/transform/")
        }
        outputs = {
            key: [
                json.loads(line)
                for line in _read(s3, f"predictions/{Path(key).name}.out").decode().splitlines()
            ]
            for key in inputs
        }
        model_tar = _read(s3, artifacts.removeprefix(f"s3://{BUCKET}/"))

    # Training: the contract's metric lines were scraped, streamed live, and no epoch ran twice.
    metrics = {m["MetricName"]: m["Value"] for m in trained["FinalMetricDataList"]}
    assert set(metrics) == set(contract.TRAINING_METRICS)
    epochs = [
        line.split()[1] for job, line in lines if job == "train-integration" and line.startswith("metrics ")
    ]
    assert epochs == ["epoch=1", "epoch=2", "epoch=3", "epoch=4"]
    assert "Interrupted" in [t["Status"] for t in trained["SecondaryStatusTransitions"]]

    # Transform: one joined line per input record, holding TF Serving's answer for its features.
    model_dir = tmp_path / "served"
    with tarfile.open(fileobj=io.BytesIO(model_tar), mode="r:gz") as tar:
        tar.extractall(model_dir, filter="data")
    serve = tf.saved_model.load(str(model_dir / contract.MODEL_VERSION)).signatures[
        contract.SERVING_SIGNATURE
    ]
    correct = total = 0
    for key, records in inputs.items():
        joined = outputs[key]
        assert [(o[contract.RECORD_ID_KEY], o[contract.LABEL_KEY]) for o in joined] == [
            (r[contract.RECORD_ID_KEY], r[contract.LABEL_KEY]) for r in records
        ]
        predictions = np.array([o[contract.PREDICTION_OUTPUT_KEY]["predictions"][0] for o in joined])
        features = np.array([r[contract.FEATURES_KEY] for r in records], dtype=np.float32)
        direct = serve(**{contract.SERVING_INPUT_NAME: tf.constant(features)})[contract.SERVING_OUTPUT_NAME]
        np.testing.assert_allclose(predictions, np.asarray(direct), rtol=1e-5, atol=1e-6)
        correct += int((predictions.argmax(axis=1) == [r[contract.LABEL_KEY] for r in records]).sum())
        total += len(records)
    assert total == metadata["counts"][contract.TEST_CHANNEL]
    assert correct / total > 0.5  # far above chance (0.1) after a few epochs on 350 digits
