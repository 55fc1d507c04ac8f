"""Helpers shared by the local SageMaker tests (this module holds no tests).

The S3 is moto's in-process mock; the "model" is a tiny Keras network exported with a
``serving_default(features) -> probabilities`` signature, built once per test process.
"""

from __future__ import annotations

import functools
import io
import json
import tarfile
import tempfile
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import numpy as np
from moto import mock_aws

from local_mode.checks.api_validation import validate_response
from local_mode.sagemaker.jobs.job_services import LogCallback
from local_mode.sagemaker.local_sagemaker import LocalSageMaker

BUCKET = "local-sagemaker-tests"
REGION = "us-east-1"
ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/sagemaker"
IMAGE = f"763104351884.dkr.ecr.{REGION}.amazonaws.com/tensorflow-training:2.19-cpu-py312"
FEATURES = 4
CLASSES = 3


@contextmanager
def local_sagemaker(tmp_path: Path, **kwargs: Any) -> Iterator[tuple[LocalSageMaker, Any]]:
    """A LocalSageMaker over a fresh mocked S3 with one bucket."""
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        with LocalSageMaker(
            s3_client=s3, workdir=tmp_path / "work", region=REGION, account_id=ACCOUNT, **kwargs
        ) as sagemaker:
            yield sagemaker, s3


def collect_logs() -> tuple[list[tuple[str, str]], LogCallback]:
    lines: list[tuple[str, str]] = []
    return lines, lambda job, line: lines.append((job, line))


def check_shape(operation: str, response: dict[str, Any]) -> dict[str, Any]:
    """The response must be what botocore's model says the API returns."""
    validate_response("sagemaker", operation, response)
    return response


def put_text(s3: Any, key: str, text: str) -> str:
    s3.put_object(Bucket=BUCKET, Key=key, Body=text.encode())
    return f"s3://{BUCKET}/{key}"


def tar_gz(files: dict[str, bytes | str]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, content in files.items():
            data = content.encode() if isinstance(content, str) else content
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o755
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def upload_code(s3: Any, scripts: dict[str, str], key: str = "code/sourcedir.gz") -> str:
    """A code archive like the CDK asset: gzipped tar whose key ends in ``.gz`` only."""
    files: dict[str, bytes | str] = {name: textwrap.dedent(body) for name, body in scripts.items()}
    s3.put_object(Bucket=BUCKET, Key=key, Body=tar_gz(files))
    return f"s3://{BUCKET}/{key}"


def read_tar(s3: Any, uri: str) -> dict[str, bytes]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]


def keys(s3: Any, prefix: str) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])]


def training_request(name: str, code_uri: str, **overrides: Any) -> dict[str, Any]:
    """A CreateTrainingJob request shaped like the one the training workflow sends."""
    request: dict[str, Any] = {
        "TrainingJobName": name,
        "AlgorithmSpecification": {
            "TrainingImage": IMAGE,
            "TrainingInputMode": "File",
            "MetricDefinitions": [
                {"Name": "loss", "Regex": r"\bloss=([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)"},
                {"Name": "val_accuracy", "Regex": r"\bval_accuracy=([0-9.]+)"},
            ],
        },
        "HyperParameters": {
            "sagemaker_program": json.dumps("train.py"),
            "sagemaker_submit_directory": json.dumps(code_uri),
            "epochs": "2",
        },
        "RoleArn": ROLE,
        "InputDataConfig": [
            {
                "ChannelName": "train",
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": f"s3://{BUCKET}/data/train/",
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
            }
        ],
        "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/models"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
    }
    request.update(overrides)
    return request


# -- a tiny real SavedModel ----------------------------------------------------------------------


@functools.cache
def exported_model(seed: int) -> Path:
    """A 2-layer Keras model exported as TF Serving expects: ``<dir>/1/saved_model.pb``."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape=(FEATURES,), name="features")
    hidden = keras.layers.Dense(8, activation="relu")(inputs)
    outputs = keras.layers.Dense(CLASSES, activation="softmax")(hidden)
    model = keras.Model(inputs, outputs)

    @tf.function(input_signature=[tf.TensorSpec([None, FEATURES], tf.float32, name="features")])
    def serve(features: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"probabilities": model(features)}

    root = Path(tempfile.mkdtemp(prefix=f"tiny-model-{seed}-"))
    tf.saved_model.save(model, str(root / "1"), signatures={"serving_default": serve})
    return root


def model_tarball(seed: int) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(exported_model(seed) / "1", arcname="1")
    return buffer.getvalue()


def direct_predictions(seed: int, features: np.ndarray) -> np.ndarray:
    """What the SavedModel itself answers, called the way TF Serving calls it."""
    import tensorflow as tf

    signature = _loaded(seed).signatures["serving_default"]
    return np.asarray(signature(features=tf.constant(features, tf.float32))["probabilities"])


@functools.cache
def _loaded(seed: int) -> Any:
    import tensorflow as tf

    return tf.saved_model.load(str(exported_model(seed) / "1"))


def register_model(sagemaker: LocalSageMaker, s3: Any, name: str, seed: int = 0) -> str:
    """Upload the tiny model and CreateModel it; returns its ModelDataUrl."""
    key = f"models/{name}/model.tar.gz"
    s3.put_object(Bucket=BUCKET, Key=key, Body=model_tarball(seed))
    url = f"s3://{BUCKET}/{key}"
    sagemaker.create_model(
        {
            "ModelName": name,
            "PrimaryContainer": {"Image": IMAGE.replace("training", "inference"), "ModelDataUrl": url},
            "ExecutionRoleArn": ROLE,
        }
    )
    return url
