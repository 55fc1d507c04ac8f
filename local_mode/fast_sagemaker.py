"""A fast local SageMaker for workflow tests: same API shapes, no training, no TensorFlow jobs.

`FastSageMaker` is a `LocalSageMaker` whose models, endpoint configs and endpoints stay real
(records, the endpoint server answering over HTTP with a real SavedModel, the fault hooks such
as `fail_endpoint_creation`), while training, processing, tuning and batch transform finish at
once:

- training checks its S3 channels as SageMaker does (an empty prefix fails the job), writes
  `<S3OutputPath>/<job>/output/model.tar.gz` holding one tiny Keras model exported like
  `training_code/export_model.py` (`serving_default(features: float32[None, 784]) ->
  probabilities [None, 10]`, built once per process), and reports `FinalMetricDataList` for
  the request's `MetricDefinitions`;
- processing writes a small prepared dataset to every `ProcessingOutput` (`transform`: JSON
  Lines `{"id", "label", "features"}` records; other channels a `metadata.json`);
- tuning is the real local tuning loop (`local_tuning.run_tuning_job`) over fast trainings;
- batch transform reads the real input records from S3 and writes the `.out` lines the real
  job writes (the request's `DataProcessing` filters and join applied by the real JSONPath
  code), with predictions whose argmax equals the label for a fraction of the records set per
  model (`set_model_accuracy`; 1.0 by default).

Requests are validated exactly as `LocalSageMaker` validates them (`validate_request` against
botocore's model, the spot rules, transform filters, models that must exist), names are
claimed the same way (a name in use is `ResourceInUse`), and every Describe* response has the
real backend's shape. Every fast model is the same SavedModel, so endpoints load it once (the model
store is keyed by the archive's ETag, not its URL).

Knobs for tests (a name argument is a substring, or a predicate on the name):

- `set_model_accuracy(model, accuracy)`: the fraction of records a model's transform gets right;
- `fail_training` / `fail_processing` / `fail_transform(name, reason)`: those jobs end `Failed`
  with a `FailureReason` (`AlgorithmError: <reason>, exit code: 1` for training and processing);
- `hold_training(name)` / `release_training(name)`: training jobs wait in `Training` until released
  (two executions provably in flight together);
- `hold_endpoint_deployments()`: endpoints stay `Creating`/`Updating` (a wait that runs out);
- the real hooks `fail_endpoint_creation`, `clear_faults`; `reset()` forgets everything;
- `requests`: every job request accepted, as `(operation, request)`.
"""

from __future__ import annotations

import io
import json
import math
import tarfile
import tempfile
import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from local_mode.batch_transform import DataProcessing, TransformJob
from local_mode.local_jobs import (
    artifact_upload_failed,
    data_download_failed,
    processing_download_failed,
    processing_upload_failed,
)
from local_mode.s3_io import S3_ERRORS, S3TransferError, S3Uri, list_objects, relative_key
from local_mode.sagemaker_runtime import LocalSageMaker
from local_mode.sagemaker_shapes import drop_none, echo_request, failure_reason, utcnow, validate_request
from local_mode.tfs_emulation import ModelStore, TfsModel
from local_mode.transform_jsonpath import JsonPathApplyError
from training_code import contract

__all__ = ["FastSageMaker", "prepared_records", "set_model_archive", "tiny_model_archive"]

NUM_CLASSES: Final = 10
FEATURE_SIZE: Final = 28 * 28
DEFAULT_RECORDS: Final = 20
HELD_DESCRIBES: Final = 1_000_000  # DescribeEndpoint calls that report a held deployment in progress
CORRECT_PROBABILITY: Final = 0.91  # argmax; the other nine classes share the rest equally

NameMatcher = str | Callable[[str], bool]


# --- the tiny model ---------------------------------------------------------------------------

_ARCHIVE_LOCK: Final = threading.Lock()
_ARCHIVE: dict[str, bytes] = {}


def tiny_model_archive() -> bytes:
    """model.tar.gz bytes of one tiny Keras model exported for TF Serving (built once per process)."""
    with _ARCHIVE_LOCK:
        if "archive" not in _ARCHIVE:
            _ARCHIVE["archive"] = _build_tiny_model_archive()
        return _ARCHIVE["archive"]


def set_model_archive(data: bytes) -> None:
    """Use `data` (a model.tar.gz built by `tiny_model_archive` elsewhere) instead of building one."""
    with _ARCHIVE_LOCK:
        _ARCHIVE["archive"] = data


def _build_tiny_model_archive() -> bytes:
    import keras  # deferred: TensorFlow takes seconds to import
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input(shape=(FEATURE_SIZE,), dtype="float32"),
            keras.layers.Rescaling(1.0 / 255),
            keras.layers.Dense(NUM_CLASSES, activation="softmax"),
        ]
    )

    @tf.function(
        input_signature=[tf.TensorSpec([None, FEATURE_SIZE], tf.float32, name=contract.SERVING_INPUT_NAME)]
    )
    def serve(features: tf.Tensor) -> dict[str, tf.Tensor]:
        return {contract.SERVING_OUTPUT_NAME: tf.cast(model(features, training=False), tf.float32)}

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(contract.SERVING_SIGNATURE, serve)
    with tempfile.TemporaryDirectory(prefix="tiny-model-") as folder:
        root = Path(folder)
        archive.write_out(str(root / contract.MODEL_VERSION), verbose=False)
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:  # members relative to model/, as SageMaker
            for path in sorted(root.rglob("*")):
                tar.add(path, arcname=path.relative_to(root).as_posix(), recursive=False)
    return buffer.getvalue()


class _SharedModelStore(ModelStore):
    """A ModelStore that loads identical archives once (every fast model is the same SavedModel)."""

    def __init__(self, s3: Any, cache_dir: Path) -> None:
        super().__init__(s3, cache_dir)
        self._by_etag: dict[str, TfsModel] = {}
        self._etag_lock = threading.Lock()

    def load(self, model_data_url: str, s3: Any = None) -> TfsModel:
        client = s3 if s3 is not None else self._s3
        uri = S3Uri.parse(model_data_url)
        etag = str(client.head_object(Bucket=uri.bucket, Key=uri.key).get("ETag", ""))
        with self._etag_lock:
            if etag not in self._by_etag:
                self._by_etag[etag] = super().load(model_data_url, s3)
            elif s3 is not None:  # the role must still be able to read it (s3:GetObject, kms:Decrypt)
                client.get_object(Bucket=uri.bucket, Key=uri.key, Range="bytes=0-0")["Body"].read()
            return self._by_etag[etag]


# --- data -------------------------------------------------------------------------------------


def prepared_records(count: int = DEFAULT_RECORDS, *, seed: int = 0) -> list[dict[str, Any]]:
    """Transform-channel records (`{"id", "label", "features"}`), labels cycling through the classes."""
    records = []
    for index in range(count):
        label = (index + seed) % NUM_CLASSES
        pixels = [(index * 31 + position * 7 + seed) % 256 for position in range(FEATURE_SIZE)]
        records.append(
            {
                contract.RECORD_ID_KEY: f"r{seed}-{index:04d}",
                contract.LABEL_KEY: label,
                contract.FEATURES_KEY: pixels,
            }
        )
    return records


def jsonl(records: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(record, separators=(",", ":")) + "\n" for record in records).encode()


def _metadata(counts: dict[str, int]) -> bytes:
    return json.dumps(
        {
            "height": 28,
            "width": 28,
            "channels": 1,
            "num_classes": NUM_CLASSES,
            "class_names": [str(c) for c in range(NUM_CLASSES)],
            "counts": counts,
        }
    ).encode()


def probabilities(predicted: int) -> list[float]:
    rest = round((1.0 - CORRECT_PROBABILITY) / (NUM_CLASSES - 1), 6)
    return [CORRECT_PROBABILITY if c == predicted else rest for c in range(NUM_CLASSES)]


# --- the backend ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Rule:
    match: NameMatcher
    value: Any

    def applies(self, name: str) -> bool:
        return self.match(name) if callable(self.match) else self.match in name


class FastSageMaker(LocalSageMaker):
    """`LocalSageMaker` with instant training, processing, tuning and transform (module docstring)."""

    def __init__(self, *, records: int = DEFAULT_RECORDS, **kwargs: Any) -> None:
        kwargs.setdefault("deployment_timeout_s", 60.0)
        super().__init__(**kwargs)
        self.models = _SharedModelStore(self.s3, self.workdir / "models")
        self.records = records
        self._default_transitional_describes = self._transitional_describes
        self._deployments_released = threading.Event()
        self._deployments_released.set()
        self._accuracy: list[_Rule] = []
        self._failures: dict[str, list[_Rule]] = {"training": [], "processing": [], "transform": []}
        self._training_holds: list[_Rule] = []
        self._held_trainings: dict[str, threading.Event] = {}
        self.requests: list[tuple[str, dict[str, Any]]] = []  # (operation, request) of every job created

    # -- knobs ------------------------------------------------------------------------------------

    def set_model_accuracy(self, model: NameMatcher, accuracy: float) -> None:
        """Transform jobs of models whose name contains `model` (or for which it is true) get
        predictions right for `accuracy` of the records (the first ones); later rules win."""
        if not 0.0 <= accuracy <= 1.0:
            raise ValueError(f"accuracy must be within [0, 1], got {accuracy}")
        with self._lock:
            self._accuracy.append(_Rule(model, accuracy))

    def model_accuracy(self, model_name: str) -> float:
        with self._lock:
            rules = list(self._accuracy)
        return next((float(r.value) for r in reversed(rules) if r.applies(model_name)), 1.0)

    def fail_training(self, name: NameMatcher, reason: str = "injected training failure") -> None:
        """Training jobs whose name contains `name` end Failed with `AlgorithmError: <reason>`."""
        self._add_failure("training", name, reason)

    def fail_processing(self, name: NameMatcher, reason: str = "injected processing failure") -> None:
        self._add_failure("processing", name, reason)

    def fail_transform(self, name: NameMatcher, reason: str = "injected transform failure") -> None:
        self._add_failure("transform", name, reason)

    def hold_training(self, name: NameMatcher = "") -> None:
        """Training jobs whose name matches, started from now on, wait in `Training` until released."""
        with self._lock:
            self._training_holds.append(_Rule(name, None))

    def held_trainings(self) -> list[str]:
        """Names of the training jobs waiting to be released, in the order they started."""
        with self._lock:
            return [name for name, event in self._held_trainings.items() if not event.is_set()]

    def release_training(self, name: NameMatcher = "") -> None:
        """Let the waiting training jobs whose name matches finish (later ones are still held)."""
        with self._lock:
            rule = _Rule(name, None)
            for job, event in self._held_trainings.items():
                if rule.applies(job):
                    event.set()

    def hold_endpoint_deployments(self) -> None:
        """Deployments started from now on do not finish until `release_endpoint_deployments`:
        DescribeEndpoint keeps answering Creating/Updating (an endpoint that never comes up)."""
        with self._lock:
            self._transitional_describes = HELD_DESCRIBES
            self._deployments_released.clear()

    def release_endpoint_deployments(self) -> None:
        with self._lock:
            self._transitional_describes = self._default_transitional_describes
            self._deployments_released.set()

    def close(self) -> None:
        self._release_everything()
        super().close()

    def _deploy(self, endpoint: Any, config_name: str) -> None:
        self._deployments_released.wait(timeout=self._deployment_timeout)
        super()._deploy(endpoint, config_name)

    def clear_faults(self) -> None:
        super().clear_faults()
        with self._lock:
            for rules in self._failures.values():
                rules.clear()

    def reset(self) -> None:
        """Forget every job, model, config, endpoint, knob and recorded request (between tests)."""
        self.clear_faults()
        self._release_everything()
        with self._lock:
            self._accuracy.clear()
            self.requests.clear()
            for endpoint in list(self._endpoints.values()):
                endpoint.deleted = True
                self.server.withdraw(endpoint.name)
            for records in (
                self._endpoints,
                self._training_jobs,
                self._processing_jobs,
                self._tuning_jobs,
                self._tuning_summaries,
                self._transform_jobs,
                self._model_records,
                self._endpoint_configs,
            ):
                records.clear()

    def _release_everything(self) -> None:
        self.release_endpoint_deployments()
        with self._lock:
            self._training_holds.clear()
            for event in self._held_trainings.values():
                event.set()
            self._held_trainings.clear()

    def _wait_if_held(self, job_name: str) -> None:
        with self._lock:
            if not any(rule.applies(job_name) for rule in self._training_holds):
                return
            event = self._held_trainings.setdefault(job_name, threading.Event())
        event.wait(timeout=self._deployment_timeout)

    def _add_failure(self, kind: str, name: NameMatcher, reason: str) -> None:
        with self._lock:
            self._failures[kind].append(_Rule(name, reason))

    def _failure(self, kind: str, job_name: str) -> str | None:
        with self._lock:
            rules = list(self._failures[kind])
        return next((str(r.value) for r in reversed(rules) if r.applies(job_name)), None)

    def _record_request(self, operation: str, request: dict[str, Any]) -> None:
        with self._lock:
            self.requests.append((operation, json.loads(json.dumps(request, default=str))))

    # -- training (CreateTrainingJob validates, then comes here; so do tuning trials) --------------

    def _run_training(self, request: dict[str, Any], tuning_job_arn: str | None) -> dict[str, Any]:
        name = request["TrainingJobName"]
        arn = self.arns("training-job", name)
        output_path = request["OutputDataConfig"]["S3OutputPath"].rstrip("/")
        model_uri = f"{output_path}/{name}/output/model.tar.gz"
        placeholder = {
            **echo_request("DescribeTrainingJob", request),
            "TrainingJobArn": arn,
            "TrainingJobStatus": "InProgress",
            "SecondaryStatus": "Starting",
            "CreationTime": utcnow(),
            "ModelArtifacts": {"S3ModelArtifacts": model_uri},
        }
        message = (
            "Training job names must be unique within an AWS account and region, and a training job "
            f"with this name already exists ({arn})"
        )
        self._claim(self._training_jobs, name, placeholder, message)
        self._record_request("CreateTrainingJob", request)
        return self._finish(
            self._training_jobs, name, lambda: self._fast_training(request, arn, model_uri, tuning_job_arn)
        )

    def _fast_training(
        self, request: dict[str, Any], arn: str, model_uri: str, tuning_job_arn: str | None
    ) -> dict[str, Any]:
        name = request["TrainingJobName"]
        created = utcnow()
        self._wait_if_held(name)
        failure = self._failure("training", name)
        s3 = self.services.s3_for(request.get("RoleArn"))  # the job acts as its role
        if failure is not None:
            failure = f"AlgorithmError: {failure}, exit code: 1"
        else:
            try:
                failure = self._missing_channel(
                    s3,
                    [
                        (c["ChannelName"], c["DataSource"]["S3DataSource"]["S3Uri"])
                        for c in request.get("InputDataConfig", [])
                        if "S3DataSource" in c.get("DataSource", {})
                    ],
                )
            except S3TransferError as error:
                failure = data_download_failed(error)
        if failure is None:
            target = S3Uri.parse(model_uri)
            try:
                _put(s3, target, tiny_model_archive())
            except S3TransferError as error:
                failure = artifact_upload_failed(error)
        end = utcnow()
        status = "Failed" if failure else "Completed"
        spot = bool(request.get("EnableManagedSpotTraining", False))
        transitions = [
            {"Status": "Starting", "StartTime": created, "EndTime": created, "StatusMessage": "Starting"},
            {"Status": "Training", "StartTime": created, "EndTime": end, "StatusMessage": "Fast training"},
            {
                "Status": status,
                "StartTime": end,
                "EndTime": end,
                "StatusMessage": f"Training job {status.lower()}",
            },
        ]
        metrics = [] if failure else self._final_metrics(request, end)
        return drop_none(
            {
                **echo_request("DescribeTrainingJob", request),
                "TrainingJobArn": arn,
                "TuningJobArn": tuning_job_arn,
                "ModelArtifacts": {"S3ModelArtifacts": model_uri},
                "TrainingJobStatus": status,
                "SecondaryStatus": status,
                "FailureReason": failure,
                "HyperParameters": dict(request.get("HyperParameters", {})),
                "CreationTime": created,
                "TrainingStartTime": created,
                "TrainingEndTime": end,
                "LastModifiedTime": end,
                "SecondaryStatusTransitions": transitions,
                "FinalMetricDataList": metrics,
                "EnableManagedSpotTraining": spot,
                "TrainingTimeInSeconds": 1,
                "BillableTimeInSeconds": 1,
            }
        )

    @staticmethod
    def _final_metrics(request: dict[str, Any], when: Any) -> list[dict[str, Any]]:
        """One value per MetricDefinition; losses vary with the hyperparameters so tuning can rank."""
        hyperparameters = json.dumps(request.get("HyperParameters", {}), sort_keys=True)
        jitter = (zlib.crc32(hyperparameters.encode()) % 1000) / 10000  # 0 .. 0.0999
        values = {"loss": 0.05 + jitter, "accuracy": 0.98, "val_loss": 0.06 + jitter, "val_accuracy": 0.975}
        definitions = request.get("AlgorithmSpecification", {}).get("MetricDefinitions", [])
        return [
            {"MetricName": d["Name"], "Value": round(values.get(d["Name"], 0.5), 6), "Timestamp": when}
            for d in definitions
        ]

    def _missing_channel(self, s3: Any, channels: list[tuple[str, str]]) -> str | None:
        for _, uri in channels:
            objects = list_objects(s3, S3Uri.parse(uri))
            for obj in objects:  # the data is read as the real job reads it (s3:GetObject, kms:Decrypt)
                source = S3Uri.parse(uri)
                try:
                    if obj.size:
                        s3.get_object(Bucket=source.bucket, Key=obj.key, Range="bytes=0-0")["Body"].read()
                except S3_ERRORS as error:
                    raise S3TransferError("GetObject", f"s3://{source.bucket}/{obj.key}", error) from error
            if not objects:
                return (
                    f'ClientError: No S3 objects found under S3 URL "{uri}" given in input data source. '
                    "Please ensure that the bucket exists in the selected region, that objects exist "
                    'under that S3 prefix, and that the role has "s3:ListBucket" permissions on the bucket.'
                )
        return None

    # -- processing --------------------------------------------------------------------------------

    def create_processing_job(self, request: dict[str, Any]) -> dict[str, Any]:
        validate_request("CreateProcessingJob", request)
        name = request["ProcessingJobName"]
        arn = self.arns("processing-job", name)
        placeholder = {
            **echo_request("DescribeProcessingJob", request),
            "ProcessingJobArn": arn,
            "ProcessingJobStatus": "InProgress",
            "CreationTime": utcnow(),
        }
        self._claim(self._processing_jobs, name, placeholder)
        self._record_request("CreateProcessingJob", request)
        return self._finish(self._processing_jobs, name, lambda: self._fast_processing(request, arn))

    def _fast_processing(self, request: dict[str, Any], arn: str) -> dict[str, Any]:
        created = utcnow()
        failure = self._failure("processing", request["ProcessingJobName"])
        exit_message = failure
        s3 = self.services.s3_for(request.get("RoleArn"))  # the job acts as its role
        if failure is not None:
            failure = f"AlgorithmError: {failure}, exit code: 1"
        else:
            try:
                failure = self._missing_channel(
                    s3,
                    [
                        (i["InputName"], i["S3Input"]["S3Uri"])
                        for i in request.get("ProcessingInputs", [])
                        if "S3Input" in i
                    ],
                )
            except S3TransferError as error:
                failure = processing_download_failed(error)
        if failure is None:
            failure = self._write_prepared(s3, request)
        end = utcnow()
        return drop_none(
            {
                **echo_request("DescribeProcessingJob", request),
                "ProcessingJobArn": arn,
                "ProcessingJobStatus": "Failed" if failure else "Completed",
                "FailureReason": failure,
                "ExitMessage": exit_message,
                "CreationTime": created,
                "ProcessingStartTime": created,
                "ProcessingEndTime": end,
                "LastModifiedTime": end,
            }
        )

    def _write_prepared(self, s3: Any, request: dict[str, Any]) -> str | None:
        """Write the prepared dataset to every output as the job's role; the FailureReason if refused."""
        records = prepared_records(self.records)
        counts = {"train": 10 * self.records, "validation": self.records, "test": self.records}
        counts[contract.TRANSFORM_CHANNEL] = self.records
        for output in request.get("ProcessingOutputConfig", {}).get("Outputs", []):
            target = S3Uri.parse(output["S3Output"]["S3Uri"])
            if output["OutputName"] == contract.TRANSFORM_CHANNEL:
                key, body = target.join(f"part-00000{contract.TRANSFORM_SUFFIX}"), jsonl(records)
            else:
                key, body = target.join(contract.METADATA_FILE), _metadata(counts)
            try:
                _put(s3, key, body)
            except S3TransferError as error:
                return processing_upload_failed(error)
        return None

    # -- tuning: the real loop over fast trainings; only record the request ------------------------

    def create_hyper_parameter_tuning_job(self, request: dict[str, Any]) -> dict[str, Any]:
        self._record_request("CreateHyperParameterTuningJob", request)
        return super().create_hyper_parameter_tuning_job(request)

    # -- batch transform ---------------------------------------------------------------------------

    def create_transform_job(self, request: dict[str, Any]) -> dict[str, Any]:
        validate_request("CreateTransformJob", request)
        TransformJob.validate(request)
        self._model(request["ModelName"])  # ValidationException "Could not find model" as the API
        name = request["TransformJobName"]
        arn = self.arns("transform-job", name)
        placeholder = {
            **echo_request("DescribeTransformJob", request),
            "TransformJobArn": arn,
            "TransformJobStatus": "InProgress",
            "CreationTime": utcnow(),
        }
        self._claim(self._transform_jobs, name, placeholder)
        self._record_request("CreateTransformJob", request)
        return self._finish(self._transform_jobs, name, lambda: self._fast_transform(request, arn))

    def _fast_transform(self, request: dict[str, Any], arn: str) -> dict[str, Any]:
        created = utcnow()
        failure = self._failure("transform", request["TransformJobName"])
        if failure is not None:
            failure = f"ClientError: {failure}"
        else:
            try:
                self._transform_objects(request)
            except _TransformFailed as error:
                failure = str(error)
            except (S3TransferError, *S3_ERRORS) as error:  # the model's role was refused
                failure = failure_reason(f"ClientError: {error}")
        end = utcnow()
        return drop_none(
            {
                **echo_request("DescribeTransformJob", request),
                "TransformJobArn": arn,
                "TransformJobStatus": "Failed" if failure else "Completed",
                "FailureReason": failure,
                "CreationTime": created,
                "TransformStartTime": created,
                "TransformEndTime": end,
            }
        )

    def _transform_objects(self, request: dict[str, Any]) -> None:
        source = request["TransformInput"]["DataSource"]["S3DataSource"]
        prefix = S3Uri.parse(source["S3Uri"])
        model = self._model(request["ModelName"])
        s3 = self.services.s3_for(model.get("ExecutionRoleArn"))  # transform acts as the model's role
        if self.access is not None and model.get("ExecutionRoleArn"):
            url = str(model.get("PrimaryContainer", {}).get("ModelDataUrl", ""))
            if url:  # the container downloads the model first
                try:
                    self.models.load(url, s3)
                except (S3TransferError, *S3_ERRORS) as error:
                    raise _TransformFailed(
                        f"ClientError: the model {url} could not be loaded: {error}"
                    ) from error
        objects = list_objects(s3, prefix)
        if not objects:
            raise _TransformFailed(f'ClientError: No S3 objects found under S3 URL "{source["S3Uri"]}"')
        processing = DataProcessing.from_request(request)
        accuracy = self.model_accuracy(request["ModelName"])
        output = S3Uri.parse(request["TransformOutput"]["S3OutputPath"])
        for obj in objects:
            text = s3.get_object(Bucket=prefix.bucket, Key=obj.key)["Body"].read().decode()
            lines = [line for line in text.splitlines() if line.strip()]
            correct = math.floor(accuracy * len(lines) + 1e-9)
            outputs = [
                self._transform_line(processing, obj.key, number, line, number <= correct)
                for number, line in enumerate(lines, start=1)
            ]
            target = output.join(relative_key(prefix.key, obj.key) + ".out")
            body = "".join(json.dumps(o, separators=(",", ":")) + "\n" for o in outputs)
            s3.put_object(Bucket=target.bucket, Key=target.key, Body=body.encode())

    @staticmethod
    def _transform_line(processing: DataProcessing, key: str, number: int, line: str, right: bool) -> Any:
        try:
            record = json.loads(line)
            features = processing.input_filter.apply(record)
        except (ValueError, JsonPathApplyError) as error:
            raise _TransformFailed(f"ClientError: {key} line {number}: {error}") from error
        if not isinstance(features, list) or len(features) != FEATURE_SIZE:
            raise _TransformFailed(
                f"ClientError: the model container answered 400 for {key} line {number}: "
                f'{{"error": "expected {FEATURE_SIZE} features"}}'
            )
        label = record.get(contract.LABEL_KEY) if isinstance(record, dict) else None
        true_class = label if isinstance(label, int) and 0 <= label < NUM_CLASSES else 0
        predicted = true_class if right else (true_class + 1) % NUM_CLASSES
        answer = {"predictions": [probabilities(predicted)]}
        if not processing.join_input:
            return processing.output_filter.apply(answer)
        joined = (
            {**record, contract.PREDICTION_OUTPUT_KEY: answer}
            if isinstance(record, dict)
            else {"SageMakerInput": record, contract.PREDICTION_OUTPUT_KEY: answer}
        )
        return processing.output_filter.apply(joined)


def _put(s3: Any, target: S3Uri, body: bytes) -> None:
    try:
        s3.put_object(Bucket=target.bucket, Key=target.key, Body=body)
    except S3_ERRORS as error:
        raise S3TransferError("PutObject", str(target), error) from error


class _TransformFailed(Exception):
    pass
