"""The local SageMaker's jobs: training, processing, tuning and batch transform, run for real."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import contract
from local_mode.sagemaker.jobs.transform_jsonpath import JsonPath, JsonPathApplyError, JsonPathError
from local_mode.sagemaker.local_sagemaker import SageMakerApiError
from local_mode.sagemaker.serving.tfs_emulation import _csv_request, _json_request, find_model_versions
from local_mode.sagemaker.serving.tfs_json import _decimal
from tests.local.sagemaker.test_local_sagemaker_support import (
    BUCKET,
    FEATURES,
    IMAGE,
    ROLE,
    check_shape,
    collect_logs,
    direct_predictions,
    keys,
    local_sagemaker,
    put_text,
    read_tar,
    register_model,
    training_request,
    upload_code,
)

# A script-mode entry point that does what train.py does, in milliseconds: prints contract
# metric lines, records what the container told it, writes a model, honours the failure file.
FAKE_TRAIN = """
import json, os, signal, sys, time
from pathlib import Path

args = sys.argv[1:]
options = dict(zip(args[::2], args[1::2]))
model = Path(os.environ["SM_MODEL_DIR"])
checkpoints = Path(os.environ["SM_CHECKPOINT_DIR"])

def save(signum=None, frame=None):
    (model / "1").mkdir(exist_ok=True)
    (model / "1" / "saved_model.pb").write_text("fake")
    if signum is not None:
        sys.exit(0)

signal.signal(signal.SIGTERM, save)
if options.get("--fail") == "file":
    Path(os.environ["SM_OUTPUT_FAILURE"]).write_text("train.py: the data is unusable")
    sys.exit(2)
if options.get("--fail") == "raise":
    raise ValueError("boom")
done = [int(p.stem) for p in checkpoints.glob("*.ckpt")] if checkpoints.is_dir() else []
start = max(done, default=0) + 1
for epoch in range(start, int(options.get("--epochs", 2)) + 1):
    loss = 1.0 / epoch
    checkpoints.mkdir(parents=True, exist_ok=True)
    (checkpoints / f"{epoch}.ckpt").write_text(str(loss))  # saved before the epoch is reported, as Keras does
    print(f"metrics epoch={epoch} loss={loss:.6f} val_accuracy={0.5 + epoch / 10:.6f}", flush=True)
    time.sleep(float(options.get("--epoch-seconds", 0)))
time.sleep(float(options.get("--linger", 0)))
channel = Path(os.environ["SM_CHANNEL_TRAIN"])
(model / "record.json").write_text(json.dumps({
    "args": args,
    "resumed_from": start - 1,
    "env": {k: v for k, v in os.environ.items() if k.startswith(("SM_", "TRAINING_", "SAGEMAKER_", "TF_"))},
    "train_files": sorted(str(p.relative_to(channel)) for p in channel.rglob("*") if p.is_file()),
}))
save()
"""


@pytest.fixture
def sagemaker(tmp_path: Path) -> Any:
    with local_sagemaker(tmp_path) as (sagemaker, s3):
        put_text(s3, "data/train/shard-0.tfrecord", "a")
        put_text(s3, "data/train/nested/shard-1.tfrecord", "b")
        yield sagemaker, s3, upload_code(s3, {"train.py": FAKE_TRAIN})


def _record(s3: Any, described: dict[str, Any]) -> dict[str, Any]:
    files = read_tar(s3, described["ModelArtifacts"]["S3ModelArtifacts"])
    assert "1/saved_model.pb" in files
    return json.loads(files["record.json"])


# -- training ---------------------------------------------------------------------------------------


def test_training_job_completes_uploads_model_and_scrapes_metrics(tmp_path: Path) -> None:
    lines, on_log = collect_logs()
    with local_sagemaker(tmp_path, on_log=on_log) as (sagemaker, s3):
        put_text(s3, "data/train/shard-0.tfrecord", "a")
        put_text(s3, "data/train/nested/shard-1.tfrecord", "b")
        code = upload_code(s3, {"train.py": FAKE_TRAIN})
        hyperparameters = {
            "sagemaker_program": json.dumps("train.py"),
            "sagemaker_submit_directory": json.dumps(code),
            "epochs": "3",
            "learning-rate": "0.01",
        }
        described = sagemaker.create_training_job(
            training_request("train-1", code, HyperParameters=hyperparameters, Environment={"EXTRA": "yes"})
        )
        record = _record(s3, described)

    check_shape("DescribeTrainingJob", described)
    assert described["TrainingJobStatus"] == "Completed"
    assert (
        described["ModelArtifacts"]["S3ModelArtifacts"] == f"s3://{BUCKET}/models/train-1/output/model.tar.gz"
    )
    metrics = {m["MetricName"]: m["Value"] for m in described["FinalMetricDataList"]}
    assert metrics == {
        "loss": pytest.approx(1 / 3, abs=1e-6),
        "val_accuracy": pytest.approx(0.8),
    }  # last wins
    assert [t["Status"] for t in described["SecondaryStatusTransitions"]] == [
        "Starting", "Downloading", "Training", "Uploading", "Completed",
    ]  # fmt: skip
    assert described["BillableTimeInSeconds"] == described["TrainingTimeInSeconds"] >= 1
    # Script mode: user hyperparameters as sorted --name value, sagemaker_* kept out.
    assert record["args"] == ["--epochs", "3", "--learning-rate", "0.01"]
    assert record["train_files"] == ["nested/shard-1.tfrecord", "shard-0.tfrecord"]
    env = record["env"]
    assert json.loads(env["SM_HPS"]) == {"epochs": 3, "learning-rate": 0.01}
    assert json.loads(env["SM_HOSTS"]) == ["algo-1"] and env["SM_CURRENT_HOST"] == "algo-1"
    assert env["SM_NUM_GPUS"] == "0" and env["TRAINING_JOB_NAME"] == "train-1"
    assert json.loads(env["SM_TRAINING_ENV"])["hyperparameters"] == {"epochs": 3, "learning-rate": 0.01}
    assert env["SM_OUTPUT_FAILURE"].endswith("/algo-1/output/failure")
    # Lines reach on_log as they are printed, tagged with the job.
    assert ("train-1", "metrics epoch=2 loss=0.500000 val_accuracy=0.700000") in lines
    assert sagemaker_describe_is_final(described)


def sagemaker_describe_is_final(described: dict[str, Any]) -> bool:
    return described["TrainingEndTime"] >= described["TrainingStartTime"]


def test_failing_script_reports_its_failure_file(sagemaker: Any) -> None:
    client, _, code = sagemaker
    hyperparameters = {"sagemaker_program": "train.py", "sagemaker_submit_directory": code, "fail": "file"}
    described = client.create_training_job(
        training_request("train-fails", code, HyperParameters=hyperparameters)
    )

    check_shape("DescribeTrainingJob", described)
    assert described["TrainingJobStatus"] == "Failed"
    assert described["FailureReason"] == "AlgorithmError: train.py: the data is unusable, exit code: 2"
    assert described["SecondaryStatusTransitions"][-1]["Status"] == "Failed"


def test_crashing_script_without_failure_file_reports_the_toolkit_error(sagemaker: Any) -> None:
    client, _, code = sagemaker
    hyperparameters = {"sagemaker_program": "train.py", "sagemaker_submit_directory": code, "fail": "raise"}
    described = client.create_training_job(
        training_request("train-crash", code, HyperParameters=hyperparameters)
    )

    assert described["TrainingJobStatus"] == "Failed"
    reason = described["FailureReason"]
    assert reason.startswith("AlgorithmError: ExecuteUserScriptError:\nExitCode 1\nErrorMessage ")
    assert "ValueError: boom" in reason and reason.endswith(", exit code: 1")


def test_multi_instance_training_runs_every_host_and_keeps_the_first_hosts_model(sagemaker: Any) -> None:
    client, s3, code = sagemaker
    request = training_request("train-2-hosts", code)
    request["ResourceConfig"]["InstanceCount"] = 2
    request["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3DataDistributionType"] = "ShardedByS3Key"
    lines, on_log = collect_logs()
    client.services.on_log = on_log
    described = client.create_training_job(request)

    assert described["TrainingJobStatus"] == "Completed"
    record = _record(s3, described)
    env = record["env"]
    assert (env["SM_CURRENT_HOST"], json.loads(env["SM_HOSTS"])) == ("algo-1", ["algo-1", "algo-2"])
    assert record["train_files"] == ["nested/shard-1.tfrecord"]  # its share of the two objects
    tf_config = json.loads(env["TF_CONFIG"])  # MultiWorkerMirrored cluster on loopback ports
    assert tf_config["task"] == {"type": "worker", "index": 0}
    assert len(set(tf_config["cluster"]["worker"])) == 2
    assert all(w.startswith("127.0.0.1:") for w in tf_config["cluster"]["worker"])
    assert {line.split("]")[0] for _, line in lines} == {"[algo-1", "[algo-2"}  # both hosts ran, tagged


def test_duplicate_training_job_name_is_resource_in_use(sagemaker: Any) -> None:
    client, _, code = sagemaker
    client.create_training_job(training_request("train-twice", code))
    with pytest.raises(SageMakerApiError) as error:
        client.create_training_job(training_request("train-twice", code))
    assert error.value.code == "ResourceInUse"


def test_spot_job_resumes_from_synced_checkpoints_after_an_interruption(sagemaker: Any) -> None:
    client, s3, code = sagemaker
    request = training_request(
        "train-spot",
        code,
        HyperParameters={
            "sagemaker_program": "train.py",
            "sagemaker_submit_directory": code,
            "epochs": "3",
            "epoch-seconds": "0.5",
        },
        EnableManagedSpotTraining=True,
        StoppingCondition={"MaxRuntimeInSeconds": 600, "MaxWaitTimeInSeconds": 1200},
        CheckpointConfig={"S3Uri": f"s3://{BUCKET}/checkpoints/train-spot"},
    )
    client.simulate_spot_interruption("train-spot", after_log_line=r"epoch=1\b")
    described = client.create_training_job(request)

    assert described["TrainingJobStatus"] == "Completed"
    statuses = [t["Status"] for t in described["SecondaryStatusTransitions"]]
    assert statuses[statuses.index("Interrupted") : statuses.index("Interrupted") + 4] == [
        "Interrupted", "Restarting", "Downloading", "Training",
    ]  # fmt: skip
    assert _record(s3, described)["resumed_from"] == 1  # the restart found epoch 1's checkpoint
    assert sorted(keys(s3, "checkpoints/train-spot/")) == [
        f"checkpoints/train-spot/{epoch}.ckpt" for epoch in (1, 2, 3)
    ]
    assert described["BillableTimeInSeconds"] < described["TrainingTimeInSeconds"]
    assert {m["MetricName"]: m["Value"] for m in described["FinalMetricDataList"]}["loss"] == pytest.approx(
        1 / 3
    )


def test_max_wait_time_goes_with_spot_training_only(sagemaker: Any) -> None:
    client, _, code = sagemaker
    with pytest.raises(SageMakerApiError, match="MaxWaitTimeInSeconds") as error:
        client.create_training_job(training_request("train-no-wait", code, EnableManagedSpotTraining=True))
    assert error.value.code == "ValidationException"
    on_demand_with_wait = {"MaxRuntimeInSeconds": 60, "MaxWaitTimeInSeconds": 120}
    with pytest.raises(SageMakerApiError, match="only supported when EnableManagedSpotTraining"):
        client.create_training_job(
            training_request("train-wait", code, StoppingCondition=on_demand_with_wait)
        )


def test_a_warm_pool_is_refused_with_spot_training_and_kept_on_demand(sagemaker: Any) -> None:
    client, _, code = sagemaker
    warm = {
        "InstanceType": "ml.m5.large",
        "InstanceCount": 1,
        "VolumeSizeInGB": 5,
        "KeepAlivePeriodInSeconds": 600,
    }
    spot = {"MaxRuntimeInSeconds": 60, "MaxWaitTimeInSeconds": 120}
    with pytest.raises(SageMakerApiError, match="not supported with managed spot training") as error:
        client.create_training_job(
            training_request(
                "train-warm-spot",
                code,
                EnableManagedSpotTraining=True,
                StoppingCondition=spot,
                ResourceConfig=warm,
            )
        )
    assert error.value.code == "ValidationException"
    client.create_training_job(training_request("train-warm", code, ResourceConfig=warm))
    described = client.describe_training_job({"TrainingJobName": "train-warm"})
    assert described["ResourceConfig"]["KeepAlivePeriodInSeconds"] == 600


def test_max_runtime_stops_the_job_and_keeps_what_it_saved(sagemaker: Any) -> None:
    client, s3, code = sagemaker
    hyperparameters = {"sagemaker_program": "train.py", "sagemaker_submit_directory": code, "linger": "30"}
    request = training_request(
        "train-slow", code, HyperParameters=hyperparameters, StoppingCondition={"MaxRuntimeInSeconds": 1}
    )
    described = client.create_training_job(request)

    check_shape("DescribeTrainingJob", described)
    assert (described["TrainingJobStatus"], described["SecondaryStatus"]) == ("Stopped", "MaxRuntimeExceeded")
    files = read_tar(s3, described["ModelArtifacts"]["S3ModelArtifacts"])
    assert "1/saved_model.pb" in files  # written by the SIGTERM handler


def test_invalid_requests_and_unknown_jobs_are_rejected_like_the_api(sagemaker: Any) -> None:
    client, _, code = sagemaker
    with pytest.raises(SageMakerApiError) as error:
        client.create_training_job(training_request("bad_name!", code))
    assert error.value.code == "ValidationException"
    request = training_request("train-missing-role", code)
    del request["RoleArn"]
    with pytest.raises(SageMakerApiError, match="RoleArn"):
        client.create_training_job(request)
    with pytest.raises(SageMakerApiError, match="Requested resource not found") as error:
        client.describe_training_job({"TrainingJobName": "never-ran"})
    assert error.value.code == "ValidationException"


def test_empty_channel_fails_the_job_with_a_client_error(sagemaker: Any) -> None:
    client, _, code = sagemaker
    channel = {
        "ChannelName": "train",
        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/nothing/"}},
    }
    described = client.create_training_job(training_request("train-empty", code, InputDataConfig=[channel]))
    assert described["TrainingJobStatus"] == "Failed"
    assert described["FailureReason"].startswith('ClientError: No S3 objects found under S3 URL "s3://')


# -- processing -------------------------------------------------------------------------------------

FAKE_PREPROCESS = """
import json, os, sys
from pathlib import Path

args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
config = json.loads((Path(os.environ["SAGEMAKER_BASE_DIR"]) / "config" / "resourceconfig.json").read_text())
if args.get("--fail"):
    Path(os.environ["SM_OUTPUT_FAILURE"]).write_text("preprocess.py: no images found")
    sys.exit(2)
raw = sorted(p.name for p in Path(args["--input"]).iterdir())
everything = sorted(p.name for p in Path(args["--shared"]).iterdir())
report = {"raw": raw, "shared": everything, "hosts": config["hosts"]}
(Path(args["--output"]) / f"{config['current_host']}.json").write_text(json.dumps(report))
print(f"{config['current_host']} prepared {len(raw)} files", flush=True)
"""


def _processing_request(name: str, code: str, count: int, *arguments: str) -> dict[str, Any]:
    def s3_input(input_name: str, uri: str, local: str, distribution: str) -> dict[str, Any]:
        source = {"S3Uri": uri, "LocalPath": local, "S3DataType": "S3Prefix", "S3InputMode": "File"}
        return {"InputName": input_name, "S3Input": {**source, "S3DataDistributionType": distribution}}

    return {
        "ProcessingJobName": name,
        "ProcessingInputs": [
            s3_input("code", code, "/opt/ml/processing/input/code", "FullyReplicated"),
            s3_input("raw", f"s3://{BUCKET}/raw/", "/opt/ml/processing/input/raw", "ShardedByS3Key"),
            s3_input("shared", f"s3://{BUCKET}/raw/", "/opt/ml/processing/input/shared", "FullyReplicated"),
        ],
        "ProcessingOutputConfig": {
            "Outputs": [
                {
                    "OutputName": "prepared",
                    "S3Output": {
                        "S3Uri": f"s3://{BUCKET}/prepared",
                        "LocalPath": "/opt/ml/processing/output",
                        "S3UploadMode": "EndOfJob",
                    },
                }
            ]
        },
        "ProcessingResources": {
            "ClusterConfig": {"InstanceCount": count, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 10}
        },
        "AppSpecification": {
            "ImageUri": IMAGE,
            # The lead's entrypoint: unpack the code archive, run the script with python3.
            "ContainerEntrypoint": [
                "/bin/sh",
                "-c",
                'cd /opt/ml/processing/input/code && tar -xzf *.gz && exec python3 preprocess.py "$@"',
                "preprocess",
            ],
            "ContainerArguments": [
                *("--input", "/opt/ml/processing/input/raw"),
                *("--shared", "/opt/ml/processing/input/shared"),
                *("--output", "/opt/ml/processing/output"),
                *arguments,
            ],
        },
        "RoleArn": ROLE,
    }


def test_processing_shards_inputs_by_s3_key_across_instances(tmp_path: Path) -> None:
    with local_sagemaker(tmp_path) as (sagemaker, s3):
        names = [f"part-{i}.npz" for i in range(5)]
        for name in names:
            put_text(s3, f"raw/{name}", name)
        code = upload_code(s3, {"preprocess.py": FAKE_PREPROCESS}, key="code/preprocess.gz")
        described = sagemaker.create_processing_job(_processing_request("prep-1", code, 2))
        assert sagemaker.describe_processing_job({"ProcessingJobName": "prep-1"}) == described
        reports = {
            host: json.loads(s3.get_object(Bucket=BUCKET, Key=f"prepared/{host}.json")["Body"].read())
            for host in ("algo-1", "algo-2")
        }

    check_shape("DescribeProcessingJob", described)
    assert described["ProcessingJobStatus"] == "Completed"
    shares = [set(report["raw"]) for report in reports.values()]
    assert shares[0] and shares[1] and not shares[0] & shares[1]  # disjoint, none empty
    assert shares[0] | shares[1] == set(names)  # together: every object
    assert all(report["shared"] == names for report in reports.values())  # FullyReplicated: all of them
    assert all(report["hosts"] == ["algo-1", "algo-2"] for report in reports.values())


def test_failed_processing_job_reports_its_message_file(tmp_path: Path) -> None:
    with local_sagemaker(tmp_path) as (sagemaker, s3):
        put_text(s3, "raw/part-0.npz", "x")
        code = upload_code(s3, {"preprocess.py": FAKE_PREPROCESS}, key="code/preprocess.gz")
        described = sagemaker.create_processing_job(
            _processing_request("prep-fails", code, 1, "--fail", "yes")
        )
        assert keys(s3, "prepared/") == []  # nothing uploaded for a failed job

    check_shape("DescribeProcessingJob", described)
    assert described["ProcessingJobStatus"] == "Failed"
    assert described["ExitMessage"] == "preprocess.py: no images found"
    assert described["FailureReason"] == "AlgorithmError: preprocess.py: no images found, exit code: 2"


# -- tuning -----------------------------------------------------------------------------------------

TUNED_TRAIN = """
import sys
args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
lr = float(args["--learning-rate"])
print(f"metrics epoch=1 val_loss={abs(lr - 0.01) * 100:.6f} batch={args['--batch-size']}", flush=True)
"""


def test_tuning_runs_its_budget_and_picks_the_best_objective(tmp_path: Path) -> None:
    with local_sagemaker(tmp_path) as (sagemaker, s3):
        put_text(s3, "data/train/shard-0.tfrecord", "a")
        code = upload_code(s3, {"train.py": TUNED_TRAIN})
        base = training_request("unused", code)
        request = {
            "HyperParameterTuningJobName": "tune-1",
            "HyperParameterTuningJobConfig": {
                "Strategy": "Bayesian",
                "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "val_loss"},
                "ResourceLimits": {"MaxNumberOfTrainingJobs": 2, "MaxParallelTrainingJobs": 2},
                "ParameterRanges": {
                    "ContinuousParameterRanges": [
                        {
                            "Name": "learning-rate",
                            "MinValue": "0.0001",
                            "MaxValue": "0.1",
                            "ScalingType": "Logarithmic",
                        }
                    ],
                    "CategoricalParameterRanges": [{"Name": "batch-size", "Values": ["64", "128"]}],
                },
            },
            "TrainingJobDefinition": {
                "StaticHyperParameters": base["HyperParameters"],
                "AlgorithmSpecification": {
                    "TrainingImage": IMAGE,
                    "TrainingInputMode": "File",
                    "MetricDefinitions": [{"Name": "val_loss", "Regex": r"val_loss=([0-9.]+)"}],
                },
                "RoleArn": ROLE,
                "InputDataConfig": base["InputDataConfig"],
                "OutputDataConfig": base["OutputDataConfig"],
                "ResourceConfig": base["ResourceConfig"],
                "StoppingCondition": base["StoppingCondition"],
            },
        }
        described = sagemaker.create_hyper_parameter_tuning_job(request)
        assert (
            sagemaker.describe_hyper_parameter_tuning_job({"HyperParameterTuningJobName": "tune-1"})
            == described
        )
        summaries = sagemaker.list_training_jobs_for_hyper_parameter_tuning_job(
            {"HyperParameterTuningJobName": "tune-1"}
        )["TrainingJobSummaries"]
        best = described["BestTrainingJob"]
        best_job = sagemaker.describe_training_job({"TrainingJobName": best["TrainingJobName"]})

        bad_objective = json.loads(json.dumps(request))
        bad_objective["HyperParameterTuningJobName"] = "tune-2"
        bad_objective["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"]["MetricName"] = (
            "accuracy"
        )
        with pytest.raises(SageMakerApiError, match="accuracy") as error:
            sagemaker.create_hyper_parameter_tuning_job(bad_objective)
        assert error.value.code == "ValidationException"

    check_shape("DescribeHyperParameterTuningJob", described)
    assert described["HyperParameterTuningJobStatus"] == "Completed"
    assert described["TrainingJobStatusCounters"]["Completed"] == 2
    assert described["ObjectiveStatusCounters"] == {"Succeeded": 2, "Pending": 0, "Failed": 0}
    assert len(summaries) == 2
    for summary in summaries:
        assert re.fullmatch(r"tune-1-00[12]-[0-9a-f]{8}", summary["TrainingJobName"])
        assert 0.0001 <= float(summary["TunedHyperParameters"]["learning-rate"]) <= 0.1
        assert summary["TunedHyperParameters"]["batch-size"] in ("64", "128")
    values = [s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] for s in summaries]
    assert best["FinalHyperParameterTuningJobObjectiveMetric"] == {
        "Type": "Minimize",
        "MetricName": "val_loss",
        "Value": min(values),
    }
    assert best_job["TuningJobArn"] == described["HyperParameterTuningJobArn"]
    assert best_job["HyperParameters"]["learning-rate"] == best["TunedHyperParameters"]["learning-rate"]


# -- batch transform --------------------------------------------------------------------------------


def _transform_request(name: str, model: str, **overrides: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "TransformJobName": name,
        "ModelName": model,
        "BatchStrategy": "SingleRecord",
        "TransformInput": {
            "DataSource": {
                "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/data/transform/"}
            },
            "ContentType": contract.TRANSFORM_CONTENT_TYPE,
            "SplitType": "Line",
        },
        "TransformOutput": {
            "S3OutputPath": f"s3://{BUCKET}/predictions/{name}/",
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
    request.update(overrides)
    return request


def _write_transform_input(s3: Any, rng: np.random.Generator, files: dict[str, int]) -> dict[str, np.ndarray]:
    features = {}
    for name, count in files.items():
        rows = rng.integers(0, 256, size=(count, FEATURES))
        records = [
            {
                contract.RECORD_ID_KEY: f"{name}-{i}",
                contract.LABEL_KEY: i % 3,
                contract.FEATURES_KEY: row.tolist(),
            }
            for i, row in enumerate(rows)
        ]
        put_text(s3, f"data/transform/{name}", "".join(json.dumps(r) + "\n" for r in records))
        features[name] = rows.astype(np.float32)
    return features


def _lines(s3: Any, key: str) -> list[Any]:
    body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode()
    assert body.endswith("\n")  # AssembleWith Line
    return [json.loads(line) for line in body.splitlines()]


def test_transform_joins_tf_serving_predictions_to_each_input_record(tmp_path: Path) -> None:
    with local_sagemaker(tmp_path) as (sagemaker, s3):
        register_model(sagemaker, s3, "candidate")
        features = _write_transform_input(s3, np.random.default_rng(0), {"a.jsonl": 5, "sub/b.jsonl": 3})
        described = sagemaker.create_transform_job(_transform_request("transform-1", "candidate"))
        outputs = {name: _lines(s3, f"predictions/transform-1/{name}.out") for name in features}
        assert sagemaker.describe_transform_job({"TransformJobName": "transform-1"}) == described
        model = check_shape("DescribeModel", sagemaker.describe_model({"ModelName": "candidate"}))
        assert model["ModelArn"] == "arn:aws:sagemaker:us-east-1:123456789012:model/candidate"
        sagemaker.delete_model({"ModelName": "candidate"})
        with pytest.raises(SageMakerApiError, match="Could not find model"):
            sagemaker.describe_model({"ModelName": "candidate"})

    check_shape("DescribeTransformJob", described)
    assert described["TransformJobStatus"] == "Completed"
    for name, rows in features.items():
        lines = outputs[name]
        assert [line[contract.RECORD_ID_KEY] for line in lines] == [f"{name}-{i}" for i in range(len(rows))]
        assert all(list(line) == ["id", "label", contract.PREDICTION_OUTPUT_KEY] for line in lines)
        assert [line[contract.LABEL_KEY] for line in lines] == [i % 3 for i in range(len(rows))]
        predictions = np.array([line[contract.PREDICTION_OUTPUT_KEY]["predictions"][0] for line in lines])
        np.testing.assert_allclose(predictions, direct_predictions(0, rows), rtol=1e-6, atol=1e-7)


def test_transform_multi_record_gets_one_tf_serving_answer_per_payload(tmp_path: Path) -> None:
    with local_sagemaker(tmp_path) as (sagemaker, s3):
        register_model(sagemaker, s3, "candidate")
        rows = np.random.default_rng(1).integers(0, 256, size=(4, FEATURES))
        put_text(s3, "data/transform/bare.jsonl", "".join(json.dumps(row.tolist()) + "\n" for row in rows))
        request = _transform_request("transform-multi", "candidate", BatchStrategy="MultiRecord")
        del request["DataProcessing"]
        plain = sagemaker.create_transform_job(request)
        plain_lines = _lines(s3, "predictions/transform-multi/bare.jsonl.out")

        joined = sagemaker.create_transform_job(
            _transform_request(
                "transform-multi-join",
                "candidate",
                BatchStrategy="MultiRecord",
                DataProcessing={"JoinSource": "Input"},
            )
        )

    assert plain["TransformJobStatus"] == "Completed"
    assert len(plain_lines) == 1  # the container answers the whole payload at once
    np.testing.assert_allclose(
        plain_lines[0]["predictions"], direct_predictions(0, rows.astype(np.float32)), rtol=1e-6, atol=1e-7
    )
    assert joined["TransformJobStatus"] == "Failed"
    assert "1 records for 4 input records" in joined["FailureReason"]


def test_transform_fails_when_the_container_rejects_a_record(tmp_path: Path) -> None:
    with local_sagemaker(tmp_path) as (sagemaker, s3):
        register_model(sagemaker, s3, "candidate")
        put_text(
            s3, "data/transform/short.jsonl", json.dumps({"id": "x", "label": 1, "features": [1, 2]}) + "\n"
        )
        described = sagemaker.create_transform_job(_transform_request("transform-bad", "candidate"))

    check_shape("DescribeTransformJob", described)
    assert described["TransformJobStatus"] == "Failed"
    assert described["FailureReason"].startswith("ClientError: the model container answered 400")


def test_transform_validates_filters_and_model_at_create_time(tmp_path: Path) -> None:
    with local_sagemaker(tmp_path) as (sagemaker, s3):
        register_model(sagemaker, s3, "candidate")
        for bad in ("$..features", "$[0:2,5:]", "$.a[?(@.b > 1)]", "features"):
            request = _transform_request("transform-filter", "candidate", DataProcessing={"InputFilter": bad})
            with pytest.raises(SageMakerApiError, match="Invalid JsonPath") as error:
                sagemaker.create_transform_job(request)
            assert error.value.code == "ValidationException"
        with pytest.raises(SageMakerApiError, match='Could not find model "arn:aws:sagemaker:'):
            sagemaker.create_transform_job(_transform_request("transform-nomodel", "missing"))


@pytest.mark.parametrize(
    ("expression", "record", "expected"),
    [
        ("$", {"a": 1}, {"a": 1}),
        ("$.features", {"id": "x", "features": [1, 2]}, [1, 2]),
        ("$['id','SageMakerOutput']", {"id": 1, "SageMakerOutput": 2}, {"id": 1, "SageMakerOutput": 2}),
        ("$['a','c']", {"a": 1, "b": 2, "c": 3}, {"a": 1, "c": 3}),
        ("$.f.['a','b']", {"f": {"a": 1, "b": 2, "c": 3}}, {"a": 1, "b": 2}),
        ("$[1:]", ["id", 1, 2, 3], [1, 2, 3]),
        ("$[0,-1]", ["id", 1, 2, 3], ["id", 3]),
        ("$[0,2:]", ["id", 1, 2, 3], ["id", 2, 3]),
        ("$[1:2]", ["id", 1, 2, 3], [1, 2]),  # the guide: the end index is included
        ("$[:1]", ["id", 1, 2, 3], ["id", 1]),
        ("$[-1]", ["id", 1, 2, 3], 3),
        ("$.id.*", {"id": {"a": 1, "b": 2}}, [1, 2]),
    ],
)  # fmt: skip
def test_jsonpath_subset_projects_records_as_sagemaker_does(
    expression: str, record: Any, expected: Any
) -> None:
    assert JsonPath.parse(expression).apply(record) == expected


def test_jsonpath_rejects_what_sagemaker_rejects() -> None:
    with pytest.raises(
        JsonPathError, match=r"only single range filters of format \(eg: \[1:5\]\) are supported"
    ):
        JsonPath.parse("$[0:2,246:]")
    for unsupported in ("$..id", "$.a[?(@.b)]", "id", "$.a(b)", "$[abc]"):
        with pytest.raises(JsonPathError):
            JsonPath.parse(unsupported)
    with pytest.raises(JsonPathApplyError, match="outside"):
        JsonPath.parse("$[5]").apply([1, 2])
    with pytest.raises(JsonPathApplyError, match="no attribute 'features'"):
        JsonPath.parse("$.features").apply({"id": 1})


# -- the TF Serving container's conversions ----------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type_body", "tfs_request"),
    [
        ('{"instances": [[1, 2]]}', '{"instances": [[1, 2]]}'),  # TF Serving JSON passes through
        ("[1,2,3]", '{"instances":[[1,2,3]]}'),  # one bare record gets wrapped
        ("[[1,2],[3,4]]", '{"instances":[[1,2],[3,4]]}'),
        ("[1,2]\n[3,4]\n", '{"instances":[[1,2],[3,4]]}'),  # JSON Lines: one instance per line
        ('{"a": 1}\n{"a": 2}', '{"instances":[{"a": 1},{"a": 2}]}'),
    ],
)
def test_container_turns_json_bodies_into_tf_serving_requests(
    content_type_body: str, tfs_request: str
) -> None:
    assert _json_request(content_type_body) == tfs_request


def test_container_turns_csv_into_instances_and_tf_serving_formats_decimals_exactly() -> None:
    assert _csv_request("1,2,3\n4,5,6\n") == '{"instances":[[1,2,3],[4,5,6]]}'
    assert _csv_request("7\n") == '{"instances":[7]}'
    float32 = np.dtype(np.float32)
    assert _decimal(0.5, float32) == "0.5"
    assert _decimal(1.0, float32) == "1.0"
    value = float(np.float32(0.982045889))
    assert _decimal(value, float32) == "0.982045889" and np.float32(float(_decimal(value, float32))) == value


def test_model_discovery_serves_the_highest_numeric_version(tmp_path: Path) -> None:
    for version in ("1", "3", "12"):
        (tmp_path / "export" / version).mkdir(parents=True)
        (tmp_path / "export" / version / "saved_model.pb").write_bytes(b"")
    (tmp_path / "export" / "notes").mkdir()
    name, versions = find_model_versions(tmp_path)
    assert name == "export" and max(versions) == 12 and set(versions) == {1, 3, 12}
