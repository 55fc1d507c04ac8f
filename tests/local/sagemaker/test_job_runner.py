"""LocalSageMaker is the API layer: it validates each request once, then hands the job to its runner."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from local_mode.sagemaker.job_runner import SubprocessRunner, TrainingRun
from local_mode.sagemaker.jobs.job_services import JobServices
from local_mode.sagemaker.local_sagemaker import LocalSageMaker, SageMakerApiError
from local_mode.sagemaker.serving.tfs_emulation import TfsModel
from tests.local.sagemaker.test_local_sagemaker_support import BUCKET, local_sagemaker, training_request


class RecordingRunner:
    """A runner that records what reaches it and completes every training job at once."""

    def __init__(self) -> None:
        self.trained: list[dict[str, Any]] = []

    def train(self, run: TrainingRun) -> dict[str, Any]:
        self.trained.append(run.request)
        name = run.request["TrainingJobName"]
        return {
            "TrainingJobName": name,
            "TrainingJobArn": run.services.arns("training-job", name),
            "TrainingJobStatus": "Completed",
            "SecondaryStatus": "Completed",
        }

    def process(self, services: JobServices, request: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def transform(
        self, services: JobServices, request: dict[str, Any], model_data_url: str, role_arn: str | None
    ) -> dict[str, Any]:
        raise NotImplementedError

    def load_model(self, services: JobServices, model_data_url: str, role_arn: str | None) -> TfsModel:
        raise NotImplementedError


def test_the_default_runner_runs_the_real_jobs(tmp_path: Path) -> None:
    with local_sagemaker(tmp_path) as (sagemaker, _):
        assert isinstance(sagemaker.runner, SubprocessRunner)


def test_a_request_the_api_would_reject_never_reaches_the_runner(tmp_path: Path) -> None:
    runner = RecordingRunner()
    with local_sagemaker(tmp_path, runner=runner) as (sagemaker, _):
        assert isinstance(sagemaker, LocalSageMaker)
        request = training_request("ok-job", f"s3://{BUCKET}/code.tar.gz")
        invalid = {**request, "TrainingJobName": "not_a_valid_name"}
        with pytest.raises(SageMakerApiError) as error:
            sagemaker.create_training_job(invalid)
        assert error.value.code == "ValidationException" and "TrainingJobName" in error.value.message
        spot = {**request, "EnableManagedSpotTraining": True}  # no MaxWaitTimeInSeconds
        with pytest.raises(SageMakerApiError, match="MaxWaitTimeInSeconds"):
            sagemaker.create_training_job(spot)
        assert runner.trained == []

        described = sagemaker.create_training_job(request)

        assert described["TrainingJobStatus"] == "Completed"
        assert runner.trained == [request]
        assert sagemaker.requests == [("CreateTrainingJob", request)]
        assert sagemaker.describe_training_job({"TrainingJobName": "ok-job"}) == described
        with pytest.raises(SageMakerApiError) as in_use:
            sagemaker.create_training_job(request)
        assert in_use.value.code == "ResourceInUse" and len(runner.trained) == 1
        with pytest.raises(SageMakerApiError, match="validation error"):
            sagemaker.describe_training_job({})  # Describe* requests are validated too
