"""The local SageMaker with an instant job runner, for the workflow and CLI tests.

`InstantRunner` is a `local_mode.sagemaker.job_runner.JobRunner`: the API stays `LocalSageMaker`'s (one
validation of each request, name claims, Describe* shapes, models, endpoint configs, endpoints
served over HTTP, tuning's search loop, `fail_endpoint_creation`), while the jobs end at once.
Every S3 transfer acts as the job's execution role (`services.s3_for`), as the real jobs do:

- training reads its S3 channels (an empty prefix fails the job as SageMaker does), writes
  `<S3OutputPath>/<job>/output/model.tar.gz` holding one tiny Keras model exported like
  `training_code/export_model.py` (`serving_default(features: float32[None, 784]) ->
  probabilities [None, 10]`, built once per process), and reports `FinalMetricDataList` for the
  request's `MetricDefinitions`;
- processing writes a small prepared dataset to every `ProcessingOutput` (`transform`: JSON
  Lines `{"id", "label", "features"}` records; other channels a `metadata.json`);
- batch transform reads the real input records and writes the `.out` lines the real job writes
  (the request's `DataProcessing` filters and join applied by the real JSONPath code), with
  predictions whose argmax equals the label for a fraction of the records set per model;
- endpoints load the tiny model once per archive ETag (the role still reads the archive).

Knobs (a name argument is a substring, or a predicate on the name):

- `set_model_accuracy(model, accuracy)`: the fraction of records a model's transform gets right;
- `fail_training` / `fail_processing` / `fail_transform(name, reason)`: those jobs end `Failed`
  with a `FailureReason` (`AlgorithmError: <reason>, exit code: 1` for training and processing);
- `hold_training(name)` / `release_training(name)`: training jobs wait in `Training` until released;
- `InstantSageMaker.hold_endpoint_deployments()`: endpoints stay `Creating`/`Updating`.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import math
import tarfile
import tempfile
import threading
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import contract
from local_mode.sagemaker.job_runner import TrainingRun
from local_mode.sagemaker.jobs.batch_transform import DataProcessing
from local_mode.sagemaker.jobs.job_services import JobServices
from local_mode.sagemaker.jobs.processing_job import processing_download_failed, processing_upload_failed
from local_mode.sagemaker.jobs.s3_io import S3_ERRORS, S3TransferError, S3Uri, list_objects, relative_key
from local_mode.sagemaker.jobs.training_job import artifact_upload_failed, data_download_failed
from local_mode.sagemaker.jobs.transform_jsonpath import JsonPathApplyError
from local_mode.sagemaker.local_sagemaker import LocalSageMaker
from local_mode.sagemaker.serving.tfs_emulation import TfsModel
from local_mode.sagemaker.shapes import drop_none, echo_request, failure_reason, utcnow

__all__ = [
    "InstantRunner",
    "InstantSageMaker",
    "attempt",
    "jsonl",
    "prepared_records",
    "set_model_archive",
    "tiny_model_archive",
]

NUM_CLASSES: Final = 10
FEATURE_SIZE: Final = 28 * 28
DEFAULT_RECORDS: Final = 20
HELD_DESCRIBES: Final = 1_000_000  # DescribeEndpoint calls that report a held deployment in progress
CORRECT_PROBABILITY: Final = 0.91  # argmax; the other nine classes share the rest equally
DEFAULT_METRICS: Final = {"loss": 0.05, "accuracy": 0.98, "val_loss": 0.06, "val_accuracy": 0.975}
HOLD_TIMEOUT: Final = 60.0  # the longest a held job or deployment waits

NameMatcher = str | Callable[[str], bool]


def attempt(number: int) -> Callable[[str], bool]:
    """Matches the names of one retrain attempt's resources (``...-a{number}``) by their suffix: a
    substring would also match a run id whose random part starts with ``a{number}``."""
    suffix = f"-a{number}"
    return lambda name: name.endswith(suffix)


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


# --- the runner -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Rule:
    match: NameMatcher
    value: Any

    def applies(self, name: str) -> bool:
        return self.match(name) if callable(self.match) else self.match in name


class _JobFailed(Exception):
    pass


class InstantRunner:
    """A `JobRunner` whose jobs end at once (module docstring).

    `training_seconds`, `spot_billable_seconds`, `job_seconds`: the durations the Describe*
    responses report (timestamps are back-dated by them); `metrics`: the final metric values by
    name, reported in this order for those the request defines (losses vary with the
    hyperparameters, so tuning can rank its trials).
    """

    def __init__(
        self,
        *,
        records: int = DEFAULT_RECORDS,
        training_seconds: int = 1,
        spot_billable_seconds: int = 1,
        job_seconds: int = 0,
        metrics: Mapping[str, float] = DEFAULT_METRICS,
    ) -> None:
        self.records = records
        self.training_seconds = training_seconds
        self.spot_billable_seconds = spot_billable_seconds
        self.job_seconds = job_seconds
        self.metrics = dict(metrics)
        self._lock = threading.RLock()
        self._accuracy: list[_Rule] = []
        self._failures: dict[str, list[_Rule]] = {"training": [], "processing": [], "transform": []}
        self._training_holds: list[_Rule] = []
        self._held_trainings: dict[str, threading.Event] = {}
        self._loads_released = threading.Event()
        self._loads_released.set()
        self._models_by_etag: dict[str, TfsModel] = {}

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

    def hold_model_loads(self) -> None:
        """Endpoint deployments started from now on wait for their model until `release_model_loads`."""
        self._loads_released.clear()

    def release_model_loads(self) -> None:
        self._loads_released.set()

    def clear_faults(self) -> None:
        with self._lock:
            for rules in self._failures.values():
                rules.clear()

    def release_everything(self) -> None:
        self.release_model_loads()
        with self._lock:
            self._training_holds.clear()
            for event in self._held_trainings.values():
                event.set()
            self._held_trainings.clear()

    def reset(self) -> None:
        """Forget every knob (between tests)."""
        self.clear_faults()
        self.release_everything()
        with self._lock:
            self._accuracy.clear()

    def _add_failure(self, kind: str, name: NameMatcher, reason: str) -> None:
        with self._lock:
            self._failures[kind].append(_Rule(name, reason))

    def _failure(self, kind: str, job_name: str) -> str | None:
        with self._lock:
            rules = list(self._failures[kind])
        return next((str(r.value) for r in reversed(rules) if r.applies(job_name)), None)

    def _wait_if_held(self, job_name: str) -> None:
        with self._lock:
            if not any(rule.applies(job_name) for rule in self._training_holds):
                return
            event = self._held_trainings.setdefault(job_name, threading.Event())
        event.wait(timeout=HOLD_TIMEOUT)

    def _times(self, seconds: int) -> tuple[dt.datetime, dt.datetime]:
        end = utcnow()
        return end - dt.timedelta(seconds=seconds), end

    # -- training ---------------------------------------------------------------------------------

    def train(self, run: TrainingRun) -> dict[str, Any]:
        services, request = run.services, run.request
        name = request["TrainingJobName"]
        output_path = request["OutputDataConfig"]["S3OutputPath"].rstrip("/")
        model_uri = f"{output_path}/{name}/output/model.tar.gz"
        self._wait_if_held(name)
        s3 = services.s3_for(request.get("RoleArn"))  # the job acts as its role
        failure = self._failure("training", name)
        if failure is not None:
            failure = f"AlgorithmError: {failure}, exit code: 1"
        else:
            try:
                failure = _missing_channel(
                    s3,
                    [
                        c["DataSource"]["S3DataSource"]["S3Uri"]
                        for c in request.get("InputDataConfig", [])
                        if "S3DataSource" in c.get("DataSource", {})
                    ],
                )
            except S3TransferError as error:
                failure = data_download_failed(error)
        if failure is None:
            try:
                _put(s3, S3Uri.parse(model_uri), tiny_model_archive())
            except S3TransferError as error:
                failure = artifact_upload_failed(error)
        created, end = self._times(self.training_seconds)
        status = "Failed" if failure else "Completed"
        spot = bool(request.get("EnableManagedSpotTraining", False))
        transitions = [
            {"Status": "Starting", "StartTime": created, "EndTime": created, "StatusMessage": "Starting"},
            {"Status": "Training", "StartTime": created, "EndTime": end, "StatusMessage": "Instant training"},
            {
                "Status": status,
                "StartTime": end,
                "EndTime": end,
                "StatusMessage": f"Training job {status.lower()}",
            },
        ]
        return drop_none(
            {
                **echo_request("DescribeTrainingJob", request),
                "TrainingJobArn": services.arns("training-job", name),
                "TuningJobArn": run.tuning_job_arn,
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
                "FinalMetricDataList": [] if failure else self._final_metrics(request, end),
                "EnableManagedSpotTraining": spot,
                "TrainingTimeInSeconds": self.training_seconds,
                "BillableTimeInSeconds": self.spot_billable_seconds if spot else self.training_seconds,
            }
        )

    def _final_metrics(self, request: dict[str, Any], when: dt.datetime) -> list[dict[str, Any]]:
        """The `metrics` that have a MetricDefinition, in `metrics`' order; losses vary with the
        hyperparameters so tuning can rank its trials."""
        hyperparameters = json.dumps(request.get("HyperParameters", {}), sort_keys=True)
        jitter = (zlib.crc32(hyperparameters.encode()) % 1000) / 10000  # 0 .. 0.0999
        definitions = request.get("AlgorithmSpecification", {}).get("MetricDefinitions", [])
        defined = {d["Name"] for d in definitions}
        return [
            {"MetricName": name, "Value": _metric(name, value, jitter), "Timestamp": when}
            for name, value in self.metrics.items()
            if name in defined
        ]

    # -- processing -------------------------------------------------------------------------------

    def process(self, services: JobServices, request: dict[str, Any]) -> dict[str, Any]:
        failure = self._failure("processing", request["ProcessingJobName"])
        exit_message = failure
        s3 = services.s3_for(request.get("RoleArn"))  # the job acts as its role
        if failure is not None:
            failure = f"AlgorithmError: {failure}, exit code: 1"
        else:
            try:
                failure = _missing_channel(
                    s3, [i["S3Input"]["S3Uri"] for i in request.get("ProcessingInputs", []) if "S3Input" in i]
                )
            except S3TransferError as error:
                failure = processing_download_failed(error)
        if failure is None:
            failure = self._write_prepared(s3, request)
        created, end = self._times(self.job_seconds)
        return drop_none(
            {
                **echo_request("DescribeProcessingJob", request),
                "ProcessingJobArn": services.arns("processing-job", request["ProcessingJobName"]),
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

    # -- batch transform --------------------------------------------------------------------------

    def transform(
        self, services: JobServices, request: dict[str, Any], model_data_url: str, role_arn: str | None
    ) -> dict[str, Any]:
        failure = self._failure("transform", request["TransformJobName"])
        if failure is not None:
            failure = f"ClientError: {failure}"
        else:
            try:
                self._transform_objects(services, request, model_data_url, role_arn)
            except _JobFailed as error:
                failure = str(error)
            except (S3TransferError, *S3_ERRORS) as error:  # the model's role was refused
                failure = failure_reason(f"ClientError: {error}")
        created, end = self._times(self.job_seconds)
        return drop_none(
            {
                **echo_request("DescribeTransformJob", request),
                "TransformJobArn": services.arns("transform-job", request["TransformJobName"]),
                "TransformJobStatus": "Failed" if failure else "Completed",
                "FailureReason": failure,
                "CreationTime": created,
                "TransformStartTime": created,
                "TransformEndTime": end,
            }
        )

    def _transform_objects(
        self, services: JobServices, request: dict[str, Any], model_data_url: str, role_arn: str | None
    ) -> None:
        source = request["TransformInput"]["DataSource"]["S3DataSource"]
        prefix = S3Uri.parse(source["S3Uri"])
        s3 = services.s3_for(role_arn)  # transform acts as the model's role
        if services.access is not None and role_arn and model_data_url:  # the container loads it first
            try:
                self._load(services, model_data_url, role_arn)
            except (S3TransferError, *S3_ERRORS) as error:
                raise _JobFailed(
                    f"ClientError: the model {model_data_url} could not be loaded: {error}"
                ) from error
        objects = list_objects(s3, prefix)
        if not objects:
            raise _JobFailed(f'ClientError: No S3 objects found under S3 URL "{source["S3Uri"]}"')
        processing = DataProcessing.from_request(request)
        accuracy = self.model_accuracy(request["ModelName"])
        output = S3Uri.parse(request["TransformOutput"]["S3OutputPath"])
        for obj in objects:
            text = s3.get_object(Bucket=prefix.bucket, Key=obj.key)["Body"].read().decode()
            lines = [line for line in text.splitlines() if line.strip()]
            correct = math.floor(accuracy * len(lines) + 1e-9)
            outputs = [
                _transform_line(processing, obj.key, number, line, number <= correct)
                for number, line in enumerate(lines, start=1)
            ]
            target = output.join(relative_key(prefix.key, obj.key) + ".out")
            body = "".join(json.dumps(o, separators=(",", ":")) + "\n" for o in outputs)
            s3.put_object(Bucket=target.bucket, Key=target.key, Body=body.encode())

    # -- endpoints --------------------------------------------------------------------------------

    def load_model(self, services: JobServices, model_data_url: str, role_arn: str | None) -> TfsModel:
        """An endpoint's model (held while `hold_model_loads` is in force)."""
        self._loads_released.wait(timeout=HOLD_TIMEOUT)
        return self._load(services, model_data_url, role_arn)

    def _load(self, services: JobServices, model_data_url: str, role_arn: str | None) -> TfsModel:
        """The archive's model, loaded once per ETag (every instant model is the same SavedModel);
        the role still reads the archive on every load (s3:GetObject, kms:Decrypt)."""
        role_client = services.model_client(role_arn)
        client = role_client if role_client is not None else services.s3
        uri = S3Uri.parse(model_data_url)
        etag = str(client.head_object(Bucket=uri.bucket, Key=uri.key).get("ETag", ""))
        with self._lock:
            cached = self._models_by_etag.get(etag)
        if cached is not None:
            if role_client is not None:
                role_client.get_object(Bucket=uri.bucket, Key=uri.key, Range="bytes=0-0")["Body"].read()
            return cached
        model = services.models.load(model_data_url, role_client)
        with self._lock:
            return self._models_by_etag.setdefault(etag, model)


def _metric(name: str, value: float, jitter: float) -> float:
    return round(value + (jitter if "loss" in name else 0.0), 6)


def _transform_line(processing: DataProcessing, key: str, number: int, line: str, right: bool) -> Any:
    try:
        record = json.loads(line)
        features = processing.input_filter.apply(record)
    except (ValueError, JsonPathApplyError) as error:
        raise _JobFailed(f"ClientError: {key} line {number}: {error}") from error
    if not isinstance(features, list) or len(features) != FEATURE_SIZE:
        raise _JobFailed(
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


def _missing_channel(s3: Any, uris: list[str]) -> str | None:
    """SageMaker's FailureReason for the first empty prefix; reads each object as the real job does."""
    for uri in uris:
        source = S3Uri.parse(uri)
        objects = list_objects(s3, source)
        for obj in objects:
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


def _put(s3: Any, target: S3Uri, body: bytes) -> None:
    try:
        s3.put_object(Bucket=target.bucket, Key=target.key, Body=body)
    except S3_ERRORS as error:
        raise S3TransferError("PutObject", str(target), error) from error


# --- LocalSageMaker with the instant runner -----------------------------------------------------


class InstantSageMaker(LocalSageMaker):
    """`LocalSageMaker(runner=InstantRunner(...))`, with the runner's knobs at hand for tests."""

    def __init__(self, *, runner: InstantRunner | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("deployment_timeout_s", HOLD_TIMEOUT)
        self.instant = runner if runner is not None else InstantRunner()
        super().__init__(runner=self.instant, **kwargs)
        self._default_transitional_describes = self.endpoint_transitional_describes
        self.set_model_accuracy = self.instant.set_model_accuracy
        self.fail_training = self.instant.fail_training
        self.fail_processing = self.instant.fail_processing
        self.fail_transform = self.instant.fail_transform
        self.hold_training = self.instant.hold_training
        self.held_trainings = self.instant.held_trainings
        self.release_training = self.instant.release_training

    def hold_endpoint_deployments(self) -> None:
        """Deployments started from now on do not finish until `release_endpoint_deployments`:
        DescribeEndpoint keeps answering Creating/Updating (an endpoint that never comes up)."""
        self.endpoint_transitional_describes = HELD_DESCRIBES
        self.instant.hold_model_loads()

    def release_endpoint_deployments(self) -> None:
        self.endpoint_transitional_describes = self._default_transitional_describes
        self.instant.release_model_loads()

    def clear_faults(self) -> None:
        super().clear_faults()
        self.instant.clear_faults()

    def reset(self) -> None:
        """Forget every job, model, config, endpoint, knob and recorded request (between tests)."""
        self.release_endpoint_deployments()
        self.instant.reset()
        super().reset()

    def close(self) -> None:
        self.release_endpoint_deployments()
        self.instant.release_everything()
        super().close()
